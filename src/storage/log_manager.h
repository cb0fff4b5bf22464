// Owns every partition log under one data directory, one folder per partition named
// `<topic>-<partition>` (the partition is after the LAST '-', since topic names may contain
// '-' and '.'). open() opens all existing logs, several at a time on short-lived threads
// (recovery after a crash is mostly CRC work), then hands everything to the calling thread.
//
// Thread affinity: after open() returns, the manager and its logs belong to one thread (the
// owning shard's event loop); nothing locks. Ownership: the manager owns the logs (unique_ptr);
// get() returns a borrowed pointer valid until remove() or close_all().
// Crash behaviour: per log (see partition_log.h). remove() renames the folder to
// `<topic>-<partition>.<uuid>-delete` first (atomic), then deletes it; leftovers of an
// interrupted delete are removed at the next open().
#pragma once

#include "base/strong_int.h"
#include "storage/log_config.h"
#include "storage/partition_log.h"
#include "storage/storage_errc.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace riacho::storage {

struct topic_partition {
    std::string topic;
    partition_id partition;
    auto operator<=>(const topic_partition&) const = default;
};

// "<topic>-<partition>" -> {topic, partition}; nullopt for names that are not partition dirs.
std::optional<topic_partition> parse_partition_dir(std::string_view name);
std::string partition_dir_name(const topic_partition& tp);

class log_manager {
public:
    // Config for an existing log found at open (per-topic overrides come from the caller).
    // Called from open()'s worker threads: it must only read immutable data.
    using config_for = std::function<log_config(const topic_partition&)>;

    ~log_manager();
    log_manager(const log_manager&) = delete;
    log_manager& operator=(const log_manager&) = delete;

    // Creates `data_dir` if needed and opens every partition log in it, using up to
    // `open_threads` threads. Fails if any log fails to open.
    static result<std::unique_ptr<log_manager>, storage_errc> open(std::filesystem::path data_dir,
                                                                   config_for cfg,
                                                                   unsigned open_threads = 4);

    // already_exists if the log is open; otherwise opens/creates `<topic>-<partition>`.
    result<partition_log*, storage_errc> create(const topic_partition& tp, const log_config& cfg);
    partition_log* get(const topic_partition& tp) const;
    status remove(const topic_partition& tp);
    // Closes every log cleanly; returns the first error but tries all.
    status close_all();

    std::vector<topic_partition> partitions() const;
    const std::filesystem::path& data_dir() const { return _data_dir; }

private:
    explicit log_manager(std::filesystem::path data_dir) : _data_dir(std::move(data_dir)) {}

    std::filesystem::path _data_dir;
    std::map<topic_partition, std::unique_ptr<partition_log>> _logs;
};

}  // namespace riacho::storage
