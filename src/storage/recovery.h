// Log-level recovery, used by partition_log::open and truncate_to:
//  - load_segments: finds `<base>.log` files, opens each segment, and when the log was not
//    closed cleanly validates (CRC and all) every segment from the one holding the recovery
//    point onwards, truncating the first torn/invalid batch and deleting every later segment
//    (data after a hole cannot be trusted). Leftover `.tmp` files and index files without a log
//    are deleted.
//  - rebuild_producer_state: newest valid snapshot at or below the log end offset, then replays
//    the batch headers after it (from the log start when there is no snapshot), reading the
//    markers of control batches to close transactions; reports where it replayed from and the
//    transactions replayed markers aborted.
// Runs on the thread that opens the log (log_manager may open several logs in parallel, one
// thread per log).
#pragma once

#include "storage/log_config.h"
#include "storage/producer_state.h"
#include "storage/segment.h"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace riacho::storage {

using segment_map = std::map<kafka_offset, std::unique_ptr<segment>>;

// `recover_from`: nullopt = the log was closed cleanly (trust the files); otherwise segments
// containing or after this offset are validated.
result<segment_map, storage_errc> load_segments(const std::filesystem::path& dir,
                                                const log_config& cfg,
                                                std::optional<kafka_offset> recover_from);

struct rebuilt_producer_state {
    producer_state state;
    kafka_offset replayed_from;          // the snapshot's offset, or the first segment's base
    std::vector<completed_txn> aborted;  // by markers at or after replayed_from
};

result<rebuilt_producer_state, storage_errc> rebuild_producer_state(
    const std::filesystem::path& dir, const segment_map& segments, kafka_offset log_end_offset);

}  // namespace riacho::storage
