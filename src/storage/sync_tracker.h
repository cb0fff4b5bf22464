// Power-loss simulation for storage tests: an io_observer that remembers, for every file the
// storage module writes, its durable contents (as of its last fdatasync) and the writes and
// truncations made since, so that a test can "pull the plug" at any moment and cut every file
// under a directory back to what a real disk could hold after a power loss.
//
// What is simulated, and what is not (the files stay real files underneath, so segments keep
// their real descriptors and sendfile):
//  - File contents: exact. After crash(), each tracked file holds its durable bytes plus,
//    depending on the mode, none, a torn prefix, or a random page-granular subset of the
//    unsynced writes (a write that lands past the end leaves zeros in between, as a file
//    system that allocated the later page first would).
//  - Directory entries (create, rename, remove): treated as durable at once. The storage code
//    fsyncs the directory after each of them, so this hides nothing it relies on; a file is
//    tracked by its inode, so a rename (of a `.tmp` over a checkpoint or a cleaned segment)
//    carries the file's durable state with it.
//  - Files written outside file_io.h, and files that existed before the tracker was installed
//    and were not reopened since, are left as they are (assumed durable).
//  - Reads are not simulated: between crashes a process sees its own unsynced writes, as it
//    does from the page cache.
//
// Usage: install() (or keep one installed for a whole test), run the log, destroy the log
// objects without close() (the process "dies": descriptors closed, nothing flushed), call
// crash(dir, mode, seed), reopen. crash() rewrites the files with raw syscalls and makes the
// result the new durable state.
//
// Threads: every callback locks; crash() must not run while storage IO is in flight. The
// tracker must outlive its installation (the destructor uninstalls it if still installed).
#pragma once

#include "storage/io_observer.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sys/types.h>
#include <unordered_map>
#include <vector>

namespace riacho::storage {

enum class crash_mode {
    drop_unsynced,  // every file exactly as of its last fdatasync
    torn_prefix,    // the unsynced operations in order, cut at a random byte of one of them
    torn_pages,     // each 4 KiB page of each unsynced write (and each truncation) kept or not
};

struct crash_stats {
    size_t files_changed = 0;
    uint64_t bytes_dropped = 0;  // bytes the files held before the crash and not after
};

class sync_tracker final : public io_observer {
public:
    sync_tracker() = default;
    sync_tracker(const sync_tracker&) = delete;
    sync_tracker& operator=(const sync_tracker&) = delete;
    ~sync_tracker() override;

    // Becomes the process-wide observer (io_observer.h) until uninstall().
    void install();
    void uninstall();

    // The power loss, for every regular file under `dir` (recursively) that is tracked.
    // REQUIRES: no descriptor of those files is still being written.
    crash_stats crash(const std::filesystem::path& dir, crash_mode mode, uint64_t seed);

    // A power loss in the middle of an operation: right after the `after_ops`-th observed call
    // from now (open, write, truncate or fdatasync; 0 = the next one), the tracker takes the
    // image such a power loss would leave of every file under `dir`, with the directory
    // entries as they are at that instant. The test lets the operation run to its end, drops
    // the log objects, then restore_power_loss() puts exactly that image back (files created
    // since are removed, files removed or renamed since come back as they were).
    void arm_power_loss(const std::filesystem::path& dir,
                        uint64_t after_ops,
                        crash_mode mode,
                        uint64_t seed);
    // True once the armed instant was reached (the operation did that much IO).
    bool power_loss_captured() const;
    // REQUIRES: power_loss_captured(). Disarms.
    crash_stats restore_power_loss();
    void disarm();

    // Durable size of `path`'s file as the tracker sees it (nullopt when untracked).
    std::optional<uint64_t> durable_size(const std::filesystem::path& path) const;

    void on_open(int fd, const std::filesystem::path& path, bool created) override;
    void on_write(int fd, const void* data, size_t n, uint64_t position) override;
    void on_truncate(int fd, uint64_t size_bytes) override;
    void on_sync(int fd, const std::filesystem::path& path) override;
    void on_close(int fd) override;
    // The tracker decides durability, so the real fdatasync is skipped (set_real_syncs(true)
    // to keep it, e.g. to measure).
    bool replaces_real_syncs() const override { return !_real_syncs; }
    void set_real_syncs(bool on) { _real_syncs = on; }

private:
    struct file_id {
        dev_t dev = 0;
        ino_t ino = 0;
        auto operator<=>(const file_id&) const = default;
    };
    struct pending_op {
        bool truncate = false;
        uint64_t position = 0;  // write position, or the truncation's new size
        std::vector<uint8_t> bytes;
    };
    struct tracked_file {
        std::filesystem::path path;  // as last opened (a rename since is not seen)
        std::vector<uint8_t> durable;
        std::vector<pending_op> pending;
    };

    struct file_image {
        std::filesystem::path path;
        std::vector<uint8_t> bytes;
    };
    struct armed_power_loss {
        std::filesystem::path dir;
        uint64_t ops_left = 0;
        crash_mode mode = crash_mode::drop_unsynced;
        uint64_t seed = 0;
    };

    // Regular files under `dir`, sorted.
    static std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir);
    // What the disk would hold of `f` after a power loss now.
    static std::vector<uint8_t> power_loss_image(const tracked_file& f,
                                                 crash_mode mode,
                                                 std::mt19937_64& rng);
    // REQUIRES (both): _mutex held.
    std::vector<file_image> capture(const std::filesystem::path& dir,
                                    crash_mode mode,
                                    uint64_t seed);
    crash_stats restore(const std::filesystem::path& dir, const std::vector<file_image>& images);
    void count_op();
    static std::optional<file_id> id_of_fd(int fd);
    static std::optional<file_id> id_of_path(const std::filesystem::path& p);
    tracked_file* file_of_fd(int fd);

    mutable std::mutex _mutex;
    std::map<file_id, tracked_file> _files;
    std::unordered_map<int, file_id> _fds;
    std::optional<armed_power_loss> _armed;
    std::optional<std::vector<file_image>> _captured;
    bool _installed = false;
    bool _real_syncs = false;
};

}  // namespace riacho::storage
