#include "broker/request_router.h"

#include "broker/handlers.h"
#include "protocol/messages/api_catalog.h"

namespace riacho::broker {

asio::awaitable<net::reply> request_router::handle(net::request& req) {
    namespace keys = protocol::api_keys;
    LOG_DEBUG("broker", "{} api {} v{} correlation {}", req.peer, req.header.api_key,
              req.header.api_version, req.header.correlation_id);
    switch (req.header.api_key) {
        case keys::api_versions:
            co_return co_await handle_api_versions(_ctx, req);
        case keys::metadata:
            co_return co_await handle_metadata(_ctx, req);
        case keys::produce:
            co_return co_await handle_produce(_ctx, req);
        case keys::fetch:
            co_return co_await handle_fetch(_ctx, req);
        case keys::list_offsets:
            co_return co_await handle_list_offsets(_ctx, req);
        case keys::delete_records:
            co_return co_await handle_delete_records(_ctx, req);
        case keys::elect_leaders:
            co_return co_await handle_elect_leaders(_ctx, req);
        case keys::describe_log_dirs:
            co_return co_await handle_describe_log_dirs(_ctx, req);
        case keys::describe_topic_partitions:
            co_return co_await handle_describe_topic_partitions(_ctx, req);
        case keys::alter_partition_reassignments:
            co_return co_await handle_alter_partition_reassignments(_ctx, req);
        case keys::list_partition_reassignments:
            co_return co_await handle_list_partition_reassignments(_ctx, req);
        case keys::unregister_broker:
            co_return co_await handle_unregister_broker(_ctx, req);
        case keys::consumer_group_heartbeat:
            co_return co_await handle_consumer_group_heartbeat(_ctx, req);
        case keys::consumer_group_describe:
            co_return co_await handle_consumer_group_describe(_ctx, req);
        case keys::create_topics:
            co_return co_await handle_create_topics(_ctx, req);
        case keys::delete_topics:
            co_return co_await handle_delete_topics(_ctx, req);
        case keys::create_partitions:
            co_return co_await handle_create_partitions(_ctx, req);
        case keys::describe_configs:
            co_return co_await handle_describe_configs(_ctx, req);
        case keys::init_producer_id:
            co_return co_await handle_init_producer_id(_ctx, req);
        case keys::alter_configs:
            co_return co_await handle_alter_configs(_ctx, req);
        case keys::incremental_alter_configs:
            co_return co_await handle_incremental_alter_configs(_ctx, req);
        case keys::find_coordinator:
            co_return co_await handle_find_coordinator(_ctx, req);
        case keys::describe_cluster:
            co_return co_await handle_describe_cluster(_ctx, req);
        case keys::join_group:
            co_return co_await handle_join_group(_ctx, req);
        case keys::sync_group:
            co_return co_await handle_sync_group(_ctx, req);
        case keys::heartbeat:
            co_return co_await handle_heartbeat(_ctx, req);
        case keys::leave_group:
            co_return co_await handle_leave_group(_ctx, req);
        case keys::offset_commit:
            co_return co_await handle_offset_commit(_ctx, req);
        case keys::offset_fetch:
            co_return co_await handle_offset_fetch(_ctx, req);
        case keys::offset_delete:
            co_return co_await handle_offset_delete(_ctx, req);
        case keys::describe_groups:
            co_return co_await handle_describe_groups(_ctx, req);
        case keys::list_groups:
            co_return co_await handle_list_groups(_ctx, req);
        case keys::delete_groups:
            co_return co_await handle_delete_groups(_ctx, req);
        case keys::add_partitions_to_txn:
            co_return co_await handle_add_partitions_to_txn(_ctx, req);
        case keys::add_offsets_to_txn:
            co_return co_await handle_add_offsets_to_txn(_ctx, req);
        case keys::end_txn:
            co_return co_await handle_end_txn(_ctx, req);
        case keys::txn_offset_commit:
            co_return co_await handle_txn_offset_commit(_ctx, req);
        case keys::write_txn_markers:
            co_return co_await handle_write_txn_markers(_ctx, req);
        case keys::describe_transactions:
            co_return co_await handle_describe_transactions(_ctx, req);
        case keys::list_transactions:
            co_return co_await handle_list_transactions(_ctx, req);
        case keys::describe_producers:
            co_return co_await handle_describe_producers(_ctx, req);
        case keys::describe_quorum:
            co_return co_await handle_describe_quorum(_ctx, req);
        default:
            break;
    }
    LOG_WARN("broker", "closing connection from {}: api {} has a schema but no handler", req.peer,
             req.header.api_key);
    co_return net::reply::close();
}

}  // namespace riacho::broker
