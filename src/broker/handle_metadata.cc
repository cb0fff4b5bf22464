// Metadata (3): this broker, the controller, and the requested (or all) topics with their
// partitions, leaders, replicas and ISR. Unknown topics are auto-created when both the
// request and auto.create.topics.enable allow it.
#include "broker/handlers.h"
#include "protocol/messages/metadata.h"

namespace riacho::broker {

namespace {
using protocol::msg::metadata_response;

metadata_response::metadata_response_topic describe_topic(const cluster::topic_info& t) {
    metadata_response::metadata_response_topic out;
    out.name = t.name;
    out.topic_id = t.topic_id;
    out.is_internal = t.is_internal();
    for (const auto& p : t.partitions) {
        metadata_response::metadata_response_topic::metadata_response_partition mp;
        mp.partition_index = p.partition;
        mp.leader_id = p.leader;
        mp.leader_epoch = p.leader_epoch;
        mp.replica_nodes = p.replicas;
        mp.isr_nodes = p.isr;
        out.partitions.push_back(std::move(mp));
    }
    return out;
}
}  // namespace

asio::awaitable<net::reply> handle_metadata(broker_context& ctx, net::request& req) {
    protocol::msg::metadata_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    metadata_response response;
    for (const auto& b : ctx.brokers()) {
        response.brokers.push_back({b.id, b.host, b.port, b.rack});
    }
    response.cluster_id = ctx.cluster_id;
    // Any node takes admin requests (it forwards them to the active controller through the
    // quorum), so clients are pointed at this one, as Kafka's brokers do in KRaft mode.
    response.controller_id = ctx.node_id();

    // v0: an empty list means all topics; v1+: null means all, empty means none.
    bool all_topics = !request.topics.has_value() || (version == 0 && request.topics->empty());
    if (all_topics) {
        auto image = ctx.controller.image();
        for (const auto& [name, topic] : image->topics_by_name) {
            response.topics.push_back(describe_topic(*topic));
        }
        co_return encode_response(req, response);
    }
    bool may_create = request.allow_auto_topic_creation && ctx.config.auto_create_topics_enable;
    for (const auto& wanted : *request.topics) {
        auto image = ctx.controller.image();
        std::shared_ptr<const cluster::topic_info> topic;
        if (wanted.name) {
            topic = image->find_topic(*wanted.name);
        } else if (!wanted.topic_id.is_zero()) {
            topic = image->find_topic(wanted.topic_id);
        }
        if (!topic && wanted.name && may_create) {
            auto created =
                ctx.controller.create_topic(*wanted.name, ctx.config.num_partitions,
                                            ctx.config.default_replication_factor, {}, false);
            if (created.error == protocol::error_code::none ||
                created.error == protocol::error_code::topic_already_exists) {
                topic = ctx.controller.image()->find_topic(*wanted.name);
            } else {
                metadata_response::metadata_response_topic t;
                t.name = wanted.name;
                // No controller reachable right now: a retriable answer for this topic.
                t.error_code = protocol::code(created.error == protocol::error_code::not_controller
                                                  ? protocol::error_code::leader_not_available
                                                  : created.error);
                response.topics.push_back(std::move(t));
                continue;
            }
        }
        if (!topic) {
            metadata_response::metadata_response_topic t;
            t.name = wanted.name;
            t.topic_id = wanted.topic_id;
            bool bad_name = wanted.name && cluster::controller::validate_topic_name(*wanted.name);
            t.error_code =
                protocol::code(bad_name      ? protocol::error_code::invalid_topic_exception
                               : wanted.name ? protocol::error_code::unknown_topic_or_partition
                                             : protocol::error_code::unknown_topic_id);
            response.topics.push_back(std::move(t));
            continue;
        }
        response.topics.push_back(describe_topic(*topic));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
