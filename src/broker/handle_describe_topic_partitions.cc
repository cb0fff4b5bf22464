// DescribeTopicPartitions (75): Kafka 4 admin clients' describeTopics. Like Metadata's topics,
// plus each partition's eligible leader replicas (KIP-966) and offline replicas (fenced or
// unregistered brokers), in topic-name order and paged: at most response_partition_limit
// partitions (Kafka's cap: 2000) per answer, the rest named by next_cursor. Riacho keeps no
// "last known ELR": it is always empty.
#include "broker/handlers.h"
#include "protocol/messages/describe_topic_partitions.h"

#include <set>

namespace riacho::broker {

namespace {
constexpr int32_t partition_limit_max = 2000;  // Kafka's max.request.partition.size.limit
}

asio::awaitable<net::reply> handle_describe_topic_partitions(broker_context& ctx,
                                                             net::request& req) {
    using protocol::msg::describe_topic_partitions_request;
    using protocol::msg::describe_topic_partitions_response;
    using response_topic =
        describe_topic_partitions_response::describe_topic_partitions_response_topic;
    describe_topic_partitions_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    auto image = ctx.controller.image();
    std::set<std::string> names;
    if (request.topics.empty()) {
        for (const auto& [name, topic] : image->topics_by_name) {
            names.insert(name);
        }
    } else {
        for (const auto& t : request.topics) {
            names.insert(t.name);
        }
    }
    int32_t budget = std::clamp(request.response_partition_limit, 1, partition_limit_max);
    describe_topic_partitions_response response;
    for (const auto& name : names) {
        int32_t first = 0;
        if (request.cursor) {
            if (name < request.cursor->topic_name) {
                continue;
            }
            if (name == request.cursor->topic_name) {
                first = std::max(request.cursor->partition_index, 0);
            }
        }
        if (budget == 0) {
            response.next_cursor.emplace();
            response.next_cursor->topic_name = name;
            response.next_cursor->partition_index = first;
            break;
        }
        response_topic out;
        out.name = name;
        auto topic = image->find_topic(name);
        if (!topic) {
            out.error_code = protocol::code(protocol::error_code::unknown_topic_or_partition);
            response.topics.push_back(std::move(out));
            continue;
        }
        out.topic_id = topic->topic_id;
        out.is_internal = topic->is_internal();
        auto count = static_cast<int32_t>(topic->partitions.size());
        int32_t index = first;
        for (; index < count && budget > 0; ++index, --budget) {
            const auto& p = topic->partitions[static_cast<size_t>(index)];
            response_topic::describe_topic_partitions_response_partition dp;
            dp.partition_index = p.partition;
            dp.leader_id = p.leader;
            dp.leader_epoch = p.leader_epoch;
            dp.replica_nodes = p.replicas;
            dp.isr_nodes = p.isr;
            dp.eligible_leader_replicas = p.elr;
            dp.last_known_elr.emplace();
            for (int32_t id : p.replicas) {
                if (image->brokers.count(id) == 0 || image->fenced_brokers.count(id) != 0) {
                    dp.offline_replicas.push_back(id);
                }
            }
            out.partitions.push_back(std::move(dp));
        }
        response.topics.push_back(std::move(out));
        if (index < count) {
            response.next_cursor.emplace();
            response.next_cursor->topic_name = name;
            response.next_cursor->partition_index = index;
            break;
        }
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
