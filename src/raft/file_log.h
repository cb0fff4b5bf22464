// raft: the metadata log on disk, `__cluster_metadata-0`, implementing raft_log on storage's
// partition_log (segments, CRC checks, recovery of a torn tail, `riacho dump-log` all work on
// it as on any partition). Each entry is one record batch (codec::encode_entry); the entries
// are also kept in memory, which is what the core reads: snapshots bound the log, so what is
// kept is what came after the latest one.
//
// Snapshots are files beside the segments, named as Kafka names them,
// `<end offset, 20 digits>-<epoch, 10 digits>.checkpoint`, written whole (temp file, fsync,
// rename, directory fsync) before the log below them goes. Only the latest is kept. At open
// the latest snapshot decides where the log starts: entries below it are dropped (a crash
// between writing a snapshot and trimming), and a log that ends below it (a crash while
// installing a leader's snapshot) restarts empty at its end.
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

    std::optional<snapshot_id> latest_snapshot() const override { return _snapshot; }
    std::optional<std::string> read_snapshot(snapshot_id id) const override;
    void write_snapshot_and_trim(snapshot_id id, std::string bytes) override;
    void install_snapshot(snapshot_id id, std::string bytes) override;

    // The end (offset + 1) of the last data entry at or below `end`, or the log start when
    // there is none: what the controller's image includes once it applied up to `end`.
    kafka_offset data_end_at_or_below(kafka_offset end) const;
    // Closes the partition log cleanly (checkpoints, so the next open skips recovery).
    void close();

    // The file a snapshot is kept in.
    static std::filesystem::path snapshot_path(const std::filesystem::path& dir, snapshot_id id);

private:
    file_log(std::filesystem::path dir, std::unique_ptr<storage::partition_log> log);
    // Writes the snapshot file durably and removes every older one.
    void store_snapshot(snapshot_id id, const std::string& bytes);

    std::filesystem::path _dir;
    std::unique_ptr<storage::partition_log> _log;
    kafka_offset _start{0};
    std::deque<log_entry> _entries;        // offsets _start, _start + 1, ...
    std::optional<snapshot_id> _snapshot;  // the latest; the log starts at its end offset
};

}  // namespace riacho::raft
