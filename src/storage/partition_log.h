// A partition log in Kafka's on-disk layout: an ordered map of segments under one directory
// (`<topic>-<partition>/`), the log start/end offsets, the idempotent-producer state, and
// crash recovery. Used by the broker for every topic partition (and later the metadata log).
//
// Hot path: append() is one pwrite of the batch as received (base offset and leader epoch
// patched in place), plus an occasional 8/12-byte index entry; no per-record work. read()
// copies nothing: it returns a file range of whole batches for sendfile.
//
// Thread affinity: owned by one shard's event loop thread; every call comes from that thread
// and nothing here locks. Readers may keep the returned file_ref (and so the descriptor) alive
// past later appends, truncation or removal.
//
// Crash behaviour: appends reach the page cache; flush() (or the flush.messages / flush.ms
// policy) fdatasyncs the active segment and moves the recovery point; a roll fsyncs the old
// segment. close() writes a `clean-shutdown` marker, so the next open trusts the files. Without
// it (a crash, or destroying the object without close()), open validates every batch from the
// recovery point, truncates at the first torn or corrupt batch and rebuilds indexes and
// producer state. Files: docs/formats/log-segment.md.
#pragma once

#include "base/strong_int.h"
#include "storage/aborted_txn_index.h"
#include "storage/log_config.h"
#include "storage/producer_state.h"
#include "storage/recovery.h"
#include "storage/segment.h"
#include "storage/storage_errc.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace riacho::storage {

struct append_result {
    kafka_offset base_offset;
    kafka_offset last_offset;
    int64_t log_append_time_ms = -1;  // -1 unless the topic uses LogAppendTime
    kafka_offset log_start_offset;
    // An idempotent retry of a batch already in the log: nothing was written; the offsets are
    // the original batch's. The produce response reports success.
    bool duplicate = false;
};

struct compaction_result {
    size_t segments_rewritten = 0;
    uint64_t bytes_before = 0;  // of the segments rewritten
    uint64_t bytes_after = 0;
    int64_t records_removed = 0;
};

struct timestamp_and_offset {
    int64_t timestamp = -1;
    kafka_offset offset;
    bool operator==(const timestamp_and_offset&) const = default;
};

class partition_log {
public:
    ~partition_log();
    partition_log(const partition_log&) = delete;
    partition_log& operator=(const partition_log&) = delete;

    // Opens the log in `dir`, creating the directory and an empty first segment if needed, and
    // recovering after an unclean stop. REQUIRES: cfg.is_valid().
    static result<std::unique_ptr<partition_log>, storage_errc> open(std::filesystem::path dir,
                                                                     log_config cfg);

    // Appends exactly one v2 batch already checked by protocol::validate_batch. Sets its
    // base offset to log_end_offset() and its partition leader epoch, in place (and
    // LogAppendTime when configured), rolling the segment first when needed. A transaction
    // marker closes its producer's open transaction (an ABORT is added to the aborted index).
    // Errors (nothing written): out_of_order_sequence, invalid_producer_epoch, batch_too_large,
    // invalid_batch; io_error (a partial write is cut off again).
    result<append_result, storage_errc> append(std::span<uint8_t> batch,
                                               leader_epoch epoch,
                                               int64_t now_ms);
    // A follower's append of one batch copied from its leader, kept byte for byte (offsets,
    // leader epoch, timestamps): its base offset must be log_end_offset(). No producer
    // checks, as Kafka's appendAsFollower: the leader made them, and this replica's producer
    // state may differ from the leader's (a log restarted at the leader's log start, or one
    // that kept a producer the leader's retention has forgotten), which must not stop it
    // copying the leader's log. Producer state and transactions follow as with append().
    // Errors (nothing written): invalid_batch (not at the log end), batch_too_large, io_error.
    result<append_result, storage_errc> append_replica(std::span<uint8_t> batch, int64_t now_ms);

    // Whole batches from the one containing `from`, up to `max_bytes` (at least one batch when
    // `min_one_batch`, KIP-74), never a batch reaching `max_offset` (exclusive; e.g. the high
    // watermark; defaults to the log end). An empty slice at the end of the log.
    // Errors: offset_out_of_range when from < log_start_offset() or from > log_end_offset().
    result<read_slice, storage_errc> read(
        kafka_offset from,
        size_t max_bytes,
        bool min_one_batch,
        std::optional<kafka_offset> max_offset = std::nullopt) const;

    kafka_offset log_start_offset() const { return _log_start_offset; }
    kafka_offset log_end_offset() const { return _log_end_offset; }
    // Below it no transaction is open: the first offset of the earliest open transaction, or
    // the log end. read_committed fetches stop here.
    kafka_offset last_stable_offset() const {
        auto first_open = _producers.first_unstable_offset();
        return first_open ? std::min(*first_open, _log_end_offset) : _log_end_offset;
    }
    // Aborted transactions overlapping [from, upper_bound): what a read_committed fetch of
    // that range lists so clients drop their records.
    std::vector<completed_txn> aborted_transactions(kafka_offset from,
                                                    kafka_offset upper_bound) const {
        return _aborted.overlapping(from, upper_bound);
    }
    // Everything below this offset is known to be on disk (fdatasync'ed).
    kafka_offset recovery_point() const { return _recovery_point; }
    // ListOffsets by time: the first record with timestamp >= ts at or after the log start
    // (nullopt when none). The special timestamps (-1 latest, -2 earliest) are the caller's.
    result<std::optional<timestamp_and_offset>, storage_errc> offset_for_timestamp(
        int64_t ts) const;
    // ListOffsets MAX_TIMESTAMP (-3): the first record carrying the largest timestamp.
    result<std::optional<timestamp_and_offset>, storage_errc> max_timestamp_offset() const;

    // fdatasync the active segment; recovery_point() becomes log_end_offset().
    void flush();
    // flush() in two steps, so the fdatasync can run off the thread that owns the log:
    // prepare_flush() names the active segment's file and the log end it covers (segments
    // before it were synced when they rolled); anyone may then fdatasync that file; then
    // flushed(ticket) on the owning thread moves the recovery point up to that end (no further
    // than the log's end, which a truncation meanwhile may have lowered; not at all when the
    // ticket's file is none of this log's segments).
    struct flush_ticket {
        std::shared_ptr<const protocol::file_ref> file;
        std::filesystem::path path;
        kafka_offset end{0};
    };
    flush_ticket prepare_flush();
    void flushed(const flush_ticket& ticket);
    // Removes every batch at or after the one containing `offset` (replication truncation).
    // Below the log start offset, the log is emptied and restarts at `offset`.
    status truncate_to(kafka_offset offset);
    // A follower whose whole log is below its leader's log start (retention or DeleteRecords
    // passed it while it was away): empties the log and restarts it at `offset`, where it
    // fetches from next (Kafka's truncateFullyAndStartAt). Producer state starts empty.
    status truncate_fully_and_start_at(kafka_offset offset);
    // DeleteRecords / retention: moves the log start forward and deletes segments entirely
    // below it (never the active segment). REQUIRES: offset <= log_end_offset().
    status advance_log_start_offset(kafka_offset offset);
    // Retention: deletes the oldest segments past retention_ms (by their max timestamp) or
    // beyond retention_bytes, never the active one, and moves the log start to the first
    // remaining segment. Returns how many segments were deleted. Call periodically.
    result<size_t, storage_errc> delete_old_segments(int64_t now_ms);
    // Compaction (cleanup.policy=compact; see log_cleaner.cc): when the dirty part of the
    // segments before the active one reaches min_cleanable_dirty_ratio (or a dirty record is
    // older than max_compaction_lag_ms, or `force`), rewrites them keeping the latest record
    // per key, dropping keyless records and tombstones whose delete horizon (KIP-534: set to
    // now + delete_retention_ms by the first cleaning that kept them) has passed. Offsets
    // are kept (cleaned batches have gaps); segments younger than min_compaction_lag_ms and the
    // active one are never touched. Each rewritten segment replaces the old one atomically.
    result<compaction_result, storage_errc> compact(int64_t now_ms, bool force = false);
    // Flushes and writes producer snapshot, checkpoints and the clean-shutdown marker. After
    // close() only the destructor may be called.
    status close();
    // Closes the files and deletes the directory.
    status remove();

    // A topic's configs changed: later appends, rolls and retention use `cfg`.
    // REQUIRES: cfg.is_valid().
    void set_config(const log_config& cfg) { _cfg = cfg; }
    const log_config& config() const { return _cfg; }
    uint64_t size_bytes() const;
    size_t segment_count() const { return _segments.size(); }
    const producer_state& producers() const { return _producers; }
    const std::filesystem::path& dir() const { return _dir; }
    // Bytes cut off by recovery during open (0 after a clean shutdown).
    uint64_t recovered_truncated_bytes() const { return _recovered_truncated_bytes; }

private:
    partition_log(std::filesystem::path dir, log_config cfg);
    // The checks append() and append_replica() share: the header, or why it cannot go in.
    result<protocol::batch_header, storage_errc> checked_header(std::span<uint8_t> batch) const;
    // Writes a checked batch at the log end; with `epoch`, sets its base offset, leader epoch
    // (and LogAppendTime when configured) first, else keeps its bytes as they are.
    result<append_result, storage_errc> write_batch(std::span<uint8_t> batch,
                                                    protocol::batch_header h,
                                                    std::optional<leader_epoch> epoch,
                                                    int64_t now_ms);
    status roll(int64_t now_ms);
    segment& active() { return *_segments.rbegin()->second; }
    const segment& active() const { return *_segments.rbegin()->second; }
    // Deletes all segments and starts an empty one at `offset`.
    status reset_to(kafka_offset offset);
    status reload_producer_state();
    // Compaction helpers (log_cleaner.cc).
    using key_map = std::unordered_map<std::string, int64_t>;
    // Per producer id, the [first, last] offset ranges of its aborted transactions.
    using aborted_ranges = std::unordered_map<int64_t, std::vector<std::pair<int64_t, int64_t>>>;
    aborted_ranges aborted_ranges_of_log() const;
    status index_latest_keys(kafka_offset end,
                             const aborted_ranges& aborted,
                             key_map& latest) const;
    result<bool, storage_errc> clean_segment(kafka_offset base,
                                             const key_map& latest,
                                             const aborted_ranges& aborted,
                                             int64_t now_ms,
                                             compaction_result& stats);
    // KIP-534: now + delete.retention.ms, saturating.
    int64_t delete_horizon_for(int64_t now_ms) const;
    result<std::optional<timestamp_and_offset>, storage_errc> exact_record(
        const segment& seg, const batch_location& loc, int64_t ts, bool equal) const;

    std::filesystem::path _dir;
    log_config _cfg;
    segment_map _segments;
    producer_state _producers;
    aborted_txn_index _aborted;
    kafka_offset _log_start_offset;
    kafka_offset _log_end_offset;
    kafka_offset _recovery_point;
    int64_t _unflushed_records = 0;
    std::optional<int64_t> _last_flush_ms;
    uint64_t _recovered_truncated_bytes = 0;
    // Where the last compaction stopped: records below it are clean. In memory only, so the
    // first pass after a restart treats every segment as dirty.
    kafka_offset _first_dirty_offset;
    // The earliest delete horizon of a tombstone the last compaction kept (in memory only).
    std::optional<int64_t> _next_delete_horizon_ms;
    bool _closed = false;
};

}  // namespace riacho::storage
