// storage: starts the kernel's writeback of appended file ranges on a thread of its own.
// sync_file_range(SYNC_FILE_RANGE_WRITE) submits the dirty pages' IO in the caller and blocks
// while the device's queue is full; on the thread that appends (and serves every connection)
// that would be a stall for data nobody has asked to be durable yet. One worker per process,
// started on first use; ranges are handled in the order queued.
//
// The same worker bounds the page cache that written data keeps (drop-behind): once more than
// a limit of newer bytes was written after a range, that range's pages are dropped
// (POSIX_FADV_DONTNEED, after its writeback is done). Appends then reuse memory just freed
// instead of growing the page cache into memory untouched for long, which on a VM whose host
// takes free memory back (virtio-balloon free page reporting) costs a host fault per page:
// produce ran 3x slower once a few GiB had been written (bench/RESULTS.md). Reads still go
// through the page cache; a consumer further behind than the limit reads from disk.
#pragma once

#include "protocol/wire.h"

#include <cstdint>
#include <memory>

namespace riacho::storage {

// Queues the start of writeback for [offset, offset + length) of `file` and returns at once.
// The descriptor stays open (shared) until the worker is done with it.
void start_writeback_async(std::shared_ptr<const protocol::file_ref> file,
                           uint64_t offset,
                           uint64_t length);

// Waits until every range queued before the call was handed to the kernel (tests).
void wait_for_queued_writeback();

// Bytes of the newest written data whose pages stay cached (drop-behind of older ranges);
// 0: none dropped, the kernel alone decides. Applies to ranges queued from then on.
void set_written_cache_limit(uint64_t bytes);

}  // namespace riacho::storage
