// raft: the consensus core of the metadata quorum, in KRaft's shape (Kafka's
// KafkaRaftClient): one `replica` per voter of the __cluster_metadata-0 partition elects a
// leader per epoch (Vote, BeginQuorumEpoch, EndQuorumEpoch), replicates by letting followers
// pull with Fetch (fetch offset + last fetched epoch; the leader answers with records, a
// diverging epoch to truncate to, or a snapshot id to FetchSnapshot), and advances the high
// watermark once a majority of voters has the entries, committing only entries of the
// leader's own epoch directly. The voter set is static (controller.quorum.voters).
// A node not in the voter set is an observer (a broker-only node, process.roles=broker): it
// fetches the log like a follower but never votes or stands; it finds the leader by asking
// the voters in turn (any answer names the epoch and leader it knows), and asks again when its
// leader goes quiet. The leader tracks observers' fetches (DescribeQuorum, broker liveness)
// but never counts them towards the high watermark.
//
// It does no IO. The caller passes time and messages in (`tick(now)`, `receive(msg, now)`),
// appends with `append()` on the leader, and collects what to do with `take_output()`:
// messages to send (each with its destination), the new high watermark ("committed up to")
// and snapshots installed from the leader. Log and quorum-state writes go through the
// raft_log / quorum_state_store interfaces synchronously (log.h), so whatever must be durable
// before a message is sent (a vote, a new epoch, flushed fetched entries) is durable before
// that message is even queued. It never reads the clock or draws random numbers except from
// its seeded generator, so a simulation replays it exactly.
//
// Thread: one shard's event loop; nothing locks. The log and the store are borrowed and must
// outlive the replica.
// Crash behaviour: the replica's memory is lost. A new replica built on the flushed log and
// the stored quorum-state resumes safely: it keeps its epoch and vote, follows the leader it
// knew, or, if it was the leader, starts Resigned (a leader never leads twice in one epoch).
// The high watermark is not stored: it restarts at the log start offset and is learnt again.
#pragma once

#include "base/result.h"
#include "raft/log.h"
#include "raft/types.h"

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace riacho::raft {

struct replica_config {
    node_id id = no_node;                // node.id
    std::vector<node_id> voters;         // controller.quorum.voters, including `id`
    time_ms fetch_timeout{2000};         // controller.quorum.fetch.timeout.ms
    time_ms election_timeout{1000};      // controller.quorum.election.timeout.ms (x1-x2)
    time_ms election_backoff_max{1000};  // controller.quorum.election.backoff.max.ms
    time_ms request_timeout{2000};       // controller.quorum.request.timeout.ms
    // A follower whose fetch came back empty waits this long before the next one: the core
    // stands in for Kafka's long-poll (fetch.max.wait) without parking requests.
    time_ms fetch_idle_backoff{50};
    size_t fetch_max_entries = 64;  // entries per fetch response; bounds a response's size
};

enum class role { unattached, follower, candidate, leader, resigned };
const char* role_name(role r);

enum class append_errc { not_leader };

// What the caller must do after a call: send `messages`, tell the state machine about the
// new high watermark (entries below it are committed and may be applied) and about a
// snapshot that replaced the log.
struct output {
    std::vector<message> messages;
    std::optional<kafka_offset> committed_up_to;
    std::optional<snapshot_id> snapshot_installed;
};

// DescribeQuorum's view, as the leader sees it.
struct voter_description {
    node_id id = no_node;
    kafka_offset log_end_offset{-1};  // -1 until the voter fetched in this epoch
    std::optional<time_ms> last_fetch;
};
struct quorum_description {
    node_id leader_id = no_node;
    leader_epoch epoch = no_epoch;
    kafka_offset high_watermark{0};
    std::vector<voter_description> voters;
    std::vector<voter_description> observers;  // leader: non-voters that fetched, by id
};

class replica {
public:
    // `log` and `store` hold what was flushed. config.id outside config.voters: an observer.
    replica(replica_config config,
            raft_log& log,
            quorum_state_store& store,
            uint64_t seed,
            time_ms now);

    void tick(time_ms now);
    void receive(const message& msg, time_ms now);
    // Leader only: appends the records in the leader's epoch; returns the first's offset.
    // They are committed once the high watermark passes them (never if leadership is lost
    // first; the caller learns that from committed_up_to and its own reads of the log).
    result<kafka_offset, append_errc> append(const std::vector<std::string>& records, time_ms now);
    // Graceful shutdown of a leader: stop appending, ask the voters to elect a successor
    // (EndQuorumEpoch, most caught-up first). No-op on other roles.
    void resign(time_ms now);
    // The state machine stored a snapshot at `id` (committed): the log below it goes.
    // REQUIRES: log_start_offset < id.offset <= high_watermark, id.epoch is the entry's.
    void take_snapshot(snapshot_id id, std::string bytes);

    output take_output();
    // When tick() next has work (a timeout, a resend, a fetch, a leader's flush): the caller's
    // timer. Ticking earlier is harmless. A leader with unflushed appends answers `0ms`: tick
    // at once, which flushes them.
    time_ms next_deadline() const;

    role current_role() const { return _role; }
    leader_epoch epoch() const { return _state.epoch; }
    std::optional<node_id> leader_id() const { return _state.leader_id; }
    std::optional<node_id> voted_for() const { return _state.voted_for; }
    kafka_offset high_watermark() const { return _high_watermark; }
    // Leader: the offset of its leader-change entry. Once the high watermark passes it, every
    // entry of earlier epochs is committed (none is still pending under the new leader).
    kafka_offset epoch_start_offset() const { return _epoch_start_offset; }
    quorum_description describe_quorum() const;
    bool observer() const { return !is_voter(_config.id); }

private:
    struct voter_progress {
        kafka_offset end_offset{-1};
        std::optional<time_ms> last_fetch;
        bool begin_acknowledged = false;
    };

    // transitions; each persists the quorum-state first
    void become_unattached(leader_epoch epoch, time_ms now);
    void become_follower(leader_epoch epoch, node_id leader, time_ms now);
    void become_candidate(time_ms now);
    void become_leader(time_ms now);
    void become_resigned(time_ms now);
    // A voter's election timeout: it stands. An observer's: it asks the next voter who leads.
    void on_election_timeout(time_ms now);
    void send_discovery_fetch(time_ms now);
    // A message names a higher epoch (and maybe its leader): move there.
    void observe_epoch(leader_epoch epoch, std::optional<node_id> leader, time_ms now);
    void persist(quorum_state state);

    void on_vote_request(const message& msg, const vote_request& req, time_ms now);
    void on_vote_response(const message& msg, const vote_response& resp, time_ms now);
    void on_begin_request(const message& msg, const begin_quorum_epoch_request& req, time_ms now);
    void on_begin_response(const message& msg,
                           const begin_quorum_epoch_response& resp,
                           time_ms now);
    void on_end_request(const message& msg, const end_quorum_epoch_request& req, time_ms now);
    void on_end_response(const message& msg, const end_quorum_epoch_response& resp, time_ms now);
    void on_fetch_request(const message& msg, const fetch_request& req, time_ms now);
    void on_fetch_response(const message& msg, const fetch_response& resp, time_ms now);
    void on_snapshot_request(const message& msg, const fetch_snapshot_request& req, time_ms now);
    void on_snapshot_response(const message& msg, const fetch_snapshot_response& resp, time_ms now);

    void send_request(node_id to, message_body body);
    void respond(const message& request, message_body body);
    void send_vote_requests(time_ms now);
    void send_begin_epochs(time_ms now);
    void maybe_send_fetch(time_ms now);
    void truncate_to_diverging(offset_and_epoch diverging);
    void flush_leader_log();
    void maybe_advance_high_watermark();
    void raise_high_watermark(kafka_offset hw);
    void check_quorum(time_ms now);
    time_ms random_election_timeout();
    time_ms follower_timeout();  // fetch timeout plus up to half an election timeout
    bool is_voter(node_id id) const;
    size_t majority() const { return _config.voters.size() / 2 + 1; }

    replica_config _config;
    raft_log& _log;
    quorum_state_store& _store;
    std::mt19937_64 _rng;
    uint64_t _next_request_id;
    output _out;

    role _role = role::unattached;
    quorum_state _state;
    kafka_offset _high_watermark{0};
    // unattached, candidate, resigned: when to stand for election; follower: the fetch
    // timeout (no answer from the leader for that long starts an election).
    time_ms _election_deadline{0};
    // follower
    bool _leader_resigning = false;  // EndQuorumEpoch seen: keep the shortened deadline
    time_ms _next_fetch_at{0};
    std::optional<uint64_t> _fetch_in_flight;  // request id
    time_ms _fetch_sent_at{0};
    std::optional<snapshot_id> _snapshot_to_fetch;
    // candidate
    std::set<node_id> _votes_granted;
    std::set<node_id> _votes_answered;
    time_ms _vote_resend_at{0};
    // observer
    size_t _next_voter_to_ask = 0;
    // leader
    std::vector<voter_progress> _progress;  // same order as _config.voters
    std::map<node_id, voter_progress> _observers;
    kafka_offset _epoch_start_offset{0};  // offset of the leader's first entry (leader change)
    kafka_offset _flushed_end_offset{0};
    bool _unflushed = false;
    time_ms _begin_resend_at{0};
    time_ms _check_quorum_at{0};
};

}  // namespace riacho::raft
