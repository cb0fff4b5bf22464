#include "net/server.h"

#include "base/log.h"
#include "protocol/messages/api_catalog.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <array>
#include <cerrno>
#include <deque>
#include <optional>
#include <span>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

namespace riacho::net {

namespace {
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr int16_t api_versions_key = 18;
constexpr int16_t api_versions_first_flexible = 3;
// Requests of one connection whose answers may wait at once (pipelined acks=-1 produces);
// past this the connection reads no more until one is answered.
constexpr size_t answers_queued_max = 64;
}  // namespace

struct server::queued_answer {
    request_header header;
    std::optional<reply> answer;  // set once the request's answer is ready
};

struct server::connection {
    explicit connection(asio::ip::tcp::socket s)
        : socket(std::move(s)),
          answer_ready(socket.get_executor()),
          answer_sent(socket.get_executor()) {}
    asio::ip::tcp::socket socket;
    std::string peer;
    // Answers not sent yet, in request order (empty unless an answer was deferred), and
    // whether write_queued is sending them.
    std::deque<std::shared_ptr<queued_answer>> answers;
    bool writing = false;
    asio::steady_timer answer_ready;  // cancelled when a queued answer becomes ready
    asio::steady_timer answer_sent;   // cancelled when the writer sent one, or ended
};

server::server(asio::io_context& io, request_handler& handler, server_limits limits)
    : _io(io), _handler(handler), _limits(limits) {}

server::~server() { stop(); }

result<uint16_t, std::string> server::listen(const std::string& host, uint16_t port) {
    asio::error_code ec;
    auto address = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
    if (ec) {
        asio::ip::tcp::resolver resolver(_io);
        auto results = resolver.resolve(host, std::to_string(port), ec);
        if (ec || results.empty()) {
            return unexpected(fmt::format("cannot resolve listener host '{}': {}", host,
                                          ec ? ec.message() : "no address"));
        }
        address = results.begin()->endpoint().address();
    }
    auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(_io);
    asio::ip::tcp::endpoint endpoint(address, port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) {
        acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
        acceptor->bind(endpoint, ec);
    }
    if (!ec) {
        acceptor->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return unexpected(fmt::format("cannot listen on {}:{}: {}", host, port, ec.message()));
    }
    uint16_t bound = acceptor->local_endpoint().port();
    asio::co_spawn(_io, accept_loop(*acceptor), asio::detached);
    _acceptors.push_back(std::move(acceptor));
    return bound;
}

void server::stop() {
    _stopping = true;
    *_stopped = true;
    asio::error_code ignored;
    for (auto& a : _acceptors) {
        a->close(ignored);
    }
    for (auto& weak : _connections) {
        if (auto c = weak.lock()) {
            c->socket.close(ignored);
        }
    }
    _connections.clear();
}

asio::awaitable<void> server::accept_loop(asio::ip::tcp::acceptor& acceptor) {
    while (!_stopping) {
        auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
        if (ec) {
            if (_stopping || ec == asio::error::operation_aborted) {
                co_return;
            }
            LOG_WARN("net", "accept failed: {}", ec.message());
            continue;
        }
        asio::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        auto conn = std::make_shared<connection>(std::move(socket));
        auto remote = conn->socket.remote_endpoint(ignored);
        conn->peer = fmt::format("{}:{}", remote.address().to_string(), remote.port());
        // Drop entries of closed connections so the list stays bounded.
        std::erase_if(_connections, [](const auto& w) { return w.expired(); });
        _connections.push_back(conn);
        asio::co_spawn(_io, serve(conn), asio::detached);
    }
}

bool parse_request_header(request& req) {
    protocol::reader r(req.frame);
    req.header.api_key = r.read_int16();
    req.header.api_version = r.read_int16();
    req.header.correlation_id = r.read_int32();
    if (!r.ok()) {
        return false;
    }
    const protocol::api_info* api = protocol::find_api(req.header.api_key);
    if (api == nullptr) {
        return false;
    }
    int16_t v = req.header.api_version;
    if (req.header.api_key == api_versions_key) {
        // Any version of ApiVersions is answered (KIP-511); its header is v2 from v3 on.
        req.header.flexible = v >= api_versions_first_flexible;
    } else {
        if (v < api->min_version || v > api->max_version) {
            return false;
        }
        req.header.flexible = api->is_flexible(v);
    }
    // client_id is a nullable int16 string even in header v2; Kafka treats null as "".
    auto client_id = r.read_nullable_string(false);
    req.header.client_id = client_id.value_or("");
    if (req.header.flexible) {
        r.skip_tagged_fields();
    }
    if (!r.ok()) {
        return false;
    }
    req.body = protocol::bytes_view(req.frame).subspan(r.position());
    return true;
}

namespace {

// After a non-blocking send failed with `error` (errno): true to send again (interrupted, or
// the socket is writable again), false when the connection is broken.
asio::awaitable<bool> retry_after_send_error(asio::ip::tcp::socket& socket, int error) {
    if (error == EINTR) {
        co_return true;
    }
    if (error != EAGAIN && error != EWOULDBLOCK) {
        co_return false;
    }
    auto [ec] = co_await socket.async_wait(asio::socket_base::wait_write, use_nothrow);
    co_return !ec;
}

// Writes `n` bytes of a file to the socket with sendfile, waiting for writability as needed.
asio::awaitable<bool> send_file(asio::ip::tcp::socket& socket,
                                int fd,
                                uint64_t position,
                                size_t n) {
    auto offset = static_cast<off_t>(position);
    while (n > 0) {
        ssize_t sent = ::sendfile(socket.native_handle(), fd, &offset, n);
        if (sent > 0) {
            n -= static_cast<size_t>(sent);
            continue;
        }
        // sent == 0: the file is shorter than promised (truncated meanwhile). The frame can
        // no longer be completed, so the connection must close.
        if (sent == 0 || !co_await retry_after_send_error(socket, errno)) {
            co_return false;
        }
    }
    co_return true;
}

// Writes the bytes, with `more`: MSG_MORE, so the kernel holds them until the file bytes
// that follow (sendfile, which pushes at its end), and a fetch answer's headers leave in the
// records' first segment instead of a tiny one of their own that wakes the client for nothing.
asio::awaitable<bool> send_gathered(asio::ip::tcp::socket& socket,
                                    std::span<const uint8_t> first,
                                    std::span<const uint8_t> second,
                                    bool more) {
    while (!first.empty() || !second.empty()) {
        std::array<iovec, 2> iov{iovec{const_cast<uint8_t*>(first.data()), first.size()},
                                 iovec{const_cast<uint8_t*>(second.data()), second.size()}};
        msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = iov.size();
        ssize_t sent =
            ::sendmsg(socket.native_handle(), &msg, (more ? MSG_MORE : 0) | MSG_NOSIGNAL);
        if (sent >= 0) {
            auto n = static_cast<size_t>(sent);
            size_t from_first = std::min(n, first.size());
            first = first.subspan(from_first);
            second = second.subspan(n - from_first);
            continue;
        }
        if (!co_await retry_after_send_error(socket, errno)) {
            co_return false;
        }
    }
    co_return true;
}

}  // namespace

asio::awaitable<void> server::reserve_bytes(size_t n) {
    auto budget = _budget;
    while (budget->in_flight_bytes > 0 &&
           budget->in_flight_bytes + n > _limits.in_flight_max_bytes) {
        auto timer = std::make_shared<asio::steady_timer>(_io, std::chrono::seconds(1));
        budget->waiters.push_back(timer);
        co_await timer->async_wait(use_nothrow);
        if (_stopping) {
            break;
        }
    }
    budget->in_flight_bytes += n;
}

void server::byte_budget::release(size_t n) {
    in_flight_bytes -= n;
    auto woken = std::move(waiters);
    waiters.clear();
    for (auto& w : woken) {
        if (auto t = w.lock()) {
            t->cancel();
        }
    }
}

namespace {

// Writes one answer: the response header (v0: correlation id; v1: and an empty tag section;
// ApiVersions always v0), the body from memory, and its file ranges with sendfile.
asio::awaitable<bool> write_reply(asio::ip::tcp::socket& socket,
                                  const request_header& header,
                                  const reply& rep) {
    bool flexible_header = header.flexible && header.api_key != api_versions_key;
    protocol::writer head;
    head.write_int32(static_cast<int32_t>(rep.body.size_bytes() + 4 + (flexible_header ? 1 : 0)));
    head.write_int32(header.correlation_id);
    if (flexible_header) {
        head.write_empty_tagged_fields();
    }
    const auto& body = rep.body.buffer();
    const auto& splices = rep.body.splices();
    if (splices.empty()) {
        std::array<asio::const_buffer, 2> bufs{asio::buffer(head.buffer()), asio::buffer(body)};
        auto [ec, n] = co_await asio::async_write(socket, bufs, use_nothrow);
        co_return !ec;
    }
    std::span<const uint8_t> head_bytes(head.buffer());
    size_t body_pos = 0;
    for (const auto& sp : splices) {
        if (!co_await send_gathered(
                socket, head_bytes,
                std::span<const uint8_t>(body).subspan(body_pos, sp.buffer_position - body_pos),
                /*more=*/sp.records.file_size_bytes > 0)) {
            co_return false;
        }
        head_bytes = {};
        body_pos = sp.buffer_position;
        if (!co_await send_file(socket, sp.records.file->fd, sp.records.file_position,
                                sp.records.file_size_bytes)) {
            co_return false;
        }
    }
    if (body_pos < body.size()) {
        auto [ec3, n3] = co_await asio::async_write(
            socket, asio::buffer(body.data() + body_pos, body.size() - body_pos), use_nothrow);
        co_return !ec3;
    }
    co_return true;
}

}  // namespace

// Sends the queued answers in request order, each once it is ready; ends when the queue is
// empty. Touches only the connection (it may outlive the server).
asio::awaitable<void> server::write_queued(std::shared_ptr<connection> conn) {
    asio::error_code ignored;
    while (!conn->answers.empty() && conn->socket.is_open()) {
        auto front = conn->answers.front();
        if (!front->answer) {
            conn->answer_ready.expires_at(asio::steady_timer::time_point::max());
            co_await conn->answer_ready.async_wait(use_nothrow);
            continue;
        }
        conn->answers.pop_front();
        conn->answer_sent.cancel();  // the reader may wait for room in the queue
        const reply& rep = *front->answer;
        if (rep.kind == reply_kind::no_response) {
            continue;
        }
        if (rep.kind == reply_kind::close ||
            !co_await write_reply(conn->socket, front->header, rep)) {
            conn->answers.clear();
            conn->socket.close(ignored);
            break;
        }
    }
    conn->writing = false;
    conn->answer_sent.cancel();
}

void server::queue_answer(const std::shared_ptr<connection>& conn,
                          std::shared_ptr<queued_answer> answer) {
    conn->answers.push_back(std::move(answer));
    conn->answer_ready.cancel();
    if (!conn->writing) {
        conn->writing = true;
        asio::co_spawn(_io, write_queued(conn), asio::detached);
    }
}

asio::awaitable<void> server::serve(std::shared_ptr<connection> conn) {
    auto& socket = conn->socket;
    auto stopped = _stopped;
    asio::error_code ignored;
    socket.native_non_blocking(true, ignored);
    uint8_t size_prefix[4];
    bool closing = false;  // a request asked for the connection to close after earlier answers
    for (;;) {
        auto [ec1, n1] = co_await asio::async_read(socket, asio::buffer(size_prefix), use_nothrow);
        if (ec1) {
            break;
        }
        int32_t size = static_cast<int32_t>((uint32_t(size_prefix[0]) << 24) |
                                            (uint32_t(size_prefix[1]) << 16) |
                                            (uint32_t(size_prefix[2]) << 8) | size_prefix[3]);
        if (size < 8 || static_cast<size_t>(size) > _limits.request_max_bytes) {
            LOG_WARN("net", "closing connection from {}: request size {} outside [8, {}]",
                     conn->peer, size, _limits.request_max_bytes);
            break;
        }
        auto frame_bytes = static_cast<size_t>(size);
        co_await reserve_bytes(frame_bytes);
        // Released when this iteration ends, whichever way it ends.
        struct release_guard {
            std::shared_ptr<byte_budget> budget;
            size_t n;
            ~release_guard() { budget->release(n); }
        } guard{_budget, frame_bytes};
        request req;
        req.peer = conn->peer;
        req.frame.resize(frame_bytes);
        auto [ec2, n2] = co_await asio::async_read(socket, asio::buffer(req.frame), use_nothrow);
        if (ec2) {
            break;
        }
        if (!parse_request_header(req)) {
            LOG_WARN("net",
                     "closing connection from {}: unknown api key {} or unsupported version {} "
                     "or malformed header",
                     conn->peer, req.header.api_key, req.header.api_version);
            break;
        }
        reply rep = co_await _handler.handle(req);
        if (rep.kind == reply_kind::deferred || conn->writing) {
            // Answered in order behind earlier answers still waiting; meanwhile the next
            // request is read (a pipelined acks=-1 produce appends while this one waits).
            auto answer = std::make_shared<queued_answer>();
            answer->header = req.header;
            if (rep.kind == reply_kind::deferred) {
                asio::co_spawn(_io, rep.finish(),
                               [answer, conn](std::exception_ptr e, reply finished) {
                                   answer->answer = e ? reply::close() : std::move(finished);
                                   conn->answer_ready.cancel();
                               });
            } else {
                answer->answer = std::move(rep);
            }
            closing = answer->answer && answer->answer->kind == reply_kind::close;
            queue_answer(conn, std::move(answer));
            if (closing) {
                break;
            }
            while (conn->answers.size() >= answers_queued_max && socket.is_open()) {
                conn->answer_sent.expires_at(asio::steady_timer::time_point::max());
                co_await conn->answer_sent.async_wait(use_nothrow);
            }
            if (!socket.is_open()) {
                break;
            }
            continue;
        }
        if (rep.kind == reply_kind::close) {
            break;
        }
        if (rep.kind == reply_kind::no_response) {
            continue;
        }
        if (!co_await write_reply(socket, req.header, rep)) {
            break;
        }
    }
    // Earlier answers go out before a requested close; any other end closes at once.
    while (closing && conn->writing && socket.is_open()) {
        conn->answer_sent.expires_at(asio::steady_timer::time_point::max());
        co_await conn->answer_sent.async_wait(use_nothrow);
    }
    socket.close(ignored);
    conn->answer_ready.cancel();
    if (!*stopped) {
        _handler.on_connection_closed(conn->peer);
    }
}

}  // namespace riacho::net
