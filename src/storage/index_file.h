// The file behind a sparse segment index (offset_index, time_index), whose entries live in
// memory: read whole at open, written back only when the segment stops being active (roll),
// at a clean close and after a rebuild. So an index holds no descriptor while its segment is
// open: a partition costs one descriptor (its active .log), and 10,000 partitions fit the
// usual open-files limits.
//
// Why this is safe: after an unclean stop the segment holding the recovery point and every
// later one are recovered from the log (indexes rebuilt), so the active segment's index
// files are never trusted then; segments before it were written and synced at their roll.
// After a clean close both files match the log. A file left short (power loss after an
// unsynced write-out) is a sane prefix, and a segment opened without recovery rescans from its
// last entry.
//
// Owned by its index; same thread. Writes are reported to the io_observer like any other.
#pragma once

#include "storage/storage_errc.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

namespace riacho::storage {

class index_file {
public:
    index_file() = default;
    index_file(std::filesystem::path path, size_t entry_bytes)
        : _path(std::move(path)), _entry_bytes(entry_bytes) {}

    // The file's whole entries (a partial trailing one is dropped and cut at the next write);
    // nullopt when the file does not exist.
    result<std::optional<std::vector<uint8_t>>, storage_errc> load();
    // Entries at and after `entries` changed in memory (truncation or rebuild).
    void invalidate_from(size_t entries) { _clean_entries = std::min(_clean_entries, entries); }
    // Writes entries [clean, total) (encode(i, out) writes entry i), cuts the file to `total`
    // entries, and fdatasyncs when `sync`. Creates the file if needed. Does nothing when the
    // file already matches (and, with `sync`, was synced).
    using encode_fn = std::function<void(size_t index, uint8_t* out)>;
    status write(size_t total_entries, const encode_fn& encode, bool sync);
    status remove();
    const std::filesystem::path& path() const { return _path; }

private:
    std::filesystem::path _path;
    size_t _entry_bytes = 1;
    size_t _clean_entries = 0;            // leading entries equal in memory and in the file
    std::optional<uint64_t> _file_bytes;  // the file's size; nullopt: no file (or unknown)
    bool _unsynced = false;               // written since the last fdatasync
};

}  // namespace riacho::storage
