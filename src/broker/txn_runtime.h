// broker: runs the transaction coordinator (src/txn) on the event loop for the transactional
// ids whose __transaction_state partition this node leads (loaded when it becomes the leader,
// forgotten when another node takes over, as Kafka's coordinator moves). It stores the
// coordinator's records in __transaction_state (created on first use, replicated) and waits
// until the partition's in-sync replicas have them (and for their flush), writes the
// COMMIT/ABORT markers a transaction ends with to every partition it touched (itself where
// this node leads the partition, else with WriteTxnMarkers to the leader, as Kafka's marker
// channel does) and tells the group coordinator when one lands in __consumer_offsets, aborts
// transactions past their timeout on a timer, and on loading a partition finishes the
// transactions a crash or the previous leader left in PrepareCommit/Abort.
//
// Thread: the broker's single event-loop thread. Owned by the broker.
// Crash behaviour: see txn/coordinator.h for the order of effects that makes every crash
// point recoverable.
#pragma once

#include "broker/internal_topic.h"
#include "cluster/metadata_image.h"
#include "protocol/error_code.h"
#include "txn/coordinator.h"

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace riacho::broker {

struct broker_context;

// Appends one marker to a local partition (and completes the group coordinator's pending
// offsets when it is a __consumer_offsets partition). none, or the error for that partition.
protocol::error_code write_txn_marker(broker_context& ctx,
                                      const txn::topic_partition& tp,
                                      int64_t producer_id,
                                      int16_t producer_epoch,
                                      bool commit,
                                      int32_t coordinator_epoch);

// Creates __transaction_state when missing. false: answer COORDINATOR_NOT_AVAILABLE.
bool ensure_txn_state_topic(broker_context& ctx, int32_t partitions);

// After write_txn_marker calls: wakes fetchers waiting on those partitions, waits until their
// in-sync replicas have the markers and, with riacho.acks.all.fsync, flushes them. The error
// for the partitions otherwise (REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER,
// KAFKA_STORAGE_ERROR).
asio::awaitable<protocol::error_code> publish_txn_markers(broker_context& ctx,
                                                          touched_partitions touched);

class txn_runtime {
public:
    explicit txn_runtime(broker_context& ctx);
    ~txn_runtime();

    // Reads the settings; reconcile() then loads the partitions this node leads.
    std::optional<std::string> start();
    void stop();
    // Loads the __transaction_state partitions this node has come to lead (finishing the
    // transactions they left prepared) and forgets those another node leads now, on the
    // loop's next turn.
    void reconcile(const cluster::metadata_image& image);

    txn::coordinator& coordinator() { return *_coordinator; }
    // Whether this node is `transactional_id`'s coordinator (leads its __transaction_state
    // partition, which is created when missing). Requests for other ids get NOT_COORDINATOR.
    bool coordinates(const std::string& transactional_id);
    // TxnOffsetCommit on a node that does not coordinate the transaction: asks its coordinator
    // (AddPartitionsToTxn v4, as Kafka's group coordinator does) to add the group's offsets
    // partition to the transaction, or with `verify_only` whether it is in it already.
    asio::awaitable<protocol::error_code> add_offsets_at_coordinator(
        const std::string& transactional_id,
        int64_t producer_id,
        int16_t producer_epoch,
        const std::string& group_id,
        bool verify_only);

    // Appends the records the coordinator queued and waits until they are durable (when
    // riacho.acks.all.fsync is on). false on an IO error.
    asio::awaitable<bool> persist();
    // Writes and flushes the job's markers, then completes the transaction and persists
    // that. none, or the first error (the transaction stays prepared; the timer retries).
    asio::awaitable<protocol::error_code> finish(txn::marker_job job);

private:
    asio::awaitable<protocol::error_code> write_markers_and_complete(const txn::marker_job& job);
    // WriteTxnMarkers to `leader` for the job's partitions it leads.
    asio::awaitable<protocol::error_code> send_markers(
        int32_t leader,
        const txn::marker_job& job,
        const std::vector<txn::topic_partition>& partitions);
    void reconcile_now(const cluster::metadata_image& image);
    bool load_partition(int32_t partition);
    void arm_timer();

    broker_context& _ctx;
    std::map<int32_t, int32_t> _loaded;  // partitions led and loaded -> their leader epoch
    bool _reconcile_posted = false;
    std::unique_ptr<txn::coordinator> _coordinator;
    asio::steady_timer _timer;
    int64_t _check_interval_ms = 10000;
    std::set<std::string> _finishing;  // transactional ids whose markers are being written
    bool _stopped = false;
};

}  // namespace riacho::broker
