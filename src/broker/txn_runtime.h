// broker: runs the transaction coordinator (src/txn) on the event loop. It stores the
// coordinator's records in __transaction_state (created on first use) and waits for their
// flush, writes the COMMIT/ABORT markers a transaction ends with to every partition it touched
// (this node leads them all) and tells the group coordinator when one lands in
// __consumer_offsets, aborts transactions past their timeout on a timer, and at startup
// reloads the coordinator and finishes transactions a crash left in PrepareCommit/Abort.
//
// Thread: the broker's single event-loop thread. Owned by the broker.
// Crash behaviour: see txn/coordinator.h for the order of effects that makes every crash
// point recoverable.
#pragma once

#include "broker/internal_topic.h"
#include "protocol/error_code.h"
#include "txn/coordinator.h"

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <memory>
#include <optional>
#include <set>
#include <string>

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

// After write_txn_marker calls: wakes fetchers waiting on those partitions and, with
// riacho.acks.all.fsync, flushes them. false when the flush failed.
asio::awaitable<bool> publish_txn_markers(broker_context& ctx, touched_partitions touched);

class txn_runtime {
public:
    explicit txn_runtime(broker_context& ctx);
    ~txn_runtime();

    // Reads the settings, loads __transaction_state if it exists and finishes interrupted
    // transactions. An error message when the stored records cannot be read.
    std::optional<std::string> start();
    void stop();

    txn::coordinator& coordinator() { return *_coordinator; }

    // Appends the records the coordinator queued and waits until they are durable (when
    // riacho.acks.all.fsync is on). false on an IO error.
    asio::awaitable<bool> persist();
    // Writes and flushes the job's markers, then completes the transaction and persists
    // that. none, or the first error (the transaction stays prepared; the timer retries).
    asio::awaitable<protocol::error_code> finish(txn::marker_job job);

private:
    asio::awaitable<protocol::error_code> write_markers_and_complete(const txn::marker_job& job);
    void arm_timer();

    broker_context& _ctx;
    std::unique_ptr<txn::coordinator> _coordinator;
    asio::steady_timer _timer;
    int64_t _check_interval_ms = 10000;
    std::set<std::string> _finishing;  // transactional ids whose markers are being written
    bool _stopped = false;
};

}  // namespace riacho::broker
