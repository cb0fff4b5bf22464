// ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69): the consumer group protocol of
// KIP-848 (`group.protocol=consumer`). Glue only: topic ids <-> names through the metadata
// image, the state machine in src/group (consumer_protocol.cc).
#include "broker/handle_group_runtime.h"
#include "broker/handlers.h"
#include "protocol/messages/consumer_group_describe.h"
#include "protocol/messages/consumer_group_heartbeat.h"

namespace riacho::broker {

namespace {
using protocol::error_code;

}  // namespace

asio::awaitable<net::reply> handle_consumer_group_heartbeat(broker_context& ctx,
                                                            net::request& req) {
    using protocol::msg::consumer_group_heartbeat_request;
    using protocol::msg::consumer_group_heartbeat_response;
    consumer_group_heartbeat_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    consumer_group_heartbeat_response response;
    auto shard = ctx.groups->shard_for(request.group_id);
    if (!shard.coordinator) {
        response.error_code = protocol::code(shard.error);
        co_return encode_response(req, response);
    }
    auto image = ctx.controller.image();
    group::consumer_heartbeat_request h;
    h.group_id = std::move(request.group_id);
    h.member_id = std::move(request.member_id);
    h.member_epoch = request.member_epoch;
    h.instance_id = std::move(request.instance_id);
    h.rack_id = std::move(request.rack_id);
    h.rebalance_timeout_ms = request.rebalance_timeout_ms;
    h.subscribed_topic_names = std::move(request.subscribed_topic_names);
    h.subscribed_topic_regex = std::move(request.subscribed_topic_regex);
    h.server_assignor = std::move(request.server_assignor);
    if (request.topic_partitions) {
        h.owned.emplace();
        for (const auto& tp : *request.topic_partitions) {
            // A topic deleted meanwhile is simply no longer owned.
            if (auto topic = image->find_topic(tp.topic_id)) {
                for (int32_t p : tp.partitions) {
                    h.owned->push_back({topic->name, p});
                }
            }
        }
    }
    h.client_id = req.header.client_id;
    h.client_host = client_host(req);
    auto lookup = [&](const std::string& name) -> std::optional<group::topic_metadata> {
        auto topic = image->find_topic(name);
        if (!topic) {
            return std::nullopt;
        }
        return group::topic_metadata{topic->topic_id,
                                     static_cast<int32_t>(topic->partitions.size())};
    };
    auto result = shard.coordinator->consumer_heartbeat(h, group::topic_lookup(lookup),
                                                        group_runtime::now_ms());
    (void)ctx.groups->settle();
    response.error_code = protocol::code(result.error);
    if (result.error != error_code::none) {
        response.error_message = result.message;
        co_return encode_response(req, response);
    }
    response.member_id = result.member_id;
    response.member_epoch = result.member_epoch;
    response.heartbeat_interval_ms = result.heartbeat_interval_ms;
    if (result.assignment) {
        auto& assignment = response.assignment.emplace();
        std::map<std::string, std::vector<int32_t>> by_topic;
        for (const auto& p : *result.assignment) {
            by_topic[p.topic].push_back(p.partition);
        }
        for (auto& [name, partitions] : by_topic) {
            if (auto topic = image->find_topic(name)) {
                assignment.topic_partitions.push_back({topic->topic_id, std::move(partitions)});
            }
        }
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_consumer_group_describe(broker_context& ctx, net::request& req) {
    using protocol::msg::consumer_group_describe_request;
    using protocol::msg::consumer_group_describe_response;
    consumer_group_describe_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    auto image = ctx.controller.image();
    auto to_assignment = [&](const std::vector<group::partition_key>& partitions) {
        consumer_group_describe_response::member_assignment a;
        std::map<std::string, std::vector<int32_t>> by_topic;
        for (const auto& p : partitions) {
            by_topic[p.topic].push_back(p.partition);
        }
        for (auto& [name, ps] : by_topic) {
            auto topic = image->find_topic(name);
            a.topic_partitions.push_back(
                {topic ? topic->topic_id : protocol::uuid{}, name, std::move(ps)});
        }
        return a;
    };
    consumer_group_describe_response response;
    for (const auto& id : request.group_ids) {
        consumer_group_describe_response::described_group g;
        g.group_id = id;
        auto shard = ctx.groups->shard_for(id);
        if (!shard.coordinator) {
            g.error_code = protocol::code(shard.error);
            response.groups.push_back(std::move(g));
            continue;
        }
        auto d = shard.coordinator->describe_consumer_group(id);
        g.error_code = protocol::code(d.error);
        if (d.error != error_code::none) {
            g.error_message = d.message;
            response.groups.push_back(std::move(g));
            continue;
        }
        g.group_state = d.state;
        g.group_epoch = d.group_epoch;
        g.assignment_epoch = d.assignment_epoch;
        g.assignor_name = d.assignor;
        for (const auto& m : d.members) {
            consumer_group_describe_response::described_group::member dm;
            dm.member_id = m.member_id;
            dm.instance_id = m.instance_id;
            dm.rack_id = m.rack_id;
            dm.member_epoch = m.member_epoch;
            dm.client_id = m.client_id;
            dm.client_host = m.client_host;
            dm.subscribed_topic_names = m.subscribed_topic_names;
            dm.assignment = to_assignment(m.assignment);
            dm.target_assignment = to_assignment(m.target_assignment);
            g.members.push_back(std::move(dm));
        }
        response.groups.push_back(std::move(g));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
