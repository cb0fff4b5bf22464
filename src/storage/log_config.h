// Per-partition log configuration, with Kafka's defaults and names (topic-level config keys in
// comments). Plain data, copied into each partition_log at open; any thread. Not persisted by
// the storage module (the broker's metadata owns topic configs), so nothing to recover.
#pragma once

#include "protocol/record_batch.h"

#include <cstdint>
#include <limits>
#include <optional>

namespace riacho::storage {

enum class timestamp_type { create_time, log_append_time };  // message.timestamp.type

struct log_config {
    // segment.bytes: roll when the active segment would grow past this. Positions in the
    // index are int32, so this may not exceed INT32_MAX.
    uint64_t segment_bytes = 1ull << 30;
    // segment.ms: roll when the active segment's first batch is older than this.
    int64_t segment_ms = 7ll * 24 * 60 * 60 * 1000;
    // index.interval.bytes: one offset/time index entry per this many bytes of log.
    uint32_t index_interval_bytes = 4096;
    // segment.index.bytes: max size of each index file; a full index rolls the segment.
    uint32_t segment_index_bytes = 10u << 20;
    // flush.messages / flush.ms: fdatasync the active segment after this many records or this
    // long since the last flush. Kafka's defaults (never) rely on replication for durability.
    int64_t flush_messages = std::numeric_limits<int64_t>::max();
    int64_t flush_ms = std::numeric_limits<int64_t>::max();
    // message.timestamp.type: log_append_time overwrites max_timestamp with the broker's time.
    timestamp_type message_timestamp_type = timestamp_type::create_time;
    // What a produce is checked against before append (the broker's hot path reads these here,
    // derived once per config change, not per batch): max.message.bytes,
    // message.timestamp.before.max.ms / after.max.ms (CreateTime topics), and
    // compression.type as a codec (nullopt = "producer": store what was sent).
    int64_t max_message_bytes = 1048588;
    int64_t message_timestamp_before_max_ms = std::numeric_limits<int64_t>::max();
    int64_t message_timestamp_after_max_ms = 3600000;
    std::optional<protocol::compression_codec> compression;
    // retention.ms / retention.bytes: delete_old_segments() removes the oldest non-active
    // segments whose max timestamp is older than retention_ms, or while the log is larger than
    // retention_bytes. -1 = unlimited.
    int64_t retention_ms = 7ll * 24 * 60 * 60 * 1000;
    int64_t retention_bytes = -1;
    // cleanup.policy includes compact: compact() keeps the latest record per key in the
    // segments before the active one. The others are Kafka's topic configs of the same names.
    bool compact = false;
    double min_cleanable_dirty_ratio = 0.5;
    int64_t min_compaction_lag_ms = 0;
    int64_t max_compaction_lag_ms = std::numeric_limits<int64_t>::max();
    int64_t delete_retention_ms = 24ll * 60 * 60 * 1000;
    // How many producer-state snapshots to keep in the partition directory.
    uint32_t producer_snapshots_retained = 2;

    // True if the values are usable (the broker validates configs before they get here).
    bool is_valid() const {
        return segment_bytes >= 64 &&
               segment_bytes <= uint64_t{std::numeric_limits<int32_t>::max()} && segment_ms > 0 &&
               index_interval_bytes > 0 && segment_index_bytes >= 12 && flush_messages > 0 &&
               flush_ms > 0;
    }
};

}  // namespace riacho::storage
