// AlterConfigs (33) and IncrementalAlterConfigs (44) for topics: validated by the controller,
// recorded in the metadata log, applied to live logs by reconcile. Broker configs are static
// (set at startup) and are refused with a message saying so.
#include "broker/handlers.h"
#include "cluster/topic_config.h"
#include "protocol/messages/alter_configs.h"
#include "protocol/messages/incremental_alter_configs.h"

#include <set>
#include <sstream>

namespace riacho::broker {

namespace {
using protocol::error_code;
constexpr int8_t resource_topic = 2;
constexpr int8_t resource_broker = 4;
enum class config_operation : int8_t { set = 0, remove = 1, append = 2, subtract = 3 };

struct resource_outcome {
    error_code error = error_code::none;
    std::string message;
};

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (!item.empty()) {
            out.push_back(item);
        }
    }
    return out;
}

std::string join_list(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) {
        out += out.empty() ? i : "," + i;
    }
    return out;
}

resource_outcome check_resource(broker_context& ctx, int8_t type, const std::string& name) {
    if (type == resource_broker) {
        return {error_code::invalid_request,
                fmt::format("Broker {} configs are static in Riacho: set them in "
                            "server.properties or with --set and restart",
                            name.empty() ? std::to_string(ctx.node_id()) : name)};
    }
    if (type != resource_topic) {
        return {error_code::invalid_request,
                fmt::format("Unsupported resource type {}", static_cast<int>(type))};
    }
    return {};
}

resource_outcome apply(broker_context& ctx,
                       const std::string& topic,
                       const std::map<std::string, std::optional<std::string>>& changes,
                       bool validate_only) {
    auto changed = ctx.controller.alter_topic_configs(topic, changes, validate_only);
    return {changed.error, changed.message};
}
}  // namespace

asio::awaitable<net::reply> handle_alter_configs(broker_context& ctx, net::request& req) {
    using protocol::msg::alter_configs_request;
    using protocol::msg::alter_configs_response;
    alter_configs_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    alter_configs_response response;
    for (const auto& res : request.resources) {
        auto outcome = check_resource(ctx, res.resource_type, res.resource_name);
        if (outcome.error == error_code::none) {
            // Non-incremental: the given set replaces every override of the topic.
            std::map<std::string, std::optional<std::string>> changes;
            if (auto topic = ctx.controller.image()->find_topic(res.resource_name)) {
                for (const auto& [key, value] : topic->configs) {
                    changes[key] = std::nullopt;
                }
            }
            for (const auto& c : res.configs) {
                changes[c.name] = c.value;
            }
            outcome = apply(ctx, res.resource_name, changes, request.validate_only);
        }
        alter_configs_response::alter_configs_resource_response r;
        r.error_code = protocol::code(outcome.error);
        if (outcome.error != error_code::none) {
            r.error_message = outcome.message;
        }
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name;
        response.responses.push_back(std::move(r));
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_incremental_alter_configs(broker_context& ctx,
                                                             net::request& req) {
    using protocol::msg::incremental_alter_configs_request;
    using protocol::msg::incremental_alter_configs_response;
    incremental_alter_configs_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    incremental_alter_configs_response response;
    for (const auto& res : request.resources) {
        auto outcome = check_resource(ctx, res.resource_type, res.resource_name);
        std::map<std::string, std::optional<std::string>> changes;
        auto topic = ctx.controller.image()->find_topic(res.resource_name);
        std::set<std::string> seen;
        for (const auto& c : res.configs) {
            if (outcome.error != error_code::none) {
                break;
            }
            if (!seen.insert(c.name).second) {
                outcome = {error_code::invalid_request,
                           fmt::format("Error due to duplicate config keys: {}", c.name)};
                break;
            }
            const auto* key = cluster::find_topic_config_key(c.name);
            switch (static_cast<config_operation>(c.config_operation)) {
                case config_operation::set:
                    changes[c.name] = c.value;
                    break;
                case config_operation::remove:
                    changes[c.name] = std::nullopt;
                    break;
                case config_operation::append:
                case config_operation::subtract: {
                    if (key == nullptr || std::string(key->type) != "list") {
                        outcome = {error_code::invalid_config,
                                   fmt::format("Config {} is not a list: APPEND and SUBTRACT "
                                               "apply to list configs only",
                                               c.name)};
                        break;
                    }
                    std::map<std::string, std::string> broker_values = ctx.config.values;
                    auto current = split_list(cluster::effective_topic_config(
                        topic ? topic->configs : std::map<std::string, std::string>{},
                        broker_values, *key));
                    for (const auto& item : split_list(c.value.value_or(""))) {
                        auto it = std::find(current.begin(), current.end(), item);
                        if (c.config_operation == static_cast<int8_t>(config_operation::append)) {
                            if (it == current.end()) {
                                current.push_back(item);
                            }
                        } else if (it != current.end()) {
                            current.erase(it);
                        }
                    }
                    changes[c.name] = join_list(current);
                    break;
                }
                default:
                    outcome = {error_code::invalid_request,
                               fmt::format("Unknown config operation {} for {}",
                                           static_cast<int>(c.config_operation), c.name)};
                    break;
            }
        }
        if (outcome.error == error_code::none) {
            outcome = apply(ctx, res.resource_name, changes, request.validate_only);
        }
        incremental_alter_configs_response::alter_configs_resource_response r;
        r.error_code = protocol::code(outcome.error);
        if (outcome.error != error_code::none) {
            r.error_message = outcome.message;
        }
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name;
        response.responses.push_back(std::move(r));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
