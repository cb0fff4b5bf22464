// Sparse offset index of one segment (`<base>.index`): maps an offset to the file position of
// a batch at or before it, so a fetch seeks close to its batch and scans a few headers. One
// 8-byte big-endian entry {int32 relative offset, int32 position} per index.interval.bytes of
// log; the relative offset is the last offset of the batch the entry points at (as in Kafka).
// Layout: docs/formats/log-segment.md.
//
// Entries are appended with pwrite and mirrored in memory; lookups binary-search the copy.
// Owned by its segment; same thread as the segment. Not synced per entry: after a crash the
// segment's recovery rebuilds the index from the log.
#pragma once

#include "base/strong_int.h"
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
    offset_index(offset_index&& o) noexcept;
    offset_index& operator=(offset_index&& o) noexcept;
    ~offset_index();

    // Opens or creates the file and loads its entries. A partial trailing entry is dropped.
    static result<offset_index, storage_errc> open(std::filesystem::path path,
                                                   kafka_offset base,
                                                   size_t max_entries);

    // REQUIRES: !full(), offset > last entry's, position > last entry's, offset - base fits int32.
    status append(kafka_offset offset, uint32_t position);
    // The last entry with offset <= target, or {base, 0}.
    entry lookup(kafka_offset target) const;
    // The last entry with position <= `position`, or {base, 0}.
    entry lookup_position(uint64_t position) const;
    // Drops every entry (and file bytes) with position >= `position`.
    status truncate_to_position(uint64_t position);
    status clear() { return truncate_to_position(0); }
    // Entries are increasing in offset and position and point inside a log of `log_size`.
    bool is_sane(uint64_t log_size) const;

    bool full() const { return _entries.size() >= _max_entries; }
    size_t size() const { return _entries.size(); }
    bool empty() const { return _entries.empty(); }
    entry last() const { return _entries.empty() ? entry{_base, 0} : _entries.back(); }
    void flush();
    status remove_file();
    const std::filesystem::path& path() const { return _path; }

private:
    std::filesystem::path _path;
    int _fd = -1;
    kafka_offset _base;
    size_t _max_entries = 0;
    std::vector<entry> _entries;
};

}  // namespace riacho::storage
