// Produce (0): validate each partition's batch, assign offsets by patching it in place, append
// it with one write, and answer per partition. acks=0 gets no response (a failure closes the
// connection so the client notices); acks=-1 waits for the group-commit flush when
// riacho.acks.all.fsync is on.
#include "broker/handlers.h"
#include "broker/log_errors.h"
#include "broker/replica_manager.h"
#include "broker/txn_runtime.h"
#include "cluster/eligible_leaders.h"
#include "cluster/topic_config.h"
#include "protocol/messages/produce.h"
#include "protocol/record_batch.h"

namespace riacho::broker {

namespace {
using protocol::error_code;
using protocol::msg::produce_request;
using protocol::msg::produce_response;
using partition_response = produce_response::topic_produce_response::partition_produce_response;

constexpr int16_t produce_min_supported_version = 3;  // v0-2 carry magic 0/1, gone in Kafka 4
constexpr int16_t produce_first_zstd_version = 7;
constexpr int16_t produce_txn_version2 = 12;  // KIP-890 part 2: the produce adds the partition

error_code batch_error(protocol::batch_errc e) {
    switch (e) {
        case protocol::batch_errc::bad_crc:
            return error_code::corrupt_message;
        case protocol::batch_errc::unsupported_codec:
            return error_code::unsupported_compression_type;
        case protocol::batch_errc::decompression_failed:
            // What Apache Kafka 4.1 answers for a payload its codec cannot decode (checked
            // against it in tests/integration/test_wire.py).
            return error_code::unknown_server_error;
        case protocol::batch_errc::truncated:
        case protocol::batch_errc::bad_magic:
        case protocol::batch_errc::bad_length:
        case protocol::batch_errc::bad_records:
        case protocol::batch_errc::too_large:
            return error_code::invalid_record;
    }
    return error_code::invalid_record;
}

// message.timestamp.after.max.ms / before.max.ms for CreateTime topics: the batch's max
// timestamp bounds the first exactly; the second needs every record's timestamp, so records
// are decoded only when that limit is set (its default is unlimited).
std::optional<std::string> check_timestamps(const storage::log_config& cfg,
                                            const protocol::batch_header& header,
                                            protocol::bytes_view batch,
                                            int64_t now_ms) {
    int64_t after_max_ms = cfg.message_timestamp_after_max_ms;
    if (header.max_timestamp > now_ms && header.max_timestamp - now_ms > after_max_ms) {
        return fmt::format(
            "Timestamp {} of a record is more than {} ms after the broker's "
            "time {} (message.timestamp.after.max.ms)",
            header.max_timestamp, after_max_ms, now_ms);
    }
    int64_t before_max_ms = cfg.message_timestamp_before_max_ms;
    if (before_max_ms == std::numeric_limits<int64_t>::max() || header.records_count == 0) {
        return std::nullopt;
    }
    std::vector<uint8_t> scratch;
    auto records = protocol::decode_records(batch, scratch);
    if (!records) {
        return std::nullopt;  // validated already; cannot happen
    }
    for (const auto& r : *records) {
        if (r.timestamp < now_ms && now_ms - r.timestamp > before_max_ms) {
            return fmt::format(
                "Timestamp {} of the record at offset delta {} is more than {} ms "
                "before the broker's time {} (message.timestamp.before.max.ms)",
                r.timestamp, r.offset - header.base_offset, before_max_ms, now_ms);
        }
    }
    return std::nullopt;
}

struct append_outcome {
    partition_response response;
    bool appended = false;
    int64_t log_end = -1;  // after the append: acks=-1 waits for the high watermark to reach it
};

// min.insync.replicas of a partition (the topic's override, else the broker's), capped at its
// replica count as Kafka caps it (Partition.effectiveMinIsr).
size_t min_insync_replicas(const broker_context& ctx,
                           const cluster::topic_info& topic,
                           int32_t partition) {
    size_t replicas =
        topic.has_partition(partition) ? topic.partitions[partition].replicas.size() : 1;
    return static_cast<size_t>(cluster::effective_min_isr(topic, ctx.config.values, replicas));
}

append_outcome append_partition(broker_context& ctx,
                                net::request& req,
                                int16_t version,
                                const std::optional<std::string>& transactional_id,
                                int16_t acks,
                                const std::string& topic_name,
                                produce_request::topic_produce_data::partition_produce_data& data) {
    append_outcome out;
    auto& resp = out.response;
    resp.index = data.index;
    resp.base_offset = -1;
    auto fail = [&](error_code e, std::string message) {
        resp.error_code = protocol::code(e);
        resp.error_message = std::move(message);
        // Bad input is worth a warning naming the client; routine answers (unknown topic,
        // sequence checks) are not.
        bool bad_input = e == error_code::corrupt_message || e == error_code::invalid_record ||
                         e == error_code::message_too_large ||
                         e == error_code::unknown_server_error;
        log::emit(bad_input ? log::level::warn : log::level::debug, "broker",
                  "{} (client id '{}') produce to {}-{}: {}: {}", req.peer, req.header.client_id,
                  topic_name, data.index, protocol::error_name(e), *resp.error_message);
        return out;
    };

    auto topic = ctx.controller.image()->find_topic(topic_name);
    if (!topic || !topic->has_partition(data.index)) {
        return fail(error_code::unknown_topic_or_partition,
                    "This server does not host this topic-partition.");
    }
    if (!ctx.leads(*topic, data.index)) {
        return fail(error_code::not_leader_or_follower,
                    "This server is not the leader for that topic-partition.");
    }
    storage::partition_log* log = ctx.log(topic_name, data.index);
    if (log == nullptr) {
        // This node leads the partition; a missing log is one that failed to open (no
        // descriptors, a damaged directory): Kafka's answer for an offline log dir.
        return fail(error_code::kafka_storage_error, "The partition's log could not be opened");
    }
    if (data.records.is_null || data.records.memory.empty()) {
        return fail(error_code::invalid_record, "Produce request has no record batch");
    }
    storage::topic_partition tp{topic_name, partition_id(data.index)};
    if (acks == -1) {
        size_t isr = ctx.replicas->isr_size(tp);
        size_t wanted = min_insync_replicas(ctx, *topic, data.index);
        if (isr < wanted) {
            return fail(error_code::not_enough_replicas,
                        fmt::format("The ISR of {}-{} has {} replica(s); min.insync.replicas is "
                                    "{}.",
                                    topic_name, data.index, isr, wanted));
        }
    }
    const storage::log_config& cfg = log->config();
    int64_t max_message_bytes = cfg.max_message_bytes;
    if (static_cast<int64_t>(data.records.memory.size()) > max_message_bytes) {
        return fail(error_code::message_too_large,
                    fmt::format("The batch of {} bytes exceeds max.message.bytes {}",
                                data.records.memory.size(), max_message_bytes));
    }
    // Exactly one batch per partition entry, and it must be magic 2.
    auto header = protocol::parse_batch_header(data.records.memory);
    if (!header) {
        return fail(error_code::invalid_record,
                    fmt::format("Invalid record batch: {}", protocol::to_string(header.error())));
    }
    if (header->total_size_bytes() != data.records.memory.size()) {
        return fail(error_code::invalid_record,
                    "Produce requests must carry exactly one record batch per partition");
    }
    if (header->is_control()) {
        return fail(error_code::invalid_record, "Clients may not write control records");
    }
    if (header->codec() == protocol::compression_codec::zstd &&
        version < produce_first_zstd_version) {
        return fail(error_code::unsupported_compression_type, "zstd needs Produce v7 or later");
    }
    if (header->is_transactional()) {
        if (!transactional_id) {
            // Kafka authorizes transactional writes by the request's transactional id.
            return fail(error_code::transactional_id_authorization_failed,
                        "A transactional batch needs the request's transactional id");
        }
        if (header->producer_id < 0) {
            return fail(error_code::invalid_record, "A transactional batch needs a producer id");
        }
        // The partition must be in the producer's open transaction (AddPartitionsToTxn).
        // Where this node is the transaction's coordinator the check is a lookup (KIP-890's
        // verification without the round trip); another node's transactions are trusted, as
        // before KIP-890.
        auto e = ctx.txns->coordinates(*transactional_id)
                     ? ctx.txns->coordinator().check_produce(
                           header->producer_id, header->producer_epoch, {topic_name, data.index})
                     : error_code::none;
        if (e != error_code::none) {
            return fail(e, e == error_code::invalid_producer_epoch
                               ? "The producer's epoch is older than its transaction's"
                               : "The partition is not in the producer's open transaction");
        }
    }
    auto valid = protocol::validate_batch(data.records.memory, {});
    if (!valid) {
        return fail(batch_error(valid.error()),
                    fmt::format("Invalid record batch: {}", protocol::to_string(valid.error())));
    }
    if (cfg.compact) {
        // A compacted topic keeps the latest record per key, so a record needs one (Kafka's
        // rule). Only these topics pay for decoding the records on the produce path.
        std::vector<uint8_t> scratch;
        auto records = protocol::decode_records(data.records.memory, scratch);
        if (!records) {
            return fail(
                batch_error(records.error()),
                fmt::format("Invalid record batch: {}", protocol::to_string(records.error())));
        }
        for (const auto& r : *records) {
            if (!r.key) {
                return fail(error_code::invalid_record,
                            fmt::format("Compacted topic cannot accept message without key in "
                                        "topic partition {}-{}.",
                                        topic->name, data.index));
            }
        }
    }

    // The frame buffer is ours: patch offsets and epoch in place, no copy.
    std::span<uint8_t> batch(const_cast<uint8_t*>(data.records.memory.data()),
                             data.records.memory.size());
    // Unless the topic's compression.type names a codec other than the producer's: then the
    // records are re-encoded with it (the one case with a copy, as in Kafka).
    std::vector<uint8_t> recompressed;
    if (auto codec = cfg.compression; codec && *codec != valid->codec()) {
        std::vector<uint8_t> scratch;
        auto records = protocol::decode_records(data.records.memory, scratch);
        if (!records) {
            return fail(
                batch_error(records.error()),
                fmt::format("Invalid record batch: {}", protocol::to_string(records.error())));
        }
        recompressed = protocol::rebuild_batch(*valid, *records, *codec);
        batch = recompressed;
    }
    int64_t now = broker_context::now_ms();
    bool log_append_time = cfg.message_timestamp_type == storage::timestamp_type::log_append_time;
    if (log_append_time) {
        protocol::set_log_append_time(batch, now);
    } else if (auto bad = check_timestamps(cfg, *valid, data.records.memory, now)) {
        return fail(error_code::invalid_timestamp, *bad);
    }
    auto epoch = leader_epoch(topic->partitions[static_cast<size_t>(data.index)].leader_epoch);
    auto appended = ctx.replicas->append_as_leader(tp, *log, batch, epoch, now);
    if (!appended) {
        return fail(to_error_code(appended.error()), storage::to_string(appended.error()));
    }
    resp.error_code = 0;
    resp.base_offset = appended->base_offset.value();
    resp.log_append_time_ms = log_append_time ? now : -1;
    resp.log_start_offset = log->log_start_offset().value();
    out.appended = !appended->duplicate;
    out.log_end = log->log_end_offset().value();
    return out;
}

// Transaction version 2 (Produce v12): a transactional batch to a partition not yet in the
// producer's transaction adds it, as the partition leader's AddPartitionsToTxn to the
// coordinator does in Kafka (here the coordinator is in-process). Refusals (fenced epoch, a
// transaction being completed) surface from the append's own check. false: the coordinator's
// record could not be stored, so nothing may be appended (its markers would miss it).
asio::awaitable<bool> add_partitions_implicitly(broker_context& ctx,
                                                const std::string& transactional_id,
                                                const produce_request& request) {
    bool added = false;
    int64_t now = broker_context::now_ms();
    for (const auto& topic : request.topic_data) {
        for (const auto& partition : topic.partition_data) {
            if (partition.records.is_null) {
                continue;
            }
            auto header = protocol::parse_batch_header(partition.records.memory);
            if (!header || !header->is_transactional() || header->is_control()) {
                continue;
            }
            auto r = ctx.txns->coordinator().add_partitions(
                transactional_id, header->producer_id, header->producer_epoch,
                {{topic.name, partition.index}},
                [&](const txn::topic_partition& tp) {
                    return ctx.controller.image()->has_partition(tp.topic, tp.partition);
                },
                false, now);
            added = added || r.error == error_code::none;
        }
    }
    if (added && !co_await ctx.txns->persist()) {
        LOG_WARN("txn", "persisting partitions added to '{}' failed", transactional_id);
        co_return false;
    }
    co_return true;
}

// Each appended partition's new log end, and the leader epoch it was appended in when the
// partition has followers (acks=-1 waits for them in that epoch only).
struct appended_end {
    storage::topic_partition tp;
    int64_t end = 0;
    std::optional<int32_t> replicated_epoch;
};

// What an acks=-1 produce still waits for once its batches are appended.
struct acks_all_wait {
    int16_t version = 0;
    int32_t timeout_ms = 0;
    bool flush = false;  // riacho.acks.all.fsync: the appended partitions' fdatasync
    std::vector<flush_scheduler::partition_key> to_flush;
    std::vector<appended_end> appended_ends;
    produce_response response;
};

// The deferred answer of an acks=-1 produce: after the group commit (when fsync is on) and
// once every ISR member has the batches, or the request's timeout.
asio::awaitable<net::reply> finish_acks_all(broker_context& ctx, acks_all_wait wait) {
    if (wait.flush) {
        bool flushed = co_await ctx.flusher.flush(std::move(wait.to_flush));
        if (!flushed) {
            for (auto& t : wait.response.responses) {
                for (auto& p : t.partition_responses) {
                    if (p.error_code == 0) {
                        p.error_code = protocol::code(error_code::kafka_storage_error);
                        p.error_message = "fdatasync failed";
                    }
                }
            }
        }
    }
    // Replicated partitions: acknowledged once every ISR member has the batch (the high
    // watermark passed it), as Kafka's delayed produce.
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(wait.timeout_ms, 0));
    for (const auto& [tp, end, replicated_epoch] : wait.appended_ends) {
        if (!replicated_epoch ||
            co_await ctx.replicas->wait_replicated(tp, end, *replicated_epoch, deadline)) {
            continue;
        }
        for (auto& t : wait.response.responses) {
            if (t.name != tp.topic) {
                continue;
            }
            for (auto& p : t.partition_responses) {
                if (p.index != tp.partition.value() || p.error_code != 0) {
                    continue;
                }
                auto topic = ctx.controller.image()->find_topic(tp.topic);
                bool leading = topic && topic->has_partition(p.index) && ctx.leads(*topic, p.index);
                bool isr_short =
                    topic && ctx.replicas->isr_size(tp) < min_insync_replicas(ctx, *topic, p.index);
                auto e = !leading    ? error_code::not_leader_or_follower
                         : isr_short ? error_code::not_enough_replicas_after_append
                                     : error_code::request_timed_out;
                p.error_code = protocol::code(e);
                p.error_message = "The batch was not replicated to the ISR in time";
            }
        }
    }
    net::reply out;
    wait.response.encode(out.body, wait.version);
    co_return out;
}

}  // namespace

asio::awaitable<net::reply> handle_produce(broker_context& ctx, net::request& req) {
    int16_t version = req.header.api_version;
    if (version < produce_min_supported_version) {
        LOG_WARN("broker", "closing connection from {}: Produce v{} (magic 0/1) is not supported",
                 req.peer, version);
        co_return net::reply::close();
    }
    produce_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    bool txn_state_stored = true;
    if (version >= produce_txn_version2 && request.transactional_id) {
        txn_state_stored =
            co_await add_partitions_implicitly(ctx, *request.transactional_id, request);
    }
    produce_response response;
    bool any_error = false;
    bool any_appended = false;
    std::vector<flush_scheduler::partition_key> to_flush;
    std::vector<appended_end> appended_ends;
    bool valid_acks = request.acks == 0 || request.acks == 1 || request.acks == -1;
    for (auto& topic : request.topic_data) {
        produce_response::topic_produce_response topic_resp;
        topic_resp.name = topic.name;
        for (auto& partition : topic.partition_data) {
            if (!valid_acks || !txn_state_stored) {
                partition_response p;
                p.index = partition.index;
                p.error_code = protocol::code(valid_acks ? error_code::kafka_storage_error
                                                         : error_code::invalid_required_acks);
                p.base_offset = -1;
                topic_resp.partition_responses.push_back(std::move(p));
                any_error = true;
                continue;
            }
            auto outcome = append_partition(ctx, req, version, request.transactional_id,
                                            request.acks, topic.name, partition);
            any_error = any_error || outcome.response.error_code != 0;
            if (outcome.appended) {
                any_appended = true;
                to_flush.emplace_back(topic.name, partition.index);
            }
            if (outcome.response.error_code == 0 && outcome.log_end >= 0) {
                storage::topic_partition tp{topic.name, partition_id(partition.index)};
                auto epoch = ctx.replicas->replicated_epoch(tp);
                appended_ends.push_back({std::move(tp), outcome.log_end, epoch});
            }
            topic_resp.partition_responses.push_back(std::move(outcome.response));
        }
        response.responses.push_back(std::move(topic_resp));
    }
    if (any_appended) {
        ctx.appends.notify_all();
    }
    if (request.acks == 0) {
        if (any_error) {
            LOG_WARN("broker", "closing connection from {}: acks=0 produce failed", req.peer);
            co_return net::reply::close();
        }
        co_return net::reply::none();
    }
    bool wait_flush = request.acks == -1 && ctx.config.acks_all_fsync && !to_flush.empty();
    bool wait_isr = request.acks == -1 && std::any_of(appended_ends.begin(), appended_ends.end(),
                                                      [](const appended_end& a) {
                                                          return a.replicated_epoch.has_value();
                                                      });
    if (!wait_flush && !wait_isr) {
        co_return encode_response(req, response);
    }
    // The batches are appended: the answer waits for the flush and the ISR while the
    // connection's next requests go on (net::reply_kind::deferred).
    acks_all_wait wait{version,
                       request.timeout_ms,
                       wait_flush,
                       std::move(to_flush),
                       std::move(appended_ends),
                       std::move(response)};
    co_return net::reply::deferred(
        [&ctx, wait = std::move(wait)]() mutable { return finish_acks_all(ctx, std::move(wait)); });
}

}  // namespace riacho::broker
