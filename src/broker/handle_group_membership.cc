// JoinGroup (11), SyncGroup (14), Heartbeat (12), LeaveGroup (13): the classic group
// protocol. Glue only: decode, hand to the coordinator (src/group) through the group runtime,
// encode. JoinGroup and SyncGroup wait for the rebalance (as Kafka's do).
#include "broker/handle_group_runtime.h"
#include "broker/handlers.h"
#include "protocol/messages/heartbeat.h"
#include "protocol/messages/join_group.h"
#include "protocol/messages/leave_group.h"
#include "protocol/messages/sync_group.h"

namespace riacho::broker {

namespace {
using protocol::error_code;

}  // namespace

std::string client_host(const net::request& req) {
    // Kafka shows "/<ip>"; peer is "ip:port".
    auto colon = req.peer.rfind(':');
    return "/" + (colon == std::string::npos ? req.peer : req.peer.substr(0, colon));
}

asio::awaitable<net::reply> handle_join_group(broker_context& ctx, net::request& req) {
    using protocol::msg::join_group_request;
    using protocol::msg::join_group_response;
    join_group_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    join_group_response response;
    if (!ctx.groups->ensure_offsets_topic()) {
        response.error_code = protocol::code(error_code::coordinator_not_available);
        response.protocol_name = "";
        co_return encode_response(req, response);
    }
    group::join_request j;
    j.group_id = std::move(request.group_id);
    j.member_id = std::move(request.member_id);
    j.group_instance_id = std::move(request.group_instance_id);
    j.client_id = req.header.client_id;
    j.client_host = client_host(req);
    j.session_timeout_ms = request.session_timeout_ms;
    j.rebalance_timeout_ms = version >= 1 && request.rebalance_timeout_ms >= 0
                                 ? request.rebalance_timeout_ms
                                 : request.session_timeout_ms;
    j.protocol_type = std::move(request.protocol_type);
    for (auto& p : request.protocols) {
        j.protocols.push_back({std::move(p.name), std::move(p.metadata)});
    }
    j.require_known_member_id = version >= 4;
    j.supports_skip_assignment = version >= 9;
    auto result = co_await ctx.groups->join(std::move(j));
    response.error_code = protocol::code(result.error);
    response.generation_id = result.generation_id;
    if (result.error == error_code::none) {
        response.protocol_type = result.protocol_type;
    }
    // v0-6 cannot send a null protocol name.
    response.protocol_name = result.protocol_name;
    if (version < 7 && !response.protocol_name) {
        response.protocol_name = "";
    }
    response.leader = result.leader;
    response.skip_assignment = result.skip_assignment;
    response.member_id = result.member_id;
    for (auto& m : result.members) {
        join_group_response::join_group_response_member jm;
        jm.member_id = std::move(m.member_id);
        jm.group_instance_id = std::move(m.group_instance_id);
        jm.metadata = std::move(m.metadata);
        response.members.push_back(std::move(jm));
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_sync_group(broker_context& ctx, net::request& req) {
    using protocol::msg::sync_group_request;
    using protocol::msg::sync_group_response;
    sync_group_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    group::sync_request s;
    s.group_id = std::move(request.group_id);
    s.generation_id = request.generation_id;
    s.member_id = std::move(request.member_id);
    s.group_instance_id = std::move(request.group_instance_id);
    s.protocol_type = std::move(request.protocol_type);
    s.protocol_name = std::move(request.protocol_name);
    for (auto& a : request.assignments) {
        s.assignments.emplace_back(std::move(a.member_id), std::move(a.assignment));
    }
    auto result = co_await ctx.groups->sync(std::move(s));
    sync_group_response response;
    response.error_code = protocol::code(result.error);
    if (result.error == error_code::none) {
        response.protocol_type = result.protocol_type;
        response.protocol_name = result.protocol_name;
    }
    response.assignment = std::move(result.assignment);
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_heartbeat(broker_context& ctx, net::request& req) {
    using protocol::msg::heartbeat_request;
    using protocol::msg::heartbeat_response;
    heartbeat_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    group::heartbeat_request h;
    h.group_id = std::move(request.group_id);
    h.generation_id = request.generation_id;
    h.member_id = std::move(request.member_id);
    h.group_instance_id = std::move(request.group_instance_id);
    heartbeat_response response;
    auto shard = ctx.groups->shard_for(h.group_id);
    if (!shard.coordinator) {
        response.error_code = protocol::code(shard.error);
        co_return encode_response(req, response);
    }
    auto error = shard.coordinator->heartbeat(h, group_runtime::now_ms());
    (void)ctx.groups->settle();
    response.error_code = protocol::code(error);
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_leave_group(broker_context& ctx, net::request& req) {
    using protocol::msg::leave_group_request;
    using protocol::msg::leave_group_response;
    leave_group_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    std::vector<group::leave_member> members;
    if (version >= 3) {
        for (auto& m : request.members) {
            members.push_back({std::move(m.member_id), std::move(m.group_instance_id)});
        }
    } else {
        members.push_back({std::move(request.member_id), std::nullopt});
    }
    leave_group_response response;
    auto shard = ctx.groups->shard_for(request.group_id);
    if (!shard.coordinator) {
        response.error_code = protocol::code(shard.error);
        co_return encode_response(req, response);
    }
    auto result = shard.coordinator->leave(request.group_id, members, group_runtime::now_ms());
    (void)ctx.groups->settle();
    response.error_code = protocol::code(result.error);
    if (version >= 3) {
        if (result.error == error_code::none) {
            for (size_t i = 0; i < members.size(); ++i) {
                leave_group_response::member_response mr;
                mr.member_id = members[i].member_id;
                mr.group_instance_id = members[i].group_instance_id;
                mr.error_code = protocol::code(result.member_errors[i]);
                response.members.push_back(std::move(mr));
            }
        }
    } else if (result.error == error_code::none && !result.member_errors.empty()) {
        response.error_code = protocol::code(result.member_errors.front());
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
