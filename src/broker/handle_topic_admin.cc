// CreateTopics (19), DeleteTopics (20) and CreatePartitions (37): validated by the
// controller, recorded in the metadata log, then reconciled into local partition logs.
#include "broker/handlers.h"
#include "cluster/topic_config.h"
#include "protocol/messages/create_partitions.h"
#include "protocol/messages/create_topics.h"
#include "protocol/messages/delete_topics.h"

namespace riacho::broker {

namespace {
using protocol::error_code;
constexpr int8_t config_source_dynamic_topic = 1;
constexpr int8_t config_source_static_broker = 4;
constexpr int8_t config_source_default = 5;
}  // namespace

asio::awaitable<net::reply> handle_create_topics(broker_context& ctx, net::request& req) {
    using protocol::msg::create_topics_request;
    using protocol::msg::create_topics_response;
    create_topics_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    create_topics_response response;
    std::map<std::string, int> seen;
    for (const auto& t : request.topics) {
        ++seen[t.name];
    }
    for (const auto& t : request.topics) {
        create_topics_response::creatable_topic_result result;
        result.name = t.name;
        auto fail = [&](error_code e, std::string message) {
            result.error_code = protocol::code(e);
            result.error_message = std::move(message);
        };
        if (seen[t.name] > 1) {
            fail(error_code::invalid_request,
                 fmt::format("Create topics request from client `{}` contains multiple entries "
                             "for the following topics: {}",
                             req.header.client_id, t.name));
            response.topics.push_back(std::move(result));
            continue;
        }
        std::map<std::string, std::string> configs;
        bool bad_config = false;
        for (const auto& c : t.configs) {
            if (!c.value) {
                fail(error_code::invalid_config,
                     fmt::format("Null value not supported for topic configs: {}", c.name));
                bad_config = true;
                break;
            }
            configs[c.name] = *c.value;
        }
        if (bad_config) {
            response.topics.push_back(std::move(result));
            continue;
        }
        int32_t partitions = t.num_partitions;
        int16_t replication = t.replication_factor;
        std::vector<std::vector<int32_t>> assignment;
        if (!t.assignments.empty()) {
            if (partitions != -1 || replication != -1) {
                fail(error_code::invalid_request,
                     "Both numPartitions or replicationFactor and replicasAssignments were set. "
                     "Both cannot be used at the same time.");
                response.topics.push_back(std::move(result));
                continue;
            }
            // Partition indexes must run 0, 1, ... in the request's order (Kafka's rule).
            bool consecutive = true;
            bool empty = false;
            for (size_t i = 0; i < t.assignments.size(); ++i) {
                consecutive =
                    consecutive && t.assignments[i].partition_index == static_cast<int32_t>(i);
                empty = empty || t.assignments[i].broker_ids.empty();
                assignment.push_back(t.assignments[i].broker_ids);
            }
            if (!consecutive || empty) {
                fail(error_code::invalid_replica_assignment,
                     empty ? "The manual partition assignment includes an empty replica list."
                           : "Partitions should be a consecutive 0-based integer sequence.");
                response.topics.push_back(std::move(result));
                continue;
            }
            partitions = static_cast<int32_t>(assignment.size());
            replication = static_cast<int16_t>(assignment.front().size());
        }
        if (partitions == -1) {
            partitions = ctx.config.num_partitions;
        }
        if (replication == -1) {
            replication = ctx.config.default_replication_factor;
        }
        auto created = ctx.controller.create_topic(t.name, partitions, replication, configs,
                                                   request.validate_only, assignment);
        if (created.error != error_code::none) {
            fail(created.error, created.message);
            response.topics.push_back(std::move(result));
            continue;
        }
        result.error_code = 0;
        result.topic_id = request.validate_only ? protocol::uuid{} : created.topic->topic_id;
        result.num_partitions = partitions;
        result.replication_factor = replication;
        result.configs.emplace();
        for (const auto& key : cluster::topic_config_keys()) {
            create_topics_response::creatable_topic_result::creatable_topic_configs c;
            c.name = key.name;
            c.value = cluster::effective_topic_config(configs, ctx.config.values, key);
            c.read_only = false;
            c.config_source = configs.count(key.name)
                                  ? config_source_dynamic_topic
                                  : (ctx.config.explicitly_set.count(key.broker_synonym)
                                         ? config_source_static_broker
                                         : config_source_default);
            result.configs->push_back(std::move(c));
        }
        response.topics.push_back(std::move(result));
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_delete_topics(broker_context& ctx, net::request& req) {
    using protocol::msg::delete_topics_request;
    using protocol::msg::delete_topics_response;
    delete_topics_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    // v0-5 name topics in topic_names; v6 uses topics with a name or an id.
    std::vector<delete_topics_request::delete_topic_state> wanted = request.topics;
    for (const auto& name : request.topic_names) {
        delete_topics_request::delete_topic_state s;
        s.name = name;
        wanted.push_back(std::move(s));
    }
    delete_topics_response response;
    for (const auto& w : wanted) {
        delete_topics_response::deletable_topic_result result;
        result.name = w.name;
        result.topic_id = w.topic_id;
        auto image = ctx.controller.image();
        std::shared_ptr<const cluster::topic_info> topic;
        if (w.name && !w.topic_id.is_zero()) {
            result.error_code = protocol::code(error_code::invalid_request);
            result.error_message = "Topic name and topic id cannot both be given";
            response.responses.push_back(std::move(result));
            continue;
        }
        topic = w.name ? image->find_topic(*w.name) : image->find_topic(w.topic_id);
        if (!topic) {
            result.error_code = protocol::code(w.name ? error_code::unknown_topic_or_partition
                                                      : error_code::unknown_topic_id);
            result.error_message = "This server does not host this topic.";
            response.responses.push_back(std::move(result));
            continue;
        }
        if (!ctx.config.delete_topic_enable) {
            result.error_code = 73;  // TOPIC_DELETION_DISABLED
            result.error_message = "Topic deletion is disabled.";
            response.responses.push_back(std::move(result));
            continue;
        }
        auto deleted = ctx.controller.delete_topic(topic);
        result.name = topic->name;
        result.topic_id = topic->topic_id;
        result.error_code = protocol::code(deleted.error);
        if (deleted.error != error_code::none) {
            result.error_message = deleted.message;
        }
        response.responses.push_back(std::move(result));
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_create_partitions(broker_context& ctx, net::request& req) {
    using protocol::msg::create_partitions_request;
    using protocol::msg::create_partitions_response;
    create_partitions_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    create_partitions_response response;
    for (const auto& t : request.topics) {
        create_partitions_response::create_partitions_topic_result result;
        result.name = t.name;
        auto changed = ctx.controller.create_partitions(t.name, t.count, request.validate_only);
        result.error_code = protocol::code(changed.error);
        if (changed.error != error_code::none) {
            result.error_message = changed.message;
        }
        response.results.push_back(std::move(result));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
