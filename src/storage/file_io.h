// Small POSIX file helpers for the storage module: full pwrite/pread loops, fdatasync that
// stops the process on failure (a failed fsync leaves the page cache in an unknown state, so
// it is fatal, as in Kafka and PostgreSQL), atomic small-file replace, directory fsync, and
// big-endian encode/decode for the on-disk formats. Stateless; callable from any thread.
// Opens, writes, truncations, syncs and closes are reported to the optional io_observer
// (io_observer.h): the power-loss seam of the tests; nothing is installed in production.
#pragma once

#include "storage/storage_errc.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace riacho::storage {

// Opens (creating if needed) for read+write. Returns io_error and logs on failure.
result<int, storage_errc> open_file_rw(const std::filesystem::path& p, bool create);
status pwrite_all(int fd, const void* data, size_t n, uint64_t position);
// Reads exactly n bytes unless the file ends first; returns the bytes read.
result<size_t, storage_errc> pread_full(int fd, void* data, size_t n, uint64_t position);
result<uint64_t, storage_errc> file_size(int fd);
status truncate_file(int fd, uint64_t size);
// fdatasync; INVARIANT on failure (fatal by design).
void sync_file(int fd, const std::filesystem::path& what);
// fsync of a directory (after creating or renaming in it). A failed fsync is fatal; a
// directory that cannot be opened (no descriptors left) is logged and skipped.
void sync_dir(const std::filesystem::path& dir);
void close_fd(int fd);

// Writes `bytes` to `p` via `p.tmp`, fsync, rename, directory fsync: readers see the old
// or the new content, never a mix.
status write_file_atomic(const std::filesystem::path& p, std::span<const uint8_t> bytes);
// Whole small file; nullopt if it does not exist, io_error on other failures.
result<std::optional<std::vector<uint8_t>>, storage_errc> read_small_file(
    const std::filesystem::path& p);

// Big-endian helpers.
inline void put_be32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
    }
}
inline void put_be64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        p[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
    }
}
inline void put_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
inline uint16_t get_be16(const uint8_t* p) {
    return static_cast<uint16_t>((uint16_t{p[0]} << 8) | p[1]);
}
inline uint32_t get_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline uint64_t get_be64(const uint8_t* p) {
    return (uint64_t{get_be32(p)} << 32) | get_be32(p + 4);
}

}  // namespace riacho::storage
