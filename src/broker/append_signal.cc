#include "broker/append_signal.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace riacho::broker {

asio::awaitable<void> append_signal::wait_until(std::chrono::steady_clock::time_point deadline) {
    auto timer = std::make_shared<asio::steady_timer>(_io, deadline);
    _waiters.push_back(timer);
    co_await timer->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

void append_signal::notify_all() {
    if (_waiters.empty()) {
        return;
    }
    auto waiters = std::move(_waiters);
    _waiters.clear();
    for (auto& w : waiters) {
        if (auto t = w.lock()) {
            t->cancel();
        }
    }
}

}  // namespace riacho::broker
