#include "broker/replica_manager.h"

#include "base/log.h"
#include "broker/broker_context.h"
#include "cluster/eligible_leaders.h"
#include "cluster/metadata_image.h"
#include "protocol/messages/fetch.h"
#include "protocol/record_batch.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <fstream>
#include <set>
#include <sstream>
#include <unistd.h>

namespace riacho::broker {

namespace {

constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr int16_t replica_fetch_version = 12;  // topic names, leader epochs, diverging epoch
constexpr int32_t replica_fetch_max_wait_ms = 500;
constexpr auto replica_fetch_timeout = std::chrono::milliseconds(5000);
constexpr auto timer_period = std::chrono::milliseconds(250);
constexpr int64_t checkpoint_interval_ms = 5000;
constexpr const char* checkpoint_file = "replication-offset-checkpoint";

// Whether `topic` lists `partition` on `broker` in its throttled-replicas config `key`.
bool throttled_replica(const cluster::topic_info& topic,
                       int32_t partition,
                       int32_t broker,
                       const char* key) {
    auto it = topic.configs.find(key);
    return it != topic.configs.end() && replication::lists_replica(it->second, partition, broker);
}

int64_t wall_ms() { return broker_context::now_ms(); }

}  // namespace

struct replica_manager::fetcher {
    fetcher(asio::io_context& io, int32_t leader_id, const std::string& client_id)
        : leader(leader_id), connection(io, client_id), wake(io) {}
    int32_t leader;
    net::client_connection connection;
    asio::steady_timer wake;
    bool stopped = false;
};

replica_manager::replica_manager(broker_context& ctx) : _ctx(ctx) {}

replica_manager::~replica_manager() { stop(); }

void replica_manager::start() {
    read_checkpoint();
    _timer = std::make_unique<asio::steady_timer>(_ctx.io);
    arm_timer();
}

void replica_manager::stop() {
    if (_stopped) {
        return;
    }
    _stopped = true;
    for (auto& [id, f] : _fetchers) {
        f->stopped = true;
        f->wake.cancel();
        f->connection.close();
    }
    _fetchers.clear();
    if (_timer) {
        _timer->cancel();
    }
    write_checkpoint();
}

void replica_manager::arm_timer() {
    _timer->expires_after(timer_period);
    _timer->async_wait([this](const std::error_code& ec) {
        if (ec || _stopped) {
            return;
        }
        check_isr();
        if (wall_ms() - _last_checkpoint_ms >= checkpoint_interval_ms) {
            write_checkpoint();
        }
        arm_timer();
    });
}

// ------------------------------------------------------------------------------ roles

void replica_manager::reconcile(const cluster::metadata_image& image) {
    if (_stopped) {
        return;
    }
    int32_t self = _ctx.node_id();
    std::map<storage::topic_partition, led> led_now;
    std::map<storage::topic_partition, followed> followed_now;
    for (const auto& [name, topic] : image.topics_by_name) {
        for (const auto& p : topic->partitions) {
            if (p.replicas.size() < 2 ||
                std::find(p.replicas.begin(), p.replicas.end(), self) == p.replicas.end()) {
                continue;
            }
            storage::topic_partition tp{name, partition_id(p.partition)};
            auto* log = _ctx.logs.get(tp);
            if (log == nullptr) {
                continue;
            }
            int64_t log_end = log->log_end_offset().value();
            if (p.leader == self) {
                int32_t min_isr =
                    cluster::effective_min_isr(*topic, _ctx.config.values, p.replicas.size());
                auto was = _led.find(tp);
                if (was != _led.end() && was->second.leader_epoch == p.leader_epoch) {
                    was->second.state.set_min_isr(min_isr);
                    was->second.state.set_isr(p.isr, log_end, wall_ms());
                    led_now.emplace(tp, std::move(was->second));
                    continue;
                }
                // A new leadership: the high watermark starts where this node knew it and
                // moves as the ISR's followers fetch.
                auto known = _known_high_watermark.find(tp);
                int64_t hw = known != _known_high_watermark.end() ? known->second : 0;
                LOG_INFO("broker", "leading {}-{} in epoch {} (ISR [{}], high watermark {})", name,
                         p.partition, p.leader_epoch, fmt::join(p.isr, ","), hw);
                led_now.emplace(tp, led{p.leader_epoch, replication::partition_replicas(
                                                            self, p.replicas, p.isr, log_end, hw,
                                                            wall_ms(), min_isr)});
            } else if (p.leader >= 0) {
                followed_now.emplace(tp, followed{p.leader, p.leader_epoch});
            }
        }
    }
    _led = std::move(led_now);
    _followed = std::move(followed_now);
    // Forget partitions that are gone (a topic deleted, and maybe created again under the
    // same name: its new log must not inherit their epochs or high watermark).
    std::erase_if(_epochs, [&](const auto& e) {
        return _led.count(e.first) == 0 && _followed.count(e.first) == 0;
    });
    std::erase_if(_known_high_watermark, [&](const auto& e) {
        auto topic = image.find_topic(e.first.topic);
        return !topic || !topic->has_partition(e.first.partition.value());
    });
    // One fetcher per leader we follow; idle ones stop.
    std::map<int32_t, std::shared_ptr<fetcher>> fetchers;
    for (const auto& [tp, f] : _followed) {
        if (fetchers.count(f.leader) != 0) {
            continue;
        }
        auto it = _fetchers.find(f.leader);
        if (it != _fetchers.end()) {
            fetchers.emplace(f.leader, it->second);
        } else {
            auto fresh = std::make_shared<fetcher>(
                _ctx.io, f.leader, fmt::format("riacho-replica-{}", _ctx.node_id()));
            fetchers.emplace(f.leader, fresh);
            asio::co_spawn(_ctx.io, run_fetcher(fresh), asio::detached);
        }
    }
    for (auto& [id, f] : _fetchers) {
        if (fetchers.count(id) == 0) {
            f->stopped = true;
            f->wake.cancel();
        }
    }
    _fetchers = std::move(fetchers);
    _ctx.appends.notify_all();  // waiters re-check leadership
}

// -------------------------------------------------------------------------------- leader

int64_t replica_manager::high_watermark(const storage::topic_partition& tp,
                                        const storage::partition_log& log) const {
    auto it = _led.find(tp);
    if (it == _led.end()) {
        return log.log_end_offset().value();
    }
    return it->second.state.high_watermark();
}

int64_t replica_manager::known_high_watermark(const storage::topic_partition& tp,
                                              const storage::partition_log& log) const {
    if (_led.count(tp) != 0) {
        return high_watermark(tp, log);
    }
    auto known = _known_high_watermark.find(tp);
    return known != _known_high_watermark.end() ? known->second : log.log_end_offset().value();
}

size_t replica_manager::isr_size(const storage::topic_partition& tp) const {
    auto it = _led.find(tp);
    return it == _led.end() ? 1 : it->second.state.isr().size();
}

result<storage::append_result, storage::storage_errc> replica_manager::append_as_leader(
    const storage::topic_partition& tp,
    storage::partition_log& log,
    std::span<uint8_t> batch,
    leader_epoch epoch,
    int64_t now_ms) {
    auto appended = log.append(batch, epoch, now_ms);
    // An idempotent retry of a batch already in the log wrote nothing: its offsets belong to
    // the epoch that first wrote it. Counting them for this epoch would tell followers that
    // this epoch starts there, and every follower holding that batch would cut it again and
    // again (seen after a leader change: a retried batch a follower had already copied).
    if (appended && !appended->duplicate) {
        on_append(tp, log, epoch.value(), appended->base_offset.value());
    }
    return appended;
}

void replica_manager::on_append(const storage::topic_partition& tp,
                                const storage::partition_log& log,
                                int32_t epoch,
                                int64_t base_offset) {
    if (auto e = _epochs.find(tp); e != _epochs.end()) {
        e->second.on_append(epoch, base_offset);
    }
    auto it = _led.find(tp);
    if (it != _led.end() && it->second.state.on_leader_append(log.log_end_offset().value())) {
        _known_high_watermark[tp] = it->second.state.high_watermark();
    }
}

void replica_manager::on_follower_fetch(const storage::topic_partition& tp,
                                        int32_t follower,
                                        int64_t fetch_offset,
                                        int64_t log_start_offset,
                                        const storage::partition_log& log) {
    auto it = _led.find(tp);
    if (it == _led.end()) {
        return;
    }
    if (log_start_offset >= 0) {
        auto [start, fresh] =
            it->second.follower_log_starts.try_emplace(follower, log_start_offset);
        if (fresh || start->second != log_start_offset) {
            start->second = log_start_offset;
            _ctx.appends.notify_all();  // DeleteRecords waiting for the low watermark
        }
    }
    if (it->second.state.on_follower_fetch(follower, fetch_offset, log.log_end_offset().value(),
                                           wall_ms())) {
        _known_high_watermark[tp] = it->second.state.high_watermark();
        _ctx.appends.notify_all();  // acks=-1 waiters and consumers' long polls
    }
}

std::optional<replication::epoch_end> replica_manager::diverging(
    const storage::topic_partition& tp,
    int64_t fetch_offset,
    int32_t last_fetched_epoch,
    const storage::partition_log& log) {
    if (last_fetched_epoch < 0) {
        return std::nullopt;  // before building the cache: an empty log cannot diverge
    }
    return replication::diverging_epoch(epochs(tp, log), fetch_offset, last_fetched_epoch,
                                        log.log_end_offset().value());
}

replication::leader_epoch_cache& replica_manager::epochs(const storage::topic_partition& tp,
                                                         const storage::partition_log& log) {
    auto [it, fresh] = _epochs.try_emplace(tp);
    if (!fresh) {
        return it->second;
    }
    // Built once from the batch headers: a walk over the log (page cache, usually), after
    // which appends and truncations keep it current.
    std::vector<uint8_t> buffer;
    kafka_offset from = log.log_start_offset();
    while (from < log.log_end_offset()) {
        auto slice = log.read(from, 1u << 20, true);
        if (!slice || slice->size_bytes == 0) {
            break;
        }
        buffer.resize(slice->size_bytes);
        ssize_t n = ::pread(slice->file->fd, buffer.data(), buffer.size(),
                            static_cast<off_t>(slice->position));
        if (n != static_cast<ssize_t>(buffer.size())) {
            LOG_WARN("broker", "{}-{}: short read while indexing leader epochs", tp.topic,
                     tp.partition.value());
            break;
        }
        size_t pos = 0;
        while (pos < buffer.size()) {
            auto header = protocol::parse_batch_header(protocol::bytes_view(buffer).subspan(pos));
            if (!header) {
                break;
            }
            it->second.on_append(header->partition_leader_epoch, header->base_offset);
            pos += header->total_size_bytes();
        }
        from = slice->next_offset;
    }
    return it->second;
}

void replica_manager::truncate(const storage::topic_partition& tp,
                               storage::partition_log& log,
                               int64_t offset,
                               std::string_view why) {
    offset = std::max<int64_t>(offset, 0);
    if (offset >= log.log_end_offset().value()) {
        return;
    }
    LOG_INFO("broker", "{}-{}: truncating from {} to {} ({})", tp.topic, tp.partition.value(),
             log.log_end_offset().value(), offset, why);
    auto cut = log.truncate_to(kafka_offset(offset));
    if (!cut) {
        LOG_ERROR("broker", "{}-{}: truncation failed: {}", tp.topic, tp.partition.value(),
                  storage::to_string(cut.error()));
    }
    if (auto e = _epochs.find(tp); e != _epochs.end()) {
        e->second.truncate_to(log.log_end_offset().value());
    }
}

asio::awaitable<bool> replica_manager::wait_replicated(
    storage::topic_partition tp,
    int64_t end_offset,
    int32_t leader_epoch,
    std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        auto it = _led.find(tp);
        if (it == _led.end() || it->second.leader_epoch != leader_epoch) {
            co_return false;  // leadership moved, maybe away and back
        }
        if (it->second.state.high_watermark() >= end_offset) {
            co_return true;
        }
        if (std::chrono::steady_clock::now() >= deadline || _stopped) {
            co_return false;
        }
        co_await _ctx.appends.wait_until(deadline);
    }
}

int64_t replica_manager::low_watermark(const storage::topic_partition& tp,
                                       const storage::partition_log& log) const {
    int64_t low = log.log_start_offset().value();
    auto it = _led.find(tp);
    if (it == _led.end()) {
        return low;
    }
    auto image = _ctx.controller.image();
    for (int32_t replica : it->second.state.replicas()) {
        // A fenced replica (or one no longer registered) does not hold the watermark back.
        if (replica == _ctx.node_id() || image->brokers.count(replica) == 0 ||
            image->fenced_brokers.count(replica) != 0) {
            continue;
        }
        auto start = it->second.follower_log_starts.find(replica);
        low = std::min(low, start == it->second.follower_log_starts.end() ? -1 : start->second);
    }
    return low;
}

asio::awaitable<bool> replica_manager::wait_low_watermark(
    storage::topic_partition tp,
    int64_t offset,
    int32_t leader_epoch,
    std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        auto it = _led.find(tp);
        auto* log = _ctx.log(tp.topic, tp.partition.value());
        if (it == _led.end() || it->second.leader_epoch != leader_epoch || log == nullptr) {
            co_return false;
        }
        if (low_watermark(tp, *log) >= offset) {
            co_return true;
        }
        if (std::chrono::steady_clock::now() >= deadline || _stopped) {
            co_return false;
        }
        co_await _ctx.appends.wait_until(deadline);
    }
}

void replica_manager::check_isr() {
    int64_t lag_max_ms = _ctx.config.number("replica.lag.time.max.ms", 30000);
    int64_t now = wall_ms();
    std::vector<std::tuple<storage::topic_partition, int32_t, std::vector<int32_t>>> changes;
    for (auto& [tp, l] : _led) {
        if (auto wanted = l.state.wanted_isr(now, lag_max_ms)) {
            l.state.propose_isr(*wanted);
            changes.emplace_back(tp, l.leader_epoch, std::move(*wanted));
        }
    }
    for (auto& [tp, epoch, isr] : changes) {
        // Blocks this loop for one metadata commit; ISR changes are rare.
        auto changed = _ctx.controller.change_isr(tp.topic, tp.partition.value(), epoch, isr);
        if (changed.error != protocol::error_code::none) {
            LOG_WARN("broker", "ISR change of {}-{} not recorded: {}", tp.topic,
                     tp.partition.value(), changed.message);
            // The image did not change: stop waiting for replicas that did not join. (A new
            // image, recorded meanwhile, rebuilt or updated the state already.)
            if (auto it = _led.find(tp); it != _led.end() && it->second.leader_epoch == epoch) {
                it->second.state.proposal_failed();
            }
        }
    }
}

bool replica_manager::leader_throttled(const cluster::topic_info& topic,
                                       int32_t partition,
                                       int32_t follower) {
    if (!throttled_replica(topic, partition, _ctx.node_id(),
                           "leader.replication.throttled.replicas")) {
        return false;
    }
    auto it = _led.find({topic.name, partition_id(partition)});
    const auto* isr = it != _led.end() ? &it->second.state.isr() : nullptr;
    return isr == nullptr || std::find(isr->begin(), isr->end(), follower) == isr->end();
}

bool replica_manager::leader_quota_exceeded() {
    return _leader_quota.exceeded(_ctx.config.leader_replication_throttled_rate, wall_ms());
}

void replica_manager::record_leader_throttled(size_t bytes) {
    _leader_quota.record(static_cast<int64_t>(bytes), _ctx.config.leader_replication_throttled_rate,
                         wall_ms());
}

// ------------------------------------------------------------------------------ follower

asio::awaitable<void> replica_manager::run_fetcher(std::shared_ptr<fetcher> f) {
    while (!f->stopped && !_stopped) {
        bool ok = co_await fetch_once(*f);
        if (f->stopped || _stopped) {
            break;
        }
        if (!ok) {
            f->wake.expires_after(std::chrono::milliseconds(200));
            co_await f->wake.async_wait(use_nothrow);
        }
    }
}

asio::awaitable<bool> replica_manager::fetch_once(fetcher& f) {
    using protocol::msg::fetch_request;
    using protocol::msg::fetch_response;
    auto image = _ctx.controller.image();
    auto broker = image->brokers.find(f.leader);
    if (broker == image->brokers.end()) {
        co_return false;
    }
    f.connection.set_endpoint(broker->second.host, static_cast<uint16_t>(broker->second.port));
    fetch_request request;
    request.replica_id = _ctx.node_id();
    request.max_wait_ms = replica_fetch_max_wait_ms;
    request.min_bytes = 1;
    request.max_bytes = _ctx.config.fetch_max_bytes;
    std::vector<storage::topic_partition> asked;
    // Out-of-sync replicas under the follower throttle sit this round out while the broker's
    // follower.replication.throttled.rate is used up.
    int64_t follower_rate = _ctx.config.follower_replication_throttled_rate;
    bool follower_quota_exceeded = _follower_quota.exceeded(follower_rate, wall_ms());
    std::set<storage::topic_partition> throttled;
    for (const auto& [tp, fol] : _followed) {
        if (fol.leader != f.leader) {
            continue;
        }
        auto* log = _ctx.logs.get(tp);
        if (log == nullptr) {
            continue;
        }
        if (auto topic = image->find_topic(tp.topic);
            topic && topic->has_partition(tp.partition.value()) &&
            throttled_replica(*topic, tp.partition.value(), _ctx.node_id(),
                              "follower.replication.throttled.replicas")) {
            const auto& isr = topic->partitions[static_cast<size_t>(tp.partition.value())].isr;
            if (std::find(isr.begin(), isr.end(), _ctx.node_id()) == isr.end()) {
                if (follower_quota_exceeded) {
                    continue;
                }
                throttled.insert(tp);
            }
        }
        if (request.topics.empty() || request.topics.back().topic != tp.topic) {
            fetch_request::fetch_topic t;
            t.topic = tp.topic;
            request.topics.push_back(std::move(t));
        }
        fetch_request::fetch_topic::fetch_partition p;
        p.partition = tp.partition.value();
        p.current_leader_epoch = fol.leader_epoch;
        p.fetch_offset = log->log_end_offset().value();
        p.last_fetched_epoch = epochs(tp, *log).latest_epoch();
        p.log_start_offset = log->log_start_offset().value();
        p.partition_max_bytes = _ctx.config.replica_fetch_max_bytes;
        request.topics.back().partitions.push_back(p);
        asked.push_back(tp);
    }
    if (asked.empty()) {
        co_return false;
    }
    protocol::writer body;
    request.encode(body, replica_fetch_version);
    auto answer = co_await f.connection.roundtrip(fetch_request::api_key, replica_fetch_version,
                                                  body.buffer(), replica_fetch_timeout);
    if (!answer || f.stopped || _stopped) {
        co_return false;
    }
    fetch_response response;
    protocol::reader r(*answer);
    response.decode(r, replica_fetch_version);
    if (!r.ok() || response.error_code != 0) {
        co_return false;
    }
    bool all_ok = true;
    int64_t now = wall_ms();
    for (const auto& t : response.responses) {
        for (const auto& p : t.partitions) {
            storage::topic_partition tp{t.topic, partition_id(p.partition_index)};
            auto fol = _followed.find(tp);
            auto* log = _ctx.logs.get(tp);
            // The image may have moved on while the fetch was out: drop stale answers.
            if (fol == _followed.end() || fol->second.leader != f.leader || log == nullptr) {
                continue;
            }
            auto error = static_cast<protocol::error_code>(p.error_code);
            if (error == protocol::error_code::offset_out_of_range) {
                int64_t log_end = log->log_end_offset().value();
                auto restart_at_leader_start = [&](std::string_view why) {
                    LOG_INFO("broker",
                             "{}-{}: log end {}, leader {}'s log start {}: {}; restarting the log "
                             "there",
                             tp.topic, p.partition_index, log_end, f.leader, p.log_start_offset,
                             why);
                    auto restarted =
                        log->truncate_fully_and_start_at(kafka_offset(p.log_start_offset));
                    if (!restarted) {
                        LOG_ERROR("broker", "{}-{}: restarting the log failed: {}", tp.topic,
                                  p.partition_index, storage::to_string(restarted.error()));
                    }
                    _epochs.erase(tp);
                };
                if (log_end < p.log_start_offset) {
                    // Retention or DeleteRecords on the leader passed this follower's whole
                    // log: nothing of it is needed any more.
                    restart_at_leader_start("the leader deleted all of it");
                } else if (log_end <= p.high_watermark) {
                    // Not past the leader's end: the leader has no epoch at or below this
                    // log's last one (its log starts after that epoch's batches), so nothing
                    // here is known to match it.
                    restart_at_leader_start("the leader has none of its epochs");
                } else {
                    // Above the leader's end (a log that lost its tail): cut back to its high
                    // watermark, which it has.
                    truncate(tp, *log, p.high_watermark, "fetch offset above the leader's end");
                }
                all_ok = false;
                continue;
            }
            if (error == protocol::error_code::none &&
                (p.diverging_epoch.epoch >= 0 || p.diverging_epoch.end_offset >= 0)) {
                auto& mine = epochs(tp, *log);
                int64_t to = replication::truncation_offset(
                    mine, {p.diverging_epoch.epoch, p.diverging_epoch.end_offset},
                    log->log_start_offset().value(), log->log_end_offset().value());
                // Both epochs in the line: a follower cutting the same tail again and again
                // means the two logs disagree about where an epoch ends.
                auto why = fmt::format(
                    "diverging from the leader's log: its epoch {} ends at {}, ours is {}",
                    p.diverging_epoch.epoch, p.diverging_epoch.end_offset, mine.latest_epoch());
                truncate(tp, *log, to, why);
                continue;
            }
            if (error != protocol::error_code::none) {
                all_ok = false;  // not the leader (yet/any more): the image will say
                continue;
            }
            // Append the leader's batches as they are: same offsets, same leader epochs.
            std::vector<uint8_t> bytes(p.records.memory.begin(), p.records.memory.end());
            if (throttled.count(tp) != 0) {
                _follower_quota.record(static_cast<int64_t>(bytes.size()), follower_rate, now);
            }
            size_t pos = 0;
            while (pos < bytes.size()) {
                auto header =
                    protocol::parse_batch_header(protocol::bytes_view(bytes).subspan(pos));
                if (!header || pos + header->total_size_bytes() > bytes.size()) {
                    break;  // a partial batch at the end (max bytes): the next fetch has it
                }
                std::span<uint8_t> batch(bytes.data() + pos, header->total_size_bytes());
                if (header->base_offset != log->log_end_offset().value()) {
                    LOG_WARN("broker", "{}-{}: leader sent offset {} for log end {}", tp.topic,
                             p.partition_index, header->base_offset, log->log_end_offset().value());
                    all_ok = false;
                    break;
                }
                auto appended = log->append_replica(batch, now);
                if (appended) {
                    if (auto e = _epochs.find(tp); e != _epochs.end()) {
                        e->second.on_append(header->partition_leader_epoch, header->base_offset);
                    }
                }
                if (!appended) {
                    LOG_ERROR("broker", "{}-{}: follower append failed: {}", tp.topic,
                              p.partition_index, storage::to_string(appended.error()));
                    all_ok = false;
                    break;
                }
                pos += header->total_size_bytes();
            }
            // DeleteRecords and retention on the leader move its log start; the follower's
            // follows (as far as its own log reaches), so a failover does not bring deleted
            // records back.
            if (p.log_start_offset > log->log_start_offset().value()) {
                auto start = std::min(p.log_start_offset, log->log_end_offset().value());
                if (auto moved = log->advance_log_start_offset(kafka_offset(start)); !moved) {
                    LOG_WARN("broker", "{}-{}: following the leader's log start {} failed: {}",
                             tp.topic, p.partition_index, start, storage::to_string(moved.error()));
                }
            }
            int64_t hw = std::min(p.high_watermark, log->log_end_offset().value());
            if (hw >= 0) {
                _known_high_watermark[tp] = hw;
            }
        }
    }
    co_return all_ok;
}

// ---------------------------------------------------------------------------- checkpoint

void replica_manager::write_checkpoint() {
    // Kafka's format: version, count, then "<topic> <partition> <offset>" lines.
    std::ostringstream out;
    out << "0\n" << _known_high_watermark.size() << "\n";
    for (const auto& [tp, hw] : _known_high_watermark) {
        out << tp.topic << " " << tp.partition.value() << " " << hw << "\n";
    }
    auto path = _ctx.logs.data_dir() / checkpoint_file;
    auto tmp = path;
    tmp += ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        f << out.str();
        if (!f.flush()) {
            LOG_WARN("broker", "cannot write {}", tmp.string());
            return;
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    _last_checkpoint_ms = wall_ms();
}

void replica_manager::read_checkpoint() {
    std::ifstream in(_ctx.logs.data_dir() / checkpoint_file);
    int version = -1;
    size_t count = 0;
    if (!(in >> version >> count) || version != 0) {
        return;
    }
    std::string topic;
    int32_t partition = 0;
    int64_t hw = 0;
    while (count-- > 0 && in >> topic >> partition >> hw) {
        _known_high_watermark[{topic, partition_id(partition)}] = hw;
    }
}

}  // namespace riacho::broker
