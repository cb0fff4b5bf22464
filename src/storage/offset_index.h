// Sparse offset index of one segment (`<base>.index`): maps an offset to the file position of
// a batch at or before it, so a fetch seeks close to its batch and scans a few headers. One
// 8-byte big-endian entry {int32 relative offset, int32 position} per index.interval.bytes of
// log; the relative offset is the last offset of the batch the entry points at (as in Kafka).
// Layout: docs/formats/log-segment.md.
//
// Entries live in memory (lookups binary-search them) and reach the file through
// index_file::write when the segment rolls, closes or is rebuilt (index_file.h says why that
// is safe). Owned by its segment; same thread as the segment.
#pragma once

#include "base/strong_int.h"
#include "storage/index_file.h"
#include "storage/storage_errc.h"

#include <cstdint>
#include <filesystem>
#include <vector>

namespace riacho::storage {

inline constexpr size_t offset_index_entry_bytes = 8;

class offset_index {
public:
    struct entry {
        kafka_offset offset;    // absolute (base + relative)
        uint32_t position = 0;  // byte position of the batch in the .log file
    };

    offset_index() = default;
    offset_index(const offset_index&) = delete;
    offset_index& operator=(const offset_index&) = delete;
    offset_index(offset_index&&) noexcept = default;
    offset_index& operator=(offset_index&&) noexcept = default;

    // Loads the file's entries (none when it does not exist; a partial trailing entry is
    // dropped). `existed` tells whether it did.
    static result<offset_index, storage_errc> open(std::filesystem::path path,
                                                   kafka_offset base,
                                                   size_t max_entries,
                                                   bool* existed = nullptr);

    // REQUIRES: !full(), offset > last entry's, position > last entry's, offset - base fits int32.
    void append(kafka_offset offset, uint32_t position);
    // The last entry with offset <= target, or {base, 0}.
    entry lookup(kafka_offset target) const;
    // The last entry with position <= `position`, or {base, 0}.
    entry lookup_position(uint64_t position) const;
    // Drops every entry with position >= `position`.
    void truncate_to_position(uint64_t position);
    void clear() { truncate_to_position(0); }
    // Entries are increasing in offset and position and point inside a log of `log_size`.
    bool is_sane(uint64_t log_size) const;

    bool full() const { return _entries.size() >= _max_entries; }
    size_t size() const { return _entries.size(); }
    bool empty() const { return _entries.empty(); }
    entry last() const { return _entries.empty() ? entry{_base, 0} : _entries.back(); }
    // Brings the file up to date (see index_file::write).
    status write_file(bool sync);
    status remove_file() { return _file.remove(); }
    const std::filesystem::path& path() const { return _file.path(); }

private:
    index_file _file;
    kafka_offset _base;
    size_t _max_entries = 0;
    std::vector<entry> _entries;
};

}  // namespace riacho::storage
