// raft: the values and messages of the metadata quorum, in Kafka's KRaft terms. These are
// the core's own structs, not wire codecs: the broker maps them to and from the generated
// Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch (replica fields), FetchSnapshot requests and
// responses of the __cluster_metadata-0 partition (see docs/design/raft.md).
#pragma once

#include "base/strong_int.h"

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace riacho::raft {

using riacho::kafka_offset;
using riacho::leader_epoch;
using riacho::node_id;
using time_ms = std::chrono::milliseconds;  // a monotonic clock reading, passed in by the caller

// Epoch 0 is the epoch of an empty log: the first leader is elected in epoch 1.
inline constexpr leader_epoch no_epoch{0};
inline constexpr node_id no_node{-1};

// An offset with the epoch of the entry just below it: KRaft's OffsetAndEpoch. As a log
// position (last fetched) `offset` is the end offset (exclusive) and `epoch` the epoch of the
// entry at offset - 1; as a snapshot id it is the snapshot's end offset and last epoch.
struct offset_and_epoch {
    kafka_offset offset{0};
    leader_epoch epoch = no_epoch;
    auto operator<=>(const offset_and_epoch&) const = default;
};
using snapshot_id = offset_and_epoch;

// Entries are either the state machine's records (opaque to raft) or the leader's control
// entry (KRaft's LeaderChangeMessage) that a new leader appends so that it can commit in its
// own epoch promptly.
enum class entry_kind : uint8_t { data, leader_change };

// One entry occupies one offset. The broker will map an entry to one record batch.
struct log_entry {
    leader_epoch epoch = no_epoch;
    entry_kind kind = entry_kind::data;
    std::string data;
    bool operator==(const log_entry&) const = default;
};

// Wire-level errors the core uses (Kafka's codes, same numbers).
enum class raft_error : int16_t {
    none = 0,
    not_leader_or_follower = 6,
    fenced_leader_epoch = 74,
    unknown_leader_epoch = 75,
    inconsistent_voter_set = 94,
    snapshot_not_found = 98,
};

// ---- Vote (52)
struct vote_request {
    leader_epoch candidate_epoch = no_epoch;
    node_id candidate_id = no_node;
    offset_and_epoch last_log;  // LastOffset (end offset) and LastOffsetEpoch
};
struct vote_response {
    raft_error error = raft_error::none;
    node_id leader_id = no_node;  // the responder's known leader, if any
    riacho::leader_epoch leader_epoch = no_epoch;
    bool vote_granted = false;
};

// ---- BeginQuorumEpoch (53): sent by a new leader until each voter acknowledges it.
struct begin_quorum_epoch_request {
    node_id leader_id = no_node;
    riacho::leader_epoch leader_epoch = no_epoch;
};
struct begin_quorum_epoch_response {
    raft_error error = raft_error::none;
    node_id leader_id = no_node;
    riacho::leader_epoch leader_epoch = no_epoch;
};

// ---- EndQuorumEpoch (54): a resigning leader asks voters to elect a successor now.
struct end_quorum_epoch_request {
    node_id leader_id = no_node;
    riacho::leader_epoch leader_epoch = no_epoch;
    std::vector<node_id> preferred_successors;  // most caught-up first
};
struct end_quorum_epoch_response {
    raft_error error = raft_error::none;
    node_id leader_id = no_node;
    riacho::leader_epoch leader_epoch = no_epoch;
};

// ---- Fetch (1), replica fields: pull replication. The fetch offset doubles as the
// follower's acknowledgement: everything below it is flushed on the follower.
struct fetch_request {
    node_id replica_id = no_node;
    leader_epoch current_leader_epoch = no_epoch;
    kafka_offset fetch_offset{0};
    leader_epoch last_fetched_epoch = no_epoch;
};
struct fetch_response {
    raft_error error = raft_error::none;
    node_id leader_id = no_node;
    riacho::leader_epoch leader_epoch = no_epoch;
    std::optional<kafka_offset> high_watermark;  // unset until the leader commits in its epoch
    kafka_offset log_start_offset{0};
    // Set when the follower's log diverges: the largest epoch the logs share and its end
    // offset on the leader; the follower truncates and fetches again.
    std::optional<offset_and_epoch> diverging_epoch;
    // Set when the fetch offset is below the leader's log start: fetch this snapshot.
    std::optional<raft::snapshot_id> snapshot_id;
    kafka_offset records_base_offset{0};
    std::vector<log_entry> records;
};

// ---- FetchSnapshot (59). The core moves a snapshot in one piece (Position 0, whole Size).
struct fetch_snapshot_request {
    node_id replica_id = no_node;
    leader_epoch current_leader_epoch = no_epoch;
    raft::snapshot_id snapshot_id;
};
struct fetch_snapshot_response {
    raft_error error = raft_error::none;
    node_id leader_id = no_node;
    riacho::leader_epoch leader_epoch = no_epoch;
    raft::snapshot_id snapshot_id;
    std::string bytes;
};

using message_body = std::variant<vote_request,
                                  vote_response,
                                  begin_quorum_epoch_request,
                                  begin_quorum_epoch_response,
                                  end_quorum_epoch_request,
                                  end_quorum_epoch_response,
                                  fetch_request,
                                  fetch_response,
                                  fetch_snapshot_request,
                                  fetch_snapshot_response>;

// A message between voters. `request_id` is the sender's correlation id for requests and the
// echoed one for responses: a late or duplicated response whose id is not the one in flight
// is dropped, so a stale answer never truncates or extends a log.
struct message {
    node_id from = no_node;
    node_id to = no_node;
    uint64_t request_id = 0;
    message_body body;
};

// The durable 'quorum-state' (KRaft's quorum-state file): written, and durable, before the
// core acts on it (before a vote is granted or requested, before leading or following).
struct quorum_state {
    leader_epoch epoch = no_epoch;
    std::optional<node_id> voted_for;
    std::optional<node_id> leader_id;
    bool operator==(const quorum_state&) const = default;
};

}  // namespace riacho::raft
