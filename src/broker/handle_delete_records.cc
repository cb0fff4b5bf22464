// DeleteRecords (21): moves partitions' log start offsets forward, as kafka-delete-records
// and the admin clients' deleteRecords do. Offset -1 means "up to the high watermark"; an
// offset past it is OFFSET_OUT_OF_RANGE; one at or below the log start changes nothing. As in
// Kafka, topics whose cleanup.policy lacks "delete" refuse with POLICY_VIOLATION. Whole
// segments below the new start are deleted at once; reads below it get OFFSET_OUT_OF_RANGE.
// Only the partition's leader takes it, up to the high watermark; followers move their log
// start to the leader's as they fetch. As in Kafka, the answer waits until every replica on a
// live broker moved its log start there (the low watermark, which the answer carries), or the
// request's timeout passes (REQUEST_TIMED_OUT).
#include "base/log.h"
#include "broker/handlers.h"
#include "broker/log_errors.h"
#include "broker/replica_manager.h"
#include "cluster/topic_config.h"
#include "protocol/messages/delete_records.h"

namespace riacho::broker {

namespace {
constexpr int64_t to_high_watermark = -1;

bool deletes_allowed(const broker_context& ctx, const cluster::topic_info& topic) {
    auto policy = cluster::effective_topic_config(
        topic.configs, ctx.config.values, *cluster::find_topic_config_key("cleanup.policy"));
    return policy.empty() || policy.find("delete") != std::string::npos;
}
}  // namespace

asio::awaitable<net::reply> handle_delete_records(broker_context& ctx, net::request& req) {
    using protocol::error_code;
    using protocol::msg::delete_records_request;
    using protocol::msg::delete_records_response;
    delete_records_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    delete_records_response response;
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(std::max(request.timeout_ms, 0));
    auto image = ctx.controller.image();
    for (const auto& topic : request.topics) {
        delete_records_response::delete_records_topic_result tr;
        tr.name = topic.name;
        auto info = image->find_topic(topic.name);
        for (const auto& p : topic.partitions) {
            delete_records_response::delete_records_topic_result::delete_records_partition_result
                pr;
            pr.partition_index = p.partition_index;
            pr.low_watermark = -1;
            bool known = info && info->has_partition(p.partition_index);
            storage::partition_log* log = known ? ctx.log(topic.name, p.partition_index) : nullptr;
            if (!known) {
                pr.error_code = protocol::code(error_code::unknown_topic_or_partition);
            } else if (!ctx.leads(*info, p.partition_index) || log == nullptr) {
                // Only the leader deletes; followers follow its log start as they fetch.
                pr.error_code = protocol::code(error_code::not_leader_or_follower);
            } else if (!deletes_allowed(ctx, *info)) {
                pr.error_code = protocol::code(error_code::policy_violation);
            } else {
                storage::topic_partition tp{topic.name, partition_id(p.partition_index)};
                int64_t high_watermark = ctx.replicas->high_watermark(tp, *log);
                int64_t target = p.offset == to_high_watermark ? high_watermark : p.offset;
                if (target < 0 || target > high_watermark) {
                    pr.error_code = protocol::code(error_code::offset_out_of_range);
                } else if (auto moved = log->advance_log_start_offset(kafka_offset(target));
                           !moved) {
                    pr.error_code = protocol::code(to_error_code(moved.error()));
                } else {
                    LOG_INFO("storage", "{}-{}: records deleted below {}, log start now {}",
                             topic.name, p.partition_index, target,
                             log->log_start_offset().value());
                }
                if (auto epoch = ctx.replicas->replicated_epoch(tp);
                    pr.error_code == 0 && epoch &&
                    !co_await ctx.replicas->wait_low_watermark(tp, target, *epoch, deadline)) {
                    bool still_leading = ctx.replicas->replicated_epoch(tp) == epoch;
                    pr.error_code =
                        protocol::code(still_leading ? error_code::request_timed_out
                                                     : error_code::not_leader_or_follower);
                }
                // The log may have gone while this waited.
                if (auto* now_log = ctx.log(topic.name, p.partition_index);
                    pr.error_code == 0 && now_log != nullptr) {
                    pr.low_watermark = ctx.replicas->low_watermark(tp, *now_log);
                }
            }
            tr.partitions.push_back(std::move(pr));
        }
        response.topics.push_back(std::move(tr));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
