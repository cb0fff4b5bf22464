// group: the group coordinator: classic groups (Kafka's JoinGroup/SyncGroup protocol),
// groups of the next-generation consumer protocol (KIP-848, ConsumerGroupHeartbeat; see
// consumer_protocol.cc) and the committed offsets of every group. A state machine that does no IO:
// the caller passes the time (`now_ms`, wall clock milliseconds) and requests in; responses come
// back as return values or, for requests that wait for a rebalance (JoinGroup, SyncGroup), through
// the callback given with the request; records to append to __consumer_offsets are queued and taken
// with take_records(). It never reads the clock or draws random numbers itself (member ids come
// from a seeded generator), so tests replay it deterministically.
//
// Group states: Empty -> PreparingRebalance -> CompletingRebalance -> Stable, and Dead once
// deleted or expired. Timers (session timeouts, rebalance timeouts, the initial rebalance
// delay, pending members) are deadlines the caller honours by calling tick(now) at
// next_deadline().
//
// Thread: the broker's event-loop thread (one shard); nothing locks. Callbacks run inside the
// call that completes them and must not call back into the coordinator.
// Crash behaviour: memory only. What must survive (offsets, group metadata) is in the records;
// load_record() rebuilds the state from them at startup (latest record per key wins,
// tombstones delete), and members loaded that way must heartbeat within their session timeout.
#pragma once

#include "group/records.h"
#include "protocol/error_code.h"
#include "protocol/wire.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace riacho::group {

using protocol::error_code;

enum class group_state { empty, preparing_rebalance, completing_rebalance, stable, dead };
const char* state_name(group_state s);  // Kafka's names: "Empty", "PreparingRebalance", ...
std::optional<group_state> parse_state(const std::string& name);  // case-insensitive

struct coordinator_config {
    int32_t min_session_timeout_ms = 6000;                  // group.min.session.timeout.ms
    int32_t max_session_timeout_ms = 1800000;               // group.max.session.timeout.ms
    int32_t max_size = INT32_MAX;                           // group.max.size: members per group
    int32_t initial_rebalance_delay_ms = 3000;              // group.initial.rebalance.delay.ms
    int32_t offsets_partitions = 50;                        // offsets.topic.num.partitions
    int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;  // offsets.retention.minutes
    int32_t offset_metadata_max_bytes = 4096;               // offset.metadata.max.bytes
    // The consumer protocol (KIP-848): group.consumer.session.timeout.ms,
    // group.consumer.heartbeat.interval.ms, group.consumer.max.size.
    int32_t consumer_session_timeout_ms = 45000;
    int32_t consumer_heartbeat_interval_ms = 5000;
    int32_t consumer_max_size = INT32_MAX;
};

struct protocol_entry {
    std::string name;
    std::vector<uint8_t> metadata;
};

struct join_request {
    std::string group_id;
    std::string member_id;  // empty for a first join
    std::optional<std::string> group_instance_id;
    std::string client_id;
    std::string client_host;
    int32_t session_timeout_ms = 0;
    int32_t rebalance_timeout_ms = 0;  // v0: the session timeout
    std::string protocol_type;
    std::vector<protocol_entry> protocols;
    bool require_known_member_id = false;   // JoinGroup v4+
    bool supports_skip_assignment = false;  // JoinGroup v9+
};

struct join_member {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    std::vector<uint8_t> metadata;
};

struct join_result {
    error_code error = error_code::none;
    int32_t generation_id = -1;
    std::string protocol_type;
    std::optional<std::string> protocol_name;
    std::string leader;
    std::string member_id;
    bool skip_assignment = false;
    std::vector<join_member> members;  // the leader's view; empty for followers
};

struct sync_request {
    std::string group_id;
    int32_t generation_id = -1;
    std::string member_id;
    std::optional<std::string> group_instance_id;
    std::optional<std::string> protocol_type;                               // v5+
    std::optional<std::string> protocol_name;                               // v5+
    std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments;  // leader only
};

struct sync_result {
    error_code error = error_code::none;
    std::optional<std::string> protocol_type;
    std::optional<std::string> protocol_name;
    std::vector<uint8_t> assignment;
};

struct heartbeat_request {
    std::string group_id;
    int32_t generation_id = -1;
    std::string member_id;
    std::optional<std::string> group_instance_id;
};

struct leave_member {
    std::string member_id;
    std::optional<std::string> group_instance_id;
};

struct leave_result {
    error_code error = error_code::none;    // the whole request
    std::vector<error_code> member_errors;  // one per requested member, same order
};

struct partition_key {
    std::string topic;
    int32_t partition = 0;
    auto operator<=>(const partition_key&) const = default;
};

struct committed_offset {
    int64_t offset = -1;
    int32_t leader_epoch = -1;
    std::string metadata;
    int64_t commit_timestamp_ms = 0;
    std::optional<int64_t> expire_timestamp_ms;  // only from OffsetCommit v1 / retention v2-4
};

struct commit_request {
    std::string group_id;
    int32_t generation_id = -1;
    std::string member_id;
    std::optional<std::string> group_instance_id;
    int64_t retention_time_ms = -1;  // v2-4; -1 = broker default
    int16_t version = 0;
    struct partition {
        partition_key key;
        int64_t offset = 0;
        int32_t leader_epoch = -1;
        std::optional<std::string> metadata;
    };
    std::vector<partition> partitions;
};

// TxnOffsetCommit: offsets a transactional producer commits with its transaction. They stay
// pending until the transaction's marker (issue 8's coordinator writes it).
struct txn_commit_request {
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    commit_request commit;  // group, member, generation and partitions as in OffsetCommit
};

struct commit_result {
    error_code error = error_code::none;       // for every partition when set
    std::vector<error_code> partition_errors;  // same order as the request's partitions
};

struct fetched_offset {
    partition_key key;
    committed_offset value;  // offset -1 when none
};

struct member_description {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    std::string client_id;
    std::string client_host;
    std::vector<uint8_t> metadata;    // of the selected protocol (Stable only)
    std::vector<uint8_t> assignment;  // Stable only
};

struct group_description {
    error_code error = error_code::none;
    std::string group_id;
    std::string state;
    std::string protocol_type;
    std::string protocol;  // Stable only
    std::vector<member_description> members;
};

struct group_listing {
    std::string group_id;
    std::string protocol_type;
    group_state state;       // consumer-protocol groups: Empty or Stable
    std::string group_type;  // "classic" or "consumer"
    std::string state_name;  // Kafka's name for its type (e.g. "Reconciling")
};

// ---- the consumer protocol (KIP-848): ConsumerGroupHeartbeat and ConsumerGroupDescribe.

// What the coordinator needs of a topic: its id (assignments name topics by id) and size.
struct topic_metadata {
    protocol::uuid topic_id;
    int32_t partitions = 0;
};
using topic_catalog = std::map<std::string, topic_metadata>;  // by topic name
// The current metadata of one topic by name; nullopt when it does not exist.
using topic_lookup = std::function<std::optional<topic_metadata>(const std::string& name)>;

struct consumer_heartbeat_request {
    std::string group_id;
    std::string member_id;     // v1+: chosen by the client; v0: empty on the first heartbeat
    int32_t member_epoch = 0;  // 0 join, -1 leave, -2 static member leaving for now
    std::optional<std::string> instance_id;
    std::optional<std::string> rack_id;
    int32_t rebalance_timeout_ms = -1;                               // -1: unchanged
    std::optional<std::vector<std::string>> subscribed_topic_names;  // nullopt: unchanged
    std::optional<std::string> subscribed_topic_regex;
    std::optional<std::string> server_assignor;
    std::optional<std::vector<partition_key>> owned;  // nullopt: unchanged
    std::string client_id;
    std::string client_host;
};

struct consumer_heartbeat_result {
    error_code error = error_code::none;
    std::string message;
    std::string member_id;
    int32_t member_epoch = 0;
    int32_t heartbeat_interval_ms = 0;
    std::optional<std::vector<partition_key>> assignment;
};

struct consumer_member_description {
    std::string member_id;
    std::optional<std::string> instance_id;
    std::optional<std::string> rack_id;
    int32_t member_epoch = 0;
    std::string client_id;
    std::string client_host;
    std::vector<std::string> subscribed_topic_names;
    std::vector<partition_key> assignment;
    std::vector<partition_key> target_assignment;
};

struct consumer_group_description {
    error_code error = error_code::none;
    std::string message;
    std::string group_id;
    std::string state;
    int32_t group_epoch = 0;
    int32_t assignment_epoch = 0;
    std::string assignor;
    std::vector<consumer_member_description> members;
};

struct classic_group;
struct member;
struct consumer_group_state;
struct consumer_member;

class coordinator {
public:
    using join_callback = std::function<void(join_result)>;
    using sync_callback = std::function<void(sync_result)>;

    coordinator(coordinator_config cfg, uint64_t seed);
    ~coordinator();
    coordinator(const coordinator&) = delete;
    coordinator& operator=(const coordinator&) = delete;

    const coordinator_config& config() const { return _cfg; }

    // Membership. `done` is called exactly once, possibly before join()/sync() return.
    void join(join_request req, int64_t now_ms, join_callback done);
    void sync(sync_request req, int64_t now_ms, sync_callback done);
    error_code heartbeat(const heartbeat_request& req, int64_t now_ms);
    leave_result leave(const std::string& group_id,
                       const std::vector<leave_member>& members,
                       int64_t now_ms);

    // Offsets. commit() validates and applies, queueing one record per accepted partition.
    // The caller checks the topics exist (UNKNOWN_TOPIC_OR_PARTITION) before calling.
    commit_result commit(const commit_request& req, int64_t now_ms);
    // Transactional offsets: validated as commit() does, held pending for the producer and
    // queued as records carrying its id and epoch (appended in a transactional batch).
    commit_result txn_commit(const txn_commit_request& req, int64_t now_ms);
    // The producer's transaction ended: its pending offsets become the committed ones
    // (commit) or are dropped (abort). Also applied when loading the marker at startup.
    void complete_txn(int64_t producer_id, bool commit);
    // OffsetFetch with RequireStable answers UNSTABLE_OFFSET_COMMIT while this is true.
    bool has_pending_txn_offset(const std::string& group_id, const partition_key& key) const;
    // Committed offsets of a group: every one when `partitions` is nullopt, else exactly the
    // listed ones (offset -1 when none). An unknown group has no offsets.
    std::vector<fetched_offset> fetch_offsets(
        const std::string& group_id,
        const std::optional<std::vector<partition_key>>& partitions) const;
    // OffsetDelete: top-level error (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, INVALID_GROUP_ID) or
    // one error per partition (GROUP_SUBSCRIBED_TO_TOPIC for topics live members consume).
    struct delete_offsets_result {
        error_code error = error_code::none;
        std::vector<error_code> partition_errors;
    };
    delete_offsets_result delete_offsets(const std::string& group_id,
                                         const std::vector<partition_key>& partitions,
                                         int64_t now_ms);
    // Drops committed offsets past retention (groups without members only); an empty group
    // left with no offsets becomes Dead and is removed.
    void expire_offsets(int64_t now_ms);

    // The consumer protocol: join, heartbeat, report owned partitions, leave; the answer
    // carries the member's epoch and the partitions it may consume now. `topics` is the
    // current metadata. Errors per KIP-848 (UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH, ...).
    consumer_heartbeat_result consumer_heartbeat(const consumer_heartbeat_request& req,
                                                 const topic_lookup& topics,
                                                 int64_t now_ms);
    consumer_heartbeat_result consumer_heartbeat(const consumer_heartbeat_request& req,
                                                 const topic_catalog& topics,
                                                 int64_t now_ms);
    consumer_group_description describe_consumer_group(const std::string& group_id) const;

    // Admin.
    group_description describe(const std::string& group_id) const;
    std::vector<group_listing> list() const;
    // GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, INVALID_GROUP_ID or NONE (deleted, with tombstones).
    error_code delete_group(const std::string& group_id, int64_t now_ms);

    // Timers.
    void tick(int64_t now_ms);
    std::optional<int64_t> next_deadline() const;

    // Records for __consumer_offsets, in the order they must be appended.
    std::vector<offsets_record> take_records();
    bool has_records() const { return !_records.empty(); }

    // Startup: apply one stored record; then finish_loading() arms the members' timers.
    void load_record(protocol::bytes_view key, std::optional<protocol::bytes_view> value);
    // Before loading: the topics, so consumer-protocol records (which name topics by id) can
    // be read back, and their groups resume without a rebalance.
    void set_loading_topics(topic_catalog topics);
    // A record of a transactional batch of `producer_id`: pending until its marker.
    void load_txn_record(int64_t producer_id,
                         protocol::bytes_view key,
                         std::optional<protocol::bytes_view> value);
    void finish_loading(int64_t now_ms);

    // This coordinator no longer owns its groups (its __consumer_offsets partition is led
    // elsewhere now): every JoinGroup / SyncGroup still waiting is answered with `error`, so
    // the clients look the coordinator up again. The object is dropped afterwards.
    void abandon(error_code error);

    // For tests and invariant checks.
    const classic_group* find(const std::string& group_id) const;
    size_t group_count() const { return _groups.size(); }

private:
    classic_group& get_or_create(const std::string& group_id, int64_t now_ms);
    std::string new_member_id(const std::string& prefix);
    void add_member(classic_group& g, member m, int64_t now_ms);
    void remove_member(classic_group& g,
                       const std::string& member_id,
                       error_code why,
                       int64_t now_ms);
    void prepare_rebalance(classic_group& g, int64_t now_ms);
    void maybe_complete_join(classic_group& g, int64_t now_ms);
    void complete_join(classic_group& g, int64_t now_ms);
    void join_unknown_member(classic_group& g,
                             join_request& req,
                             int64_t now_ms,
                             join_callback& done);
    void join_known_member(classic_group& g,
                           join_request& req,
                           int64_t now_ms,
                           join_callback& done);
    void replace_static_member(classic_group& g,
                               join_request& req,
                               int64_t now_ms,
                               join_callback& done);
    void update_member_and_rebalance(
        classic_group& g, member& m, join_request& req, int64_t now_ms, join_callback& done);
    join_result current_join_result(const classic_group& g, const member& m) const;
    void expire_members(classic_group& g, int64_t now_ms);
    void write_group_metadata(const classic_group& g, int64_t now_ms);
    void write_offset(const classic_group& g,
                      const partition_key& key,
                      const committed_offset* value);
    void remove_group(const std::string& group_id);
    // Who may commit: a member of the current generation (or epoch), or anyone to an empty
    // group without members. Refreshes a classic member's session.
    error_code check_committer(classic_group& g, const commit_request& req, int64_t now_ms);
    // Consumer protocol helpers (consumer_protocol.cc).
    error_code check_consumer_commit(const consumer_group_state& cg,
                                     const commit_request& req) const;
    void remove_consumer_member(classic_group& g, const std::string& member_id, int64_t now_ms);
    void expire_consumer_members(classic_group& g, int64_t now_ms);
    void compute_target(consumer_group_state& cg);
    void reconcile(consumer_group_state& cg, consumer_member& m, int64_t now_ms);
    // Records of the consumer protocol's state (key versions 3, 5-8), in Kafka's formats.
    void write_consumer_group_epoch(const classic_group& g);
    void write_consumer_member(const classic_group& g, const consumer_member& m);
    void write_consumer_target(const classic_group& g);
    void write_consumer_assignment(const classic_group& g, const consumer_member& m);
    void write_consumer_member_removed(const classic_group& g, const std::string& member_id);
    // Tombstones for the group-level records (its members are gone already).
    void write_consumer_group_removed(const classic_group& g);
    void load_consumer_record(const decoded_consumer_record& r);
    // DescribeGroups of a consumer-protocol group: each member with its subscription and
    // assignment in the classic consumer protocol's encoding, so tools on the classic API
    // (librdkafka 2.0's admin, hence `riacho group describe`; kafka-python) show them. Kafka
    // 4.1 answers this with an empty "Dead" group instead; ConsumerGroupDescribe is the same.
    group_description describe_as_classic(const classic_group& g) const;
    void finish_loading_consumer_group(classic_group& g, int64_t now_ms);

    coordinator_config _cfg;
    uint64_t _rng;
    std::map<std::string, std::unique_ptr<classic_group>> _groups;
    std::vector<offsets_record> _records;
    std::map<std::string, protocol::uuid> _topic_ids;  // names seen in heartbeats, for records
    topic_catalog _loading_topics;                     // only while loading
    std::map<std::string, std::string> _loading_topic_names;  // topic id bytes -> name
};

// Kafka's group id rule for the classic protocol: non-empty.
bool valid_group_id(const std::string& group_id);

}  // namespace riacho::group
