// log_maintenance: the background passes over every partition log.
// - Retention, every log.retention.check.interval.ms: each log drops its oldest whole segments
//   past retention.ms / retention.bytes (storage::partition_log::delete_old_segments), moving
//   the log start offset; consumers below it get OFFSET_OUT_OF_RANGE and reset. Logs whose
//   cleanup.policy has no "delete" carry unlimited limits, so they are untouched.
// - Compaction, every log.cleaner.backoff.ms: logs with cleanup.policy compact are cleaned
//   when their dirty ratio or max.compaction.lag.ms says so (partition_log::compact).
//
// Thread: the broker's event loop (the passes run on it, between requests). Owned by the
// broker, stopped before the logs close.
#pragma once

#include "storage/log_manager.h"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <cstdint>

namespace riacho::broker {

class log_maintenance {
public:
    log_maintenance(asio::io_context& io,
                    storage::log_manager& logs,
                    int64_t retention_check_interval_ms,
                    int64_t cleaner_backoff_ms);
    void start();
    void stop();
    // One pass over every partition; each returns how many segments it deleted or rewrote.
    size_t enforce_retention(int64_t now_ms);
    size_t compact(int64_t now_ms);

private:
    void arm();

    storage::log_manager& _logs;
    asio::steady_timer _timer;
    int64_t _retention_check_interval_ms;
    int64_t _cleaner_backoff_ms;
    int64_t _next_retention_ms = 0;
    int64_t _next_compaction_ms = 0;
    bool _stopped = false;
};

}  // namespace riacho::broker
