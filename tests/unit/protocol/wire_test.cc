// Wire primitives: varint/zigzag encodings against known bytes, compact and classic strings,
// and the reader's sticky failure on every kind of bad length (negative, beyond the buffer,
// array counts larger than the bytes left, overlong varints, unordered tags).
#include "protocol/wire.h"

#include <gtest/gtest.h>

namespace riacho::protocol {
namespace {

std::vector<uint8_t> bytes(std::initializer_list<int> v) {
    std::vector<uint8_t> out;
    for (int b : v) {
        out.push_back(static_cast<uint8_t>(b));
    }
    return out;
}

TEST(wire, varints_match_known_encodings) {
    writer w;
    w.write_uvarint(0);
    w.write_uvarint(127);
    w.write_uvarint(128);
    w.write_uvarint(300);
    w.write_varint(-1);
    w.write_varint(1);
    w.write_varlong(-64);
    EXPECT_EQ(w.buffer(), bytes({0x00, 0x7f, 0x80, 0x01, 0xac, 0x02, 0x01, 0x02, 0x7f}));
    reader r(w.buffer());
    EXPECT_EQ(r.read_uvarint(), 0u);
    EXPECT_EQ(r.read_uvarint(), 127u);
    EXPECT_EQ(r.read_uvarint(), 128u);
    EXPECT_EQ(r.read_uvarint(), 300u);
    EXPECT_EQ(r.read_varint(), -1);
    EXPECT_EQ(r.read_varint(), 1);
    EXPECT_EQ(r.read_varlong(), -64);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
}

TEST(wire, extreme_varints_round_trip) {
    for (int64_t v : {INT64_MIN, INT64_MAX, int64_t{0}, int64_t{-1}}) {
        writer w;
        w.write_varlong(v);
        reader r(w.buffer());
        EXPECT_EQ(r.read_varlong(), v);
        EXPECT_TRUE(r.ok());
    }
    for (int32_t v : {INT32_MIN, INT32_MAX}) {
        writer w;
        w.write_varint(v);
        reader r(w.buffer());
        EXPECT_EQ(r.read_varint(), v);
    }
}

TEST(wire, overlong_varint_fails) {
    auto b = bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
    reader r(b);
    r.read_uvarint();
    EXPECT_FALSE(r.ok());
}

TEST(wire, strings_compact_and_classic) {
    writer w;
    w.write_string("ab", false);
    w.write_string("ab", true);
    w.write_nullable_string(std::nullopt, false);
    w.write_nullable_string(std::nullopt, true);
    EXPECT_EQ(w.buffer(), bytes({0, 2, 'a', 'b', 3, 'a', 'b', 0xff, 0xff, 0}));
    reader r(w.buffer());
    EXPECT_EQ(r.read_string(false), "ab");
    EXPECT_EQ(r.read_string(true), "ab");
    EXPECT_EQ(r.read_nullable_string(false), std::nullopt);
    EXPECT_EQ(r.read_nullable_string(true), std::nullopt);
    EXPECT_TRUE(r.ok());
}

TEST(wire, null_where_not_nullable_fails) {
    auto b = bytes({0xff, 0xff});
    reader r(b);
    r.read_string(false);
    EXPECT_FALSE(r.ok());
}

TEST(wire, length_beyond_buffer_fails_and_stays_failed) {
    auto b = bytes({0, 10, 'a', 0, 0, 0, 1});
    reader r(b);
    r.read_string(false);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.read_int32(), 0);
    EXPECT_FALSE(r.ok());
}

TEST(wire, array_count_larger_than_bytes_left_fails_before_allocating) {
    auto b = bytes({0x7f, 0xff, 0xff, 0xff, 1, 2, 3});
    reader r(b);
    EXPECT_EQ(r.read_array_length(false), 0);
    EXPECT_FALSE(r.ok());
}

TEST(wire, negative_lengths_other_than_null_fail) {
    auto b = bytes({0xff, 0xfe});
    reader r(b);
    r.read_nullable_string(false);
    EXPECT_FALSE(r.ok());
    auto c = bytes({0xff, 0xff, 0xff, 0xfe});
    reader r2(c);
    r2.read_records(false);
    EXPECT_FALSE(r2.ok());
}

TEST(wire, tag_sections_skip_known_layout_and_reject_unordered_tags) {
    auto good = bytes({2, 0, 1, 0xaa, 5, 2, 0xbb, 0xcc});
    reader r(good);
    r.skip_tagged_fields();
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
    auto unordered = bytes({2, 5, 0, 1, 0});
    reader r2(unordered);
    r2.skip_tagged_fields();
    EXPECT_FALSE(r2.ok());
}

TEST(wire, records_are_views_not_copies) {
    auto b = bytes({0, 0, 0, 3, 7, 8, 9});
    reader r(b);
    auto rec = r.read_records(false);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(rec.is_null);
    EXPECT_EQ(rec.memory.data(), b.data() + 4);
    EXPECT_EQ(rec.size_bytes(), 3u);
}

TEST(wire, uuid_prints_like_kafka) {
    uuid u;
    for (size_t i = 0; i < 16; ++i) {
        u.bytes[i] = static_cast<uint8_t>(i);
    }
    EXPECT_EQ(u.to_base64(), "AAECAwQFBgcICQoLDA0ODw");
    EXPECT_FALSE(uuid::random().is_zero());
}

}  // namespace
}  // namespace riacho::protocol
