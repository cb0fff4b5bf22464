// log_retention: the background pass that enforces retention.ms / retention.bytes. Every
// log.retention.check.interval.ms it asks each partition log to drop its oldest whole
// segments past the limits (storage::partition_log::delete_old_segments), which moves the
// log start offset; consumers below it then get OFFSET_OUT_OF_RANGE and reset. Topics whose
// cleanup.policy has no "delete" carry unlimited limits in their log_config, so they are
// untouched here.
//
// Thread: the broker's event loop. Owned by the broker, stopped before the logs close.
#pragma once

#include "storage/log_manager.h"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <cstdint>

namespace riacho::broker {

class log_retention {
public:
    log_retention(asio::io_context& io, storage::log_manager& logs, int64_t check_interval_ms);
    void start();
    void stop();
    // One pass over every partition; returns how many segments were deleted.
    size_t run_once(int64_t now_ms);

private:
    void arm();

    storage::log_manager& _logs;
    asio::steady_timer _timer;
    int64_t _check_interval_ms;
    bool _stopped = false;
};

}  // namespace riacho::broker
