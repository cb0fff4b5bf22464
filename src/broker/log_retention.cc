#include "broker/log_retention.h"

#include "base/log.h"
#include "broker/broker_context.h"
#include "storage/storage_errc.h"

#include <chrono>

namespace riacho::broker {

log_retention::log_retention(asio::io_context& io,
                             storage::log_manager& logs,
                             int64_t check_interval_ms)
    : _logs(logs), _timer(io), _check_interval_ms(check_interval_ms) {}

void log_retention::start() { arm(); }

void log_retention::stop() {
    _stopped = true;
    _timer.cancel();
}

void log_retention::arm() {
    if (_stopped) {
        return;
    }
    _timer.expires_after(std::chrono::milliseconds(_check_interval_ms));
    _timer.async_wait([this](const asio::error_code& ec) {
        if (ec || _stopped) {
            return;
        }
        run_once(broker_context::now_ms());
        arm();
    });
}

size_t log_retention::run_once(int64_t now_ms) {
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

}  // namespace riacho::broker
