// Record batch v2: header parsing, CRC, validation, in-place patches, record decoding and the
// builder. The record walker is shared by validate_batch (which only counts) and
// decode_records (which keeps views), so both apply exactly the same checks. It reads varints
// straight from the buffer and never allocates; every length is checked against the bytes
// left in the record before it is used. Layout: docs/formats/record-batch.md.
#include "protocol/record_batch.h"

#include "protocol/compression.h"
#include "protocol/crc32c.h"

#include <limits>

namespace riacho::protocol {
namespace {

// A record is at least 7 bytes: length, attributes, timestamp delta, offset delta, key
// length, value length and header count, one byte each. Bounds the records_count we trust.
constexpr size_t min_record_bytes = 7;
// A record header is at least its key length and value length.
constexpr size_t min_header_bytes = 2;

uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t load_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint64_t load_be64(const uint8_t* p) { return (uint64_t{load_be32(p)} << 32) | load_be32(p + 4); }
void store_be32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}
void store_be64(uint8_t* p, uint64_t v) {
    store_be32(p, static_cast<uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<uint32_t>(v));
}

// Adds without signed overflow (input is arbitrary); wraps like Java's long arithmetic.
int64_t wrapping_add(int64_t a, int64_t b) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// Sticky cursor over the bytes of one record. Varints longer than their type allows, or whose
// last byte carries bits past 32/64, fail rather than wrap.
class cursor {
public:
    cursor(const uint8_t* p, const uint8_t* end) : _p(p), _end(end) {}

    bool ok() const { return !_failed; }
    size_t remaining() const { return static_cast<size_t>(_end - _p); }
    const uint8_t* position() const { return _p; }

    uint8_t read_u8() {
        if (_p == _end) {
            _failed = true;
            return 0;
        }
        return *_p++;
    }
    int32_t read_varint() {
        uint32_t z = 0;
        for (int shift = 0; shift < 35; shift += 7) {
            uint8_t b = read_u8();
            if (shift == 28 && (b & 0xf0) != 0) {
                _failed = true;
            }
            if (_failed) {
                return 0;
            }
            z |= static_cast<uint32_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return static_cast<int32_t>((z >> 1) ^ (~(z & 1) + 1));
            }
        }
        _failed = true;
        return 0;
    }
    int64_t read_varlong() {
        uint64_t z = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            uint8_t b = read_u8();
            if (shift == 63 && (b & 0xfe) != 0) {
                _failed = true;
            }
            if (_failed) {
                return 0;
            }
            z |= static_cast<uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
            }
        }
        _failed = true;
        return 0;
    }
    // Length-prefixed bytes: -1 is null when `nullable`, anything else below 0 or past the
    // end fails.
    std::optional<bytes_view> read_bytes(bool nullable) {
        int32_t n = read_varint();
        if (_failed) {
            return std::nullopt;
        }
        if (n == -1 && nullable) {
            return std::nullopt;
        }
        if (n < 0 || static_cast<size_t>(n) > remaining()) {
            _failed = true;
            return std::nullopt;
        }
        bytes_view out(_p, static_cast<size_t>(n));
        _p += n;
        return out;
    }

private:
    const uint8_t* _p;
    const uint8_t* _end;
    bool _failed = false;
};

enum class offset_rule { contiguous, increasing };

// Walks `count` records in `records`, calling on_record(record_view&&) for each when
// `keep` is set. Fails unless the bytes hold exactly `count` well-formed records whose offset
// deltas obey `rule` and stay within [0, last_offset_delta].
template <bool keep, typename OnRecord>
bool walk_records(const batch_header& h,
                  bytes_view records,
                  offset_rule rule,
                  [[maybe_unused]] OnRecord&& on_record) {
    if (h.records_count < 0 ||
        static_cast<size_t>(h.records_count) > records.size() / min_record_bytes) {
        return false;
    }
    if (h.records_count > 0 && h.last_offset_delta < h.records_count - 1) {
        return false;
    }
    if (rule == offset_rule::contiguous && h.records_count > 0 &&
        h.last_offset_delta != h.records_count - 1) {
        return false;
    }
    const uint8_t* p = records.data();
    const uint8_t* end = p + records.size();
    int64_t previous_delta = -1;
    for (int32_t i = 0; i < h.records_count; ++i) {
        cursor outer(p, end);
        int32_t length = outer.read_varint();
        if (!outer.ok() || length < 0 || static_cast<size_t>(length) > outer.remaining()) {
            return false;
        }
        const uint8_t* body = outer.position();
        cursor c(body, body + length);
        c.read_u8();  // attributes: unused by magic 2
        int64_t timestamp_delta = c.read_varlong();
        int32_t offset_delta = c.read_varint();
        std::optional<bytes_view> key = c.read_bytes(true);
        std::optional<bytes_view> value = c.read_bytes(true);
        int32_t header_count = c.read_varint();
        if (!c.ok() || header_count < 0 ||
            static_cast<size_t>(header_count) > c.remaining() / min_header_bytes) {
            return false;
        }
        bool delta_ok = rule == offset_rule::contiguous
                            ? offset_delta == i
                            : offset_delta > previous_delta && offset_delta <= h.last_offset_delta;
        if (!delta_ok) {
            return false;
        }
        previous_delta = offset_delta;
        record_view rv;
        if constexpr (keep) {
            rv.offset = wrapping_add(h.base_offset, offset_delta);
            rv.timestamp = wrapping_add(h.base_timestamp, timestamp_delta);
            rv.key = key;
            rv.value = value;
            rv.headers.reserve(static_cast<size_t>(header_count));
        }
        for (int32_t j = 0; j < header_count; ++j) {
            std::optional<bytes_view> hkey = c.read_bytes(false);
            std::optional<bytes_view> hvalue = c.read_bytes(true);
            if (!c.ok()) {
                return false;
            }
            if constexpr (keep) {
                rv.headers.push_back(record_header_view{
                    std::string_view(reinterpret_cast<const char*>(hkey->data()), hkey->size()),
                    hvalue});
            }
        }
        if (c.remaining() != 0) {
            return false;  // the record's length disagrees with its fields
        }
        if constexpr (keep) {
            on_record(std::move(rv));
        }
        p = body + length;
    }
    return p == end;  // bytes after the last counted record mean the count is wrong
}

batch_errc from_compression(compression_errc e) {
    switch (e) {
        case compression_errc::unsupported_codec:
            return batch_errc::unsupported_codec;
        case compression_errc::corrupt:
            return batch_errc::decompression_failed;
        case compression_errc::too_large:
            return batch_errc::too_large;
    }
    return batch_errc::decompression_failed;
}

bool codec_known(compression_codec c) { return static_cast<uint8_t>(c) <= 4; }

// Header, exact size, CRC and codec: everything but the records.
result<batch_header, batch_errc> check_frame(bytes_view batch) {
    auto h = parse_batch_header(batch);
    if (!h) {
        return h;
    }
    if (batch.size() < h->total_size_bytes()) {
        return unexpected{batch_errc::truncated};
    }
    if (batch.size() > h->total_size_bytes()) {
        return unexpected{batch_errc::bad_length};
    }
    if (compute_batch_crc(batch) != h->crc) {
        return unexpected{batch_errc::bad_crc};
    }
    if (!codec_known(h->codec())) {
        return unexpected{batch_errc::unsupported_codec};
    }
    return h;
}

// The record bytes of a checked batch: a view into the batch, or into `scratch` after
// decompression.
result<bytes_view, batch_errc> record_bytes(const batch_header& h,
                                            bytes_view batch,
                                            std::vector<uint8_t>& scratch,
                                            size_t max_decompressed_bytes) {
    bytes_view raw = batch.subspan(batch_header_size);
    if (h.codec() == compression_codec::none) {
        return raw;
    }
    scratch.clear();
    auto n = decompress(h.codec(), raw, scratch, max_decompressed_bytes);
    if (!n) {
        return unexpected{from_compression(n.error())};
    }
    return bytes_view(scratch.data(), scratch.size());
}

}  // namespace

int32_t batch_header::last_sequence() const {
    if (base_sequence < 0) {
        return -1;  // no sequence
    }
    // Kafka's DefaultRecordBatch.incrementSequence: wraps from INT32_MAX to 0.
    constexpr int32_t max = std::numeric_limits<int32_t>::max();
    if (last_offset_delta < 0) {
        return base_sequence;
    }
    if (base_sequence > max - last_offset_delta) {
        return last_offset_delta - (max - base_sequence) - 1;
    }
    return base_sequence + last_offset_delta;
}

const char* to_string(batch_errc e) {
    switch (e) {
        case batch_errc::truncated:
            return "truncated";
        case batch_errc::bad_magic:
            return "bad_magic";
        case batch_errc::bad_length:
            return "bad_length";
        case batch_errc::bad_crc:
            return "bad_crc";
        case batch_errc::bad_records:
            return "bad_records";
        case batch_errc::unsupported_codec:
            return "unsupported_codec";
        case batch_errc::decompression_failed:
            return "decompression_failed";
        case batch_errc::too_large:
            return "too_large";
    }
    return "unknown";
}

result<batch_header, batch_errc> parse_batch_header(bytes_view bytes) {
    if (bytes.size() <= batch_offsets::magic) {
        return unexpected{batch_errc::truncated};
    }
    // The magic decides how the rest is read, so it is checked before anything else.
    if (static_cast<int8_t>(bytes[batch_offsets::magic]) != batch_magic_v2) {
        return unexpected{batch_errc::bad_magic};
    }
    if (bytes.size() < batch_header_size) {
        return unexpected{batch_errc::truncated};
    }
    const uint8_t* p = bytes.data();
    batch_header h;
    h.base_offset = static_cast<int64_t>(load_be64(p + batch_offsets::base_offset));
    h.batch_length = static_cast<int32_t>(load_be32(p + batch_offsets::batch_length));
    h.partition_leader_epoch =
        static_cast<int32_t>(load_be32(p + batch_offsets::partition_leader_epoch));
    h.magic = batch_magic_v2;
    h.crc = load_be32(p + batch_offsets::crc);
    h.attributes = static_cast<int16_t>(load_be16(p + batch_offsets::attributes));
    h.last_offset_delta = static_cast<int32_t>(load_be32(p + batch_offsets::last_offset_delta));
    h.base_timestamp = static_cast<int64_t>(load_be64(p + batch_offsets::base_timestamp));
    h.max_timestamp = static_cast<int64_t>(load_be64(p + batch_offsets::max_timestamp));
    h.producer_id = static_cast<int64_t>(load_be64(p + batch_offsets::producer_id));
    h.producer_epoch = static_cast<int16_t>(load_be16(p + batch_offsets::producer_epoch));
    h.base_sequence = static_cast<int32_t>(load_be32(p + batch_offsets::base_sequence));
    h.records_count = static_cast<int32_t>(load_be32(p + batch_offsets::records_count));
    if (h.batch_length < static_cast<int32_t>(batch_header_size - batch_log_overhead)) {
        return unexpected{batch_errc::bad_length};
    }
    return h;
}

uint32_t compute_batch_crc(bytes_view batch) {
    INVARIANT(batch.size() >= batch_header_size, "batch of {} bytes has no header", batch.size());
    bytes_view covered = batch.subspan(batch_offsets::attributes);
    return crc32c(covered.data(), covered.size());
}

result<batch_header, batch_errc> validate_batch(bytes_view batch, const validation_options& opts) {
    auto h = check_frame(batch);
    if (!h || !opts.check_records || h->records_count == 0) {
        // Kafka reads no records from an empty batch (compaction leaves these behind).
        return h;
    }
    std::vector<uint8_t> scratch;
    auto records = record_bytes(*h, batch, scratch, opts.max_decompressed_bytes);
    if (!records) {
        return unexpected{records.error()};
    }
    offset_rule rule =
        opts.require_contiguous_offsets ? offset_rule::contiguous : offset_rule::increasing;
    if (!walk_records<false>(*h, *records, rule, [](record_view&&) {})) {
        return unexpected{batch_errc::bad_records};
    }
    return h;
}

void set_base_offset(std::span<uint8_t> batch, int64_t base_offset) {
    INVARIANT(batch.size() >= batch_header_size, "batch of {} bytes has no header", batch.size());
    store_be64(batch.data() + batch_offsets::base_offset, static_cast<uint64_t>(base_offset));
}

void set_partition_leader_epoch(std::span<uint8_t> batch, int32_t epoch) {
    INVARIANT(batch.size() >= batch_header_size, "batch of {} bytes has no header", batch.size());
    store_be32(batch.data() + batch_offsets::partition_leader_epoch, static_cast<uint32_t>(epoch));
}

void set_log_append_time(std::span<uint8_t> batch, int64_t timestamp_ms) {
    INVARIANT(batch.size() >= batch_header_size, "batch of {} bytes has no header", batch.size());
    uint8_t* p = batch.data();
    auto attributes = static_cast<uint16_t>(load_be16(p + batch_offsets::attributes) |
                                            batch_attributes::log_append_time);
    p[batch_offsets::attributes] = static_cast<uint8_t>(attributes >> 8);
    p[batch_offsets::attributes + 1] = static_cast<uint8_t>(attributes);
    store_be64(p + batch_offsets::max_timestamp, static_cast<uint64_t>(timestamp_ms));
    store_be32(p + batch_offsets::crc, compute_batch_crc(batch));
}

result<std::vector<record_view>, batch_errc> decode_records(bytes_view batch,
                                                            std::vector<uint8_t>& scratch,
                                                            size_t max_decompressed_bytes) {
    auto h = check_frame(batch);
    if (!h) {
        return unexpected{h.error()};
    }
    std::vector<record_view> out;
    if (h->records_count == 0) {
        return out;
    }
    auto records = record_bytes(*h, batch, scratch, max_decompressed_bytes);
    if (!records) {
        return unexpected{records.error()};
    }
    if (h->records_count < 0 ||
        static_cast<size_t>(h->records_count) > records->size() / min_record_bytes) {
        return unexpected{batch_errc::bad_records};  // checked before the reserve below
    }
    out.reserve(static_cast<size_t>(h->records_count));
    // Compacted batches have gaps in their offset deltas, so only increasing ones are required.
    bool ok = walk_records<true>(*h, *records, offset_rule::increasing,
                                 [&out](record_view&& r) { out.push_back(std::move(r)); });
    if (!ok) {
        return unexpected{batch_errc::bad_records};
    }
    return out;
}

// ---- builder --------------------------------------------------------------------------

batch_builder& batch_builder::set_codec(compression_codec c) {
    _codec = c;
    return *this;
}

batch_builder& batch_builder::set_producer(int64_t producer_id,
                                           int16_t producer_epoch,
                                           int32_t base_sequence) {
    _producer_id = producer_id;
    _producer_epoch = producer_epoch;
    _base_sequence = base_sequence;
    return *this;
}

batch_builder& batch_builder::set_transactional(bool v) {
    _transactional = v;
    return *this;
}

batch_builder& batch_builder::set_control(bool v) {
    _control = v;
    return *this;
}

batch_builder& batch_builder::set_base_offset(int64_t base_offset) {
    _base_offset = base_offset;
    return *this;
}

batch_builder& batch_builder::add(record r) {
    _records.push_back(std::move(r));
    return *this;
}

std::vector<uint8_t> batch_builder::build() const {
    int64_t base_timestamp = _records.empty() ? -1 : _records.front().timestamp;
    int64_t max_timestamp = -1;
    writer records;
    writer body;  // one record at a time, reused
    for (size_t i = 0; i < _records.size(); ++i) {
        const record& r = _records[i];
        max_timestamp = i == 0 ? r.timestamp : std::max(max_timestamp, r.timestamp);
        body.buffer().clear();
        body.write_int8(0);
        body.write_varlong(static_cast<int64_t>(static_cast<uint64_t>(r.timestamp) -
                                                static_cast<uint64_t>(base_timestamp)));
        body.write_varint(static_cast<int32_t>(i));
        auto write_nullable = [&body](const std::optional<std::vector<uint8_t>>& b) {
            if (!b) {
                body.write_varint(-1);
                return;
            }
            body.write_varint(static_cast<int32_t>(b->size()));
            body.write_raw(b->data(), b->size());
        };
        write_nullable(r.key);
        write_nullable(r.value);
        body.write_varint(static_cast<int32_t>(r.headers.size()));
        for (const header_kv& kv : r.headers) {
            body.write_varint(static_cast<int32_t>(kv.key.size()));
            body.write_raw(kv.key.data(), kv.key.size());
            write_nullable(kv.value);
        }
        records.write_varint(static_cast<int32_t>(body.buffer().size()));
        records.write_raw(body.buffer().data(), body.buffer().size());
    }

    int16_t attributes = static_cast<int16_t>(_codec);
    if (_transactional) {
        attributes |= batch_attributes::transactional;
    }
    if (_control) {
        attributes |= batch_attributes::control;
    }
    writer out;
    out.write_int64(_base_offset);
    out.write_int32(0);   // batch_length, patched below
    out.write_int32(-1);  // partition_leader_epoch: set by the leader on append
    out.write_int8(batch_magic_v2);
    out.write_uint32(0);  // crc, patched below
    out.write_int16(attributes);
    out.write_int32(static_cast<int32_t>(_records.size()) - 1);  // -1 for an empty batch
    out.write_int64(base_timestamp);
    out.write_int64(max_timestamp);
    out.write_int64(_producer_id);
    out.write_int16(_producer_epoch);
    out.write_int32(_base_sequence);
    out.write_int32(static_cast<int32_t>(_records.size()));
    if (_codec == compression_codec::none || _records.empty()) {
        out.write_raw(records.buffer().data(), records.buffer().size());
    } else {
        auto compressed = compress(_codec, records.buffer());
        INVARIANT(compressed.has_value(), "compressing a built batch failed");
        out.write_raw(compressed->data(), compressed->size());
    }
    std::vector<uint8_t> batch = std::move(out.buffer());
    INVARIANT(batch.size() - batch_log_overhead <= std::numeric_limits<int32_t>::max(),
              "batch of {} bytes is too large", batch.size());
    store_be32(batch.data() + batch_offsets::batch_length,
               static_cast<uint32_t>(batch.size() - batch_log_overhead));
    store_be32(batch.data() + batch_offsets::crc, compute_batch_crc(batch));
    return batch;
}

std::vector<uint8_t> rebuild_batch(const batch_header& original,
                                   std::span<const record_view> retained,
                                   std::optional<compression_codec> codec,
                                   std::optional<int64_t> delete_horizon_ms) {
    const compression_codec out_codec = codec.value_or(original.codec());
    auto attributes = static_cast<int16_t>((original.attributes & ~batch_attributes::codec_mask) |
                                           static_cast<int16_t>(out_codec));
    int64_t base_timestamp = original.base_timestamp;
    if (delete_horizon_ms) {
        attributes = static_cast<int16_t>(attributes | batch_attributes::delete_horizon);
        base_timestamp = *delete_horizon_ms;
    }
    writer records;
    writer body;  // one record at a time, reused
    auto write_nullable = [&body](const std::optional<bytes_view>& b) {
        if (!b) {
            body.write_varint(-1);
            return;
        }
        body.write_varint(static_cast<int32_t>(b->size()));
        body.write_raw(b->data(), b->size());
    };
    for (const record_view& r : retained) {
        body.buffer().clear();
        body.write_int8(0);
        body.write_varlong(static_cast<int64_t>(static_cast<uint64_t>(r.timestamp) -
                                                static_cast<uint64_t>(base_timestamp)));
        body.write_varint(static_cast<int32_t>(r.offset - original.base_offset));
        write_nullable(r.key);
        write_nullable(r.value);
        body.write_varint(static_cast<int32_t>(r.headers.size()));
        for (const record_header_view& kv : r.headers) {
            body.write_varint(static_cast<int32_t>(kv.key.size()));
            body.write_raw(reinterpret_cast<const uint8_t*>(kv.key.data()), kv.key.size());
            write_nullable(kv.value);
        }
        records.write_varint(static_cast<int32_t>(body.buffer().size()));
        records.write_raw(body.buffer().data(), body.buffer().size());
    }
    writer out;
    out.write_int64(original.base_offset);
    out.write_int32(0);  // batch_length, patched below
    out.write_int32(original.partition_leader_epoch);
    out.write_int8(batch_magic_v2);
    out.write_uint32(0);  // crc, patched below
    out.write_int16(attributes);
    out.write_int32(original.last_offset_delta);
    out.write_int64(base_timestamp);
    out.write_int64(original.max_timestamp);
    out.write_int64(original.producer_id);
    out.write_int16(original.producer_epoch);
    out.write_int32(original.base_sequence);
    out.write_int32(static_cast<int32_t>(retained.size()));
    if (out_codec == compression_codec::none || retained.empty()) {
        out.write_raw(records.buffer().data(), records.buffer().size());
    } else {
        auto compressed = compress(out_codec, records.buffer());
        INVARIANT(compressed.has_value(), "compressing a rebuilt batch failed");
        out.write_raw(compressed->data(), compressed->size());
    }
    std::vector<uint8_t> batch = std::move(out.buffer());
    store_be32(batch.data() + batch_offsets::batch_length,
               static_cast<uint32_t>(batch.size() - batch_log_overhead));
    store_be32(batch.data() + batch_offsets::crc, compute_batch_crc(batch));
    return batch;
}

}  // namespace riacho::protocol
