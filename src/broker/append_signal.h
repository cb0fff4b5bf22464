// broker: wakes long-polling fetches when records are appended. A fetch that has fewer than
// min_bytes parks on a timer until its max_wait_ms; every append cancels the parked timers so
// the fetches re-read at once. Bounded: one timer per parked fetch, one fetch per connection.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace riacho::broker {

class append_signal {
public:
    explicit append_signal(asio::io_context& io) : _io(io) {}

    // Suspends until the next append or until `deadline`, whichever comes first.
    asio::awaitable<void> wait_until(std::chrono::steady_clock::time_point deadline);
    void notify_all();

private:
    asio::io_context& _io;
    std::vector<std::weak_ptr<asio::steady_timer>> _waiters;
};

}  // namespace riacho::broker
