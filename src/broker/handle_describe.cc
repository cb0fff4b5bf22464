// DescribeConfigs (32) and DescribeCluster (60).
#include "broker/handlers.h"
#include "cluster/topic_config.h"
#include "protocol/messages/describe_cluster.h"
#include "protocol/messages/describe_configs.h"

namespace riacho::broker {

namespace {
using protocol::error_code;
using protocol::msg::describe_configs_response;
using config_entry =
    describe_configs_response::describe_configs_result::describe_configs_resource_result;

constexpr int8_t resource_topic = 2;
constexpr int8_t resource_broker = 4;
// ConfigSource values of DescribeConfigs v1+.
constexpr int8_t source_dynamic_topic = 1;
constexpr int8_t source_dynamic_broker = 2;
constexpr int8_t source_dynamic_default_broker = 3;
constexpr int8_t source_static_broker = 4;
constexpr int8_t source_default = 5;
// ConfigType values of DescribeConfigs v3+.
int8_t config_type_code(const std::string& type) {
    if (type == "boolean") return 1;
    if (type == "string") return 2;
    if (type == "int") return 3;
    if (type == "long") return 5;
    if (type == "double") return 6;
    if (type == "list") return 7;
    return 0;
}
// Where a broker setting's value comes from: this node's dynamic config, the cluster's dynamic
// default, the file or --set, or the built-in default (Kafka's precedence, first wins).
int8_t broker_source(const broker_context& ctx,
                     const cluster::metadata_image& image,
                     const std::string& key) {
    auto recorded = [&](const std::string& resource) {
        auto it = image.broker_configs.find(resource);
        return it != image.broker_configs.end() && it->second.count(key) != 0;
    };
    if (recorded(std::to_string(ctx.node_id()))) return source_dynamic_broker;
    if (recorded("")) return source_dynamic_default_broker;
    if (ctx.config.explicitly_set.count(key) != 0) return source_static_broker;
    return source_default;
}
int8_t broker_type_code(broker::config_type t) {
    switch (t) {
        case broker::config_type::boolean:
            return 1;
        case broker::config_type::string_type:
            return 2;
        case broker::config_type::int_type:
            return 3;
        case broker::config_type::long_type:
            return 5;
        case broker::config_type::list_type:
            return 7;
    }
    return 0;
}

bool wanted(const std::optional<std::vector<std::string>>& keys, const std::string& name) {
    if (!keys || keys->empty()) {
        return true;
    }
    for (const auto& k : *keys) {
        if (k == name) {
            return true;
        }
    }
    return false;
}
}  // namespace

asio::awaitable<net::reply> handle_describe_configs(broker_context& ctx, net::request& req) {
    protocol::msg::describe_configs_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    describe_configs_response response;
    auto image = ctx.controller.image();
    for (const auto& res : request.resources) {
        describe_configs_response::describe_configs_result result;
        result.resource_type = res.resource_type;
        result.resource_name = res.resource_name;
        if (res.resource_type == resource_topic) {
            auto topic = image->find_topic(res.resource_name);
            if (!topic) {
                result.error_code = protocol::code(error_code::unknown_topic_or_partition);
                result.error_message = fmt::format("Topic {} does not exist.", res.resource_name);
                response.results.push_back(std::move(result));
                continue;
            }
            for (const auto& key : cluster::topic_config_keys()) {
                if (!wanted(res.configuration_keys, key.name)) {
                    continue;
                }
                config_entry e;
                e.name = key.name;
                e.value = cluster::effective_topic_config(topic->configs, ctx.config.values, key);
                bool overridden = topic->configs.count(key.name) != 0;
                int8_t from_broker = *key.broker_synonym != '\0'
                                         ? broker_source(ctx, *image, key.broker_synonym)
                                         : source_default;
                bool broker_set = from_broker != source_default;
                e.config_source = overridden ? source_dynamic_topic : from_broker;
                e.is_default = !overridden && !broker_set;
                e.config_type = config_type_code(key.type);
                if (request.include_documentation) {
                    e.documentation = key.doc;
                }
                if (request.include_synonyms && version >= 1) {
                    if (overridden) {
                        e.synonyms.push_back(
                            {key.name, topic->configs.at(key.name), source_dynamic_topic});
                    }
                    if (*key.broker_synonym != '\0') {
                        auto it = ctx.config.values.find(key.broker_synonym);
                        if (it != ctx.config.values.end() && !it->second.empty()) {
                            e.synonyms.push_back({key.broker_synonym, it->second, from_broker});
                        }
                    }
                }
                result.configs.push_back(std::move(e));
            }
        } else if (res.resource_type == resource_broker) {
            if (!res.resource_name.empty() && res.resource_name != std::to_string(ctx.node_id())) {
                result.error_code = protocol::code(error_code::invalid_request);
                result.error_message =
                    fmt::format("Unexpected broker id, expected {} but received {}", ctx.node_id(),
                                res.resource_name);
                response.results.push_back(std::move(result));
                continue;
            }
            for (const auto& key : broker_config_keys()) {
                if (!wanted(res.configuration_keys, key.name)) {
                    continue;
                }
                config_entry e;
                e.name = key.name;
                e.value = ctx.config.values.at(key.name);
                e.config_source = broker_source(ctx, *image, key.name);
                e.is_default = e.config_source == source_default;
                e.read_only = !is_dynamic_broker_config(key.name);
                e.config_type = broker_type_code(key.type);
                if (request.include_documentation) {
                    e.documentation = key.doc;
                }
                if (request.include_synonyms && version >= 1) {
                    e.synonyms.push_back({key.name, e.value, e.config_source});
                }
                result.configs.push_back(std::move(e));
            }
        } else {
            result.error_code = protocol::code(error_code::invalid_request);
            result.error_message =
                fmt::format("Unsupported resource type {}", static_cast<int>(res.resource_type));
        }
        response.results.push_back(std::move(result));
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_describe_cluster(broker_context& ctx, net::request& req) {
    protocol::msg::describe_cluster_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    protocol::msg::describe_cluster_response response;
    response.endpoint_type = request.endpoint_type;
    constexpr int8_t endpoint_brokers = 1;
    if (request.endpoint_type != endpoint_brokers) {
        response.error_code = 115;  // UNSUPPORTED_ENDPOINT_TYPE
        response.error_message = "Only broker endpoints are served here";
        co_return encode_response(req, response);
    }
    response.cluster_id = ctx.cluster_id;
    response.controller_id = ctx.node_id();
    for (const auto& b : ctx.brokers()) {
        response.brokers.push_back({b.id, b.host, b.port, b.rack});
    }
    co_return encode_response(req, response);
}

// DescribeQuorum (55) on a broker listener: the metadata quorum answers it (as Kafka's
// brokers forward it to the controller); this node's own view when it is not the leader.
asio::awaitable<net::reply> handle_describe_quorum(broker_context& ctx, net::request& req) {
    auto answer = ctx.quorum->answer_describe_quorum(req.header.api_version, req.body);
    if (!answer) {
        LOG_WARN("broker", "closing connection from {} (client id '{}'): malformed DescribeQuorum",
                 req.peer, req.header.client_id);
        co_return net::reply::close();
    }
    net::reply out;
    out.body.write_raw(answer->data(), answer->size());
    co_return out;
}

}  // namespace riacho::broker
