#include "net/client.h"

#include "protocol/messages/api_catalog.h"

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace riacho::net {

namespace {
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr int32_t response_max_bytes = 256 << 20;
}  // namespace

client_connection::client_connection(asio::io_context& io, std::string client_id)
    : _io(io), _client_id(std::move(client_id)) {}

void client_connection::set_endpoint(const std::string& host, uint16_t port) {
    if (host != _host || port != _port) {
        close();
        _host = host;
        _port = port;
    }
}

void client_connection::close() {
    if (_socket) {
        std::error_code ignored;
        _socket->close(ignored);
        _socket.reset();
    }
}

asio::awaitable<std::optional<std::vector<uint8_t>>> client_connection::roundtrip(
    int16_t api_key,
    int16_t api_version,
    protocol::bytes_view body,
    std::chrono::milliseconds timeout) {
    // The watchdog closes the socket when the deadline passes, which fails whatever step is
    // waiting. Its handler may run after this frame is gone, so it holds its own references.
    asio::steady_timer watchdog(_io, timeout);
    auto expired = std::make_shared<bool>(false);
    auto fail = [&]() -> std::optional<std::vector<uint8_t>> {
        watchdog.cancel();
        close();
        return std::nullopt;
    };
    if (_host.empty()) {
        co_return std::nullopt;
    }
    if (!_socket) {
        _socket = std::make_shared<asio::ip::tcp::socket>(_io);
    }
    // This frame's own reference: close() (a new endpoint, a stopping owner) may reset
    // _socket while a step below waits; the step then fails instead of using a null socket.
    auto socket = _socket;
    watchdog.async_wait([socket, expired](const std::error_code& ec) {
        if (!ec) {
            *expired = true;
            std::error_code ignored;
            socket->close(ignored);
        }
    });
    if (!socket->is_open()) {
        asio::ip::tcp::resolver resolver(_io);
        auto [rec, endpoints] =
            co_await resolver.async_resolve(_host, std::to_string(_port), use_nothrow);
        if (rec || *expired) {
            co_return fail();
        }
        auto [cec, connected] = co_await asio::async_connect(*socket, endpoints, use_nothrow);
        if (cec || *expired) {
            co_return fail();
        }
        std::error_code ignored;
        socket->set_option(asio::ip::tcp::no_delay(true), ignored);
    }
    const auto* api = protocol::find_api(api_key);
    bool flexible = api != nullptr && api->is_flexible(api_version);
    protocol::writer frame;
    frame.write_int32(0);
    frame.write_int16(api_key);
    frame.write_int16(api_version);
    int32_t correlation_id = _next_correlation_id++;
    frame.write_int32(correlation_id);
    frame.write_nullable_string(_client_id, false);
    if (flexible) {
        frame.write_empty_tagged_fields();
    }
    frame.write_raw(body.data(), body.size());
    frame.patch_int32(0, static_cast<int32_t>(frame.buffer().size() - 4));
    auto [wec, written] =
        co_await asio::async_write(*socket, asio::buffer(frame.buffer()), use_nothrow);
    if (wec || *expired) {
        co_return fail();
    }
    uint8_t size_bytes[4];
    auto [sec, n] = co_await asio::async_read(*socket, asio::buffer(size_bytes), use_nothrow);
    int32_t size =
        static_cast<int32_t>((uint32_t(size_bytes[0]) << 24) | (uint32_t(size_bytes[1]) << 16) |
                             (uint32_t(size_bytes[2]) << 8) | uint32_t(size_bytes[3]));
    if (sec || *expired || size < 4 || size > response_max_bytes) {
        co_return fail();
    }
    std::vector<uint8_t> response(static_cast<size_t>(size));
    auto [rec2, m] = co_await asio::async_read(*socket, asio::buffer(response), use_nothrow);
    if (rec2 || *expired) {
        co_return fail();
    }
    watchdog.cancel();
    protocol::reader r(response);
    if (r.read_int32() != correlation_id) {
        co_return fail();
    }
    // ApiVersions answers with header v0 whatever its version (KIP-511).
    if (flexible && api_key != 18) {
        r.skip_tagged_fields();
    }
    if (!r.ok()) {
        co_return fail();
    }
    co_return std::vector<uint8_t>(response.begin() + static_cast<ptrdiff_t>(r.position()),
                                   response.end());
}

}  // namespace riacho::net
