// Fetch (1): whole stored batches from each requested partition, served from the segment file
// by reference (sendfile), within partition_max_bytes and max_bytes but at least one batch
// (KIP-74). Below min_bytes the fetch parks until an append or max_wait_ms. Topics are named
// up to v12 and by topic id from v13. Fetch sessions are handled by fetch_sessions.
#include "broker/fetch_sessions.h"
#include "broker/handlers.h"
#include "broker/log_errors.h"
#include "broker/replica_manager.h"
#include "protocol/messages/fetch.h"

namespace riacho::broker {

namespace {
using protocol::error_code;
using protocol::msg::fetch_request;
using protocol::msg::fetch_response;
using partition_data = fetch_response::fetchable_topic_response::partition_data;

constexpr int8_t read_committed = 1;
constexpr int16_t fetch_first_topic_id_version = 13;
constexpr int16_t fetch_first_replica_state_version = 15;

struct fetch_target {
    std::string topic_name;  // empty if the topic is unknown
    protocol::uuid topic_id;
    int32_t partition = 0;
    int64_t fetch_offset = 0;
    int32_t partition_max_bytes = 0;
    int32_t last_fetched_epoch = -1;  // followers: the epoch of their last batch
    int64_t follower_log_start = -1;  // followers: their log start (-1: not sent)
};

// Reads one partition into `out`. Returns the bytes added.
// `replica` is the fetching follower's broker id, -1 for a consumer.
size_t read_partition(broker_context& ctx,
                      const fetch_target& t,
                      int32_t replica,
                      bool use_ids,
                      int8_t isolation_level,
                      size_t bytes_left,
                      bool first_data,
                      partition_data& out) {
    out.partition_index = t.partition;
    // Kafka sends empty (not null) records even with an error; librdkafka cannot parse null.
    out.records = protocol::records_data::from_memory({});
    out.high_watermark = -1;
    out.last_stable_offset = -1;
    out.log_start_offset = -1;
    auto topic = use_ids ? ctx.controller.image()->find_topic(t.topic_id)
                         : ctx.controller.image()->find_topic(t.topic_name);
    if (!topic) {
        out.error_code = protocol::code(use_ids ? error_code::unknown_topic_id
                                                : error_code::unknown_topic_or_partition);
        return 0;
    }
    if (!topic->has_partition(t.partition)) {
        out.error_code = protocol::code(error_code::unknown_topic_or_partition);
        return 0;
    }
    if (!ctx.leads(*topic, t.partition)) {
        out.error_code = protocol::code(error_code::not_leader_or_follower);
        return 0;
    }
    storage::partition_log* log = ctx.log(topic->name, t.partition);
    if (log == nullptr) {
        // The partition exists but its log failed to open (an offline log dir, in Kafka).
        out.error_code = protocol::code(error_code::kafka_storage_error);
        return 0;
    }
    storage::topic_partition tp{topic->name, partition_id(t.partition)};
    int64_t log_end = log->log_end_offset().value();
    bool throttled = false;  // a replica under the leader's replication quota
    if (replica >= 0) {
        if (auto diverging =
                ctx.replicas->diverging(tp, t.fetch_offset, t.last_fetched_epoch, *log)) {
            // The follower's log took another path after that epoch: it cuts back and asks
            // again; its fetch offset acknowledges nothing.
            out.high_watermark = ctx.replicas->high_watermark(tp, *log);
            out.log_start_offset = log->log_start_offset().value();
            if (diverging->epoch < 0) {
                // No epoch at or below the follower's here (this log starts later): as Kafka,
                // out of range; the follower restarts at the log start or cuts to the high
                // watermark.
                out.error_code = protocol::code(error_code::offset_out_of_range);
                return 0;
            }
            out.diverging_epoch.epoch = diverging->epoch;
            out.diverging_epoch.end_offset = diverging->end_offset;
            return 0;
        }
        // A follower's fetch offset is its log end: it has everything below.
        ctx.replicas->on_follower_fetch(tp, replica, t.fetch_offset, t.follower_log_start, *log);
        throttled = ctx.replicas->leader_throttled(*topic, t.partition, replica);
    }
    // Consumers read below the high watermark; followers read up to the log end.
    int64_t high_watermark = ctx.replicas->high_watermark(tp, *log);
    int64_t last_stable_offset = std::min(log->last_stable_offset().value(), high_watermark);
    out.high_watermark = high_watermark;
    out.last_stable_offset = last_stable_offset;
    out.log_start_offset = log->log_start_offset().value();
    bool committed_only = isolation_level == read_committed;
    if (committed_only) {
        out.aborted_transactions.emplace();
    }
    if (t.fetch_offset < out.log_start_offset || t.fetch_offset > log_end) {
        out.error_code = protocol::code(error_code::offset_out_of_range);
        return 0;
    }
    // read_committed stops at the last stable offset: nothing of an open transaction.
    int64_t visible_end = replica >= 0     ? log_end
                          : committed_only ? last_stable_offset
                                           : high_watermark;
    if (t.fetch_offset >= visible_end) {
        return 0;
    }
    if (throttled && ctx.replicas->leader_quota_exceeded()) {
        return 0;  // it asks again; the quota refills with time
    }
    size_t limit =
        std::min<size_t>(static_cast<size_t>(std::max(t.partition_max_bytes, 0)), bytes_left);
    auto read =
        log->read(kafka_offset(t.fetch_offset), limit, first_data, kafka_offset(visible_end));
    if (!read) {
        out.error_code = protocol::code(to_error_code(read.error()));
        return 0;
    }
    if (read->size_bytes == 0) {
        return 0;
    }
    if (throttled) {
        ctx.replicas->record_leader_throttled(read->size_bytes);
    }
    if (committed_only) {
        // The aborted transactions whose records this range may hold, so the client drops
        // them (it skips each producer's batches from first_offset to its ABORT marker).
        for (const auto& a :
             log->aborted_transactions(kafka_offset(t.fetch_offset), read->next_offset)) {
            out.aborted_transactions->push_back({a.id.value(), a.first_offset.value()});
        }
    }
    protocol::records_data records;
    records.is_null = false;
    records.file = read->file;
    records.file_position = read->position;
    records.file_size_bytes = static_cast<uint32_t>(read->size_bytes);
    out.records = records;
    return read->size_bytes;
}

// A follower's entry for a partition in its (sessionless) request: LastFetchedEpoch and its
// log start come from there.
const fetch_request::fetch_topic::fetch_partition* request_partition_of(
    const fetch_request& request, const fetch_target& t, bool use_ids) {
    for (const auto& topic : request.topics) {
        if (use_ids ? topic.topic_id != t.topic_id : topic.topic != t.topic_name) {
            continue;
        }
        for (const auto& p : topic.partitions) {
            if (p.partition == t.partition) {
                return &p;
            }
        }
    }
    return nullptr;
}

}  // namespace

asio::awaitable<net::reply> handle_fetch(broker_context& ctx, net::request& req) {
    fetch_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    bool use_ids = version >= fetch_first_topic_id_version;
    int32_t replica = version >= fetch_first_replica_state_version
                          ? request.replica_state.replica_id
                          : request.replica_id;

    fetch_response response;
    auto opened = ctx.sessions.open(request, use_ids);
    if (opened.error != error_code::none) {
        response.error_code = protocol::code(opened.error);
        co_return encode_response(req, response);
    }
    auto session = opened.session;
    response.session_id = session->id;

    std::vector<fetch_target> targets;
    for (const auto& entry : session->partitions) {
        fetch_target t;
        t.topic_id = entry.topic_id;
        t.topic_name = entry.topic_name;
        t.partition = entry.partition;
        t.fetch_offset = entry.fetch_offset;
        t.partition_max_bytes = entry.partition_max_bytes;
        if (replica >= 0) {
            if (const auto* p = request_partition_of(request, t, use_ids)) {
                t.last_fetched_epoch = p->last_fetched_epoch;
                t.follower_log_start = p->log_start_offset;
            }
        }
        targets.push_back(std::move(t));
    }

    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(std::max(request.max_wait_ms, 0));
    size_t max_bytes =
        static_cast<size_t>(std::min(std::max(request.max_bytes, 0), ctx.config.fetch_max_bytes));
    for (;;) {
        response.responses.clear();
        size_t total = 0;
        bool answer_now = false;  // an error or a diverging epoch: the fetcher must act on it
        std::vector<std::pair<size_t, partition_data>> results;
        for (size_t i = 0; i < targets.size(); ++i) {
            partition_data pd;
            size_t added =
                read_partition(ctx, targets[i], replica, use_ids, request.isolation_level,
                               max_bytes > total ? max_bytes - total : 0, total == 0, pd);
            total += added;
            answer_now = answer_now || pd.error_code != 0 || pd.diverging_epoch.epoch >= 0 ||
                         pd.diverging_epoch.end_offset >= 0;
            results.emplace_back(i, std::move(pd));
        }
        bool enough = answer_now || total >= static_cast<size_t>(std::max(request.min_bytes, 0)) ||
                      request.max_wait_ms <= 0 || targets.empty();
        if (enough || std::chrono::steady_clock::now() >= deadline) {
            // Group partitions by topic, in request order; sessions drop unchanged ones.
            for (auto& [i, pd] : results) {
                const auto& t = targets[i];
                if (!fetch_sessions::should_include(*session, session->partitions[i], pd)) {
                    continue;
                }
                if (response.responses.empty() ||
                    (use_ids ? response.responses.back().topic_id != t.topic_id
                             : response.responses.back().topic != t.topic_name)) {
                    fetch_response::fetchable_topic_response tr;
                    tr.topic = t.topic_name;
                    tr.topic_id = t.topic_id;
                    response.responses.push_back(std::move(tr));
                }
                response.responses.back().partitions.push_back(std::move(pd));
            }
            break;
        }
        co_await ctx.appends.wait_until(deadline);
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
