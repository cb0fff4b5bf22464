#include "storage/writeback.h"

#include <condition_variable>
#include <deque>
#include <fcntl.h>
#include <mutex>
#include <thread>

namespace riacho::storage {
namespace {

struct writeback_range {
    std::shared_ptr<const protocol::file_ref> file;
    uint64_t offset = 0;
    uint64_t length = 0;
};

// A queue and one thread. The lock is taken once per range queued (a range is 8 MiB of
// appends), never per batch.
class writeback_worker {
public:
    writeback_worker() : _thread([this] { run(); }) {}
    ~writeback_worker() {
        {
            std::lock_guard lock(_mutex);
            _stopping = true;
        }
        _wake.notify_all();
        _thread.join();
    }
    writeback_worker(const writeback_worker&) = delete;
    writeback_worker& operator=(const writeback_worker&) = delete;

    void queue(writeback_range r) {
        {
            std::lock_guard lock(_mutex);
            _queued.push_back(std::move(r));
            ++_queued_count;
        }
        _wake.notify_all();
    }

    void wait_until_done() {
        std::unique_lock lock(_mutex);
        uint64_t target = _queued_count;
        _wake.wait(lock, [&] { return _done_count >= target; });
    }

private:
    void run() {
        std::unique_lock lock(_mutex);
        while (true) {
            _wake.wait(lock, [&] { return _stopping || !_queued.empty(); });
            if (_queued.empty()) {
                return;  // stopping, nothing left
            }
            writeback_range r = std::move(_queued.front());
            _queued.pop_front();
            lock.unlock();
            // Advisory: a failure (the file truncated meanwhile, say) only means the pages are
            // written back later, by the kernel's own flusher or the next fdatasync.
            (void)::sync_file_range(r.file->fd, static_cast<off64_t>(r.offset),
                                    static_cast<off64_t>(r.length), SYNC_FILE_RANGE_WRITE);
            r.file.reset();  // may close the descriptor: outside the lock
            lock.lock();
            ++_done_count;
            _wake.notify_all();
        }
    }

    std::mutex _mutex;
    std::condition_variable _wake;
    std::deque<writeback_range> _queued;
    uint64_t _queued_count = 0;
    uint64_t _done_count = 0;
    bool _stopping = false;
    std::thread _thread;  // last: starts after the members it uses exist
};

writeback_worker& worker() {
    static writeback_worker w;
    return w;
}

}  // namespace

void start_writeback_async(std::shared_ptr<const protocol::file_ref> file,
                           uint64_t offset,
                           uint64_t length) {
    worker().queue({std::move(file), offset, length});
}

void wait_for_queued_writeback() { worker().wait_until_done(); }

}  // namespace riacho::storage
