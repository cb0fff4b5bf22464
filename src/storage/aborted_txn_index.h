// The aborted transactions of one partition, for read_committed fetches: each ABORT marker
// appended adds (producer id, first offset, marker offset). Fetch asks which aborted
// transactions overlap the range it returns, so clients can drop their records.
//
// On disk: `aborted-transactions.index` in the partition directory, fixed 28-byte entries
// (producer id int64, first offset int64, last offset int64, CRC-32C of those 24 bytes),
// appended in marker order. Written with the marker (page cache) and synced whenever the log
// rolls or flushes, so every entry below the producer snapshot the log recovers from is on
// disk; entries past it are dropped at open and rebuilt by replaying the markers. A torn or
// corrupt entry ends the file. Layout: docs/formats/log-segment.md.
//
// Owned by partition_log; same thread.
#pragma once

#include "storage/producer_state.h"
#include "storage/storage_errc.h"

#include <filesystem>
#include <vector>

namespace riacho::storage {

class aborted_txn_index {
public:
    ~aborted_txn_index();
    aborted_txn_index() = default;
    aborted_txn_index(const aborted_txn_index&) = delete;
    aborted_txn_index& operator=(const aborted_txn_index&) = delete;

    // Opens (creating) the index in `dir`, keeping only entries whose marker is below
    // `keep_below` (what the caller will replay from) and at or above `log_start`.
    status open(const std::filesystem::path& dir, kafka_offset log_start, kafka_offset keep_below);
    status append(const completed_txn& t);
    // Aborted transactions with last offset >= from and first offset < upper_bound.
    std::vector<completed_txn> overlapping(kafka_offset from, kafka_offset upper_bound) const;
    // Drops entries with marker offset >= offset (log truncation).
    status truncate_from(kafka_offset offset);
    // Drops entries wholly below the new log start (retention, DeleteRecords).
    status prune_below(kafka_offset log_start);
    void sync();
    void close();
    size_t size() const { return _entries.size(); }
    const std::vector<completed_txn>& entries() const { return _entries; }

private:
    status rewrite();

    std::filesystem::path _path;
    int _fd = -1;
    std::vector<completed_txn> _entries;  // by last offset (marker order)
    bool _dirty = false;                  // appended since the last sync
};

}  // namespace riacho::storage
