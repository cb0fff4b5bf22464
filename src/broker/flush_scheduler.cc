#include "broker/flush_scheduler.h"

#include "base/log.h"
#include "storage/file_io.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

namespace riacho::broker {

flush_scheduler::~flush_scheduler() {
    // A pass still syncing finishes; its completion is posted to a loop that no longer runs.
    _syncer.join();
}

asio::awaitable<bool> flush_scheduler::flush(std::vector<partition_key> partitions) {
    if (partitions.empty()) {
        co_return true;
    }
    _dirty.insert(partitions.begin(), partitions.end());
    auto w = std::make_shared<waiter>(_io);
    w->timer.expires_at(std::chrono::steady_clock::time_point::max());
    _waiters.push_back(w);
    if (!_running && !_scheduled) {
        // Posted, so requests already queued on the loop join this pass.
        _scheduled = true;
        asio::post(_io, [this] {
            _scheduled = false;
            start_pass();
        });
    }
    co_await w->timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return w->ok;
}

void flush_scheduler::start_pass() {
    if (_running || _waiters.empty()) {
        return;
    }
    _running = true;
    struct pass {
        std::vector<std::pair<partition_key, storage::partition_log::flush_ticket>> tickets;
        std::vector<std::shared_ptr<waiter>> waiters;
    };
    auto p = std::make_shared<pass>();
    p->waiters = std::move(_waiters);
    _waiters.clear();
    for (const auto& key : _dirty) {
        auto* log = _logs.get({key.first, partition_id(key.second)});
        if (log != nullptr) {  // else deleted meanwhile: nothing left to make durable
            p->tickets.emplace_back(key, log->prepare_flush());
        }
    }
    _dirty.clear();
    asio::post(_syncer, [this, p] {
        for (const auto& [key, ticket] : p->tickets) {
            // A failed fdatasync is fatal (storage::sync_file), never ignored.
            storage::sync_file(ticket.file->fd, ticket.path);
        }
        asio::post(_io, [this, p] {
            for (const auto& [key, ticket] : p->tickets) {
                if (auto* log = _logs.get({key.first, partition_id(key.second)})) {
                    log->flushed(ticket);
                }
            }
            for (auto& w : p->waiters) {
                w->ok = true;
                w->timer.cancel();
            }
            _running = false;
            start_pass();  // what became dirty meanwhile
        });
    });
}

}  // namespace riacho::broker
