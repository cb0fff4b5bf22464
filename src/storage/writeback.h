// storage: starts the kernel's writeback of appended file ranges on a thread of its own.
// sync_file_range(SYNC_FILE_RANGE_WRITE) submits the dirty pages' IO in the caller and blocks
// while the device's queue is full; on the thread that appends (and serves every connection)
// that would be a stall for data nobody has asked to be durable yet. One worker per process,
// started on first use; ranges are handled in the order queued.
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

}  // namespace riacho::storage
