// broker: group commit for acks=-1. A produce that must be durable registers the partitions
// it appended to and waits. A flush pass fdatasyncs every dirty partition once, on a thread of
// its own so the event loop keeps reading and appending meanwhile, then wakes every waiter
// of that pass on the loop. One pass runs at a time; what arrives during it goes into the
// next, so N concurrent (or pipelined) producers cost one fdatasync per partition per pass.
#pragma once

#include "storage/log_manager.h"

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace riacho::broker {

class flush_scheduler {
public:
    flush_scheduler(asio::io_context& io, storage::log_manager& logs) : _io(io), _logs(logs) {}
    ~flush_scheduler();

    using partition_key = std::pair<std::string, int32_t>;
    // Suspends until every listed partition is flushed up to its end at the time of the call.
    // false if a flush failed.
    asio::awaitable<bool> flush(std::vector<partition_key> partitions);

private:
    struct waiter {
        explicit waiter(asio::io_context& io) : timer(io) {}
        asio::steady_timer timer;
        bool ok = true;
    };
    // Starts a pass over what is dirty now, unless one is running.
    void start_pass();

    asio::io_context& _io;
    storage::log_manager& _logs;
    asio::thread_pool _syncer{1};  // the fdatasyncs of the running pass
    std::set<partition_key> _dirty;
    std::vector<std::shared_ptr<waiter>> _waiters;
    bool _scheduled = false;  // a start_pass is posted
    bool _running = false;    // a pass is syncing
};

}  // namespace riacho::broker
