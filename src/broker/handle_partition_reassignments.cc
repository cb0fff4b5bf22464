// AlterPartitionReassignments (45) and ListPartitionReassignments (46): kafka-reassign-partitions
// and the admin clients' alterPartitionReassignments / listPartitionReassignments. A move is
// the controller's (cluster::controller::alter_reassignment), recorded through whichever node
// received the request; replica_manager and the follower fetchers carry it out, and the ISR
// change that has every new replica in sync completes it. The list comes from the image.
#include "broker/handlers.h"
#include "protocol/messages/alter_partition_reassignments.h"
#include "protocol/messages/list_partition_reassignments.h"

namespace riacho::broker {

asio::awaitable<net::reply> handle_alter_partition_reassignments(broker_context& ctx,
                                                                 net::request& req) {
    using protocol::msg::alter_partition_reassignments_request;
    using protocol::msg::alter_partition_reassignments_response;
    alter_partition_reassignments_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    alter_partition_reassignments_response response;
    for (const auto& topic : request.topics) {
        alter_partition_reassignments_response::reassignable_topic_response t;
        t.name = topic.name;
        for (const auto& partition : topic.partitions) {
            alter_partition_reassignments_response::reassignable_topic_response::
                reassignable_partition_response p;
            p.partition_index = partition.partition_index;
            auto changed = ctx.controller.alter_reassignment(topic.name, partition.partition_index,
                                                             partition.replicas);
            p.error_code = protocol::code(changed.error);
            if (changed.error != protocol::error_code::none) {
                p.error_message = std::move(changed.message);
            }
            t.partitions.push_back(std::move(p));
        }
        response.responses.push_back(std::move(t));
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_list_partition_reassignments(broker_context& ctx,
                                                                net::request& req) {
    using protocol::msg::list_partition_reassignments_request;
    using protocol::msg::list_partition_reassignments_response;
    using ongoing_topic = list_partition_reassignments_response::ongoing_topic_reassignment;
    list_partition_reassignments_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    auto image = ctx.controller.image();
    list_partition_reassignments_response response;
    auto add = [&](const cluster::topic_info& topic, const cluster::partition_info& p) {
        if (!p.reassigning()) {
            return;
        }
        if (response.topics.empty() || response.topics.back().name != topic.name) {
            ongoing_topic t;
            t.name = topic.name;
            response.topics.push_back(std::move(t));
        }
        ongoing_topic::ongoing_partition_reassignment out;
        out.partition_index = p.partition;
        out.replicas = p.replicas;
        out.adding_replicas = p.adding_replicas;
        out.removing_replicas = p.removing_replicas;
        response.topics.back().partitions.push_back(std::move(out));
    };
    if (!request.topics) {
        for (const auto& [name, topic] : image->topics_by_name) {
            for (const auto& p : topic->partitions) {
                add(*topic, p);
            }
        }
    } else {
        // As Kafka: partitions that do not exist or are not moving are left out.
        for (const auto& asked : *request.topics) {
            auto topic = image->find_topic(asked.name);
            if (!topic) {
                continue;
            }
            for (int32_t partition : asked.partition_indexes) {
                if (topic->has_partition(partition)) {
                    add(*topic, topic->partitions[static_cast<size_t>(partition)]);
                }
            }
        }
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
