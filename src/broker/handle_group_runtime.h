// broker: runs the group coordinator (src/group) on the event loop, one coordinator shard per
// __consumer_offsets partition this node leads (Kafka's coordinator moves with that
// partition's leadership). A shard is loaded from the local log when the node becomes the
// partition's leader and dropped, its waiting JoinGroup/SyncGroup answered NOT_COORDINATOR,
// when another node takes over. It turns the shards' deadlines into a timer, appends the
// records they queue to their partition (creating the topic through the controller the
// first time a group needs it, as Kafka does) and, when a commit must be durable, waits
// until every in-sync replica has them (and for the flush with riacho.acks.all.fsync).
//
// Thread: the broker's single event-loop thread. Owned by the broker; must outlive the
// handlers (it does: the server stops first). Crash behaviour: what was appended (and, for
// commits, replicated and flushed before the reply) is reloaded by the partition's next
// leader.
#pragma once

#include "broker/internal_topic.h"
#include "cluster/metadata_image.h"
#include "group/coordinator.h"
#include "net/server.h"

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace riacho::broker {

struct broker_context;

// Every topic's id and partition count, as the consumer group protocol needs them.
group::topic_catalog topic_catalog_of(const cluster::metadata_image& image);

// A group member's host as Kafka shows it ("/<ip>"), from the request's peer address.
std::string client_host(const net::request& req);

// The coordinator of a group on this node, or why there is none here.
struct group_shard {
    group::coordinator* coordinator = nullptr;
    // NOT_COORDINATOR (another node leads the group's partition) or COORDINATOR_NOT_AVAILABLE
    // (the offsets topic cannot be created); none with a coordinator.
    protocol::error_code error = protocol::error_code::none;
};

class group_runtime {
public:
    explicit group_runtime(broker_context& ctx);
    ~group_runtime();

    // Reads the coordinator settings; reconcile() then loads the partitions this node leads.
    void start();
    void stop();

    // Loads a shard for every __consumer_offsets partition this node has come to lead and
    // drops those it no longer leads.
    void reconcile(const cluster::metadata_image& image);

    // The shard owning `group_id` (creating __consumer_offsets when missing, as Kafka's first
    // group lookup does).
    group_shard shard_for(const std::string& group_id);
    const group::coordinator_config& config() const { return _cfg; }
    int32_t offsets_partitions() const { return _cfg.offsets_partitions; }
    // Every group of every shard on this node (ListGroups asks each broker).
    std::vector<group::group_listing> list() const;
    // A transaction marker landed on __consumer_offsets-`partition`.
    void complete_txn(int32_t partition, int64_t producer_id, bool commit);
    static int64_t now_ms();

    // Creates __consumer_offsets when missing. false: answer COORDINATOR_NOT_AVAILABLE.
    bool ensure_offsets_topic();

    // JoinGroup / SyncGroup wait for the rebalance; these resume when the coordinator answers.
    asio::awaitable<group::join_result> join(group::join_request r);
    asio::awaitable<group::sync_result> sync(group::sync_request r);

    // Appends the records the shards queued and rearms the timer. With `durable`, also
    // waits until the partitions' in-sync replicas have them (offsets.commit.timeout.ms) and
    // they are flushed (riacho.acks.all.fsync). The error for the client: KAFKA_STORAGE_ERROR
    // (IO), NOT_COORDINATOR (leadership moved meanwhile) or COORDINATOR_NOT_AVAILABLE (the
    // replicas did not follow in time), as Kafka's coordinator maps its append errors.
    asio::awaitable<protocol::error_code> persist(bool durable);
    // The same without waiting; call after every coordinator call.
    bool settle();

private:
    bool append_records(touched_partitions* touched);
    std::unique_ptr<group::coordinator> load_shard(int32_t partition);
    void arm_timer();
    void arm_expiry();

    broker_context& _ctx;
    group::coordinator_config _cfg;
    std::map<int32_t, std::unique_ptr<group::coordinator>> _shards;  // by partition
    std::map<int32_t, int32_t> _shard_leader_epochs;                 // by partition
    asio::steady_timer _timer;
    asio::steady_timer _expiry_timer;
    std::optional<int64_t> _armed_for;
    int64_t _retention_check_ms = 600000;
    int64_t _commit_timeout_ms = 5000;
    bool _stopped = false;
};

}  // namespace riacho::broker
