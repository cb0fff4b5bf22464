// ApiVersions (18): the APIs and versions this broker implements, from the generated catalog.
#include "broker/handlers.h"
#include "protocol/messages/api_catalog.h"
#include "protocol/messages/api_versions.h"

namespace riacho::broker {

namespace {

// Kafka's rule for client software name and version (KIP-511).
bool is_valid_software_field(const std::string& s) {
    if (s.empty()) {
        return false;
    }
    auto alnum = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    if (!alnum(s.front()) || !alnum(s.back())) {
        return false;
    }
    for (char c : s) {
        if (!alnum(c) && c != '-' && c != '.') {
            return false;
        }
    }
    return true;
}

}  // namespace

asio::awaitable<net::reply> handle_api_versions(broker_context& ctx, net::request& req) {
    using protocol::msg::api_versions_request;
    using protocol::msg::api_versions_response;
    int16_t version = req.header.api_version;

    if (version > api_versions_request::max_version) {
        // A version we do not know: answer in the v0 layout with UNSUPPORTED_VERSION and our
        // own range, so the client retries with a version we speak (KIP-511).
        net::reply out;
        out.body.write_int16(protocol::code(protocol::error_code::unsupported_version));
        out.body.write_int32(1);
        out.body.write_int16(api_versions_request::api_key);
        out.body.write_int16(api_versions_request::min_version);
        out.body.write_int16(api_versions_request::max_version);
        co_return out;
    }

    api_versions_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    api_versions_response response;
    if (version >= 3 && (!is_valid_software_field(request.client_software_name) ||
                         !is_valid_software_field(request.client_software_version))) {
        LOG_WARN("broker", "{}: ApiVersions with invalid client software name '{}' version '{}'",
                 req.peer, request.client_software_name, request.client_software_version);
        response.error_code = protocol::code(protocol::error_code::invalid_request);
        co_return encode_response(req, response);
    }
    for (const auto& api : protocol::all_apis()) {
        if (api.controller_only) {
            continue;  // the quorum's own APIs (Vote, ...): clients never call them
        }
        api_versions_response::api_version entry;
        entry.api_key = api.key;
        // Produce advertises 0 as its minimum although v0-2 are refused: librdkafka < 2.11.1
        // turns compression off unless the advertised range reaches down to v0 (KAFKA-18659).
        entry.min_version = api.key == protocol::api_keys::produce ? 0 : api.min_version;
        entry.max_version = api.max_version;
        response.api_keys.push_back(entry);
    }
    // Feature levels (v3+, tagged). transaction.version 2 is what makes Kafka 4 clients use
    // KIP-890 part 2 (Produce v12 adds partitions, EndTxn v5 bumps the epoch); version 1
    // keeps them on AddPartitionsToTxn.
    auto transaction_version =
        static_cast<int16_t>(ctx.config.number("riacho.transaction.version", 2));
    response.supported_features.push_back({"transaction.version", 0, 2});
    // Eligible leader replicas (KIP-966) are always tracked, as in Kafka 4.1's new clusters.
    response.supported_features.push_back({"eligible.leader.replicas.version", 0, 1});
    response.finalized_features_epoch = 1;
    response.finalized_features.push_back(
        {"transaction.version", transaction_version, transaction_version});
    response.finalized_features.push_back({"eligible.leader.replicas.version", 1, 1});
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
