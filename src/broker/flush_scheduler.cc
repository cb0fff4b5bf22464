#include "broker/flush_scheduler.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include "base/log.h"

namespace riacho::broker {

asio::awaitable<bool> flush_scheduler::flush(std::vector<partition_key> partitions) {
    if (partitions.empty()) {
        co_return true;
    }
    _dirty.insert(partitions.begin(), partitions.end());
    auto w = std::make_shared<waiter>(_io);
    w->timer.expires_at(std::chrono::steady_clock::time_point::max());
    _waiters.push_back(w);
    if (!_scheduled) {
        _scheduled = true;
        asio::post(_io, [this] { run_pass(); });
    }
    co_await w->timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return w->ok;
}

void flush_scheduler::run_pass() {
    _scheduled = false;
    auto dirty = std::move(_dirty);
    _dirty.clear();
    auto waiters = std::move(_waiters);
    _waiters.clear();
    bool ok = true;  // stays true: flush() does not return when fdatasync fails
    for (const auto& [topic, partition] : dirty) {
        auto* log = _logs.get({topic, partition_id(partition)});
        if (log == nullptr) {
            continue;  // deleted meanwhile: nothing left to make durable
        }
        log->flush();  // a failed fdatasync is fatal inside the log, never ignored
    }
    for (auto& w : waiters) {
        w->ok = ok;
        w->timer.cancel();
    }
}

}  // namespace riacho::broker
