// One segment of a partition log: `<20-digit base offset>.log` holding record batches exactly
// as appended (one pwrite per batch), plus its sparse `.index` and `.timeindex`. Byte layouts:
// docs/formats/log-segment.md.
//
// Owner: partition_log (unique_ptr), on the partition's shard thread; no locks. Readers get a
// shared_ptr<const file_ref> so the descriptor stays open while a fetch response is being sent
// with sendfile, even after the segment is truncated, rolled away or deleted.
// Crash behaviour: appends are not synced (flush() is); open(recover = true) validates every
// batch (lengths, magic, offsets, CRC-32C), truncates the file at the first invalid or torn
// batch and rebuilds both indexes. One descriptor per segment: the indexes live in memory and
// are written at roll and close (index_file.h). Appends reserve disk blocks past the end of the
// file (invisible to its size); roll, close and truncation give them back.
#pragma once

#include "base/strong_int.h"
#include "protocol/record_batch.h"
#include "protocol/wire.h"
#include "storage/log_config.h"
#include "storage/offset_index.h"
#include "storage/storage_errc.h"
#include "storage/time_index.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>

namespace riacho::storage {

// Decodes the 61-byte v2 batch header at `p` (no validation).
protocol::batch_header decode_batch_header(const uint8_t* p);
// `<20-digit offset><suffix>`, e.g. 00000000000000000042.log
std::string offset_file_name(kafka_offset o, std::string_view suffix);

// A byte range of one segment file covering whole batches, for sendfile.
struct read_slice {
    std::shared_ptr<const protocol::file_ref> file;  // null when size_bytes == 0
    uint64_t position = 0;
    uint32_t size_bytes = 0;
    kafka_offset first_offset;  // base offset of the first batch in the range
    kafka_offset next_offset;   // the offset after the range (last offset of its last batch + 1)
};

// The slice as Fetch response records (file-backed, sent with sendfile).
inline protocol::records_data to_records_data(const read_slice& s) {
    protocol::records_data r;
    r.is_null = false;
    if (s.size_bytes > 0) {
        r.file = s.file;
        r.file_position = s.position;
        r.file_size_bytes = s.size_bytes;
    }
    return r;
}

struct batch_location {
    protocol::batch_header header;
    uint64_t position = 0;
};

class segment {
public:
    ~segment();
    segment(const segment&) = delete;
    segment& operator=(const segment&) = delete;

    // Creates an empty segment (any existing files with that name are truncated).
    static result<std::unique_ptr<segment>, storage_errc> create(const std::filesystem::path& dir,
                                                                 kafka_offset base,
                                                                 const log_config& cfg);
    // Opens an existing segment. recover = false trusts the file and checks only the tail after
    // the last index entry (falling back to recovery if that fails or the indexes look wrong).
    // contiguous_offsets: recovery also requires each batch to start right after the previous
    // one (and the first at the base offset), which catches a corrupt base offset (it is outside
    // the CRC). True for the active segment; compacted segments have gaps.
    static result<std::unique_ptr<segment>, storage_errc> open(const std::filesystem::path& dir,
                                                               kafka_offset base,
                                                               const log_config& cfg,
                                                               bool recover,
                                                               bool contiguous_offsets = true);

    kafka_offset base_offset() const { return _base; }
    // The .log file's descriptor (kept open while shared) and path: a flush may run on
    // another thread (partition_log::prepare_flush).
    std::shared_ptr<const protocol::file_ref> log_file() const { return _file; }
    std::filesystem::path log_path() const { return _dir / offset_file_name(_base, ".log"); }
    // One past the last offset stored; base_offset() when empty.
    kafka_offset next_offset() const { return _next_offset; }
    uint64_t size_bytes() const { return _size_bytes; }
    bool empty() const { return _size_bytes == 0; }
    // Largest batch max_timestamp in the segment (-1 when none) and the last offset of the
    // first batch that reached it.
    int64_t max_timestamp() const { return _max_timestamp; }
    kafka_offset offset_of_max_timestamp() const { return _offset_of_max_timestamp; }
    // Bytes cut off by the last recovery (0 when the file was intact).
    uint64_t truncated_bytes() const { return _truncated_bytes; }

    // Would appending a batch of `batch_bytes` ending at `last_offset` at `now_ms` need a roll?
    bool should_roll(size_t batch_bytes, kafka_offset last_offset, int64_t now_ms) const;

    // Appends one batch whose header already holds its final base offset.
    // REQUIRES: base_offset >= next_offset(); fits (see should_roll).
    status append(std::span<const uint8_t> batch,
                  const protocol::batch_header& header,
                  int64_t now_ms);

    // Whole batches from the one containing `from`, stopping before any batch reaching
    // `max_offset` (exclusive) or past `max_bytes` (except the first when `min_one_batch`).
    // Empty when no batch here holds an offset >= from.
    result<read_slice, storage_errc> read(kafka_offset from,
                                          kafka_offset max_offset,
                                          size_t max_bytes,
                                          bool min_one_batch) const;
    // First batch whose last offset >= `offset`, if any.
    result<std::optional<batch_location>, storage_errc> find_batch(kafka_offset offset) const;
    // First batch with max_timestamp >= ts and last offset >= min_offset, if any.
    result<std::optional<batch_location>, storage_errc> find_batch_by_timestamp(
        int64_t ts, kafka_offset min_offset) const;
    // Calls fn(header, position) for each batch with last offset >= `from`; fn returns false
    // to stop early.
    status for_each_batch(
        kafka_offset from,
        const std::function<bool(const protocol::batch_header&, uint64_t)>& fn) const;
    // Copies one batch's bytes (for ListOffsets record lookups; not on the fetch path).
    result<std::vector<uint8_t>, storage_errc> read_batch_bytes(const batch_location& loc) const;

    // Removes every batch with last offset >= `offset` and rebuilds the indexes.
    status truncate_to(kafka_offset offset);
    // The segment stops being the active one: add the final time index entry, sync the log,
    // and write and sync both index files.
    void on_roll();
    // fdatasync the log. The index files are not written here (index_file.h says why).
    void flush();
    // Writes the index files where they differ from memory (fdatasync when `sync`): for a
    // segment rebuilt while not active (recovery at open, compaction), which no roll will
    // write. Failures are logged, not returned: the files are rebuilt when missing or short.
    void write_indexes(bool sync);
    // Deletes the three files; open readers keep their descriptor.
    status remove_files();

private:
    segment(std::filesystem::path dir, kafka_offset base, const log_config& cfg);
    status open_files(bool create);
    // How strictly scan() checks: `loose` (reads of trusted data) needs offsets to grow;
    // `recovery` also checks each CRC and, with _contiguous_offsets, that every batch starts
    // exactly where the previous one ended.
    enum class scan_mode { loose, recovery };
    // Scans batches from `position` up to `end`, checking lengths, magic and offsets per
    // `mode`, calling fn for each valid one until it returns false. Returns the position after
    // the last valid batch visited.
    using batch_fn = std::function<bool(const protocol::batch_header&, uint64_t)>;
    result<uint64_t, storage_errc> scan(uint64_t position,
                                        uint64_t end,
                                        kafka_offset expected_next,
                                        scan_mode mode,
                                        const batch_fn& fn) const;
    // Scans batches from position 0 per `mode`, truncates at the first bad one and rebuilds
    // indexes and in-memory stats.
    status recover(scan_mode mode);
    // Updates next offset, max timestamp, and (when `index`) the sparse index entries.
    status account(const protocol::batch_header& h, uint64_t position, bool index);
    status load_tail();
    // Reserves disk blocks past the end of the file up to at least `end_bytes`, ahead of
    // appends (see the .cc for why and how much).
    void preallocate(uint64_t end_bytes);
    // Frees the blocks reserved past the end of the file (at roll and close).
    void release_preallocation();
    // Starts the kernel's writeback of what was appended since the last call, every 8 MiB.
    void start_writeback();

    std::filesystem::path _dir;
    kafka_offset _base;
    log_config _cfg;
    std::shared_ptr<const protocol::file_ref> _file;  // shared with readers, see header comment
    int _fd = -1;
    offset_index _offset_index;
    time_index _time_index;
    uint64_t _size_bytes = 0;
    kafka_offset _next_offset;
    int64_t _max_timestamp = -1;
    kafka_offset _offset_of_max_timestamp;
    uint64_t _bytes_since_index_entry = 0;
    std::optional<int64_t> _rolling_base_ms;  // first append time (or first batch timestamp)
    uint64_t _truncated_bytes = 0;
    bool _indexes_missing = false;  // at open: rebuild them
    bool _contiguous_offsets = true;
    uint64_t _writeback_started_bytes = 0;  // the file up to here is being written back
    uint64_t _preallocated_end_bytes = 0;   // blocks are reserved up to here (0: none known)
    bool _preallocation_supported = true;   // false once fallocate said EOPNOTSUPP
};

}  // namespace riacho::storage
