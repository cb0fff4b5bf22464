#include "broker/handle_group_runtime.h"

#include "base/log.h"
#include "broker/broker_context.h"
#include "broker/internal_topic.h"
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
    asio::error_code ignored;
    _timer.cancel();
    _expiry_timer.cancel();
}

int64_t group_runtime::now_ms() { return broker_context::now_ms(); }

std::optional<std::string> group_runtime::start() {
    const auto& c = _ctx.config;
    group::coordinator_config cfg;
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
    // An existing __consumer_offsets keeps its partition count (group -> partition mapping).
    if (auto topic = _ctx.controller.image()->find_topic(group::offsets_topic)) {
        cfg.offsets_partitions = static_cast<int32_t>(topic->partitions.size());
    }
    std::random_device rd;
    uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(now_ms());
    _coordinator = std::make_unique<group::coordinator>(cfg, seed);
    _coordinator->set_loading_topics(topic_catalog_of(*_ctx.controller.image()));
    if (!load()) {
        return "cannot read __consumer_offsets";
    }
    _coordinator->finish_loading(now_ms());
    (void)settle();
    arm_expiry();
    return std::nullopt;
}

bool group_runtime::load() {
    size_t loaded = 0;
    bool ok = for_each_internal_batch(
        _ctx, group::offsets_topic,
        [&](int32_t, const protocol::batch_header& header,
            const std::vector<protocol::record_view>& records) {
            if (header.is_control()) {
                for (const auto& r : records) {
                    if (auto marker = protocol::parse_txn_marker(r)) {
                        _coordinator->complete_txn(header.producer_id, marker->commit);
                    }
                }
                return;
            }
            for (const auto& r : records) {
                if (r.key && header.is_transactional()) {
                    _coordinator->load_txn_record(header.producer_id, *r.key, r.value);
                } else if (r.key) {
                    _coordinator->load_record(*r.key, r.value);
                    ++loaded;
                }
            }
        });
    if (!ok) {
        return false;
    }
    LOG_INFO("group", "loaded {} records from {}: {} groups", loaded, group::offsets_topic,
             _coordinator->group_count());
    return true;
}

bool group_runtime::ensure_offsets_topic() {
    return ensure_internal_topic(_ctx, group::offsets_topic,
                                 _coordinator->config().offsets_partitions);
}

bool group_runtime::append_records(touched_partitions* touched) {
    auto records = _coordinator->take_records();
    if (records.empty()) {
        return true;
    }
    if (!ensure_offsets_topic()) {
        return false;
    }
    std::vector<internal_record> out;
    out.reserve(records.size());
    for (auto& r : records) {
        out.push_back(
            {r.partition, std::move(r.key), std::move(r.value), r.producer_id, r.producer_epoch});
    }
    return append_internal_records(_ctx, group::offsets_topic, std::move(out), touched);
}

bool group_runtime::settle() {
    bool ok = append_records(nullptr);
    arm_timer();
    return ok;
}

asio::awaitable<bool> group_runtime::persist(bool durable) {
    touched_partitions touched;
    bool ok = append_records(&touched);
    arm_timer();
    if (ok && durable && _ctx.config.acks_all_fsync && !touched.empty()) {
        ok = co_await _ctx.flusher.flush(std::move(touched));
    }
    co_return ok;
}

void group_runtime::arm_timer() {
    if (_stopped) {
        return;
    }
    auto next = _coordinator->next_deadline();
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
        _coordinator->tick(now_ms());
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
        _coordinator->expire_offsets(now_ms());
        (void)settle();
        arm_expiry();
    });
}

asio::awaitable<group::join_result> group_runtime::join(group::join_request r) {
    auto w = std::make_shared<waiter<group::join_result>>(_ctx.io);
    _coordinator->join(std::move(r), now_ms(), [w](group::join_result res) {
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
    auto w = std::make_shared<waiter<group::sync_result>>(_ctx.io);
    _coordinator->sync(std::move(r), now_ms(), [w](group::sync_result res) {
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
