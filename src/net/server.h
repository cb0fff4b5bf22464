// net: Kafka listeners and connections. Reads size-prefixed frames, parses the request header
// (v1/v2 by the API's flexible versions), hands each request to a request_handler, and writes
// responses in request order: one request per connection at a time, as Kafka does. Response
// record bytes that live in segment files go out with sendfile (zero copy).
//
// Threading: a server and its connections run on one asio::io_context (one shard). The
// handler is called on that context. Limits: a frame above request_max_bytes closes the
// connection without a reply (Kafka's behaviour), which bounds memory per connection.
#pragma once

#include "base/result.h"
#include "protocol/wire.h"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace riacho::net {

struct request_header {
    int16_t api_key = 0;
    int16_t api_version = 0;
    int32_t correlation_id = 0;
    std::string client_id;
    bool flexible = false;  // header v2 (and response header v1, except ApiVersions)
};

// An allocator that leaves bytes uninitialised on resize(): a frame is read from the socket
// straight into its buffer, and zero-filling a 1 MiB produce request first cost ~4% of the
// produce path's CPU.
template <class T>
struct uninitialized_allocator : std::allocator<T> {
    template <class U>
    struct rebind {
        using other = uninitialized_allocator<U>;
    };
    uninitialized_allocator() = default;
    template <class U>
    explicit uninitialized_allocator(const uninitialized_allocator<U>&) noexcept {}
    template <class U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

using frame_buffer = std::vector<uint8_t, uninitialized_allocator<uint8_t>>;

struct request {
    request_header header;
    frame_buffer frame;         // the whole frame after the size prefix
    protocol::bytes_view body;  // view into `frame` after the header
    std::string peer;           // "ip:port" of the client, for logs
};

// respond: send `body`; no_response: send nothing (acks=0); close: close the connection;
// deferred: the request took effect but its answer waits (an acks=-1 produce waiting for the
// flush and the ISR): `finish` is started at once and its reply is sent when it completes, in
// request order, while the connection's next requests are read and handled.
enum class reply_kind { respond, no_response, close, deferred };

struct reply {
    reply_kind kind = reply_kind::respond;
    protocol::writer body;
    // With deferred: starts the coroutine that produces the answer (its kind respond,
    // no_response or close). The coroutine must own what it uses (take it as by-value
    // parameters: a lambda's captures die with the lambda, the request with its iteration).
    std::function<asio::awaitable<reply>()> finish;

    static reply close() {
        reply r;
        r.kind = reply_kind::close;
        return r;
    }
    static reply deferred(std::function<asio::awaitable<reply>()> finish) {
        reply r;
        r.kind = reply_kind::deferred;
        r.finish = std::move(finish);
        return r;
    }
    static reply none() {
        reply r;
        r.kind = reply_kind::no_response;
        return r;
    }
};

class request_handler {
public:
    virtual ~request_handler() = default;
    // Called once per request, in order per connection. May suspend (long poll, acks=-1).
    virtual asio::awaitable<reply> handle(request& req) = 0;
    // Called once when a connection is gone (the peer closed it, or it was closed after an
    // error or a bad request), with the `peer` its requests carried.
    virtual void on_connection_closed(const std::string& peer) { (void)peer; }
};

struct server_limits {
    size_t request_max_bytes = 100u << 20;  // socket.request.max.bytes
    // queued.max.request.bytes: request bytes held by all connections at once. A connection
    // whose next request would pass it waits before reading the body, so memory stays bounded
    // however many clients connect. REQUIRES: >= request_max_bytes (so one request always fits).
    size_t in_flight_max_bytes = 512u << 20;
};

// Owner: the broker. Must outlive every connection it accepted (stop() closes them).
class server {
public:
    server(asio::io_context& io, request_handler& handler, server_limits limits);
    ~server();

    // Binds and listens; returns the bound port (useful with port 0).
    result<uint16_t, std::string> listen(const std::string& host, uint16_t port);
    void stop();

private:
    struct connection;
    struct queued_answer;
    asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor);
    asio::awaitable<void> serve(std::shared_ptr<connection> conn);
    void queue_answer(const std::shared_ptr<connection>& conn,
                      std::shared_ptr<queued_answer> answer);
    static asio::awaitable<void> write_queued(std::shared_ptr<connection> conn);
    // Shared with every connection so a connection that outlives the server (its coroutine
    // frame destroyed with the io_context) releases into live memory.
    struct byte_budget {
        size_t in_flight_bytes = 0;
        std::vector<std::weak_ptr<asio::steady_timer>> waiters;
        void release(size_t n);
    };
    asio::awaitable<void> reserve_bytes(size_t n);

    asio::io_context& _io;
    request_handler& _handler;
    server_limits _limits;
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> _acceptors;
    std::vector<std::weak_ptr<connection>> _connections;
    bool _stopping = false;
    // Set by stop() (which ~server calls); a connection's coroutine may resume after the
    // server is gone, so it reads this rather than `_stopping` before calling the handler.
    std::shared_ptr<bool> _stopped = std::make_shared<bool>(false);
    std::shared_ptr<byte_budget> _budget = std::make_shared<byte_budget>();
};

// Parses the request header from a frame. Returns false if the frame is not a request we
// can interpret (unknown API, unsupported version of anything but ApiVersions, truncated).
bool parse_request_header(request& req);

}  // namespace riacho::net
