// Errors of the storage module (the partition log). One small enum: a value exists only when
// some caller acts differently on it; details go to the log. The broker maps these to Kafka
// error codes in one switch (offset_out_of_range -> OFFSET_OUT_OF_RANGE, out_of_order_sequence
// -> OUT_OF_ORDER_SEQUENCE_NUMBER, invalid_producer_epoch -> INVALID_PRODUCER_EPOCH, io_error /
// corrupt -> KAFKA_STORAGE_ERROR).
//
// A duplicate idempotent batch is not an error: append() succeeds with
// append_result::duplicate set and the original offsets (an error value cannot carry them).
// Plain values; any thread. After io_error the broker should take the log dir offline; a failed
// fsync never returns (it stops the process, see file_io.h).
#pragma once

#include "base/result.h"

#include <variant>

namespace riacho::storage {

enum class storage_errc {
    offset_out_of_range,     // read/lookup below the log start offset or above the log end offset
    io_error,                // a system call failed; the log should be taken offline
    corrupt,                 // on-disk data is invalid where it cannot be repaired by truncation
    out_of_order_sequence,   // idempotent producer skipped or reordered sequence numbers
    invalid_producer_epoch,  // idempotent producer with an epoch older than the one we know
    batch_too_large,         // batch larger than segment.bytes (RECORD_LIST_TOO_LARGE)
    invalid_batch,           // batch passed validation but cannot be stored, e.g. an empty batch
                             // with a negative last_offset_delta (INVALID_RECORD)
    not_found,               // log_manager: no such partition log
    already_exists,          // log_manager: create() of a partition that exists
};

const char* to_string(storage_errc e);

// result<> cannot hold void: operations without a value return status.
using status = result<std::monostate, storage_errc>;
inline status ok_status() { return std::monostate{}; }

}  // namespace riacho::storage
