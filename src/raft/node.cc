#include "raft/node.h"

#include "base/invariant.h"
#include "base/log.h"
#include "net/client.h"
#include "net/server.h"
#include "protocol/error_code.h"
#include "protocol/messages/api_catalog.h"
#include "protocol/messages/controller_write.h"
#include "protocol/messages/describe_quorum.h"
#include "raft/codec.h"
#include "raft/file_log.h"
#include "raft/quorum_state_file.h"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include <deque>
#include <future>
#include <map>
#include <thread>

namespace riacho::raft {

namespace {

constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t peer_queue_max = 256;  // messages waiting for one peer; older ones are dropped
const std::string client_id = "riacho-raft";

time_ms steady_now() {
    return std::chrono::duration_cast<time_ms>(std::chrono::steady_clock::now().time_since_epoch());
}

codec::clock_reading clock_now() {
    return {steady_now(), std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()};
}

bool is_response(const message_body& body) {
    return std::holds_alternative<vote_response>(body) ||
           std::holds_alternative<begin_quorum_epoch_response>(body) ||
           std::holds_alternative<end_quorum_epoch_response>(body) ||
           std::holds_alternative<fetch_response>(body) ||
           std::holds_alternative<fetch_snapshot_response>(body);
}

}  // namespace

result<std::vector<voter_endpoint>, std::string> parse_voters(const std::string& text) {
    std::vector<voter_endpoint> voters;
    size_t pos = 0;
    while (pos <= text.size()) {
        auto comma = text.find(',', pos);
        std::string item =
            text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        pos = comma == std::string::npos ? text.size() + 1 : comma + 1;
        auto at = item.find('@');
        auto colon = item.rfind(':');
        if (item.empty() || at == std::string::npos || colon == std::string::npos || colon < at) {
            return unexpected{fmt::format("'{}' is not <node id>@<host>:<port>", item)};
        }
        voter_endpoint v;
        try {
            size_t used = 0;
            int id = std::stoi(item.substr(0, at), &used);
            int port = std::stoi(item.substr(colon + 1), &used);
            if (used != item.size() - colon - 1 || id < 0 || port <= 0 || port > 65535) {
                throw std::invalid_argument("range");
            }
            v.id = node_id(id);
            v.port = static_cast<uint16_t>(port);
        } catch (const std::exception&) {
            return unexpected{fmt::format("'{}' is not <node id>@<host>:<port>", item)};
        }
        v.host = item.substr(at + 1, colon - at - 1);
        if (v.host.starts_with('[') && v.host.ends_with(']')) {
            v.host = v.host.substr(1, v.host.size() - 2);
        }
        for (const auto& other : voters) {
            if (other.id == v.id) {
                return unexpected{fmt::format("node id {} is listed twice", v.id.value())};
            }
        }
        voters.push_back(std::move(v));
    }
    if (voters.empty()) {
        return unexpected{std::string("no voters listed")};
    }
    return voters;
}

// ------------------------------------------------------------------------------------------
// impl: everything below runs on the node's thread unless it says otherwise.

class node::impl final : public net::request_handler {
public:
    explicit impl(node_config config) : _config(std::move(config)) {}
    ~impl() override { stop(std::chrono::milliseconds(0)); }

    std::optional<std::string> open();
    uint16_t listen_port() const { return _listen_port; }
    void run_thread();
    void stop(std::chrono::milliseconds resign_wait);

    node_status current() const {
        std::lock_guard lock(_shared_mutex);
        return _status;
    }
    void take_snapshot(kafka_offset end, std::string bytes) {
        asio::post(_io, [this, end, bytes = std::move(bytes)]() mutable {
            if (_stopped || end <= _log->log_start_offset() || end > _pushed_end) {
                return;  // an older one, or a node that restarted since
            }
            auto last = _log->read(end - 1, 1);
            INVARIANT(last.size() == 1, "no entry below snapshot offset {}", end.value());
            size_t size = bytes.size();
            _replica->take_snapshot({end, last[0].epoch}, std::move(bytes));
            LOG_INFO("raft",
                     "node {}: metadata snapshot at offset {} ({} bytes); the log starts there",
                     _config.id.value(), end.value(), size);
        });
    }
    std::vector<committed_entry> take_committed() {
        std::lock_guard lock(_shared_mutex);
        std::vector<committed_entry> out(std::make_move_iterator(_committed.begin()),
                                         std::make_move_iterator(_committed.end()));
        _committed.clear();
        return out;
    }
    void set_commit_listener(std::function<void()> fn) {
        std::lock_guard lock(_shared_mutex);
        _commit_listener = std::move(fn);
    }
    write_outcome write(std::string data,
                        kafka_offset base,
                        std::chrono::milliseconds timeout,
                        bool leader_only);

    asio::awaitable<net::reply> handle(net::request& req) override;
    void on_connection_closed(const std::string& peer) override {
        auto it = _fetching_peers.find(peer);
        if (it == _fetching_peers.end()) {
            return;
        }
        _disconnected_since[it->second] = steady_now();
        _fetching_peers.erase(it);
        publish_status();
    }
    std::optional<std::vector<uint8_t>> answer_describe_quorum(int16_t api_version,
                                                               std::span<const uint8_t> body) {
        // Shared: after a timeout (a stopping node) the posted work may still run later.
        auto done = std::make_shared<std::promise<std::optional<std::vector<uint8_t>>>>();
        auto future = done->get_future();
        asio::post(
            _io, [this, done, api_version, bytes = std::vector<uint8_t>(body.begin(), body.end())] {
                net::request req;
                req.header.api_key = protocol::msg::describe_quorum_request::api_key;
                req.header.api_version = api_version;
                req.body = bytes;
                auto reply = describe_quorum_reply(req);
                if (reply.kind == net::reply_kind::close) {
                    done->set_value(std::nullopt);
                } else {
                    done->set_value(std::move(reply.body.buffer()));
                }
            });
        if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
            return std::nullopt;
        }
        return future.get();
    }

private:
    // One outbound connection to a peer's controller listener: requests go out one at a time
    // in order; a request that gets no answer within the request timeout closes the
    // connection (a stopped peer must not hold the queue forever).
    struct outbound {
        int16_t api_key = 0;
        int16_t api_version = 0;
        std::vector<uint8_t> body;
        std::function<void(std::optional<std::vector<uint8_t>>)> on_response;
    };
    struct peer_link {
        peer_link(asio::io_context& io, node_id to) : connection(io, client_id), peer(to) {}
        net::client_connection connection;
        node_id peer;
        std::deque<outbound> queue;
        std::unique_ptr<asio::steady_timer> wake;
    };

    void step();  // after any input to the core: carry its output out, re-arm the timer
    // After a request to `peer`: keeps _leader_gone (see there).
    void note_leader_reachability(node_id peer, bool answered, bool failed_fast);
    void arm_timer();
    // After step's output: turns _leader_gone into a disconnection once this node leads, or
    // drops it once another node does. Before publish_status, which only reports.
    void settle_leader_gone();
    void publish_status();
    void wake_waiters();
    asio::awaitable<void> wait_for_change(time_ms deadline);
    void send_to_peer(const message& m);
    peer_link& link(std::map<node_id, std::shared_ptr<peer_link>>& links, node_id id);
    void enqueue(peer_link& l, outbound o);
    asio::awaitable<void> run_link(std::shared_ptr<peer_link> l);
    asio::awaitable<write_outcome> do_write(std::string data,
                                            kafka_offset base,
                                            time_ms deadline,
                                            bool leader_only);
    asio::awaitable<net::reply> handle_controller_write(net::request& req);
    net::reply describe_quorum_reply(net::request& req);

    node_config _config;
    asio::io_context _io{1};
    std::thread _thread;
    std::unique_ptr<file_log> _log;
    std::unique_ptr<quorum_state_file> _state;
    std::unique_ptr<replica> _replica;
    std::unique_ptr<net::server> _server;
    std::unique_ptr<asio::steady_timer> _tick_timer;
    uint16_t _listen_port = 0;
    bool _stopping = false;  // stop() began (any thread; only stop() reads it)
    bool _stopped = false;   // the node's thread no longer does anything

    // Shared with their coroutines, whose frames may outlive the maps (they are destroyed
    // with the io_context).
    std::map<node_id, std::shared_ptr<peer_link>> _links;          // raft messages
    std::map<node_id, std::shared_ptr<peer_link>> _forward_links;  // ControllerWrite
    std::vector<std::shared_ptr<asio::steady_timer>> _waiters;     // woken after every step

    // The core answers a request synchronously inside receive(); the answer to the request
    // being handled is captured here instead of being sent as a message.
    uint64_t _capture_request_id = 0;
    std::optional<message_body> _captured;
    uint64_t _next_inbound_id = 1;

    // Inbound connections that carried fetches, by peer address, with the fetching node; and
    // the nodes whose fetch connection closed, with no fetch since (node_status).
    std::map<std::string, node_id> _fetching_peers;
    std::map<node_id, time_ms> _disconnected_since;
    // The leader this node followed when a request to it failed at once (connection reset or
    // refused: its process is gone, not frozen or cut off, which time out), and since when.
    // Should this node lead next, the old leader counts as disconnected from that moment, so
    // the controller does not give a dead node a whole session (node_status).
    std::optional<std::pair<node_id, time_ms>> _leader_gone;

    kafka_offset _pushed_end{0};  // committed entries below this went to _committed
    std::optional<kafka_offset> _leader_high_watermark;  // as last reported by a fetch

    mutable std::mutex _shared_mutex;  // guards what other threads read
    node_status _status;
    std::deque<committed_entry> _committed;
    std::function<void()> _commit_listener;
};

std::optional<std::string> node::impl::open() {
    auto log = file_log::open(_config.metadata_dir);
    if (!log) {
        return log.error();
    }
    _log = std::move(*log);
    _state = std::make_unique<quorum_state_file>(_config.metadata_dir / "quorum-state");
    _pushed_end = _log->log_start_offset();
    if (auto snapshot = _log->latest_snapshot()) {
        // The state machine starts from the snapshot; the log holds what came after it.
        auto bytes = _log->read_snapshot(*snapshot);
        if (!bytes) {
            return fmt::format("cannot read the metadata snapshot at offset {} in '{}'",
                               snapshot->offset.value(), _config.metadata_dir.string());
        }
        std::lock_guard lock(_shared_mutex);
        _committed.push_back({snapshot->offset, std::move(*bytes), true});
    }
    replica_config rc = _config.timing;
    rc.id = _config.id;
    rc.voters.clear();
    for (const auto& v : _config.voters) {
        rc.voters.push_back(v.id);
    }
    // A node outside the voters observes (process.roles=broker): it still binds a controller
    // listener of its own, which nobody dials.
    _server = std::make_unique<net::server>(_io, *this, net::server_limits{});
    auto bound = _server->listen(_config.listen_host, _config.listen_port);
    if (!bound) {
        return fmt::format("controller listener {}:{}: {}", _config.listen_host,
                           _config.listen_port, bound.error());
    }
    _listen_port = *bound;
    _tick_timer = std::make_unique<asio::steady_timer>(_io);
    auto seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
                static_cast<uint64_t>(rc.id.value());
    _replica = std::make_unique<replica>(rc, *_log, *_state, seed, steady_now());
    LOG_INFO("raft",
             "node {} joins the metadata quorum of {} voter(s){} in epoch {} ({}), log end {}",
             rc.id.value(), rc.voters.size(), _replica->observer() ? " as an observer" : "",
             _replica->epoch().value(), role_name(_replica->current_role()),
             _log->end_offset_and_epoch().offset.value());
    step();
    return std::nullopt;
}

void node::impl::run_thread() {
    _thread = std::thread([this] {
        auto guard = asio::make_work_guard(_io);
        _io.run();
    });
}

void node::impl::stop(std::chrono::milliseconds resign_wait) {
    if (_stopped || _stopping) {
        return;
    }
    _stopping = true;
    if (_thread.joinable()) {
        if (resign_wait.count() > 0 && _config.voters.size() > 1) {
            // Controlled shutdown: ask the others to elect a successor now rather than after
            // a fetch timeout, and give the EndQuorumEpoch requests time to leave.
            std::promise<bool> resigned;
            asio::post(_io, [this, &resigned] {
                bool was_leader = _replica->current_role() == role::leader;
                _replica->resign(steady_now());
                step();
                resigned.set_value(was_leader);
            });
            if (resigned.get_future().get()) {
                std::this_thread::sleep_for(std::min(resign_wait, std::chrono::milliseconds(300)));
            }
        }
        asio::post(_io, [this] {
            _stopped = true;
            if (_server) {
                _server->stop();
            }
            _io.stop();
        });
        _thread.join();
    }
    _stopped = true;
    if (_log) {
        _log->close();
    }
}

// ------------------------------------------------------------------------- the core's loop

void node::impl::step() {
    auto out = _replica->take_output();
    for (auto& m : out.messages) {
        if (_capture_request_id != 0 && m.request_id == _capture_request_id &&
            is_response(m.body)) {
            _captured = std::move(m.body);
            continue;
        }
        send_to_peer(m);
    }
    bool pushed = false;
    if (out.snapshot_installed) {
        // The leader's snapshot replaced the log: the state machine starts over from it.
        auto bytes = _log->read_snapshot(*out.snapshot_installed);
        INVARIANT(bytes.has_value(), "the snapshot at {} just installed cannot be read",
                  out.snapshot_installed->offset.value());
        LOG_INFO("raft",
                 "node {}: installed the leader's metadata snapshot at offset {} ({} bytes)",
                 _config.id.value(), out.snapshot_installed->offset.value(), bytes->size());
        std::lock_guard lock(_shared_mutex);
        _committed.push_back({out.snapshot_installed->offset, std::move(*bytes), true});
        _pushed_end = out.snapshot_installed->offset;
        pushed = true;
    }
    kafka_offset hw = _replica->high_watermark();
    if (hw > _pushed_end) {
        auto entries = _log->read(_pushed_end, static_cast<size_t>(hw - _pushed_end));
        std::lock_guard lock(_shared_mutex);
        for (size_t i = 0; i < entries.size(); ++i) {
            if (entries[i].kind == entry_kind::data) {
                _committed.push_back(
                    {_pushed_end + static_cast<int64_t>(i), std::move(entries[i].data), false});
                pushed = true;
            }
        }
        _pushed_end = _pushed_end + static_cast<int64_t>(entries.size());
    }
    settle_leader_gone();
    publish_status();
    if (pushed) {
        std::function<void()> listener;
        {
            std::lock_guard lock(_shared_mutex);
            listener = _commit_listener;
        }
        if (listener) {
            listener();
        }
    }
    wake_waiters();
    arm_timer();
}

void node::impl::settle_leader_gone() {
    if (!_leader_gone) {
        return;
    }
    if (_replica->current_role() == role::leader) {
        // Just elected (_leader_gone is only kept while following another node): the leader
        // before counts as gone since its connection failed (its first fetch from this node,
        // should it be alive after all, erases that).
        _disconnected_since.emplace(_leader_gone->first, _leader_gone->second);
        _leader_gone.reset();
    } else if (auto leader = _replica->leader_id(); leader && *leader != _leader_gone->first) {
        _leader_gone.reset();  // another node leads now: it judges the old leader itself
    }
}

void node::impl::publish_status() {
    node_status s;
    s.leader = _replica->leader_id();
    s.epoch = _replica->epoch();
    s.current_role = _replica->current_role();
    s.high_watermark = _replica->high_watermark();
    if (s.current_role == role::leader) {
        s.caught_up = s.high_watermark > _replica->epoch_start_offset();
        s.quorum = _replica->describe_quorum();
        s.disconnected_since = _disconnected_since;
    } else {
        s.caught_up =
            s.leader && _leader_high_watermark && s.high_watermark >= *_leader_high_watermark;
    }
    std::lock_guard lock(_shared_mutex);
    if (s.leader != _status.leader || s.epoch != _status.epoch ||
        s.current_role != _status.current_role) {
        LOG_INFO("raft", "node {}: {} in epoch {}, leader {}", _config.id.value(),
                 role_name(s.current_role), s.epoch.value(),
                 s.leader ? std::to_string(s.leader->value()) : "unknown");
    }
    _status = std::move(s);
}

void node::impl::arm_timer() {
    auto now = steady_now();
    auto deadline = _replica->next_deadline();
    auto wait = deadline > now ? deadline - now : time_ms(0);
    _tick_timer->expires_after(wait);
    _tick_timer->async_wait([this](const std::error_code& ec) {
        if (ec || _stopped) {
            return;
        }
        _replica->tick(steady_now());
        step();
    });
}

void node::impl::wake_waiters() {
    for (auto& t : std::exchange(_waiters, {})) {
        t->cancel();
    }
}

asio::awaitable<void> node::impl::wait_for_change(time_ms deadline) {
    auto timer = std::make_shared<asio::steady_timer>(_io);
    auto now = steady_now();
    timer->expires_after(deadline > now ? deadline - now : time_ms(0));
    _waiters.push_back(timer);
    co_await timer->async_wait(use_nothrow);
}

// ------------------------------------------------------------------------------ outbound

void node::impl::note_leader_reachability(node_id peer, bool answered, bool failed_fast) {
    if (answered) {
        if (_leader_gone && _leader_gone->first == peer) {
            _leader_gone.reset();
        }
        return;
    }
    if (failed_fast && _replica->leader_id() == peer && peer != _config.id &&
        (!_leader_gone || _leader_gone->first != peer)) {
        _leader_gone = {peer, steady_now()};
    }
}

node::impl::peer_link& node::impl::link(std::map<node_id, std::shared_ptr<peer_link>>& links,
                                        node_id id) {
    auto& slot = links[id];
    if (!slot) {
        slot = std::make_shared<peer_link>(_io, id);
        for (const auto& v : _config.voters) {
            if (v.id == id) {
                slot->connection.set_endpoint(v.host, v.port);
            }
        }
        slot->wake = std::make_unique<asio::steady_timer>(_io);
        asio::co_spawn(_io, run_link(slot), asio::detached);
    }
    return *slot;
}

void node::impl::enqueue(peer_link& l, outbound o) {
    if (l.queue.size() >= peer_queue_max) {
        auto dropped = std::move(l.queue.front());
        l.queue.pop_front();
        if (dropped.on_response) {
            dropped.on_response(std::nullopt);
        }
    }
    l.queue.push_back(std::move(o));
    l.wake->cancel();
}

void node::impl::send_to_peer(const message& m) {
    auto wire = codec::encode_request(m, _config.cluster_id);
    if (!wire) {
        return;  // not on the wire (FetchSnapshot): the core's timeouts handle the silence
    }
    outbound o;
    o.api_key = wire->api_key;
    o.api_version = wire->api_version;
    INVARIANT(wire->body.splices().empty(), "raft request bodies are built in memory");
    o.body = std::move(wire->body.buffer());
    node_id peer = m.to;
    uint64_t request_id = m.request_id;
    int16_t key = o.api_key;
    int16_t version = o.api_version;
    o.on_response = [this, peer, request_id, key, version,
                     request = m.body](std::optional<std::vector<uint8_t>> bytes) {
        if (!bytes || _stopped) {
            return;  // lost: the core resends or times out on its own
        }
        auto body = codec::decode_response(request, version, *bytes);
        if (!body) {
            LOG_WARN("raft", "response {} v{} from node {} does not decode", key, version,
                     peer.value());
            return;
        }
        if (const auto* f = std::get_if<fetch_response>(&*body);
            f != nullptr && f->error == raft_error::none && f->high_watermark) {
            _leader_high_watermark = *f->high_watermark;
        }
        _replica->receive(message{peer, _config.id, request_id, std::move(*body)}, steady_now());
        step();
    };
    enqueue(link(_links, peer), std::move(o));
}

asio::awaitable<void> node::impl::run_link(std::shared_ptr<peer_link> link) {
    peer_link& l = *link;
    while (!_stopped) {
        if (l.queue.empty()) {
            l.wake->expires_after(std::chrono::hours(24));
            co_await l.wake->async_wait(use_nothrow);
            continue;
        }
        auto o = std::move(l.queue.front());
        l.queue.pop_front();
        time_ms sent_at = steady_now();
        auto answer = co_await l.connection.roundtrip(o.api_key, o.api_version, o.body,
                                                      _config.timing.request_timeout);
        if (_stopped) {
            co_return;
        }
        note_leader_reachability(l.peer, answer.has_value(),
                                 steady_now() - sent_at < _config.timing.request_timeout);
        if (o.on_response) {
            o.on_response(std::move(answer));
        }
        if (!answer) {
            // A peer that is down: do not spin on connects; the core resends what matters.
            asio::steady_timer backoff(_io, std::chrono::milliseconds(50));
            co_await backoff.async_wait(use_nothrow);
        }
    }
}

// ------------------------------------------------------------------------------- writes

write_outcome node::impl::write(std::string data,
                                kafka_offset base,
                                std::chrono::milliseconds timeout,
                                bool leader_only) {
    INVARIANT(std::this_thread::get_id() != _thread.get_id(), "write() on the node's thread");
    auto done = std::make_shared<std::promise<write_outcome>>();
    auto future = done->get_future();
    time_ms deadline = steady_now() + timeout;
    asio::co_spawn(_io, do_write(std::move(data), base, deadline, leader_only),
                   [done](std::exception_ptr e, write_outcome outcome) {
                       if (e) {
                           outcome = {write_errc::failed, kafka_offset(-1), kafka_offset(-1),
                                      "internal error"};
                       }
                       done->set_value(std::move(outcome));
                   });
    // The coroutine ends by the deadline; the margin covers a stopping node.
    if (future.wait_for(timeout + std::chrono::seconds(2)) != std::future_status::ready) {
        return {write_errc::timeout, kafka_offset(-1), kafka_offset(-1),
                "the metadata quorum did not answer"};
    }
    return future.get();
}

asio::awaitable<write_outcome> node::impl::do_write(std::string data,
                                                    kafka_offset base,
                                                    time_ms deadline,
                                                    bool leader_only) {
    auto sleep = [this](std::chrono::milliseconds d) -> asio::awaitable<void> {
        asio::steady_timer t(_io, d);
        co_await t.async_wait(use_nothrow);
    };
    while (!_stopped) {
        if (steady_now() >= deadline) {
            if (!_replica->leader_id()) {
                co_return write_outcome{write_errc::no_leader, kafka_offset(-1), kafka_offset(-1),
                                        "no active controller"};
            }
            co_return write_outcome{write_errc::timeout, kafka_offset(-1), kafka_offset(-1),
                                    "the write was not committed in time"};
        }
        auto leader = _replica->leader_id();
        if (_replica->current_role() == role::leader) {
            if (_replica->high_watermark() <= _replica->epoch_start_offset()) {
                // Entries of earlier epochs may still be pending under us; validating against
                // the committed image now could let them land on top of a change made
                // without them.
                co_await wait_for_change(std::min(deadline, steady_now() + time_ms(20)));
                continue;
            }
            kafka_offset data_end = _log->data_end_at_or_below(_log->end_offset_and_epoch().offset);
            if (base != data_end) {
                co_return write_outcome{write_errc::stale, kafka_offset(-1), data_end,
                                        "the metadata changed since it was read"};
            }
            leader_epoch epoch = _replica->epoch();
            auto appended = _replica->append({std::move(data)}, steady_now());
            if (!appended) {
                continue;
            }
            kafka_offset offset = *appended;
            step();
            while (_pushed_end <= offset && _replica->epoch() == epoch &&
                   _replica->current_role() == role::leader && steady_now() < deadline &&
                   !_stopped) {
                co_await wait_for_change(deadline);
            }
            if (_pushed_end > offset) {
                co_return write_outcome{write_errc::none, offset, kafka_offset(-1), {}};
            }
            if (steady_now() >= deadline) {
                co_return write_outcome{write_errc::timeout, kafka_offset(-1), kafka_offset(-1),
                                        "the write was not committed in time"};
            }
            co_return write_outcome{write_errc::failed, kafka_offset(-1), kafka_offset(-1),
                                    "the controller lost leadership before the write committed"};
        }
        if (leader_only) {
            co_return write_outcome{write_errc::failed, kafka_offset(-1), kafka_offset(-1),
                                    "this node is not the active controller"};
        }
        if (!leader || *leader == _config.id) {
            co_await wait_for_change(std::min(deadline, steady_now() + time_ms(50)));
            continue;
        }
        // Forward to the active controller, on a connection of its own so that a write
        // waiting for its commit never holds up our fetches.
        protocol::msg::controller_write_request request;
        request.base_offset = base.value();
        request.records = std::vector<uint8_t>(data.begin(), data.end());
        outbound o;
        o.api_key = protocol::msg::controller_write_request::api_key;
        o.api_version = 0;
        protocol::writer body;
        request.encode(body, 0);
        o.body = std::move(body.buffer());
        auto answer = std::make_shared<std::optional<std::optional<std::vector<uint8_t>>>>();
        auto waker = std::make_shared<asio::steady_timer>(_io);
        waker->expires_at(asio::steady_timer::time_point::max());
        o.on_response = [answer, waker](std::optional<std::vector<uint8_t>> bytes) {
            *answer = std::move(bytes);
            waker->cancel();
        };
        enqueue(link(_forward_links, *leader), std::move(o));
        while (!answer->has_value() && !_stopped) {
            co_await waker->async_wait(use_nothrow);
        }
        if (!answer->has_value() || !answer->value()) {
            co_await sleep(std::chrono::milliseconds(50));
            continue;
        }
        protocol::msg::controller_write_response response;
        protocol::reader r(answer->value().value());
        response.decode(r, 0);
        if (!r.ok()) {
            co_await sleep(std::chrono::milliseconds(50));
            continue;
        }
        auto error = static_cast<protocol::error_code>(response.error_code);
        if (error == protocol::error_code::none) {
            kafka_offset offset(response.committed_offset);
            // Return once this node has the entry too, so the caller sees its own change.
            while (_pushed_end <= offset && steady_now() < deadline && !_stopped) {
                co_await wait_for_change(deadline);
            }
            if (_pushed_end > offset) {
                co_return write_outcome{write_errc::none, offset, kafka_offset(-1), {}};
            }
            co_return write_outcome{write_errc::timeout, kafka_offset(-1), kafka_offset(-1),
                                    "committed, but not yet replicated to this node"};
        }
        if (error == protocol::error_code::stale_controller_epoch) {
            co_return write_outcome{write_errc::stale, kafka_offset(-1),
                                    kafka_offset(response.applied_offset),
                                    "the metadata changed since it was read"};
        }
        if (error == protocol::error_code::not_controller) {
            co_await wait_for_change(std::min(deadline, steady_now() + time_ms(50)));
            continue;
        }
        co_return write_outcome{write_errc::failed, kafka_offset(-1), kafka_offset(-1),
                                response.error_message.value_or("the controller refused it")};
    }
    co_return write_outcome{write_errc::failed, kafka_offset(-1), kafka_offset(-1),
                            "the node is stopping"};
}

// ------------------------------------------------------------------------------- inbound

asio::awaitable<net::reply> node::impl::handle(net::request& req) {
    int16_t key = req.header.api_key;
    int16_t version = req.header.api_version;
    if (key == protocol::msg::controller_write_request::api_key) {
        co_return co_await handle_controller_write(req);
    }
    if (key == protocol::msg::describe_quorum_request::api_key) {
        co_return describe_quorum_reply(req);
    }
    auto msg = codec::decode_request(key, version, req.body, _config.id, _config.cluster_id);
    if (!msg) {
        if (msg.error() == codec::request_errc::malformed) {
            LOG_WARN("raft", "closing connection from {}: malformed quorum request (api {} v{})",
                     req.peer, key, version);
            co_return net::reply::close();
        }
        net::reply refused;
        codec::encode_error_response(key, version, msg.error(), refused.body);
        co_return refused;
    }
    if (const auto* fetch = std::get_if<fetch_request>(&msg->body)) {
        _fetching_peers[req.peer] = fetch->replica_id;
        _disconnected_since.erase(fetch->replica_id);
    }
    msg->request_id = (uint64_t(1) << 63) | _next_inbound_id++;
    _capture_request_id = msg->request_id;
    _captured.reset();
    _replica->receive(*msg, steady_now());
    step();
    _capture_request_id = 0;
    if (!_captured) {
        co_return net::reply::close();
    }
    net::reply out;
    codec::encode_response(*_captured, key, version, out.body);
    _captured.reset();
    co_return out;
}

net::reply node::impl::describe_quorum_reply(net::request& req) {
    if (auto bad = codec::check_describe_quorum_request(req.header.api_version, req.body)) {
        if (*bad == codec::request_errc::malformed) {
            return net::reply::close();
        }
        net::reply refused;
        codec::encode_error_response(req.header.api_key, req.header.api_version, *bad,
                                     refused.body);
        return refused;
    }
    net::reply out;
    if (_replica->current_role() == role::leader) {
        codec::encode_describe_quorum(_replica->describe_quorum(), clock_now(),
                                      req.header.api_version, out.body);
    } else {
        codec::encode_describe_quorum_not_leader(_replica->leader_id().value_or(no_node),
                                                 _replica->epoch(), req.header.api_version,
                                                 out.body);
    }
    return out;
}

asio::awaitable<net::reply> node::impl::handle_controller_write(net::request& req) {
    protocol::msg::controller_write_request request;
    protocol::reader r(req.body);
    request.decode(r, req.header.api_version);
    if (!r.ok()) {
        co_return net::reply::close();
    }
    protocol::msg::controller_write_response response;
    if (_replica->current_role() != role::leader) {
        response.error_code = protocol::code(protocol::error_code::not_controller);
        response.leader_id = _replica->leader_id().value_or(no_node).value();
    } else {
        std::string data(request.records.begin(), request.records.end());
        // Written here or not at all: the sender forwards again if leadership moves.
        auto outcome =
            co_await do_write(std::move(data), kafka_offset(request.base_offset),
                              steady_now() + _config.timing.request_timeout, /*leader_only=*/true);
        switch (outcome.error) {
            case write_errc::none:
                response.committed_offset = outcome.offset.value();
                break;
            case write_errc::stale:
                // STALE_CONTROLLER_EPOCH stands for "validated against an older image" here.
                response.error_code = protocol::code(protocol::error_code::stale_controller_epoch);
                response.applied_offset = outcome.leader_data_end.value();
                break;
            default:
                response.error_code = protocol::code(protocol::error_code::not_controller);
                response.error_message = outcome.message;
                break;
        }
    }
    net::reply out;
    response.encode(out.body, req.header.api_version);
    co_return out;
}

// --------------------------------------------------------------------------------- node

node::node(std::unique_ptr<impl> impl) : _impl(std::move(impl)) {
    _listen_port = _impl->listen_port();
}

node::~node() { stop(std::chrono::milliseconds(0)); }

result<std::unique_ptr<node>, std::string> node::start(node_config config) {
    auto i = std::make_unique<impl>(std::move(config));
    if (auto error = i->open()) {
        return unexpected{*error};
    }
    i->run_thread();
    return std::unique_ptr<node>(new node(std::move(i)));
}

void node::stop(std::chrono::milliseconds resign_wait) {
    if (_impl) {
        _impl->stop(resign_wait);
    }
}

node_status node::current() const { return _impl->current(); }
std::vector<committed_entry> node::take_committed() { return _impl->take_committed(); }
void node::take_snapshot(kafka_offset end, std::string bytes) {
    _impl->take_snapshot(end, std::move(bytes));
}
void node::set_commit_listener(std::function<void()> fn) {
    _impl->set_commit_listener(std::move(fn));
}
write_outcome node::write(std::string data,
                          kafka_offset base,
                          std::chrono::milliseconds timeout,
                          bool leader_only) {
    return _impl->write(std::move(data), base, timeout, leader_only);
}

std::optional<std::vector<uint8_t>> node::answer_describe_quorum(int16_t api_version,
                                                                 std::span<const uint8_t> body) {
    return _impl->answer_describe_quorum(api_version, body);
}

}  // namespace riacho::raft
