// raft: the metadata quorum as a running service. A `node` drives one `replica` (the core) on
// its own thread and event loop, as Kafka runs KRaft on its own threads: it owns the metadata
// log (file_log), the quorum-state file, the controller listener (Vote, BeginQuorumEpoch,
// EndQuorumEpoch, Fetch of __cluster_metadata-0, DescribeQuorum, and Riacho's internal
// ControllerWrite) and one connection per peer voter.
//
// The broker uses it from its own thread through a small, thread-safe surface:
// - write(): appends an entry (the controller's batch of metadata records) through the
//   quorum and blocks until it is committed, forwarding it to the active controller when this
//   node is not it. `base` is where the caller's image stands; a write validated against an
//   older image is refused as stale (optimistic concurrency), so validation and append are
//   atomic across nodes without a lock.
// - take_committed() and the commit listener: committed data entries, in order, for the
//   controller to apply (its own writes too: an entry is applied from here, once committed).
// - current(): leader, epoch, high watermark, DescribeQuorum's view, and whether this node has
//   caught up with the quorum (the broker serves clients only after that).
//
// Threads: every method but the constructor's helpers is safe from any thread except that
// write() must not be called on the node's own thread (it waits for it).
#pragma once

#include "base/result.h"
#include "raft/replica.h"
#include "raft/types.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace riacho::raft {

struct voter_endpoint {
    node_id id = no_node;
    std::string host;
    uint16_t port = 0;
};

// controller.quorum.voters: "1@host:port,2@host:port"; an error names the bad part.
result<std::vector<voter_endpoint>, std::string> parse_voters(const std::string& text);

struct node_config {
    node_id id = no_node;
    std::vector<voter_endpoint> voters;
    std::filesystem::path metadata_dir;  // <log.dirs>/__cluster_metadata-0
    std::string cluster_id;
    std::string listen_host;  // the controller listener
    uint16_t listen_port = 0;
    replica_config timing;  // id and voters are filled from the fields above
};

// A committed data entry, or (`snapshot`) the state machine's snapshot that ends at `offset`:
// the whole state up to there, which replaces what was applied (at start, and when a follower
// installs its leader's snapshot). Entries that follow a snapshot start at its offset.
struct committed_entry {
    kafka_offset offset{0};
    std::string data;
    bool snapshot = false;
};

enum class write_errc {
    none,
    no_leader,  // no leader known within the timeout
    stale,      // validated against an older image: catch up to leader_data_end and retry
    timeout,    // not committed in time (it may still commit later)
    failed,     // the leader refused it or could not be reached
};

struct write_outcome {
    write_errc error = write_errc::none;
    kafka_offset offset{-1};           // the entry's offset when committed
    kafka_offset leader_data_end{-1};  // with `stale`: what the caller must catch up to
    std::string message;
};

struct node_status {
    std::optional<node_id> leader;
    leader_epoch epoch = no_epoch;
    role current_role = role::unattached;
    kafka_offset high_watermark{0};
    bool caught_up =
        false;  // leader: its epoch's first entry committed; follower: at the leader's HW
    std::optional<quorum_description> quorum;  // leader only
    // Peers whose fetch connection to this node closed (a process that died closes its
    // sockets at once) and that have not fetched since: when it closed (steady clock).
    std::map<node_id, time_ms> disconnected_since;
};

class node {
public:
    ~node();
    node(const node&) = delete;
    node& operator=(const node&) = delete;

    // Opens the metadata log and quorum-state, binds the controller listener and starts the
    // node's thread. An error message names what failed.
    static result<std::unique_ptr<node>, std::string> start(node_config config);
    // Leader: hands leadership to another voter first (EndQuorumEpoch), waiting up to
    // `resign_wait`. Then stops the thread and closes the log cleanly.
    void stop(std::chrono::milliseconds resign_wait = std::chrono::milliseconds(1000));

    uint16_t listen_port() const { return _listen_port; }
    node_status current() const;
    std::vector<committed_entry> take_committed();
    // Called on the node's thread when committed data entries are waiting. Set before start
    // matters: set it right after start(); entries committed before are taken by the first
    // take_committed().
    void set_commit_listener(std::function<void()> fn);
    // The state machine's snapshot of everything it applied below `end` (one past the last
    // entry it includes, a committed entry it took): stored, and the log below it trimmed, on
    // the node's thread. Ignored when the log already starts at or past `end`.
    void take_snapshot(kafka_offset end, std::string bytes);
    // `leader_only`: fail instead of forwarding when this node is not the active controller
    // (decisions taken from what only the active controller knows, such as liveness, must
    // not be committed by a node that lost leadership meanwhile).
    write_outcome write(std::string data,
                        kafka_offset base,
                        std::chrono::milliseconds timeout,
                        bool leader_only = false);
    // The DescribeQuorum response body the controller listener would give for this request
    // (the quorum's view when this node leads, NOT_LEADER_OR_FOLLOWER with the known leader
    // otherwise); nullopt when the request is malformed. Waits for the node's thread briefly.
    std::optional<std::vector<uint8_t>> answer_describe_quorum(int16_t api_version,
                                                               std::span<const uint8_t> body);

private:
    class impl;
    explicit node(std::unique_ptr<impl> impl);
    std::unique_ptr<impl> _impl;
    uint16_t _listen_port = 0;
};

}  // namespace riacho::raft
