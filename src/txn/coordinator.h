// txn: the transaction coordinator, as a state machine that does no IO. Per transactional id
// it keeps the producer id and epoch, the transaction's state (Kafka's Empty, Ongoing,
// PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Dead, PrepareEpochFence), its
// partitions and timeout. The caller passes requests and the time in; it gets back errors,
// records to append to __transaction_state (take_records()) and marker jobs: the COMMIT or
// ABORT markers it must write to every partition of a transaction, after which it calls
// markers_written(). tick(now) aborts transactions open past their timeout (bumping the
// epoch, which fences the producer that let it time out).
//
// Order of effects, so a crash at any point is recovered by load_record() + pending_markers():
// the Prepare* record is made durable before markers are written; the Complete* record is
// appended only after every marker is durable. A transaction loaded in Prepare* gets its
// markers written again (a marker for a transaction already closed changes nothing).
//
// Transaction versions (KIP-890): with version 1 clients add partitions (AddPartitionsToTxn,
// AddOffsetsToTxn) and keep their epoch; with version 2 (Produce v12, TxnOffsetCommit v5,
// EndTxn v5) a produce or offset commit adds its partition itself and every EndTxn bumps the
// epoch (the markers carry the new one, so a late write of the old epoch is fenced); when the
// epoch runs out the next transaction gets a new producer id.
//
// Thread: the broker's event-loop thread; nothing locks.
#pragma once

#include "protocol/error_code.h"
#include "protocol/wire.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace riacho::txn {

using protocol::error_code;

inline constexpr const char* state_topic = "__transaction_state";

// Kafka's TransactionState ids, as stored in TransactionLogValue.transaction_status.
enum class txn_state : int8_t {
    empty = 0,
    ongoing = 1,
    prepare_commit = 2,
    prepare_abort = 3,
    complete_commit = 4,
    complete_abort = 5,
    dead = 6,
    prepare_epoch_fence = 7,
};
const char* state_name(txn_state s);  // "Empty", "Ongoing", ... as Kafka lists them
std::optional<txn_state> parse_state(const std::string& name);

struct topic_partition {
    std::string topic;
    int32_t partition = 0;
    auto operator<=>(const topic_partition&) const = default;
};

struct coordinator_config {
    int32_t max_timeout_ms = 900000;  // transaction.max.timeout.ms
    int32_t state_partitions = 50;    // transaction.state.log.num.partitions
    int32_t offsets_partitions = 50;  // where AddOffsetsToTxn's group offsets live
};

struct txn_metadata {
    std::string transactional_id;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int16_t last_producer_epoch = -1;  // before a timeout fenced it (-1 none)
    int32_t timeout_ms = 0;
    txn_state state = txn_state::empty;
    std::set<topic_partition> partitions;
    int64_t start_ms = -1;  // when the last transaction began (kept once it completes)
    int64_t last_update_ms = 0;
    bool version2 = false;          // the client uses transaction version 2
    int64_t next_producer_id = -1;  // version 2, epoch exhausted: the id after this one
};

// One record for __transaction_state-<partition>: key and value (null = tombstone) already
// framed with their int16 versions.
struct state_record {
    int32_t partition = 0;
    std::vector<uint8_t> key;
    std::optional<std::vector<uint8_t>> value;
};

// Markers to write for one transaction; completed by markers_written().
struct marker_job {
    std::string transactional_id;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    bool commit = false;
    std::vector<topic_partition> partitions;
};

struct init_result {
    error_code error = error_code::none;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    // Set when an open transaction must be aborted first: write its markers, call
    // markers_written(), then call init_producer_id again with the same arguments.
    std::optional<marker_job> abort_first;
};

struct end_result {
    error_code error = error_code::none;
    std::optional<marker_job> markers;  // write, then markers_written()
};

struct add_partitions_result {
    error_code error = error_code::none;  // for every partition when set
    std::map<topic_partition, error_code> partition_errors;
};

class coordinator {
public:
    coordinator(coordinator_config cfg, std::function<int64_t()> allocate_producer_id);

    const coordinator_config& config() const { return _cfg; }
    int32_t partition_for(const std::string& transactional_id) const;

    // InitProducerId with a transactional id. `producer_id`/`producer_epoch` are the client's
    // current ones (KIP-360, -1 when new).
    init_result init_producer_id(const std::string& transactional_id,
                                 int32_t timeout_ms,
                                 int64_t producer_id,
                                 int16_t producer_epoch,
                                 int64_t now_ms);
    // AddPartitionsToTxn; `known` tells which partitions exist. verify_only (KIP-890) checks
    // membership without adding.
    add_partitions_result add_partitions(const std::string& transactional_id,
                                         int64_t producer_id,
                                         int16_t producer_epoch,
                                         const std::vector<topic_partition>& partitions,
                                         const std::function<bool(const topic_partition&)>& known,
                                         bool verify_only,
                                         int64_t now_ms);
    // AddOffsetsToTxn: adds the group's __consumer_offsets partition.
    error_code add_offsets(const std::string& transactional_id,
                           int64_t producer_id,
                           int16_t producer_epoch,
                           const std::string& group_id,
                           int64_t now_ms);
    // `version2`: EndTxn v5+, which bumps the epoch (the answer names the new one: read it
    // with find() once the markers are written).
    end_result end_txn(const std::string& transactional_id,
                       int64_t producer_id,
                       int16_t producer_epoch,
                       bool commit,
                       bool version2,
                       int64_t now_ms);
    // Every marker of the job is durable: the transaction completes.
    void markers_written(const marker_job& job, int64_t now_ms);

    // Produce of a transactional batch: is the partition in the producer's open transaction?
    // none, INVALID_PRODUCER_EPOCH (older epoch) or INVALID_TXN_STATE.
    error_code check_produce(int64_t producer_id,
                             int16_t producer_epoch,
                             const topic_partition& tp) const;
    // TxnOffsetCommit: the producer's transaction is open, its epoch current and the group's
    // offsets partition added.
    error_code check_offset_commit(const std::string& transactional_id,
                                   int64_t producer_id,
                                   int16_t producer_epoch,
                                   const std::string& group_id) const;

    // Aborts transactions open past their timeout; returns their marker jobs.
    std::vector<marker_job> tick(int64_t now_ms);
    // Transactions in Prepare* whose markers are not known to be written (after load()).
    std::vector<marker_job> pending_markers() const;

    std::vector<state_record> take_records();

    // Loading a partition: replay its __transaction_state records in log order (latest per id
    // wins).
    void load_record(protocol::bytes_view key, std::optional<protocol::bytes_view> value);
    // Another node leads __transaction_state-`partition` now: forget its transactional ids
    // (and records not taken yet); their new coordinator loads them from its log.
    void unload_partition(int32_t partition);

    const txn_metadata* find(const std::string& transactional_id) const;
    const std::unordered_map<std::string, txn_metadata>& all() const { return _txns; }

private:
    error_code validate(const txn_metadata* m, int64_t producer_id, int16_t producer_epoch) const;
    void persist(const txn_metadata& m);
    marker_job job_of(const txn_metadata& m, bool commit) const;
    // Moves an Ongoing transaction to Prepare* and persists it.
    marker_job prepare(txn_metadata& m, bool commit, int64_t now_ms);
    bool bump_epoch(txn_metadata& m);

    coordinator_config _cfg;
    std::function<int64_t()> _allocate_producer_id;
    std::unordered_map<std::string, txn_metadata> _txns;
    std::unordered_map<int64_t, std::string> _by_producer_id;
    std::vector<state_record> _records;
};

}  // namespace riacho::txn
