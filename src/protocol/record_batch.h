// Record batch v2 (magic 2): the unit the log stores exactly as the producer sent it.
// The view parses and validates the 61-byte header and the records; the broker patches
// base_offset / partition_leader_epoch in place (both outside the CRC). The builder makes
// batches for tests, control records and the metadata log. Byte layout:
// docs/formats/record-batch.md.
#pragma once

#include "base/result.h"
#include "protocol/wire.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace riacho::protocol {

inline constexpr size_t batch_header_size = 61;
inline constexpr size_t batch_log_overhead = 12;  // base_offset + batch_length
inline constexpr int8_t batch_magic_v2 = 2;

enum class compression_codec : uint8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

namespace batch_attributes {
inline constexpr int16_t codec_mask = 0x07;
inline constexpr int16_t log_append_time = 0x08;
inline constexpr int16_t transactional = 0x10;
inline constexpr int16_t control = 0x20;
inline constexpr int16_t delete_horizon = 0x40;
}  // namespace batch_attributes

// Field offsets inside a batch, for in-place patching.
namespace batch_offsets {
inline constexpr size_t base_offset = 0;
inline constexpr size_t batch_length = 8;
inline constexpr size_t partition_leader_epoch = 12;
inline constexpr size_t magic = 16;
inline constexpr size_t crc = 17;
inline constexpr size_t attributes = 21;
inline constexpr size_t last_offset_delta = 23;
inline constexpr size_t base_timestamp = 27;
inline constexpr size_t max_timestamp = 35;
inline constexpr size_t producer_id = 43;
inline constexpr size_t producer_epoch = 51;
inline constexpr size_t base_sequence = 53;
inline constexpr size_t records_count = 57;
}  // namespace batch_offsets

struct batch_header {
    int64_t base_offset = 0;
    int32_t batch_length = 0;
    int32_t partition_leader_epoch = -1;
    int8_t magic = 0;
    uint32_t crc = 0;
    int16_t attributes = 0;
    int32_t last_offset_delta = 0;
    int64_t base_timestamp = -1;
    int64_t max_timestamp = -1;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int32_t base_sequence = -1;
    int32_t records_count = 0;

    compression_codec codec() const {
        return static_cast<compression_codec>(attributes & batch_attributes::codec_mask);
    }
    bool is_transactional() const { return (attributes & batch_attributes::transactional) != 0; }
    bool is_control() const { return (attributes & batch_attributes::control) != 0; }
    bool is_log_append_time() const {
        return (attributes & batch_attributes::log_append_time) != 0;
    }
    bool has_producer_id() const { return producer_id >= 0; }
    // KIP-534: set by the log cleaner on a batch that kept a tombstone (or, later, a
    // transaction marker); base_timestamp then holds the delete horizon (ms) and the records'
    // timestamp deltas are relative to it. Such records are removed by a cleaning at or after it.
    bool has_delete_horizon() const { return (attributes & batch_attributes::delete_horizon) != 0; }
    std::optional<int64_t> delete_horizon_ms() const {
        return has_delete_horizon() ? std::optional<int64_t>(base_timestamp) : std::nullopt;
    }
    int64_t last_offset() const { return base_offset + last_offset_delta; }
    size_t total_size_bytes() const {
        return static_cast<size_t>(batch_length) + batch_log_overhead;
    }
    int32_t last_sequence() const;  // base_sequence + last_offset_delta, wrapping at INT32_MAX
};

enum class batch_errc {
    truncated,          // fewer bytes than the header or batch_length says
    bad_magic,          // magic != 2
    bad_length,         // batch_length inconsistent with the bytes or below the header size
    bad_crc,            // CRC-32C mismatch
    bad_records,        // records do not parse, counts or offset deltas inconsistent
    unsupported_codec,  // codec bits 5-7
    decompression_failed,
    too_large,  // decompressed size above the limit
};
const char* to_string(batch_errc e);

// Parses the fixed header only. REQUIRES nothing: returns truncated/bad_magic/bad_length.
result<batch_header, batch_errc> parse_batch_header(bytes_view bytes);

// CRC-32C of bytes [21, end) of one batch.
uint32_t compute_batch_crc(bytes_view batch);

// Full validation of exactly one batch occupying all of `batch`: header, lengths, CRC, and
// (when `check_records`) the records themselves: count, offset deltas 0..n-1, varint
// framing, decompressing into a bounded scratch buffer. A batch with records_count 0 has no
// records to check (compaction leaves such batches; Kafka reads nothing from them).
// Allocates only the scratch buffer for a compressed batch, never per record.
struct validation_options {
    bool check_records = true;
    size_t max_decompressed_bytes = 64u << 20;
    // true (produce path): offset deltas are exactly 0..n-1 and last_offset_delta is n-1.
    // false (compacted batches read back from a log): deltas strictly increase within
    // [0, last_offset_delta].
    bool require_contiguous_offsets = true;
};
result<batch_header, batch_errc> validate_batch(bytes_view batch, const validation_options& opts);

// In-place patches (fields outside the CRC need no CRC update).
void set_base_offset(std::span<uint8_t> batch, int64_t base_offset);
void set_partition_leader_epoch(std::span<uint8_t> batch, int32_t epoch);
// Sets the LogAppendTime attribute and max_timestamp, then rewrites the CRC.
void set_log_append_time(std::span<uint8_t> batch, int64_t timestamp_ms);

struct record_header_view {
    std::string_view key;
    std::optional<bytes_view> value;
};

struct record_view {
    int64_t offset = 0;     // absolute: base_offset + offset_delta
    int64_t timestamp = 0;  // absolute: base_timestamp + timestamp_delta
    std::optional<bytes_view> key;
    std::optional<bytes_view> value;
    std::vector<record_header_view> headers;
};

// Decodes every record of a batch, decompressing into `scratch` (views point into `batch`
// or `scratch`, so both must outlive the result). Applies the same header, length and CRC
// checks as validate_batch, and the record checks with require_contiguous_offsets = false
// (compacted batches decode). Allocates the result vector and, for records with headers,
// each record's header vector; nothing else per record.
result<std::vector<record_view>, batch_errc> decode_records(bytes_view batch,
                                                            std::vector<uint8_t>& scratch,
                                                            size_t max_decompressed_bytes = 64u
                                                                                            << 20);

// Compaction: re-encodes `original` keeping only `retained` (a subset of its records, in
// order, as decode_records returned them). Base offset, last offset delta, base and max
// timestamps, producer fields, leader epoch and attributes (codec included) are kept, so the
// batch still spans the same offsets and sequence numbers; the records keep their offsets and
// timestamps (deltas with gaps). With nothing retained the result has no records (Kafka keeps
// such batches for the producer state they carry). The CRC is recomputed.
// `codec`, when given, replaces the original's (a topic's compression.type recompressing what
// a producer sent). `delete_horizon_ms`, when given, sets the KIP-534 delete horizon as Kafka's
// MemoryRecordsBuilder does: the delete-horizon attribute, base_timestamp = the horizon, and
// every record's timestamp delta relative to it (record timestamps are unchanged); without it
// an original horizon is kept as it was.
std::vector<uint8_t> rebuild_batch(const batch_header& original,
                                   std::span<const record_view> retained,
                                   std::optional<compression_codec> codec = std::nullopt,
                                   std::optional<int64_t> delete_horizon_ms = std::nullopt);

// Builds one v2 batch. Used for tests, control records and internal logs.
class batch_builder {
public:
    struct header_kv {
        std::string key;
        std::optional<std::vector<uint8_t>> value;
    };
    struct record {
        int64_t timestamp = 0;
        std::optional<std::vector<uint8_t>> key;
        std::optional<std::vector<uint8_t>> value;
        std::vector<header_kv> headers;
    };

    batch_builder& set_codec(compression_codec c);
    batch_builder& set_producer(int64_t producer_id, int16_t producer_epoch, int32_t base_sequence);
    batch_builder& set_transactional(bool v);
    batch_builder& set_control(bool v);
    batch_builder& set_base_offset(int64_t base_offset);
    batch_builder& add(record r);
    size_t record_count() const { return _records.size(); }
    // Encodes the batch with a valid CRC: offset deltas 0..n-1, base_timestamp = the first
    // record's timestamp, partition_leader_epoch -1. An empty batch has last_offset_delta -1
    // and timestamps -1.
    std::vector<uint8_t> build() const;

private:
    compression_codec _codec = compression_codec::none;
    int64_t _producer_id = -1;
    int16_t _producer_epoch = -1;
    int32_t _base_sequence = -1;
    bool _transactional = false;
    bool _control = false;
    int64_t _base_offset = 0;
    std::vector<record> _records;
};

}  // namespace riacho::protocol
