// raft: the storage the consensus core needs, as two small interfaces the caller implements:
// the replicated log (with its latest snapshot) and the durable quorum-state. Tests implement
// them in memory (tests/unit/raft/memory_log.h); the broker will back the log with
// storage's partition_log for __cluster_metadata-0 and the quorum-state with a small file.
//
// The core calls these synchronously from its own thread and relies on their contract:
// - append/truncate_to change the log at once but are durable only after flush() returns;
//   a crash may keep any prefix of the unflushed changes (the core never counts an
//   unflushed entry towards the high watermark, nor acknowledges one to a leader).
// - write_snapshot_and_trim/install_snapshot and quorum_state_store::write are durable when
//   they return.
#pragma once

#include "raft/types.h"

#include <optional>
#include <span>
#include <vector>

namespace riacho::raft {

class raft_log {
public:
    virtual ~raft_log() = default;

    // The first offset still in the log (the latest snapshot's end offset after a trim).
    virtual kafka_offset log_start_offset() const = 0;
    // The offset the next entry gets, and the epoch of the entry below it (the snapshot's
    // epoch when the log is empty past a snapshot; no_epoch when empty altogether).
    virtual offset_and_epoch end_offset_and_epoch() const = 0;
    // Appends at end_offset; entries' epochs never decrease.
    virtual void append(std::span<const log_entry> entries) = 0;
    // Removes every entry at or after `end`. REQUIRES: log_start_offset() <= end.
    virtual void truncate_to(kafka_offset end) = 0;
    // Up to `max_entries` entries from `from`. REQUIRES: start <= from <= end offset.
    virtual std::vector<log_entry> read(kafka_offset from, size_t max_entries) const = 0;
    // KRaft's endOffsetForEpoch: the largest epoch <= `epoch` known to the log (including
    // the snapshot's) and the offset where it ends (where the next epoch starts, or the end
    // offset). nullopt when no such epoch is known (the log or snapshot holds only later
    // epochs).
    virtual std::optional<offset_and_epoch> end_offset_for_epoch(leader_epoch epoch) const = 0;
    // Makes every append and truncation so far durable.
    virtual void flush() = 0;

    // The latest snapshot, if any, and its bytes.
    virtual std::optional<snapshot_id> latest_snapshot() const = 0;
    virtual std::optional<std::string> read_snapshot(snapshot_id id) const = 0;
    // Stores a snapshot of the state machine at `id` and deletes the log below id.offset.
    // REQUIRES: id is committed and within the log.
    virtual void write_snapshot_and_trim(snapshot_id id, std::string bytes) = 0;
    // A follower replaces its whole log with a leader's snapshot: afterwards the log is
    // empty, starts at id.offset and its last epoch is id.epoch.
    virtual void install_snapshot(snapshot_id id, std::string bytes) = 0;
};

class quorum_state_store {
public:
    virtual ~quorum_state_store() = default;
    virtual std::optional<quorum_state> read() const = 0;
    virtual void write(const quorum_state& state) = 0;  // durable when it returns
};

}  // namespace riacho::raft
