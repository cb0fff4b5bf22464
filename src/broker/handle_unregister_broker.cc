// UnregisterBroker (64): kafka-cluster unregister and the admin clients' unregisterBroker.
// The controller forgets the broker's registration (cluster::controller::unregister_broker),
// recorded through whichever node received the request.
#include "broker/handlers.h"
#include "protocol/messages/unregister_broker.h"

namespace riacho::broker {

asio::awaitable<net::reply> handle_unregister_broker(broker_context& ctx, net::request& req) {
    protocol::msg::unregister_broker_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    protocol::msg::unregister_broker_response response;
    auto result = ctx.controller.unregister_broker(request.broker_id);
    response.error_code = protocol::code(result.error);
    if (result.error != protocol::error_code::none) {
        response.error_message = std::move(result.message);
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
