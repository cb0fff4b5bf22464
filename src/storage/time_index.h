// Sparse time index of one segment (`<base>.timeindex`): maps a timestamp to an offset whose
// batch is at or before the first batch with max_timestamp >= that timestamp, for ListOffsets
// by time. 12-byte big-endian entries {int64 max timestamp so far, int32 relative offset},
// appended alongside offset index entries when the segment's max timestamp has grown, plus one
// final entry when the segment stops being active (roll, close). Timestamps strictly increase.
// Layout: docs/formats/log-segment.md.
//
// Entries live in memory and reach the file through index_file::write when the segment rolls,
// closes or is rebuilt (index_file.h says why that is safe). Owned by its segment; same thread.
#pragma once

#include "base/strong_int.h"
#include "storage/index_file.h"
#include "storage/storage_errc.h"

#include <cstdint>
#include <filesystem>
#include <vector>

namespace riacho::storage {

inline constexpr size_t time_index_entry_bytes = 12;

class time_index {
public:
    struct entry {
        int64_t timestamp = -1;
        kafka_offset offset;  // absolute; the last offset of the batch holding `timestamp`
    };

    time_index() = default;
    time_index(const time_index&) = delete;
    time_index& operator=(const time_index&) = delete;
    time_index(time_index&&) noexcept = default;
    time_index& operator=(time_index&&) noexcept = default;

    // Loads the file's entries (none when it does not exist); `existed` tells whether it did.
    static result<time_index, storage_errc> open(std::filesystem::path path,
                                                 kafka_offset base,
                                                 size_t max_entries,
                                                 bool* existed = nullptr);

    // Appends if `timestamp` is above the last entry's (else does nothing).
    // REQUIRES: offset >= last entry's offset; room left (callers roll when full()).
    void maybe_append(int64_t timestamp, kafka_offset offset);
    // The offset of the last entry with timestamp <= target, or base when none.
    kafka_offset lookup(int64_t target) const;
    // Drops entries with offset >= `offset`.
    void truncate_to_offset(kafka_offset offset);
    void clear() { truncate_to_offset(_base); }
    bool is_sane() const;

    bool full() const { return _entries.size() >= _max_entries; }
    size_t size() const { return _entries.size(); }
    // Last entry, or {-1, base} when empty.
    entry last() const { return _entries.empty() ? entry{-1, _base} : _entries.back(); }
    // Brings the file up to date (see index_file::write).
    status write_file(bool sync);
    status remove_file() { return _file.remove(); }

private:
    index_file _file;
    kafka_offset _base;
    size_t _max_entries = 0;
    std::vector<entry> _entries;
};

}  // namespace riacho::storage
