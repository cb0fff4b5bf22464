// FindCoordinator (10): on a single node every group and every transactional id is
// coordinated here (the first transactional lookup creates __transaction_state, as in Kafka).
// librdkafka also needs this API advertised to enable lz4 (its feature map, README 5.4).
#include "broker/handlers.h"
#include "broker/internal_topic.h"
#include "broker/txn_runtime.h"
#include "protocol/messages/find_coordinator.h"

namespace riacho::broker {

asio::awaitable<net::reply> handle_find_coordinator(broker_context& ctx, net::request& req) {
    using protocol::error_code;
    using protocol::msg::find_coordinator_request;
    using protocol::msg::find_coordinator_response;
    constexpr int8_t key_type_group = 0;
    constexpr int8_t key_type_transaction = 1;
    find_coordinator_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    auto answer = [&](const std::string& key, find_coordinator_response::coordinator& c) {
        c.key = key;
        bool known_type =
            request.key_type == key_type_group || request.key_type == key_type_transaction;
        bool ready = request.key_type != key_type_transaction ||
                     ensure_internal_topic(ctx, txn::state_topic,
                                           ctx.txns->coordinator().config().state_partitions);
        if (known_type && ready) {
            c.node_id = ctx.node_id();
            c.host = ctx.endpoint.host;
            c.port = ctx.endpoint.port;
            c.error_code = 0;
        } else {
            c.node_id = -1;
            c.port = -1;
            c.error_code = protocol::code(known_type ? error_code::coordinator_not_available
                                                     : error_code::invalid_request);
            c.error_message = known_type ? "The transaction state topic cannot be created"
                                         : "Unknown coordinator key type";
        }
    };
    find_coordinator_response response;
    if (req.header.api_version >= 4) {
        for (const auto& key : request.coordinator_keys) {
            find_coordinator_response::coordinator c;
            answer(key, c);
            response.coordinators.push_back(std::move(c));
        }
    } else {
        find_coordinator_response::coordinator c;
        answer(request.key, c);
        response.error_code = c.error_code;
        response.error_message = c.error_message;
        response.node_id = c.node_id;
        response.host = c.host;
        response.port = c.port;
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
