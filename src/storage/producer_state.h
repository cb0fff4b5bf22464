// Idempotent-producer state of one partition (Kafka's ProducerStateManager, in small): per
// producer id, the current epoch and the sequence ranges and offsets of its last 5 batches.
// check() decides whether a batch is new, a duplicate (do not append; answer with the original
// offsets), out of order, or from a fenced (older) epoch; update() records an appended batch.
//
// Persistence: a snapshot `<offset>.snapshot` holds the state of every batch below <offset>.
// partition_log writes one on each roll and on clean close, and on open loads the newest valid
// snapshot at or below the log end offset and replays the batch headers after it (no snapshot:
// replays the whole log). Snapshots carry a CRC-32C; a torn or corrupt one is skipped.
// Layout: docs/formats/log-segment.md.
//
// Transactions: a producer's first transactional batch opens its transaction on this
// partition (its offset is what holds the last stable offset back); the COMMIT or ABORT marker
// (a control batch) closes it. first_unstable_offset() is the earliest open one.
//
// Owned by partition_log; same thread. Not yet: producer id expiration.
#pragma once

#include "base/strong_int.h"
#include "protocol/record_batch.h"
#include "storage/storage_errc.h"

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace riacho::storage {

struct producer_batch {
    int32_t first_sequence = 0;
    int32_t last_sequence = 0;
    kafka_offset first_offset;
    kafka_offset last_offset;
    bool operator==(const producer_batch&) const = default;
};

struct producer_entry {
    producer_epoch epoch;
    std::deque<producer_batch> batches;  // oldest first, at most batches_retained
    int64_t last_timestamp = -1;
    // The first offset of the producer's open transaction here, if one is open.
    std::optional<kafka_offset> current_txn_first_offset;
    int32_t coordinator_epoch = -1;  // of the last marker
};

// A transaction a marker closed: its producer, first data offset and the marker's offset.
struct completed_txn {
    producer_id id;
    kafka_offset first_offset;
    kafka_offset last_offset;
    bool operator==(const completed_txn&) const = default;
};

// Sequence arithmetic wraps from INT32_MAX to 0 (README 3.2).
int32_t next_sequence(int32_t seq);
int32_t last_sequence_of(const protocol::batch_header& h);

class producer_state {
public:
    static constexpr size_t batches_retained = 5;

    // For a batch about to be appended: nullopt = append it; a value = duplicate of that batch.
    // Errors: out_of_order_sequence, invalid_producer_epoch (also for a marker from an older
    // epoch). Batches without a producer id, without a sequence, and markers pass.
    result<std::optional<producer_batch>, storage_errc> check(
        const protocol::batch_header& h) const;
    // Records a batch now in the log (header holds its final base offset). A transactional
    // data batch opens the producer's transaction if none is open.
    void update(const protocol::batch_header& h);
    // Records a marker (control batch `h`, already in the log): closes the producer's open
    // transaction and returns it (nullopt when none was open, e.g. a retried marker).
    std::optional<completed_txn> end_txn(const protocol::batch_header& h,
                                         int32_t coordinator_epoch);
    // The earliest first offset of an open transaction (bounds the last stable offset).
    std::optional<kafka_offset> first_unstable_offset() const;
    const std::unordered_map<producer_id, producer_entry>& entries() const { return _producers; }

    const producer_entry* find(producer_id id) const;
    size_t size() const { return _producers.size(); }
    void clear() {
        _producers.clear();
        _open_txns.clear();
    }
    bool operator==(const producer_state&) const;

    std::vector<uint8_t> encode() const;
    static result<producer_state, storage_errc> decode(std::span<const uint8_t> bytes);

    // Snapshot files in `dir`, sorted by offset.
    static std::vector<kafka_offset> list_snapshots(const std::filesystem::path& dir);
    status write_snapshot(const std::filesystem::path& dir, kafka_offset offset) const;
    // Newest valid snapshot with offset <= max_offset, with its offset.
    static std::optional<std::pair<kafka_offset, producer_state>> load_latest_snapshot(
        const std::filesystem::path& dir, kafka_offset max_offset);
    // Deletes snapshots above `offset` (after truncation) and keeps only the newest `keep`.
    static void remove_snapshots_above(const std::filesystem::path& dir, kafka_offset offset);
    static void retain_snapshots(const std::filesystem::path& dir, size_t keep);

private:
    void rebuild_open_txns();

    std::unordered_map<producer_id, producer_entry> _producers;
    // Open transactions by first offset (derived from _producers).
    std::map<kafka_offset, producer_id> _open_txns;
};

}  // namespace riacho::storage
