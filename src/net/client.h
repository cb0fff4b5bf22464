// net: one client connection to another Kafka listener (a peer node's), for Riacho's own
// node-to-node requests: the metadata quorum's RPCs and followers' fetches. Requests go out one
// at a time (the caller awaits each answer); the connection is opened on first use and again
// after any failure. Every step is bounded by a deadline: a peer that stops answering (kill
// -STOP, a partition) closes the socket rather than holding the caller.
//
// Thread: one io_context; not shared between coroutines that could interleave requests.
#pragma once

#include "protocol/wire.h"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace riacho::net {

class client_connection {
public:
    client_connection(asio::io_context& io, std::string client_id);

    // Where to connect; a change closes the current connection.
    void set_endpoint(const std::string& host, uint16_t port);
    // Sends one request (header v1 or v2 by the API's flexible versions) and returns the
    // response body after its header; nullopt on any failure or when `timeout` passes.
    asio::awaitable<std::optional<std::vector<uint8_t>>> roundtrip(
        int16_t api_key,
        int16_t api_version,
        protocol::bytes_view body,
        std::chrono::milliseconds timeout);
    void close();

private:
    asio::io_context& _io;
    std::string _client_id;
    std::string _host;
    uint16_t _port = 0;
    std::shared_ptr<asio::ip::tcp::socket> _socket;
    int32_t _next_correlation_id = 1;
};

}  // namespace riacho::net
