// AlterConfigs (33) and IncrementalAlterConfigs (44). Topic configs are validated by the
// controller; dynamic broker configs (the topic-level defaults, see is_dynamic_broker_config)
// for this node or the cluster default ("") by the broker's own rules. Both are recorded in
// the metadata log and applied to live logs by reconcile. Static broker settings are refused
// with a message saying to restart.
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
        if (!name.empty() && name != std::to_string(ctx.node_id())) {
            return {error_code::invalid_request,
                    fmt::format("Unexpected broker id, expected {} or the cluster default (an "
                                "empty name) but received {}",
                                ctx.node_id(), name)};
        }
        return {};
    }
    if (type != resource_topic) {
        return {error_code::invalid_request,
                fmt::format("Unsupported resource type {}", static_cast<int>(type))};
    }
    return {};
}

// The dynamic configs recorded for a broker resource ("" = cluster default).
std::map<std::string, std::string> recorded_broker_configs(broker_context& ctx,
                                                           const std::string& name) {
    auto image = ctx.controller.image();
    auto it = image->broker_configs.find(name);
    return it == image->broker_configs.end() ? std::map<std::string, std::string>{} : it->second;
}

resource_outcome apply_broker(broker_context& ctx,
                              const std::string& name,
                              const std::map<std::string, std::optional<std::string>>& changes,
                              bool validate_only) {
    for (const auto& [key, value] : changes) {
        // Kafka answers INVALID_REQUEST for every broker config it refuses.
        if (find_broker_config_key(key) == nullptr) {
            return {error_code::invalid_request, fmt::format("Unknown broker config {}", key)};
        }
        if (!is_dynamic_broker_config(key)) {
            return {error_code::invalid_request,
                    fmt::format("Cannot update these configs dynamically: {} (set it in "
                                "server.properties or with --set and restart)",
                                key)};
        }
    }
    // The configs this broker would run with: cluster default, then its own, then the change.
    auto defaults = recorded_broker_configs(ctx, "");
    auto mine = recorded_broker_configs(ctx, std::to_string(ctx.node_id()));
    auto& changed = name.empty() ? defaults : mine;
    for (const auto& [key, value] : changes) {
        if (value) {
            changed[key] = *value;
        } else {
            changed.erase(key);
        }
    }
    auto merged = defaults;
    for (const auto& [key, value] : mine) {
        merged[key] = value;
    }
    try {
        (void)with_dynamic_configs(ctx.config, merged);
    } catch (const std::invalid_argument& e) {
        return {error_code::invalid_request, e.what()};
    }
    if (validate_only || changes.empty()) {
        return {};
    }
    auto recorded = ctx.controller.alter_broker_configs(name, changes);
    return {recorded.error, recorded.message};
}

resource_outcome apply(broker_context& ctx,
                       int8_t type,
                       const std::string& name,
                       const std::map<std::string, std::optional<std::string>>& changes,
                       bool validate_only) {
    if (type == resource_broker) {
        return apply_broker(ctx, name, changes, validate_only);
    }
    auto changed = ctx.controller.alter_topic_configs(name, changes, validate_only);
    return {changed.error, changed.message};
}

// Current value of a list config, for APPEND / SUBTRACT.
std::string current_value(broker_context& ctx,
                          int8_t type,
                          const std::string& name,
                          const std::string& key) {
    if (type == resource_broker) {
        auto it = ctx.config.values.find(key);
        return it == ctx.config.values.end() ? "" : it->second;
    }
    auto topic = ctx.controller.image()->find_topic(name);
    const auto* topic_key = cluster::find_topic_config_key(key);
    if (topic_key == nullptr) {
        return "";
    }
    return cluster::effective_topic_config(
        topic ? topic->configs : std::map<std::string, std::string>{}, ctx.config.values,
        *topic_key);
}

// The per-resource answer, the same in both APIs.
template <typename Response, typename Resource>
Response resource_response(const Resource& res, const resource_outcome& outcome) {
    Response r;
    r.error_code = protocol::code(outcome.error);
    if (outcome.error != error_code::none) {
        r.error_message = outcome.message;
    }
    r.resource_type = res.resource_type;
    r.resource_name = res.resource_name;
    return r;
}

bool is_list_config(int8_t type, const std::string& key) {
    if (type == resource_broker) {
        const auto* k = find_broker_config_key(key);
        return k != nullptr && k->type == config_type::list_type;
    }
    const auto* k = cluster::find_topic_config_key(key);
    return k != nullptr && std::string(k->type) == "list";
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
            // Non-incremental: the given set replaces every override of the resource.
            std::map<std::string, std::optional<std::string>> changes;
            if (res.resource_type == resource_broker) {
                for (const auto& [key, value] : recorded_broker_configs(ctx, res.resource_name)) {
                    changes[key] = std::nullopt;
                }
            } else if (auto topic = ctx.controller.image()->find_topic(res.resource_name)) {
                for (const auto& [key, value] : topic->configs) {
                    changes[key] = std::nullopt;
                }
            }
            for (const auto& c : res.configs) {
                changes[c.name] = c.value;
            }
            outcome =
                apply(ctx, res.resource_type, res.resource_name, changes, request.validate_only);
        }
        response.responses.push_back(
            resource_response<alter_configs_response::alter_configs_resource_response>(res,
                                                                                       outcome));
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
            switch (static_cast<config_operation>(c.config_operation)) {
                case config_operation::set:
                    changes[c.name] = c.value;
                    break;
                case config_operation::remove:
                    changes[c.name] = std::nullopt;
                    break;
                case config_operation::append:
                case config_operation::subtract: {
                    if (!is_list_config(res.resource_type, c.name)) {
                        outcome = {error_code::invalid_config,
                                   fmt::format("Config {} is not a list: APPEND and SUBTRACT "
                                               "apply to list configs only",
                                               c.name)};
                        break;
                    }
                    auto current = split_list(
                        current_value(ctx, res.resource_type, res.resource_name, c.name));
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
            outcome =
                apply(ctx, res.resource_type, res.resource_name, changes, request.validate_only);
        }
        response.responses.push_back(
            resource_response<incremental_alter_configs_response::alter_configs_resource_response>(
                res, outcome));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
