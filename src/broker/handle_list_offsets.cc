// ListOffsets (2): earliest (-2), latest (-1), max timestamp (-3), earliest local (-4), or the
// first offset whose timestamp is at or after a given time.
#include "broker/handlers.h"
#include "broker/log_errors.h"
#include "broker/replica_manager.h"
#include "protocol/messages/list_offsets.h"

namespace riacho::broker {

namespace {
constexpr int64_t latest_timestamp = -1;
constexpr int8_t read_committed = 1;
constexpr int64_t earliest_timestamp = -2;
constexpr int64_t max_timestamp = -3;
constexpr int64_t earliest_local_timestamp = -4;
constexpr int64_t latest_tiered_timestamp = -5;
}  // namespace

asio::awaitable<net::reply> handle_list_offsets(broker_context& ctx, net::request& req) {
    using protocol::error_code;
    using protocol::msg::list_offsets_request;
    using protocol::msg::list_offsets_response;
    list_offsets_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    list_offsets_response response;
    auto image = ctx.controller.image();
    for (const auto& topic : request.topics) {
        list_offsets_response::list_offsets_topic_response tr;
        tr.name = topic.name;
        auto info = image->find_topic(topic.name);
        for (const auto& p : topic.partitions) {
            list_offsets_response::list_offsets_topic_response::list_offsets_partition_response pr;
            pr.partition_index = p.partition_index;
            if (info && info->has_partition(p.partition_index) &&
                !ctx.leads(*info, p.partition_index)) {
                pr.error_code = protocol::code(error_code::not_leader_or_follower);
                tr.partitions.push_back(std::move(pr));
                continue;
            }
            storage::partition_log* log = info ? ctx.log(topic.name, p.partition_index) : nullptr;
            if (log == nullptr) {
                pr.error_code = protocol::code(error_code::unknown_topic_or_partition);
                tr.partitions.push_back(std::move(pr));
                continue;
            }
            pr.leader_epoch = info->partitions[static_cast<size_t>(p.partition_index)].leader_epoch;
            switch (p.timestamp) {
                case latest_timestamp:
                case latest_tiered_timestamp: {
                    // Consumers see up to the high watermark; read_committed ones up to the
                    // last stable offset below it.
                    int64_t hw = ctx.replicas->high_watermark(
                        {topic.name, partition_id(p.partition_index)}, *log);
                    pr.offset = request.isolation_level == read_committed
                                    ? std::min(log->last_stable_offset().value(), hw)
                                    : hw;
                    break;
                }
                case earliest_timestamp:
                case earliest_local_timestamp:
                    pr.offset = log->log_start_offset().value();
                    break;
                case max_timestamp: {
                    auto found = log->max_timestamp_offset();
                    if (!found) {
                        pr.error_code = protocol::code(to_error_code(found.error()));
                    } else if (*found) {
                        pr.offset = (*found)->offset.value();
                        pr.timestamp = (*found)->timestamp;
                    }
                    break;
                }
                default: {
                    if (p.timestamp < 0) {
                        pr.error_code = protocol::code(error_code::invalid_request);
                        break;
                    }
                    auto found = log->offset_for_timestamp(p.timestamp);
                    if (!found) {
                        pr.error_code = protocol::code(to_error_code(found.error()));
                    } else if (*found) {
                        pr.offset = (*found)->offset.value();
                        pr.timestamp = (*found)->timestamp;
                    }
                    break;
                }
            }
            tr.partitions.push_back(std::move(pr));
        }
        response.topics.push_back(std::move(tr));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
