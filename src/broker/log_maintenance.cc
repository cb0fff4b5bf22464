#include "broker/log_maintenance.h"

#include "base/log.h"
#include "broker/broker_context.h"
#include "storage/storage_errc.h"

#include <algorithm>
#include <chrono>

namespace riacho::broker {

log_maintenance::log_maintenance(asio::io_context& io,
                                 storage::log_manager& logs,
                                 int64_t retention_check_interval_ms,
                                 int64_t cleaner_backoff_ms)
    : _logs(logs),
      _timer(io),
      _retention_check_interval_ms(std::max<int64_t>(1, retention_check_interval_ms)),
      _cleaner_backoff_ms(std::max<int64_t>(1, cleaner_backoff_ms)) {}

void log_maintenance::start() {
    int64_t now = broker_context::now_ms();
    _next_retention_ms = now + _retention_check_interval_ms;
    _next_compaction_ms = now + _cleaner_backoff_ms;
    arm();
}

void log_maintenance::stop() {
    _stopped = true;
    _timer.cancel();
}

void log_maintenance::arm() {
    if (_stopped) {
        return;
    }
    int64_t wait_ms = std::max<int64_t>(
        0, std::min(_next_retention_ms, _next_compaction_ms) - broker_context::now_ms());
    _timer.expires_after(std::chrono::milliseconds(wait_ms));
    _timer.async_wait([this](const asio::error_code& ec) {
        if (ec || _stopped) {
            return;
        }
        int64_t now = broker_context::now_ms();
        if (now >= _next_retention_ms) {
            enforce_retention(now);
            _next_retention_ms = now + _retention_check_interval_ms;
        }
        if (now >= _next_compaction_ms) {
            compact(now);
            _next_compaction_ms = broker_context::now_ms() + _cleaner_backoff_ms;
        }
        arm();
    });
}

size_t log_maintenance::enforce_retention(int64_t now_ms) {
    size_t total = 0;
    for (const auto& tp : _logs.partitions()) {
        auto* log = _logs.get(tp);
        if (log == nullptr) {
            continue;
        }
        auto deleted = log->delete_old_segments(now_ms);
        if (!deleted) {
            // The next pass retries; reads and appends are unaffected by a failed unlink.
            LOG_WARN("storage", "{}-{}: retention could not delete a segment: {}", tp.topic,
                     tp.partition.value(), storage::to_string(deleted.error()));
            continue;
        }
        if (*deleted > 0) {
            LOG_INFO("storage", "{}-{}: retention deleted {} segment(s), log start now {}",
                     tp.topic, tp.partition.value(), *deleted, log->log_start_offset().value());
            total += *deleted;
        }
    }
    return total;
}

size_t log_maintenance::compact(int64_t now_ms) {
    size_t total = 0;
    for (const auto& tp : _logs.partitions()) {
        auto* log = _logs.get(tp);
        if (log == nullptr || !log->config().compact) {
            continue;
        }
        auto cleaned = log->compact(now_ms);
        if (!cleaned) {
            // Nothing was replaced (each segment swaps atomically); the next pass retries.
            LOG_WARN("storage", "{}-{}: compaction failed: {}", tp.topic, tp.partition.value(),
                     storage::to_string(cleaned.error()));
            continue;
        }
        total += cleaned->segments_rewritten;
    }
    return total;
}

}  // namespace riacho::broker
