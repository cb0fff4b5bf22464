#include "broker/handle_group_runtime.h"

#include "base/log.h"
#include "broker/broker_context.h"
#include "broker/internal_topic.h"
#include "broker/replica_manager.h"
#include "group/records.h"
#include "protocol/control_record.h"
#include "protocol/record_batch.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <random>

namespace riacho::broker {

namespace {
template <typename T>
struct waiter {
    explicit waiter(asio::io_context& io)
        : timer(io, std::chrono::steady_clock::time_point::max()) {}
    asio::steady_timer timer;
    std::optional<T> value;
};
}  // namespace

group::topic_catalog topic_catalog_of(const cluster::metadata_image& image) {
    group::topic_catalog out;
    for (const auto& [name, topic] : image.topics_by_name) {
        out[name] = {topic->topic_id, static_cast<int32_t>(topic->partitions.size())};
    }
    return out;
}

group_runtime::group_runtime(broker_context& ctx)
    : _ctx(ctx), _timer(ctx.io), _expiry_timer(ctx.io) {}

group_runtime::~group_runtime() { stop(); }

void group_runtime::stop() {
    _stopped = true;
    _timer.cancel();
    _expiry_timer.cancel();
}

int64_t group_runtime::now_ms() { return broker_context::now_ms(); }

void group_runtime::start() {
    const auto& c = _ctx.config;
    auto& cfg = _cfg;
    cfg.min_session_timeout_ms =
        static_cast<int32_t>(c.number("group.min.session.timeout.ms", cfg.min_session_timeout_ms));
    cfg.max_session_timeout_ms =
        static_cast<int32_t>(c.number("group.max.session.timeout.ms", cfg.max_session_timeout_ms));
    cfg.max_size = static_cast<int32_t>(c.number("group.max.size", cfg.max_size));
    cfg.initial_rebalance_delay_ms = static_cast<int32_t>(
        c.number("group.initial.rebalance.delay.ms", cfg.initial_rebalance_delay_ms));
    cfg.offsets_partitions =
        static_cast<int32_t>(c.number("offsets.topic.num.partitions", cfg.offsets_partitions));
    cfg.offsets_retention_ms = c.number("offsets.retention.minutes", 10080) * 60 * 1000;
    cfg.offset_metadata_max_bytes =
        static_cast<int32_t>(c.number("offset.metadata.max.bytes", cfg.offset_metadata_max_bytes));
    cfg.consumer_session_timeout_ms = static_cast<int32_t>(
        c.number("group.consumer.session.timeout.ms", cfg.consumer_session_timeout_ms));
    cfg.consumer_heartbeat_interval_ms = static_cast<int32_t>(
        c.number("group.consumer.heartbeat.interval.ms", cfg.consumer_heartbeat_interval_ms));
    cfg.consumer_max_size =
        static_cast<int32_t>(c.number("group.consumer.max.size", cfg.consumer_max_size));
    _retention_check_ms =
        std::max<int64_t>(1, c.number("offsets.retention.check.interval.ms", 600000));
    _commit_timeout_ms = std::max<int64_t>(1, c.number("offsets.commit.timeout.ms", 5000));
    arm_expiry();
}

void group_runtime::reconcile(const cluster::metadata_image& image) {
    if (_stopped) {
        return;
    }
    auto topic = image.find_topic(group::offsets_topic);
    // An existing __consumer_offsets keeps its partition count (group -> partition mapping).
    if (topic) {
        _cfg.offsets_partitions = static_cast<int32_t>(topic->partitions.size());
    }
    auto led = partitions_led_by(image, group::offsets_topic, _ctx.node_id());
    // A shard whose partition another node leads now (or this node again, in a later epoch:
    // another leader may have written in between) is dropped; its waiting members retry.
    for (auto it = _shards.begin(); it != _shards.end();) {
        auto now_led = led.find(it->first);
        if (now_led != led.end() && now_led->second == _shard_leader_epochs[it->first]) {
            ++it;
            continue;
        }
        LOG_INFO("group", "{}-{}: no longer led here; its {} group(s) move with it",
                 group::offsets_topic, it->first, it->second->group_count());
        it->second->abandon(protocol::error_code::not_coordinator);
        _shard_leader_epochs.erase(it->first);
        it = _shards.erase(it);
    }
    for (const auto& [partition, epoch] : led) {
        if (_shards.count(partition) != 0) {
            continue;
        }
        auto shard = load_shard(partition);
        if (!shard) {
            continue;  // logged; clients get NOT_COORDINATOR and retry
        }
        _shard_leader_epochs[partition] = epoch;
        _shards.emplace(partition, std::move(shard));
    }
    (void)settle();
}

std::unique_ptr<group::coordinator> group_runtime::load_shard(int32_t partition) {
    std::random_device rd;
    uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(now_ms());
    auto shard = std::make_unique<group::coordinator>(_cfg, seed);
    shard->set_loading_topics(topic_catalog_of(*_ctx.controller.image()));
    size_t loaded = 0;
    bool ok = for_each_internal_batch(
        _ctx, group::offsets_topic,
        [&](int32_t, const protocol::batch_header& header,
            const std::vector<protocol::record_view>& records) {
            if (header.is_control()) {
                for (const auto& r : records) {
                    if (auto marker = protocol::parse_txn_marker(r)) {
                        shard->complete_txn(header.producer_id, marker->commit);
                    }
                }
                return;
            }
            for (const auto& r : records) {
                if (r.key && header.is_transactional()) {
                    shard->load_txn_record(header.producer_id, *r.key, r.value);
                } else if (r.key) {
                    shard->load_record(*r.key, r.value);
                    ++loaded;
                }
            }
        },
        partition);
    if (!ok) {
        LOG_ERROR("group", "cannot read {}-{}; its groups are not served here",
                  group::offsets_topic, partition);
        return nullptr;
    }
    shard->finish_loading(now_ms());
    if (loaded > 0) {
        LOG_INFO("group", "{}-{}: loaded {} records, {} groups", group::offsets_topic, partition,
                 loaded, shard->group_count());
    }
    return shard;
}

group_shard group_runtime::shard_for(const std::string& group_id) {
    // An invalid group id is the owning shard's to refuse, as a valid one's requests are.
    if (!ensure_offsets_topic()) {
        return {nullptr, protocol::error_code::coordinator_not_available};
    }
    auto it = _shards.find(group::partition_for(group_id, _cfg.offsets_partitions));
    if (it == _shards.end()) {
        return {nullptr, protocol::error_code::not_coordinator};
    }
    return {it->second.get(), protocol::error_code::none};
}

std::vector<group::group_listing> group_runtime::list() const {
    std::vector<group::group_listing> out;
    for (const auto& [partition, shard] : _shards) {
        auto some = shard->list();
        out.insert(out.end(), std::make_move_iterator(some.begin()),
                   std::make_move_iterator(some.end()));
    }
    return out;
}

void group_runtime::complete_txn(int32_t partition, int64_t producer_id, bool commit) {
    if (auto it = _shards.find(partition); it != _shards.end()) {
        it->second->complete_txn(producer_id, commit);
    }
}

bool group_runtime::ensure_offsets_topic() {
    int32_t replication =
        static_cast<int32_t>(_ctx.config.number("offsets.topic.replication.factor", 3));
    // Creating it applies the new image on this loop, which reconciles the shards.
    return ensure_internal_topic(_ctx, group::offsets_topic, _cfg.offsets_partitions, replication);
}

bool group_runtime::append_records(touched_partitions* touched) {
    std::vector<internal_record> out;
    for (auto& [partition, shard] : _shards) {
        for (auto& r : shard->take_records()) {
            out.push_back({r.partition, std::move(r.key), std::move(r.value), r.producer_id,
                           r.producer_epoch});
        }
    }
    if (out.empty()) {
        return true;
    }
    return append_internal_records(_ctx, group::offsets_topic, std::move(out), touched);
}

bool group_runtime::settle() {
    bool ok = append_records(nullptr);
    arm_timer();
    return ok;
}

asio::awaitable<protocol::error_code> group_runtime::persist(bool durable) {
    using protocol::error_code;
    touched_partitions touched;
    bool ok = append_records(&touched);
    arm_timer();
    if (!ok) {
        co_return error_code::kafka_storage_error;
    }
    if (!durable || touched.empty()) {
        co_return error_code::none;
    }
    // As Kafka's coordinator appends with acks=all: the answer waits until every in-sync
    // replica has the records, so a new leader of the partition loads them. Its append
    // errors are mapped as Kafka's coordinator maps them.
    auto durable_error = co_await wait_until_durable(_ctx, std::move(touched),
                                                     std::chrono::milliseconds(_commit_timeout_ms));
    switch (durable_error) {
        case error_code::none:
        case error_code::kafka_storage_error:
            co_return durable_error;
        case error_code::not_leader_or_follower:
            co_return error_code::not_coordinator;
        default:
            co_return error_code::coordinator_not_available;
    }
}

void group_runtime::arm_timer() {
    if (_stopped) {
        return;
    }
    std::optional<int64_t> next;
    for (const auto& [partition, shard] : _shards) {
        if (auto d = shard->next_deadline(); d && (!next || *d < *next)) {
            next = d;
        }
    }
    if (next == _armed_for) {
        return;
    }
    _armed_for = next;
    if (!next) {
        _timer.cancel();
        return;
    }
    auto delay = std::chrono::milliseconds(std::max<int64_t>(0, *next - now_ms()));
    _timer.expires_after(delay);
    _timer.async_wait([this](const asio::error_code& ec) {
        if (ec || _stopped) {
            return;
        }
        _armed_for.reset();
        int64_t now = now_ms();
        for (auto& [partition, shard] : _shards) {
            shard->tick(now);
        }
        (void)settle();
    });
}

void group_runtime::arm_expiry() {
    if (_stopped) {
        return;
    }
    _expiry_timer.expires_after(std::chrono::milliseconds(_retention_check_ms));
    _expiry_timer.async_wait([this](const asio::error_code& ec) {
        if (ec || _stopped) {
            return;
        }
        int64_t now = now_ms();
        for (auto& [partition, shard] : _shards) {
            shard->expire_offsets(now);
        }
        (void)settle();
        arm_expiry();
    });
}

asio::awaitable<group::join_result> group_runtime::join(group::join_request r) {
    auto shard = shard_for(r.group_id);
    if (!shard.coordinator) {
        group::join_result refused;
        refused.error = shard.error;
        refused.member_id = r.member_id;
        co_return refused;
    }
    auto w = std::make_shared<waiter<group::join_result>>(_ctx.io);
    shard.coordinator->join(std::move(r), now_ms(), [w](group::join_result res) {
        w->value = std::move(res);
        w->timer.cancel();
    });
    (void)settle();
    while (!w->value) {
        co_await w->timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    }
    co_return std::move(*w->value);
}

asio::awaitable<group::sync_result> group_runtime::sync(group::sync_request r) {
    auto shard = shard_for(r.group_id);
    if (!shard.coordinator) {
        group::sync_result refused;
        refused.error = shard.error;
        co_return refused;
    }
    auto w = std::make_shared<waiter<group::sync_result>>(_ctx.io);
    shard.coordinator->sync(std::move(r), now_ms(), [w](group::sync_result res) {
        w->value = std::move(res);
        w->timer.cancel();
    });
    (void)settle();
    while (!w->value) {
        co_await w->timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    }
    co_return std::move(*w->value);
}

}  // namespace riacho::broker
