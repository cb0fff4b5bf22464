// broker: group commit for acks=-1. A produce that must be durable registers the partitions
// it appended to and waits; one flush pass, posted behind the requests already queued on the
// event loop, fdatasyncs every dirty partition once and wakes every waiter. So N concurrent
// producers cost one fdatasync per partition per pass, not N.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "storage/log_manager.h"

namespace riacho::broker {

class flush_scheduler {
public:
    flush_scheduler(asio::io_context& io, storage::log_manager& logs) : _io(io), _logs(logs) {}

    using partition_key = std::pair<std::string, int32_t>;
    // Suspends until every listed partition is flushed. false if a flush failed.
    asio::awaitable<bool> flush(std::vector<partition_key> partitions);

private:
    struct waiter {
        explicit waiter(asio::io_context& io) : timer(io) {}
        asio::steady_timer timer;
        bool ok = true;
    };
    void run_pass();

    asio::io_context& _io;
    storage::log_manager& _logs;
    std::set<partition_key> _dirty;
    std::vector<std::shared_ptr<waiter>> _waiters;
    bool _scheduled = false;
};

}  // namespace riacho::broker
