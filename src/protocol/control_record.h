// protocol: transaction markers, the control batches (attributes bits 4 and 5) that end a
// producer's transaction on a partition. The one record's key is {version int16 = 0,
// type int16} (0 = ABORT, 1 = COMMIT; 2-6 are KRaft's own control types) and its value
// {version int16 = 0, coordinator_epoch int32}. Byte layout: docs/formats/record-batch.md.
#pragma once

#include "protocol/record_batch.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace riacho::protocol {

enum class control_type : int16_t { abort = 0, commit = 1 };

struct txn_marker {
    bool commit = false;
    int32_t coordinator_epoch = 0;
};

// The marker a control batch carries; nullopt when `batch` is not a control batch, its record
// does not decode, or its type is not ABORT/COMMIT (e.g. a KRaft control record).
std::optional<txn_marker> parse_txn_marker(bytes_view batch);
// The same for the one record of a control batch already decoded.
std::optional<txn_marker> parse_txn_marker(const record_view& record);

// A complete control batch (valid CRC, base offset 0) for the producer's transaction.
std::vector<uint8_t> build_txn_marker(int64_t producer_id,
                                      int16_t producer_epoch,
                                      txn_marker marker,
                                      int64_t timestamp_ms);

}  // namespace riacho::protocol
