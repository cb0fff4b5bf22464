// raft: the metadata log on disk, `__cluster_metadata-0`, implementing raft_log on storage's
// partition_log (segments, CRC checks, recovery of a torn tail, `riacho dump-log` all work on
// it as on any partition). Each entry is one record batch (codec::encode_entry); the entries
// are also kept in memory, which is what the core reads: the metadata log is small (one entry
// per admin change), and snapshots will bound it when they land.
//
// Snapshots: the broker's state machine takes none yet, so no leader ever offers one and the
// core never calls write_snapshot_and_trim or install_snapshot on this log; both stop the
// process with a message saying so rather than pretend (docs/design/raft.md, "Not done yet").
//
// Thread: the raft node's thread only.
#pragma once

#include "raft/log.h"
#include "storage/partition_log.h"

#include <deque>
#include <filesystem>
#include <memory>

namespace riacho::raft {

class file_log final : public raft_log {
public:
    // Opens (creating, recovering) the log in `dir`; every batch must decode as an entry.
    static result<std::unique_ptr<file_log>, std::string> open(std::filesystem::path dir);
    ~file_log() override;

    kafka_offset log_start_offset() const override { return _start; }
    offset_and_epoch end_offset_and_epoch() const override;
    void append(std::span<const log_entry> entries) override;
    void truncate_to(kafka_offset end) override;
    std::vector<log_entry> read(kafka_offset from, size_t max_entries) const override;
    std::optional<offset_and_epoch> end_offset_for_epoch(leader_epoch epoch) const override;
    void flush() override;

    std::optional<snapshot_id> latest_snapshot() const override { return std::nullopt; }
    std::optional<std::string> read_snapshot(snapshot_id id) const override;
    void write_snapshot_and_trim(snapshot_id id, std::string bytes) override;
    void install_snapshot(snapshot_id id, std::string bytes) override;

    // The end (offset + 1) of the last data entry at or below `end`, or the log start when
    // there is none: what the controller's image includes once it applied up to `end`.
    kafka_offset data_end_at_or_below(kafka_offset end) const;
    // Closes the partition log cleanly (checkpoints, so the next open skips recovery).
    void close();

private:
    file_log(std::filesystem::path dir, std::unique_ptr<storage::partition_log> log);

    std::filesystem::path _dir;
    std::unique_ptr<storage::partition_log> _log;
    kafka_offset _start{0};
    std::deque<log_entry> _entries;  // offsets _start, _start + 1, ...
};

}  // namespace riacho::raft
