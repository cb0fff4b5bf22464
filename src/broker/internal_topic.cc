#include "broker/internal_topic.h"

#include "base/log.h"
#include "broker/broker_context.h"
#include "broker/replica_manager.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>
#include <unistd.h>
#include <vector>

namespace riacho::broker {

bool ensure_internal_topic(broker_context& ctx,
                           const std::string& topic,
                           int32_t partitions,
                           int32_t replication_factor) {
    if (ctx.controller.image()->find_topic(topic)) {
        return true;
    }
    // Kafka refuses to create it until enough brokers are up; a single node (or a cluster
    // still starting) gets what it has, so it never needs the setting lowered.
    auto live = static_cast<int32_t>(ctx.brokers().size());
    int32_t replicas = std::clamp(live, 1, std::max(replication_factor, 1));
    auto created = ctx.controller.create_topic(topic, partitions, static_cast<int16_t>(replicas),
                                               {{"cleanup.policy", "compact"}}, false);
    if (created.error != protocol::error_code::none &&
        created.error != protocol::error_code::topic_already_exists) {
        LOG_ERROR("broker", "cannot create {}: {}", topic, created.message);
        return false;
    }
    LOG_INFO("broker", "created {} with {} partitions of {} replica(s)", topic, partitions,
             replicas);
    return true;
}

bool append_internal_records(broker_context& ctx,
                             const std::string& topic,
                             std::vector<internal_record> records,
                             touched_partitions* touched) {
    if (records.empty()) {
        return true;
    }
    auto info = ctx.controller.image()->find_topic(topic);
    // One batch per partition, and per producer for transactional records (their batch
    // carries the producer's id and epoch so the transaction's marker covers it).
    std::map<std::tuple<int32_t, int64_t, int16_t>, protocol::batch_builder> batches;
    int64_t now = broker_context::now_ms();
    for (auto& r : records) {
        protocol::batch_builder::record rec;
        rec.timestamp = now;
        rec.key = std::move(r.key);
        rec.value = std::move(r.value);
        auto [it, fresh] = batches.try_emplace({r.partition, r.producer_id, r.producer_epoch});
        if (fresh && r.producer_id >= 0) {
            it->second.set_producer(r.producer_id, r.producer_epoch, -1).set_transactional(true);
        }
        it->second.add(std::move(rec));
    }
    bool ok = true;
    for (auto& [where, builder] : batches) {
        int32_t partition = std::get<0>(where);
        auto* log = ctx.log(topic, partition);
        if (log == nullptr || !info || !info->has_partition(partition)) {
            LOG_ERROR("broker", "no log for {}-{}", topic, partition);
            ok = false;
            continue;
        }
        if (!ctx.leads(*info, partition)) {
            // Leadership moved while the coordinator's records waited: a follower's log takes
            // only its leader's batches.
            LOG_WARN("broker", "{}-{} is led by another node now; records dropped", topic,
                     partition);
            ok = false;
            continue;
        }
        auto batch = builder.build();
        auto epoch = leader_epoch(info->partitions[static_cast<size_t>(partition)].leader_epoch);
        auto appended = ctx.replicas->append_as_leader({topic, partition_id(partition)}, *log,
                                                       batch, epoch, now);
        if (!appended) {
            LOG_ERROR("broker", "append to {}-{} failed: {}", topic, partition,
                      storage::to_string(appended.error()));
            ok = false;
            continue;
        }
        if (touched) {
            touched->emplace_back(topic, partition);
        }
    }
    ctx.appends.notify_all();
    return ok;
}

asio::awaitable<protocol::error_code> wait_until_durable(broker_context& ctx,
                                                         touched_partitions touched,
                                                         std::chrono::milliseconds timeout) {
    using protocol::error_code;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    // Where each log ends and in which leader epoch, read before waiting for any (the caller
    // appended on this loop turn): the wait holds only within that epoch.
    struct waited {
        storage::topic_partition tp;
        int64_t end = 0;
        std::optional<int32_t> epoch;
    };
    std::vector<waited> ends;
    for (const auto& [topic, partition] : touched) {
        storage::topic_partition tp{topic, partition_id(partition)};
        auto* log = ctx.log(topic, partition);
        if (log == nullptr) {
            co_return error_code::not_leader_or_follower;
        }
        auto epoch = ctx.replicas->replicated_epoch(tp);
        ends.push_back({std::move(tp), log->log_end_offset().value(), epoch});
    }
    for (const auto& [tp, end, epoch] : ends) {
        if (!epoch || co_await ctx.replicas->wait_replicated(tp, end, *epoch, deadline)) {
            continue;
        }
        // wait_replicated gives up when leadership moves as well as at the deadline.
        if (ctx.replicas->replicated_epoch(tp) != epoch) {
            co_return error_code::not_leader_or_follower;
        }
        LOG_WARN("broker", "{}-{}: the in-sync replicas did not reach offset {} within {} ms",
                 tp.topic, tp.partition.value(), end, timeout.count());
        co_return error_code::request_timed_out;
    }
    if (ctx.config.acks_all_fsync && !touched.empty() &&
        !co_await ctx.flusher.flush(std::move(touched))) {
        co_return error_code::kafka_storage_error;
    }
    co_return error_code::none;
}

std::map<int32_t, int32_t> partitions_led_by(const cluster::metadata_image& image,
                                             const std::string& topic,
                                             int32_t node_id) {
    std::map<int32_t, int32_t> led;
    if (auto info = image.find_topic(topic)) {
        for (const auto& p : info->partitions) {
            if (p.leader == node_id) {
                led.emplace(p.partition, p.leader_epoch);
            }
        }
    }
    return led;
}

bool for_each_internal_batch(broker_context& ctx,
                             const std::string& topic,
                             const internal_batch_fn& fn,
                             std::optional<int32_t> only_partition) {
    auto info = ctx.controller.image()->find_topic(topic);
    if (!info) {
        return true;
    }
    std::vector<uint8_t> buffer;
    std::vector<uint8_t> scratch;
    for (size_t p = 0; p < info->partitions.size(); ++p) {
        if (only_partition && *only_partition != static_cast<int32_t>(p)) {
            continue;
        }
        auto* log = ctx.log(topic, static_cast<int32_t>(p));
        if (log == nullptr) {
            continue;
        }
        kafka_offset from = log->log_start_offset();
        while (from < log->log_end_offset()) {
            auto slice = log->read(from, 1u << 20, true);
            if (!slice) {
                LOG_ERROR("broker", "reading {}-{} at {}: {}", topic, p, from.value(),
                          storage::to_string(slice.error()));
                return false;
            }
            if (slice->size_bytes == 0) {
                break;
            }
            buffer.resize(slice->size_bytes);
            ssize_t n = ::pread(slice->file->fd, buffer.data(), buffer.size(),
                                static_cast<off_t>(slice->position));
            if (n != static_cast<ssize_t>(buffer.size())) {
                LOG_ERROR("broker", "short read of {}-{} at {}", topic, p, from.value());
                return false;
            }
            size_t pos = 0;
            while (pos < buffer.size()) {
                auto header =
                    protocol::parse_batch_header(protocol::bytes_view(buffer).subspan(pos));
                if (!header || header->total_size_bytes() > buffer.size() - pos) {
                    break;
                }
                auto batch = protocol::bytes_view(buffer).subspan(pos, header->total_size_bytes());
                pos += header->total_size_bytes();
                auto records = protocol::decode_records(batch, scratch);
                if (!records) {
                    LOG_WARN("broker", "skipping an undecodable batch in {}-{}", topic, p);
                    continue;
                }
                fn(static_cast<int32_t>(p), *header, *records);
            }
            from = slice->next_offset;
        }
    }
    return true;
}

}  // namespace riacho::broker
