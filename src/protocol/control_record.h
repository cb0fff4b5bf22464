// protocol: control batches (attributes bit 5), whose one record's key is {version int16 = 0,
// type int16}. Transaction markers (bit 4 too) end a producer's transaction on a partition:
// type 0 = ABORT, 1 = COMMIT, value {version int16 = 0, coordinator_epoch int32}. Types 2-6
// are KRaft's own in __cluster_metadata (2 = LEADER_CHANGE; 3-6 snapshot header and footer,
// kraft.version and voters, not used yet). Byte layout: docs/formats/record-batch.md.
#pragma once

#include "protocol/record_batch.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace riacho::protocol {

enum class control_type : int16_t { abort = 0, commit = 1, leader_change = 2 };

struct txn_marker {
    bool commit = false;
    int32_t coordinator_epoch = 0;
};

// The marker a control batch carries; nullopt when `batch` is not a control batch, its record
// does not decode, or its type is not ABORT/COMMIT (e.g. a KRaft control record).
std::optional<txn_marker> parse_txn_marker(bytes_view batch);
// The same for the one record of a control batch already decoded.
std::optional<txn_marker> parse_txn_marker(const record_view& record);

// The type in a control record's key, whatever it is; nullopt when the key is missing, shorter
// than 4 bytes or of a negative version (Kafka's ControlRecordType rules).
std::optional<int16_t> parse_control_type(const record_view& record);

// A non-transactional control batch without a producer (valid CRC, base offset 0, leader
// epoch -1) of one record: key {0, type}, the given value (null when nullopt).
std::vector<uint8_t> build_control_batch(control_type type,
                                         std::optional<std::vector<uint8_t>> value,
                                         int64_t timestamp_ms);

// A complete control batch (valid CRC, base offset 0) for the producer's transaction.
std::vector<uint8_t> build_txn_marker(int64_t producer_id,
                                      int16_t producer_epoch,
                                      txn_marker marker,
                                      int64_t timestamp_ms);

}  // namespace riacho::protocol
