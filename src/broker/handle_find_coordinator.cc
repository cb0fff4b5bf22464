// FindCoordinator (10): on a single node every group is coordinated here. Transactional ids
// get COORDINATOR_NOT_AVAILABLE until the transaction coordinator exists (issue 8).
// librdkafka also needs this API advertised to enable lz4 (its feature map, README 5.4).
#include "broker/handlers.h"
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
        if (request.key_type == key_type_group) {
            c.node_id = ctx.node_id();
            c.host = ctx.endpoint.host;
            c.port = ctx.endpoint.port;
            c.error_code = 0;
        } else {
            c.node_id = -1;
            c.port = -1;
            c.error_code = protocol::code(request.key_type == key_type_transaction
                                              ? error_code::coordinator_not_available
                                              : error_code::invalid_request);
            c.error_message = request.key_type == key_type_transaction
                                  ? "Transactions are not supported yet"
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
