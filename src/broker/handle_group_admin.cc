// DescribeGroups (15), ListGroups (16), DeleteGroups (42): what operators and admin clients
// see of the classic groups on this coordinator.
#include "broker/handle_group_runtime.h"
#include "broker/handlers.h"
#include "protocol/messages/delete_groups.h"
#include "protocol/messages/describe_groups.h"
#include "protocol/messages/list_groups.h"

namespace riacho::broker {

namespace {
using protocol::error_code;
constexpr int32_t authorized_operations_omitted = INT32_MIN;
// READ, DELETE, DESCRIBE (AclOperation codes 3, 6, 8): what Kafka reports without an authorizer.
constexpr int32_t group_operations_all = (1 << 3) | (1 << 6) | (1 << 8);
}  // namespace

asio::awaitable<net::reply> handle_describe_groups(broker_context& ctx, net::request& req) {
    using protocol::msg::describe_groups_request;
    using protocol::msg::describe_groups_response;
    describe_groups_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    describe_groups_response response;
    for (const auto& id : request.groups) {
        auto shard = ctx.groups->shard_for(id);
        describe_groups_response::described_group g;
        if (!shard.coordinator) {
            g.group_id = id;
            g.error_code = protocol::code(shard.error);
            response.groups.push_back(std::move(g));
            continue;
        }
        auto d = shard.coordinator->describe(id);
        g.error_code = protocol::code(d.error);
        g.group_id = d.group_id;
        g.group_state = d.state;
        g.protocol_type = d.protocol_type;
        g.protocol_data = d.protocol;
        for (auto& m : d.members) {
            describe_groups_response::described_group::described_group_member gm;
            gm.member_id = std::move(m.member_id);
            gm.group_instance_id = std::move(m.group_instance_id);
            gm.client_id = std::move(m.client_id);
            gm.client_host = std::move(m.client_host);
            gm.member_metadata = std::move(m.metadata);
            gm.member_assignment = std::move(m.assignment);
            g.members.push_back(std::move(gm));
        }
        g.authorized_operations = request.include_authorized_operations
                                      ? group_operations_all
                                      : authorized_operations_omitted;
        response.groups.push_back(std::move(g));
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_list_groups(broker_context& ctx, net::request& req) {
    using protocol::msg::list_groups_request;
    using protocol::msg::list_groups_response;
    list_groups_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    std::vector<group::group_state> states;
    for (const auto& s : request.states_filter) {
        if (auto parsed = group::parse_state(s)) {
            states.push_back(*parsed);
        } else {
            // Kafka answers an unknown state name with no groups rather than an error.
            states.push_back(group::group_state::dead);
        }
    }
    std::vector<std::string> types;  // lower case; empty lists every type
    for (const auto& t : request.types_filter) {
        std::string lower;
        for (char c : t) {
            lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        }
        types.push_back(lower);
    }
    list_groups_response response;
    for (const auto& g : ctx.groups->list()) {
        if (!types.empty() && std::find(types.begin(), types.end(), g.group_type) == types.end()) {
            continue;
        }
        if (!states.empty() && std::find(states.begin(), states.end(), g.state) == states.end()) {
            continue;
        }
        list_groups_response::listed_group lg;
        lg.group_id = g.group_id;
        lg.protocol_type = g.protocol_type;
        lg.group_state = g.state_name;
        lg.group_type = g.group_type;
        response.groups.push_back(std::move(lg));
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_delete_groups(broker_context& ctx, net::request& req) {
    using protocol::msg::delete_groups_request;
    using protocol::msg::delete_groups_response;
    delete_groups_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    delete_groups_response response;
    std::vector<error_code> errors;
    for (const auto& id : request.groups_names) {
        auto shard = ctx.groups->shard_for(id);
        errors.push_back(shard.coordinator
                             ? shard.coordinator->delete_group(id, group_runtime::now_ms())
                             : shard.error);
    }
    auto persisted = co_await ctx.groups->persist(true);
    for (size_t i = 0; i < request.groups_names.size(); ++i) {
        delete_groups_response::deletable_group_result r;
        r.group_id = request.groups_names[i];
        auto e = errors[i];
        if (persisted != error_code::none && e == error_code::none) {
            e = persisted;
        }
        r.error_code = protocol::code(e);
        response.results.push_back(std::move(r));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
