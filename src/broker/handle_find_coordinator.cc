// FindCoordinator (10): a group's or transactional id's coordinator is the leader of its
// partition of __consumer_offsets / __transaction_state (the first lookup creates the topic,
// as in Kafka).
// librdkafka also needs this API advertised to enable lz4 (its feature map, README 5.4).
#include "broker/handle_group_runtime.h"
#include "broker/handlers.h"
#include "broker/internal_topic.h"
#include "broker/txn_runtime.h"
#include "group/records.h"
#include "protocol/messages/find_coordinator.h"

namespace riacho::broker {

asio::awaitable<net::reply> handle_find_coordinator(broker_context& ctx, net::request& req) {
    using protocol::error_code;
    using protocol::msg::find_coordinator_request;
    using protocol::msg::find_coordinator_response;
    constexpr int8_t key_type_group = 0;
    constexpr int8_t key_type_transaction = 1;
    find_coordinator_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    auto answer = [&](const std::string& key, find_coordinator_response::coordinator& c) {
        c.key = key;
        bool known_type =
            request.key_type == key_type_group || request.key_type == key_type_transaction;
        bool is_txn = request.key_type == key_type_transaction;
        bool ready =
            known_type &&
            (is_txn ? ensure_txn_state_topic(ctx, ctx.txns->coordinator().config().state_partitions)
                    : ctx.groups->ensure_offsets_topic());
        // The coordinator is the leader of the key's partition of the internal topic.
        std::optional<cluster::broker_info> coordinator;
        if (ready) {
            auto topic = ctx.controller.image()->find_topic(is_txn ? txn::state_topic
                                                                   : group::offsets_topic);
            if (topic && !topic->partitions.empty()) {
                auto count = static_cast<int32_t>(topic->partitions.size());
                int32_t partition = is_txn ? ctx.txns->coordinator().partition_for(key)
                                           : group::partition_for(key, count);
                if (partition >= 0 && partition < count) {
                    int32_t leader = topic->partitions[static_cast<size_t>(partition)].leader;
                    for (const auto& b : ctx.brokers()) {
                        if (b.id == leader) {
                            coordinator = b;
                        }
                    }
                }
            }
        }
        if (coordinator) {
            c.node_id = coordinator->id;
            c.host = coordinator->host;
            c.port = coordinator->port;
            c.error_code = 0;
        } else {
            c.node_id = -1;
            c.port = -1;
            c.error_code = protocol::code(known_type ? error_code::coordinator_not_available
                                                     : error_code::invalid_request);
            c.error_message = !known_type ? "Unknown coordinator key type"
                              : is_txn    ? "The transaction state topic is not available"
                                          : "The offsets topic is not available";
        }
    };
    find_coordinator_response response;
    if (req.header.api_version >= 4) {
        for (const auto& key : request.coordinator_keys) {
            find_coordinator_response::coordinator c;
            answer(key, c);
            response.coordinators.push_back(std::move(c));
        }
    } else {
        find_coordinator_response::coordinator c;
        answer(request.key, c);
        response.error_code = c.error_code;
        response.error_message = c.error_message;
        response.node_id = c.node_id;
        response.host = c.host;
        response.port = c.port;
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
