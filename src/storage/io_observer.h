// The storage module's fault-injection seam: one optional, process-wide observer that
// file_io.h's functions tell about every descriptor opened, every write, truncation,
// fdatasync and close. It lets tests know, at any moment, which bytes of which file are
// durable (sync_tracker.h), and lets an integration test journal the syncs of a real broker
// (RIACHO_SYNC_JOURNAL, see file_io.cc).
//
// Cost in production: none is installed, so each file_io call pays one load and test of a
// null pointer; no virtual call, nothing per byte.
//
// Threads: install or remove the observer before any storage IO starts (or after it has all
// stopped); the pointer itself is not synchronized. An observer that may see IO from several
// threads (log_manager opens logs in parallel) must lock internally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace riacho::storage {

class io_observer {
public:
    virtual ~io_observer() = default;
    // `fd` now refers to `path`; `created` when the file did not exist before this open, or
    // was opened with O_TRUNC (its old contents are gone either way).
    virtual void on_open(int fd, const std::filesystem::path& path, bool created) = 0;
    // Called after the write or truncation succeeded (a failed one changed nothing we rely on).
    virtual void on_write(int fd, const void* data, size_t n, uint64_t position) = 0;
    virtual void on_truncate(int fd, uint64_t size_bytes) = 0;
    // After a successful fdatasync: everything written to `fd` so far is durable.
    virtual void on_sync(int fd, const std::filesystem::path& path) = 0;
    virtual void on_close(int fd) = 0;
    // True when the observer itself decides what is durable (a simulated power loss), so
    // sync_file and sync_dir need not wait for the disk: unit tests on the seam run at memory
    // speed. on_sync is called either way.
    virtual bool replaces_real_syncs() const { return false; }
};

namespace detail {
extern io_observer* installed_io_observer;
}

// The observer file_io reports to, or nullptr (production).
inline io_observer* current_io_observer() { return detail::installed_io_observer; }
// Installs `o` (nullptr removes it) and returns the previous one. See the thread note above.
io_observer* set_io_observer(io_observer* o);

// With RIACHO_SYNC_JOURNAL=<file> in the environment at start-up, an observer that appends
// "<path>\t<size>\n" to that file after every successful fdatasync, so a test can cut each
// file back to what was durable (tests/integration/test_durability.py); otherwise nullptr.
// Installed once, before main(), by file_io.cc. The journal is written synchronously and is
// for tests only.
io_observer* sync_journal_from_env();

}  // namespace riacho::storage
