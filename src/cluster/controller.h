// cluster: the controller, a state machine on the metadata log. It validates admin changes
// against the current image, appends them as metadata records (durably, before answering),
// applies them to a new image, and tells the broker so it can reconcile local logs.
// Every node runs one, on its own image: changes made on any node go through the metadata
// quorum (forwarded to the active controller), and every node applies what was committed, in
// order. A single node is a quorum of one.
//
// Threading: one shard (the broker's event loop) owns the controller.
#pragma once

#include "cluster/metadata_image.h"
#include "cluster/replica_placement.h"
#include "protocol/error_code.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace riacho::cluster {

// Where metadata records live: the metadata quorum (raft::node, through the broker), or
// memory in unit tests. Entries are record batches of metadata records; offsets are the
// quorum log's, and a position ("base", "end") is one past the last data entry it includes.
class metadata_log {
public:
    enum class write_status {
        ok,           // committed, and available from take_committed()
        stale,        // the log has entries the caller's image lacks: catch up (to catch_up_to)
        unavailable,  // no active controller, timeout, or the controller refused it
    };
    struct write_result {
        write_status status = write_status::ok;
        int64_t catch_up_to = -1;  // with stale
        std::string message;
    };
    // A committed entry (a record batch of metadata records), or with `snapshot` the whole
    // image up to `offset` (encode_snapshot), which replaces what was applied.
    struct committed_batch {
        int64_t offset = 0;
        std::vector<uint8_t> bytes;
        bool snapshot = false;
    };
    virtual ~metadata_log() = default;
    // Appends one batch, validated by the caller against its image at `base`, and returns
    // once it is committed (the quorum refuses it as stale when other entries came first).
    // `leader_only`: unavailable unless this node is the active controller (no forwarding).
    virtual write_result write(std::vector<uint8_t> batch, int64_t base, bool leader_only) = 0;
    // Committed batches not yet taken, in log order, with their offsets.
    virtual std::vector<committed_batch> take_committed() = 0;
    // Keeps `bytes`, the image of everything below `end`, as the log's snapshot; the log
    // below `end` may then go.
    virtual void store_snapshot(int64_t end, std::vector<uint8_t> bytes) = 0;
    // Waits until entries below `end` are committed here (so take_committed returns them).
    // false on timeout.
    virtual bool wait_committed(int64_t end) = 0;
};

struct change_result {
    protocol::error_code error = protocol::error_code::none;
    std::string message;  // for error_message fields and logs
    std::shared_ptr<const topic_info> topic;
    bool stale = false;  // refused because the image was behind; the public calls retry
};

class controller {
public:
    using image_listener =
        std::function<void(const metadata_image& before, const metadata_image& after)>;

    controller(metadata_log& log, int32_t node_id);

    // Applies every committed entry not applied yet (in order) to the image, then tells the
    // listener once. Call when the log says entries are waiting, and at start. Then takes a
    // snapshot when metadata.log.max.record.bytes.between.snapshots bytes were applied since
    // the last one, or metadata.log.max.snapshot.interval.ms passed and something was.
    void catch_up();
    // Where the image stands in the metadata log (one past the last data entry applied).
    int64_t applied_end() const { return _applied_end; }
    std::shared_ptr<const metadata_image> image() const { return _image; }
    void set_listener(image_listener l) { _listener = std::move(l); }
    // This node's broker settings (static and dynamic): defaults of topic configs the
    // controller's decisions depend on (min.insync.replicas for eligible leader replicas).
    void set_broker_config(std::map<std::string, std::string> values);

    // With `assignment` (CreateTopics' manual replica assignment: one replica list per
    // partition, the first the preferred leader) the counts are taken from it; every broker
    // named must be registered, once per partition, and every partition needs as many.
    change_result create_topic(const std::string& name,
                               int32_t num_partitions,
                               int16_t replication_factor,
                               const std::map<std::string, std::string>& configs,
                               bool validate_only,
                               const std::vector<std::vector<int32_t>>& assignment = {});
    change_result delete_topic(const std::shared_ptr<const topic_info>& topic);
    change_result create_partitions(const std::string& name, int32_t new_total, bool validate_only);
    // Changes a topic's dynamic configs: a value sets the key, nullopt removes the override.
    // All keys are validated before anything is recorded.
    change_result alter_topic_configs(
        const std::string& name,
        const std::map<std::string, std::optional<std::string>>& changes,
        bool validate_only);
    // Records dynamic broker configs of `resource_name` (a node id, or "" for the cluster
    // default): a value sets the key, nullopt removes it. The broker validates them (the keys
    // and their rules are the broker's), so this only records.
    change_result alter_broker_configs(
        const std::string& resource_name,
        const std::map<std::string, std::optional<std::string>>& changes);
    // A partition's leader changes its ISR (Kafka's AlterPartition): refused with
    // FENCED_LEADER_EPOCH when `leader_epoch` is not the partition's or this node does not
    // lead it.
    change_result change_isr(const std::string& topic,
                             int32_t partition,
                             int32_t leader_epoch,
                             std::vector<int32_t> isr);
    // The active controller's elections: every partition whose leader is not in `alive` gets
    // the first live ISR replica as leader (a new leader epoch), or none (offline) when no
    // ISR replica lives; dead replicas leave every ISR. Brokers not in `alive` are recorded as
    // fenced (and unfenced when back). Returns how many partitions and brokers changed.
    // `liveness`: `alive` is this node's view as the active controller, so the change is
    // recorded only while it still is, and may be unclean: where unclean.leader.election.enable
    // holds (a topic override, else `broker_configs`), a partition with no live ISR replica
    // gets its first live replica as leader and sole ISR member (records only the dead ISR
    // had are lost). A broker shut down in a controlled way (shut_down_broker) counts as dead
    // until it registers again, whatever `alive` says.
    size_t elect_leaders(const std::set<int32_t>& alive,
                         const std::map<std::string, std::string>& broker_configs = {},
                         bool liveness = false);
    // A broker's controlled shutdown, in one commit: it is recorded as shut down (fenced, and
    // kept fenced while it still fetches on its way out, until its next start registers it)
    // and its leaderships and ISR places go to `others` as elect_leaders(others) would move
    // them. Returns how many partitions and brokers changed.
    size_t shut_down_broker(int32_t broker_id, const std::set<int32_t>& others);

    // ElectLeaders (kafka-leader-election): `preferred` moves each partition to its first
    // replica where that is alive and in the ISR; `unclean` elects a leader for partitions
    // without a live one, from the live ISR if it can, else the first live replica. One result
    // per asked partition; with nullopt every partition is asked and only those elected (or
    // refused for a reason other than ELECTION_NOT_NEEDED) are returned. Live brokers are the
    // registered ones not fenced.
    enum class election_type : int8_t { preferred = 0, unclean = 1 };
    struct election_result {
        std::string topic;
        int32_t partition = 0;
        protocol::error_code error = protocol::error_code::none;
        std::string message;
    };
    std::vector<election_result> elect(
        election_type type,
        const std::optional<std::vector<std::pair<std::string, int32_t>>>& partitions);
    // Kafka's auto.leader.rebalance.enable: a broker whose share of preferred partitions
    // led by others is above `imbalance_max` (leader.imbalance.per.broker.percentage / 100)
    // gets them back where it is alive and in the ISR. Returns the partitions moved. Recorded
    // only while this node is the active controller (`alive` is its view).
    size_t restore_preferred_leaders(const std::set<int32_t>& alive, double imbalance_max);
    // AlterPartitionReassignments for one partition: moves it to the `target` replicas (see
    // cluster/reassignment.h), or with nullopt cancels the move in progress.
    change_result alter_reassignment(const std::string& topic,
                                     int32_t partition,
                                     const std::optional<std::vector<int32_t>>& target);
    // Records (or updates) a broker's registration: its id, advertised endpoint and rack.
    change_result register_broker(const broker_info& broker);
    // UnregisterBroker (kafka-cluster unregister): forgets a decommissioned broker's
    // registration. BROKER_ID_NOT_REGISTERED when unknown; a broker that is not fenced is
    // refused (INVALID_REQUEST): it would vanish from Metadata while serving, as it registers
    // only when it starts. Its partitions keep naming it as a replica.
    change_result unregister_broker(int32_t broker_id);
    // Hands out a fresh producer id; reserves blocks of ids in the metadata log (each node its
    // own block). -1 when the quorum cannot record a block.
    int64_t allocate_producer_id();

    static std::optional<std::string> validate_topic_name(const std::string& name);

private:
    enum class commit_status { ok, stale, unavailable };
    // `leader_only`: for decisions only the active controller may take (see metadata_log).
    commit_status commit(std::vector<protocol::msg::metadata_record> records,
                         bool leader_only = false);
    change_result failure(commit_status status) const;
    // The records elect_leaders writes for `alive` on the current image, with log lines.
    // `allow_unclean`: liveness elections may be unclean (where the topic allows); a controlled
    // shutdown's never are.
    void plan_elections(const std::set<int32_t>& alive_heard,
                        const std::map<std::string, std::string>& broker_configs,
                        bool allow_unclean,
                        std::vector<protocol::msg::metadata_record>& records,
                        std::vector<std::string>& moved) const;
    // elect_leaders, with `first` (if any) recorded ahead of the elections in the same commit.
    size_t elect_and_record(const std::set<int32_t>& alive,
                            const std::map<std::string, std::string>& broker_configs,
                            bool liveness,
                            std::optional<protocol::msg::metadata_record> first);
    // Runs one attempt of a change, again while it fails only because the image was stale.
    template <typename Attempt>
    change_result retry_stale(Attempt attempt);
    change_result create_topic_once(const std::string& name,
                                    int32_t num_partitions,
                                    int16_t replication_factor,
                                    const std::map<std::string, std::string>& configs,
                                    bool validate_only,
                                    const std::vector<std::vector<int32_t>>& assignment);
    change_result create_partitions_once(const std::string& name,
                                         int32_t new_total,
                                         bool validate_only);
    change_result alter_topic_configs_once(
        const std::string& name,
        const std::map<std::string, std::optional<std::string>>& changes,
        bool validate_only);
    // Brokers new partitions go to: the registered unfenced ones (with their racks), or this
    // node before any registered.
    std::vector<placement_broker> assignable_brokers() const;
    // The partition's min.insync.replicas, capped at its replica count.
    int32_t min_isr(const topic_info& topic, const partition_info& p) const;
    void maybe_snapshot();

    metadata_log& _log;
    int32_t _node_id;
    std::shared_ptr<const metadata_image> _image;
    image_listener _listener;
    std::map<std::string, std::string> _broker_config;
    int64_t _applied_end = 0;
    // When to snapshot (metadata.log.max.record.bytes.between.snapshots and
    // metadata.log.max.snapshot.interval.ms), read from _broker_config when it is set.
    int64_t _snapshot_max_bytes = 0;
    int64_t _snapshot_interval_ms = 0;
    int64_t _bytes_since_snapshot = 0;  // of entries applied since the last snapshot
    int64_t _last_snapshot_ms = 0;      // wall clock; start time until the first
    int64_t _producer_id_next = 0;      // next id of this node's block to hand out
    int64_t _producer_id_block_end = 0;
};

}  // namespace riacho::cluster
