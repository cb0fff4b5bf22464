// broker: one handler per Kafka API (glue only: decode, ask the controller or the logs,
// encode). Each handler gets the request with its parsed header and returns the reply the
// connection sends. A body that does not decode closes the connection, as Kafka does.
#pragma once

#include "base/log.h"
#include "broker/broker_context.h"
#include "net/server.h"
#include "protocol/error_code.h"

#include <asio/awaitable.hpp>

namespace riacho::broker {

asio::awaitable<net::reply> handle_api_versions(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_metadata(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_produce(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_fetch(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_list_offsets(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_delete_records(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_elect_leaders(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_describe_log_dirs(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_describe_topic_partitions(broker_context& ctx,
                                                             net::request& req);
asio::awaitable<net::reply> handle_alter_partition_reassignments(broker_context& ctx,
                                                                 net::request& req);
asio::awaitable<net::reply> handle_list_partition_reassignments(broker_context& ctx,
                                                                net::request& req);
asio::awaitable<net::reply> handle_unregister_broker(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_consumer_group_heartbeat(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_consumer_group_describe(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_create_topics(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_delete_topics(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_create_partitions(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_describe_configs(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_init_producer_id(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_describe_cluster(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_find_coordinator(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_alter_configs(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_incremental_alter_configs(broker_context& ctx,
                                                             net::request& req);
asio::awaitable<net::reply> handle_join_group(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_sync_group(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_heartbeat(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_leave_group(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_offset_commit(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_offset_fetch(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_offset_delete(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_describe_groups(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_list_groups(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_delete_groups(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_add_partitions_to_txn(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_add_offsets_to_txn(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_end_txn(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_txn_offset_commit(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_write_txn_markers(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_describe_transactions(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_list_transactions(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_describe_producers(broker_context& ctx, net::request& req);
asio::awaitable<net::reply> handle_describe_quorum(broker_context& ctx, net::request& req);

// Decodes the request body as `Request` at the header's version. On failure logs the client
// and returns false; the caller answers net::reply::close().
template <typename Request>
bool decode_request(const net::request& req, Request& out) {
    protocol::reader r(req.body);
    out.decode(r, req.header.api_version);
    if (!r.ok()) {
        LOG_WARN("broker", "closing connection from {} (client id '{}'): malformed {} v{} body",
                 req.peer, req.header.client_id, req.header.api_key, req.header.api_version);
        return false;
    }
    return true;
}

template <typename Response>
net::reply encode_response(const net::request& req, const Response& resp) {
    net::reply out;
    resp.encode(out.body, req.header.api_version);
    return out;
}

}  // namespace riacho::broker
