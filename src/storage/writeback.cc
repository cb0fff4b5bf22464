#include "storage/writeback.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fcntl.h>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace riacho::storage {
namespace {

struct writeback_range {
    std::shared_ptr<const protocol::file_ref> file;
    uint64_t offset = 0;
    uint64_t length = 0;
};

// A range written back whose pages are still cached; the file may be gone by the time the
// range is dropped (deleted, compacted), which then has nothing to do.
struct cached_range {
    std::weak_ptr<const protocol::file_ref> file;
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

    void set_cached_limit(uint64_t bytes) {
        _cached_limit_bytes.store(bytes, std::memory_order_relaxed);
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
            drop_behind(r);
            r.file.reset();  // may close the descriptor: outside the lock
            lock.lock();
            ++_done_count;
            _wake.notify_all();
        }
    }

    // Worker thread only: remembers `r` and drops the pages of the oldest ranges while more
    // than the limit is remembered.
    void drop_behind(const writeback_range& r) {
        uint64_t limit = _cached_limit_bytes.load(std::memory_order_relaxed);
        if (limit == 0) {
            return;
        }
        _cached.push_back({r.file, r.offset, r.length});
        _cached_bytes += r.length;
        while (_cached_bytes > limit && !_cached.empty()) {
            cached_range old = std::move(_cached.front());
            _cached.pop_front();
            _cached_bytes -= old.length;
            if (auto file = old.file.lock()) {
                // Dirty or in-flight pages are not dropped: wait for this range's writeback
                // (long started: `limit` bytes were written since) first. Advisory both.
                // From the start of the page the range begins in: the kernel drops whole pages
                // only, and the one this range shares with the older one is older data.
                uint64_t start = old.offset - old.offset % _page_size_bytes;
                auto offset = static_cast<off64_t>(start);
                auto length = static_cast<off64_t>(old.offset + old.length - start);
                (void)::sync_file_range(file->fd, offset, length,
                                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                            SYNC_FILE_RANGE_WAIT_AFTER);
                (void)::posix_fadvise(file->fd, offset, length, POSIX_FADV_DONTNEED);
            }
        }
    }

    const uint64_t _page_size_bytes = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    std::atomic<uint64_t> _cached_limit_bytes{0};
    std::deque<cached_range> _cached;  // oldest first; worker thread only
    uint64_t _cached_bytes = 0;
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

void set_written_cache_limit(uint64_t bytes) { worker().set_cached_limit(bytes); }

}  // namespace riacho::storage
