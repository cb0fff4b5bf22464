// broker: routes each request to its API handler by api key. Unknown keys never reach here:
// net closes the connection for them.
#pragma once

#include "broker/broker_context.h"
#include "net/server.h"

namespace riacho::broker {

class request_router final : public net::request_handler {
public:
    explicit request_router(broker_context& ctx) : _ctx(ctx) {}
    asio::awaitable<net::reply> handle(net::request& req) override;

private:
    broker_context& _ctx;
};

}  // namespace riacho::broker
