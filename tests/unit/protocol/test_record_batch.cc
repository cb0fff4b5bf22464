// Checks record batch v2 parsing, validation, patching, decoding and building. A batch written
// out byte by byte from the layout in the protocol README (with a CRC computed independently)
// must parse and decode to the fields it spells out, and the builder must reproduce it
// exactly, so the builder is not only tested against itself. Builder output in every codec
// validates and decodes back to its keys, values, headers and timestamps. Every batch_errc is
// produced by a crafted batch (truncated, bad magic, bad length, bad CRC, malformed records,
// unknown codec, undecompressable or oversized payload), and the in-place patches keep the
// batch valid.
#include "protocol/compression.h"
#include "protocol/crc32c.h"
#include "protocol/record_batch.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace riacho::protocol {
namespace {

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }
std::string str(bytes_view b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// The batch README section 3 describes, spelled out by hand. CRC 0x95FFECEA was computed
// with a bit-by-bit CRC-32C outside this code base.
const std::vector<uint8_t> hand_batch = {
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x64,  // base_offset 100
    0x00,
    0x00,
    0x00,
    0x46,  // batch_length 70 (82 - 12)
    0x00,
    0x00,
    0x00,
    0x07,  // partition_leader_epoch 7
    0x02,  // magic 2
    0x95,
    0xFF,
    0xEC,
    0xEA,  // crc of bytes [21, 82)
    0x00,
    0x00,  // attributes: none, CreateTime
    0x00,
    0x00,
    0x00,
    0x01,  // last_offset_delta 1
    0x00,
    0x00,
    0x01,
    0x8B,
    0xCF,
    0xE5,
    0x68,
    0x00,  // base_timestamp 1700000000000
    0x00,
    0x00,
    0x01,
    0x8B,
    0xCF,
    0xE5,
    0x68,
    0x05,  // max_timestamp 1700000000005
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x2A,  // producer_id 42
    0x00,
    0x03,  // producer_epoch 3
    0x00,
    0x00,
    0x00,
    0x09,  // base_sequence 9
    0x00,
    0x00,
    0x00,
    0x02,  // records_count 2
    // record 0: length 13, attributes 0, timestamp delta 0, offset delta 0,
    //           key "k", value "v1", 1 header "h" = "x"
    0x1A,
    0x00,
    0x00,
    0x00,
    0x02,
    'k',
    0x04,
    'v',
    '1',
    0x02,
    0x02,
    'h',
    0x02,
    'x',
    // record 1: length 6, attributes 0, timestamp delta 5, offset delta 1,
    //           key null, value null, no headers
    0x0C,
    0x00,
    0x0A,
    0x02,
    0x01,
    0x01,
    0x00,
};

batch_builder::record rec(int64_t ts,
                          std::optional<std::string> key,
                          std::optional<std::string> value,
                          std::vector<batch_builder::header_kv> headers = {}) {
    batch_builder::record r;
    r.timestamp = ts;
    if (key) {
        r.key = bytes_of(*key);
    }
    if (value) {
        r.value = bytes_of(*value);
    }
    r.headers = std::move(headers);
    return r;
}

// Rewrites batch_length and the CRC after a test edited a batch, so that only the intended
// defect remains.
void reframe(std::vector<uint8_t>& b) {
    uint32_t len = static_cast<uint32_t>(b.size() - batch_log_overhead);
    for (int i = 0; i < 4; ++i) {
        b[batch_offsets::batch_length + i] = static_cast<uint8_t>(len >> (24 - 8 * i));
    }
    uint32_t crc =
        crc32c(b.data() + batch_offsets::attributes, b.size() - batch_offsets::attributes);
    for (int i = 0; i < 4; ++i) {
        b[batch_offsets::crc + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
    }
}

void put_be32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
    }
}

// A batch header followed by hand-written record bytes.
std::vector<uint8_t> craft(int32_t count,
                           int32_t last_offset_delta,
                           const std::vector<uint8_t>& records,
                           int16_t attributes = 0) {
    std::vector<uint8_t> b(hand_batch.begin(), hand_batch.begin() + batch_header_size);
    b[batch_offsets::attributes] = static_cast<uint8_t>(attributes >> 8);
    b[batch_offsets::attributes + 1] = static_cast<uint8_t>(attributes);
    put_be32(b, batch_offsets::records_count, static_cast<uint32_t>(count));
    put_be32(b, batch_offsets::last_offset_delta, static_cast<uint32_t>(last_offset_delta));
    b.insert(b.end(), records.begin(), records.end());
    reframe(b);
    return b;
}

// The record bytes of a minimal record: zero attributes and timestamp delta, null key and
// value, no headers.
std::vector<uint8_t> tiny_record(uint8_t zigzag_offset_delta) {
    return {0x0C, 0x00, 0x00, zigzag_offset_delta, 0x01, 0x01, 0x00};
}

batch_errc validate_error(bytes_view b, validation_options opts = {}) {
    auto r = validate_batch(b, opts);
    EXPECT_FALSE(r.has_value());
    return r ? batch_errc::too_large : r.error();  // the fallback is never compared as success
}

// ---- the hand-written batch ------------------------------------------------------------

TEST(record_batch, hand_written_batch_header_parses) {
    ASSERT_EQ(hand_batch.size(), 82u);
    auto h = parse_batch_header(hand_batch);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->base_offset, 100);
    EXPECT_EQ(h->batch_length, 70);
    EXPECT_EQ(h->partition_leader_epoch, 7);
    EXPECT_EQ(h->magic, 2);
    EXPECT_EQ(h->crc, 0x95FFECEAu);
    EXPECT_EQ(h->codec(), compression_codec::none);
    EXPECT_FALSE(h->is_log_append_time());
    EXPECT_EQ(h->last_offset_delta, 1);
    EXPECT_EQ(h->last_offset(), 101);
    EXPECT_EQ(h->base_timestamp, 1700000000000);
    EXPECT_EQ(h->max_timestamp, 1700000000005);
    EXPECT_EQ(h->producer_id, 42);
    EXPECT_EQ(h->producer_epoch, 3);
    EXPECT_EQ(h->base_sequence, 9);
    EXPECT_EQ(h->last_sequence(), 10);
    EXPECT_EQ(h->records_count, 2);
    EXPECT_EQ(h->total_size_bytes(), 82u);
    EXPECT_EQ(compute_batch_crc(hand_batch), 0x95FFECEAu);
}

TEST(record_batch, hand_written_batch_validates_and_decodes) {
    auto v = validate_batch(hand_batch, {});
    ASSERT_TRUE(v.has_value()) << to_string(v.error());
    std::vector<uint8_t> scratch;
    auto records = decode_records(hand_batch, scratch);
    ASSERT_TRUE(records.has_value()) << to_string(records.error());
    ASSERT_EQ(records->size(), 2u);
    const record_view& r0 = (*records)[0];
    EXPECT_EQ(r0.offset, 100);
    EXPECT_EQ(r0.timestamp, 1700000000000);
    ASSERT_TRUE(r0.key && r0.value);
    EXPECT_EQ(str(*r0.key), "k");
    EXPECT_EQ(str(*r0.value), "v1");
    ASSERT_EQ(r0.headers.size(), 1u);
    EXPECT_EQ(r0.headers[0].key, "h");
    ASSERT_TRUE(r0.headers[0].value);
    EXPECT_EQ(str(*r0.headers[0].value), "x");
    // Views point into the batch itself: no copies for an uncompressed batch.
    EXPECT_EQ(r0.key->data(), hand_batch.data() + 66);
    const record_view& r1 = (*records)[1];
    EXPECT_EQ(r1.offset, 101);
    EXPECT_EQ(r1.timestamp, 1700000000005);
    EXPECT_FALSE(r1.key.has_value());
    EXPECT_FALSE(r1.value.has_value());
    EXPECT_TRUE(r1.headers.empty());
}

TEST(record_batch, builder_reproduces_hand_written_batch) {
    auto built = batch_builder()
                     .set_base_offset(100)
                     .set_producer(42, 3, 9)
                     .add(rec(1700000000000, "k", "v1", {{"h", bytes_of("x")}}))
                     .add(rec(1700000000005, std::nullopt, std::nullopt))
                     .build();
    set_partition_leader_epoch(built, 7);
    EXPECT_EQ(built, hand_batch);
}

// ---- builder round trips ---------------------------------------------------------------

TEST(record_batch, builder_output_validates_and_decodes_in_every_codec) {
    for (auto codec : {compression_codec::none, compression_codec::gzip, compression_codec::snappy,
                       compression_codec::lz4, compression_codec::zstd}) {
        batch_builder b;
        b.set_codec(codec).set_base_offset(5000);
        for (int i = 0; i < 50; ++i) {
            std::vector<batch_builder::header_kv> headers;
            if (i % 3 == 0) {
                headers.push_back({"trace", bytes_of("id-" + std::to_string(i))});
                headers.push_back({"empty", std::nullopt});
            }
            b.add(rec(1000 + i * 7,
                      i % 5 == 0 ? std::nullopt : std::optional("key" + std::to_string(i)),
                      i % 7 == 0 ? std::nullopt : std::optional(std::string(i * 10, 'v')),
                      std::move(headers)));
        }
        auto batch = b.build();
        auto h = validate_batch(batch, {});
        ASSERT_TRUE(h.has_value()) << "codec " << int(codec) << ": " << to_string(h.error());
        EXPECT_EQ(h->codec(), codec);
        EXPECT_EQ(h->records_count, 50);
        EXPECT_EQ(h->last_offset_delta, 49);
        EXPECT_EQ(h->base_timestamp, 1000);
        EXPECT_EQ(h->max_timestamp, 1000 + 49 * 7);

        std::vector<uint8_t> scratch;
        auto records = decode_records(batch, scratch);
        ASSERT_TRUE(records.has_value()) << to_string(records.error());
        ASSERT_EQ(records->size(), 50u);
        for (int i = 0; i < 50; ++i) {
            const record_view& r = (*records)[i];
            EXPECT_EQ(r.offset, 5000 + i);
            EXPECT_EQ(r.timestamp, 1000 + i * 7);
            EXPECT_EQ(r.key.has_value(), i % 5 != 0);
            if (r.key) {
                EXPECT_EQ(str(*r.key), "key" + std::to_string(i));
            }
            EXPECT_EQ(r.value.has_value(), i % 7 != 0);
            if (r.value) {
                EXPECT_EQ(str(*r.value), std::string(i * 10, 'v'));
            }
            ASSERT_EQ(r.headers.size(), i % 3 == 0 ? 2u : 0u);
            if (i % 3 == 0) {
                EXPECT_EQ(r.headers[0].key, "trace");
                EXPECT_EQ(str(*r.headers[0].value), "id-" + std::to_string(i));
                EXPECT_EQ(r.headers[1].key, "empty");
                EXPECT_FALSE(r.headers[1].value.has_value());
            }
        }
    }
}

TEST(record_batch, builder_sets_flags_and_producer_fields) {
    auto batch = batch_builder()
                     .set_producer(77, 2, 2147483640)
                     .set_transactional(true)
                     .set_control(true)
                     .add(rec(5, "k", "v"))
                     .build();
    auto h = validate_batch(batch, {});
    ASSERT_TRUE(h.has_value());
    EXPECT_TRUE(h->is_transactional());
    EXPECT_TRUE(h->is_control());
    EXPECT_TRUE(h->has_producer_id());
    EXPECT_EQ(h->producer_id, 77);
    EXPECT_EQ(h->producer_epoch, 2);
    EXPECT_EQ(h->base_sequence, 2147483640);
    EXPECT_EQ(h->partition_leader_epoch, -1);
}

TEST(record_batch, empty_batch_is_valid) {
    auto batch = batch_builder().build();
    auto h = validate_batch(batch, {});
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->records_count, 0);
    EXPECT_EQ(h->total_size_bytes(), batch_header_size);
    std::vector<uint8_t> scratch;
    auto records = decode_records(batch, scratch);
    ASSERT_TRUE(records.has_value());
    EXPECT_TRUE(records->empty());
}

TEST(record_batch, timestamps_before_base_and_extreme_values_round_trip) {
    auto batch = batch_builder()
                     .add(rec(1000, "a", "1"))
                     .add(rec(-5, "b", "2"))
                     .add(rec(INT64_MAX, "c", "3"))
                     .build();
    std::vector<uint8_t> scratch;
    auto records = decode_records(batch, scratch);
    ASSERT_TRUE(records.has_value());
    EXPECT_EQ((*records)[0].timestamp, 1000);
    EXPECT_EQ((*records)[1].timestamp, -5);
    EXPECT_EQ((*records)[2].timestamp, INT64_MAX);
}

// ---- patches ---------------------------------------------------------------------------

TEST(record_batch, base_offset_and_leader_epoch_patches_keep_crc_valid) {
    auto batch = batch_builder().add(rec(1, "a", "1")).add(rec(2, "b", "2")).build();
    set_base_offset(batch, 123456789012);
    set_partition_leader_epoch(batch, 42);
    auto h = validate_batch(batch, {});
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->base_offset, 123456789012);
    EXPECT_EQ(h->partition_leader_epoch, 42);
    std::vector<uint8_t> scratch;
    auto records = decode_records(batch, scratch);
    ASSERT_TRUE(records.has_value());
    EXPECT_EQ((*records)[1].offset, 123456789013);
}

TEST(record_batch, log_append_time_rewrites_crc) {
    for (auto codec : {compression_codec::none, compression_codec::zstd}) {
        auto batch =
            batch_builder().set_codec(codec).add(rec(10, "a", "1")).add(rec(20, "b", "2")).build();
        uint32_t old_crc = parse_batch_header(batch)->crc;
        set_log_append_time(batch, 1800000000000);
        auto h = validate_batch(batch, {});
        ASSERT_TRUE(h.has_value()) << to_string(h.error());
        EXPECT_NE(h->crc, old_crc);
        EXPECT_TRUE(h->is_log_append_time());
        EXPECT_EQ(h->codec(), codec);
        EXPECT_EQ(h->max_timestamp, 1800000000000);
    }
}

TEST(record_batch, last_sequence_wraps_like_kafka) {
    batch_header h;
    h.base_sequence = -1;
    h.last_offset_delta = 4;
    EXPECT_EQ(h.last_sequence(), -1);
    h.base_sequence = 10;
    EXPECT_EQ(h.last_sequence(), 14);
    h.base_sequence = INT32_MAX - 1;
    EXPECT_EQ(h.last_sequence(), 2);  // MAX-1, MAX, 0, 1, 2
    h.base_sequence = INT32_MAX;
    h.last_offset_delta = 0;
    EXPECT_EQ(h.last_sequence(), INT32_MAX);
}

// ---- every batch_errc ------------------------------------------------------------------

TEST(record_batch, truncated) {
    for (size_t keep : {size_t{0}, size_t{16}, size_t{17}, size_t{60}, hand_batch.size() - 1}) {
        bytes_view cut = bytes_view(hand_batch).first(keep);
        EXPECT_EQ(validate_error(cut), batch_errc::truncated) << "kept " << keep;
        std::vector<uint8_t> scratch;
        auto d = decode_records(cut, scratch);
        ASSERT_FALSE(d.has_value());
        EXPECT_EQ(d.error(), batch_errc::truncated);
    }
    // The header alone parses: storage reads headers without their records.
    EXPECT_TRUE(parse_batch_header(bytes_view(hand_batch).first(batch_header_size)).has_value());
}

TEST(record_batch, bad_magic) {
    for (uint8_t magic : {0, 1, 3, 0xFF}) {
        auto b = hand_batch;
        b[batch_offsets::magic] = magic;
        EXPECT_EQ(validate_error(b), batch_errc::bad_magic);
        auto h = parse_batch_header(bytes_view(b).first(17));
        ASSERT_FALSE(h.has_value());
        EXPECT_EQ(h.error(), batch_errc::bad_magic);
    }
}

TEST(record_batch, bad_length) {
    auto small = hand_batch;
    put_be32(small, batch_offsets::batch_length, 48);  // below the header
    EXPECT_EQ(validate_error(small), batch_errc::bad_length);
    auto negative = hand_batch;
    put_be32(negative, batch_offsets::batch_length, 0x80000000u);
    EXPECT_EQ(validate_error(negative), batch_errc::bad_length);
    auto trailing = hand_batch;
    trailing.push_back(0);  // batch_length says 82 bytes, 83 given
    EXPECT_EQ(validate_error(trailing), batch_errc::bad_length);
    auto huge = hand_batch;
    put_be32(huge, batch_offsets::batch_length, 0x7FFFFFFFu);
    EXPECT_EQ(validate_error(huge), batch_errc::truncated);
}

TEST(record_batch, bad_crc) {
    auto b = hand_batch;
    b[70] ^= 0x20;  // inside record 0's value
    EXPECT_EQ(validate_error(b), batch_errc::bad_crc);
    std::vector<uint8_t> scratch;
    auto d = decode_records(b, scratch);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error(), batch_errc::bad_crc);
    auto attrs = hand_batch;
    attrs[batch_offsets::attributes + 1] = 0x08;  // attributes are covered too
    EXPECT_EQ(validate_error(attrs), batch_errc::bad_crc);
    // Fields before the CRC are not covered.
    auto epoch = hand_batch;
    set_partition_leader_epoch(epoch, 99);
    EXPECT_TRUE(validate_batch(epoch, {}).has_value());
}

TEST(record_batch, bad_records_wrong_offset_deltas) {
    auto rec0 = tiny_record(0x00);
    auto rec2 = tiny_record(0x04);  // offset delta 2 where 1 belongs
    std::vector<uint8_t> records = rec0;
    records.insert(records.end(), rec2.begin(), rec2.end());
    auto gap = craft(2, 1, records);
    EXPECT_EQ(validate_error(gap), batch_errc::bad_records);

    auto starts_at_one = craft(1, 0, tiny_record(0x02));
    EXPECT_EQ(validate_error(starts_at_one), batch_errc::bad_records);

    auto negative = craft(1, 0, tiny_record(0x01));  // delta -1
    EXPECT_EQ(validate_error(negative), batch_errc::bad_records);

    auto wrong_last = craft(1, 3, tiny_record(0x00));  // last_offset_delta != count - 1
    EXPECT_EQ(validate_error(wrong_last), batch_errc::bad_records);
}

TEST(record_batch, compacted_gaps_are_allowed_only_when_asked) {
    auto rec0 = tiny_record(0x00);
    auto rec2 = tiny_record(0x04);
    std::vector<uint8_t> records = rec0;
    records.insert(records.end(), rec2.begin(), rec2.end());
    auto compacted = craft(2, 3, records);  // offsets 0 and 2 left, last_offset_delta kept at 3
    EXPECT_EQ(validate_error(compacted), batch_errc::bad_records);
    validation_options opts;
    opts.require_contiguous_offsets = false;
    EXPECT_TRUE(validate_batch(compacted, opts).has_value());
    std::vector<uint8_t> scratch;
    auto d = decode_records(compacted, scratch);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ((*d)[1].offset, 102);

    std::vector<uint8_t> backwards = rec2;
    backwards.insert(backwards.end(), rec0.begin(), rec0.end());
    auto b = craft(2, 3, backwards);
    EXPECT_EQ(validate_error(b, opts), batch_errc::bad_records);
    auto past_last = craft(2, 1, records);  // delta 2 beyond last_offset_delta 1
    EXPECT_EQ(validate_error(past_last, opts), batch_errc::bad_records);
}

TEST(record_batch, bad_records_count_mismatch) {
    auto one = tiny_record(0x00);
    auto two = one;
    auto second = tiny_record(0x02);
    two.insert(two.end(), second.begin(), second.end());
    EXPECT_EQ(validate_error(craft(3, 2, two)), batch_errc::bad_records);  // count too high
    EXPECT_EQ(validate_error(craft(1, 0, two)), batch_errc::bad_records);  // bytes left over
    EXPECT_EQ(validate_error(craft(-1, 0, two)), batch_errc::bad_records);
    // A count no byte budget could hold is refused before anything is reserved.
    EXPECT_EQ(validate_error(craft(INT32_MAX, INT32_MAX - 1, two)), batch_errc::bad_records);
    std::vector<uint8_t> scratch;
    auto d = decode_records(craft(INT32_MAX, INT32_MAX - 1, two), scratch);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error(), batch_errc::bad_records);
}

TEST(record_batch, bad_records_malformed_fields) {
    std::vector<std::pair<const char*, std::vector<uint8_t>>> cases = {
        {"record length past the end", {0x20, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00}},
        {"negative record length", {0x01, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00}},
        {"record length longer than its fields", {0x0E, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00}},
        {"record length shorter than its fields", {0x0A, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00}},
        {"key length below -1", {0x0C, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00}},
        {"key length past the record", {0x0C, 0x00, 0x00, 0x00, 0x10, 0x01, 0x00}},
        {"value length past the record", {0x0C, 0x00, 0x00, 0x00, 0x01, 0x7E, 0x00}},
        {"negative header count", {0x0C, 0x00, 0x00, 0x00, 0x01, 0x01, 0x01}},
        {"header count past the record", {0x0C, 0x00, 0x00, 0x00, 0x01, 0x01, 0x7E}},
        {"null header key", {0x10, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x01, 0x01}},
        {"varint longer than 5 bytes",
         {0x14, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x01, 0x00}},
        {"varint overflowing 32 bits",
         {0x12, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x01, 0x01, 0x00}},
        {"varlong overflowing 64 bits",
         {0x1A, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 0x01,
          0x00}},
        {"record cut inside a varint", {0x0C, 0x00, 0x00, 0x00, 0x01, 0x01, 0x80}},
    };
    for (const auto& [what, record] : cases) {
        auto b = craft(1, 0, record);
        EXPECT_EQ(validate_error(b), batch_errc::bad_records) << what;
        std::vector<uint8_t> scratch;
        auto d = decode_records(b, scratch);
        ASSERT_FALSE(d.has_value()) << what;
        EXPECT_EQ(d.error(), batch_errc::bad_records) << what;
        // Header and CRC checks alone accept it.
        validation_options shallow;
        shallow.check_records = false;
        EXPECT_TRUE(validate_batch(b, shallow).has_value()) << what;
    }
}

TEST(record_batch, unsupported_codec) {
    for (int16_t codec : {5, 6, 7}) {
        auto b = craft(1, 0, tiny_record(0x00), codec);
        EXPECT_EQ(validate_error(b), batch_errc::unsupported_codec);
        validation_options shallow;
        shallow.check_records = false;
        EXPECT_EQ(validate_error(b, shallow), batch_errc::unsupported_codec);
    }
}

TEST(record_batch, decompression_failed) {
    auto b = craft(1, 0, tiny_record(0x00), static_cast<int16_t>(compression_codec::gzip));
    EXPECT_EQ(validate_error(b), batch_errc::decompression_failed);
    std::vector<uint8_t> scratch;
    auto d = decode_records(b, scratch);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error(), batch_errc::decompression_failed);
}

TEST(record_batch, compressed_records_that_do_not_parse_are_bad_records) {
    auto records = tiny_record(0x00);
    auto packed = compress(compression_codec::lz4, records);
    ASSERT_TRUE(packed.has_value());
    auto b = craft(2, 1, *packed, static_cast<int16_t>(compression_codec::lz4));  // says 2
    EXPECT_EQ(validate_error(b), batch_errc::bad_records);
}

TEST(record_batch, too_large) {
    auto batch = batch_builder()
                     .set_codec(compression_codec::gzip)
                     .add(rec(1, "k", std::string(1u << 20, 'z')))
                     .build();
    EXPECT_LT(batch.size(), 10000u);
    validation_options opts;
    opts.max_decompressed_bytes = 64u << 10;
    EXPECT_EQ(validate_error(batch, opts), batch_errc::too_large);
    std::vector<uint8_t> scratch;
    auto d = decode_records(batch, scratch, 64u << 10);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error(), batch_errc::too_large);
    EXPECT_TRUE(decode_records(batch, scratch).has_value());
}

TEST(record_batch, error_names_are_distinct) {
    std::vector<std::string> names;
    for (auto e : {batch_errc::truncated, batch_errc::bad_magic, batch_errc::bad_length,
                   batch_errc::bad_crc, batch_errc::bad_records, batch_errc::unsupported_codec,
                   batch_errc::decompression_failed, batch_errc::too_large}) {
        std::string n = to_string(e);
        EXPECT_FALSE(n.empty());
        EXPECT_EQ(std::count(names.begin(), names.end(), n), 0) << n;
        names.push_back(n);
    }
}

TEST(record_batch, every_single_byte_flip_is_rejected_or_harmless) {
    // Bytes 0-15 are outside the CRC; every other flip must be caught.
    auto batch = batch_builder().add(rec(1, "a", "1")).add(rec(2, "b", "22")).build();
    for (size_t i = batch_offsets::magic; i < batch.size(); ++i) {
        auto b = batch;
        b[i] ^= 0x01;
        EXPECT_FALSE(validate_batch(b, {}).has_value()) << "byte " << i;
    }
}

}  // namespace
}  // namespace riacho::protocol
