// Checks the four Kafka codecs: every codec round-trips empty, tiny, compressible and random
// inputs and appends after existing bytes; snappy decodes a hand-written raw block and the
// xerial-framed stream of Java producers; zstd decodes a streamed frame without a content
// size; truncated and corrupted inputs return `corrupt` (never crash, never leave partial
// output); and bombs (small inputs that expand past the limit) stop with `too_large` at
// exactly the limit.
#include "protocol/compression.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>
#include <zlib.h>
#include <zstd.h>

namespace riacho::protocol {
namespace {

constexpr compression_codec all_codecs[] = {compression_codec::none, compression_codec::gzip,
                                            compression_codec::snappy, compression_codec::lz4,
                                            compression_codec::zstd};
constexpr compression_codec real_codecs[] = {compression_codec::gzip, compression_codec::snappy,
                                             compression_codec::lz4, compression_codec::zstd};

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) {
        b = static_cast<uint8_t>(rng());
    }
    return v;
}

std::vector<uint8_t> compressible_bytes(size_t n) {
    std::string text = "the quick brown fox jumps over the lazy dog; riacho record ";
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) {
        v[i] = static_cast<uint8_t>(text[i % text.size()] + (i / 4096) % 3);
    }
    return v;
}

std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

std::vector<std::vector<uint8_t>> sample_inputs() {
    return {{},
            bytes_of("x"),
            compressible_bytes(1000),
            compressible_bytes(300000),
            random_bytes(70000, 7)};
}

std::vector<uint8_t> must_compress(compression_codec c, bytes_view in) {
    auto r = compress(c, in);
    EXPECT_TRUE(r.has_value());
    return r ? std::move(*r) : std::vector<uint8_t>{};
}

TEST(compression, every_codec_round_trips) {
    for (compression_codec c : all_codecs) {
        for (const auto& input : sample_inputs()) {
            auto packed = must_compress(c, input);
            std::vector<uint8_t> out;
            auto n = decompress(c, packed, out, 1u << 20);
            ASSERT_TRUE(n.has_value()) << "codec " << int(c) << " size " << input.size();
            EXPECT_EQ(*n, input.size());
            EXPECT_EQ(out, input) << "codec " << int(c);
        }
    }
}

TEST(compression, lz4_frames_use_independent_blocks) {
    // FLG byte after the 4-byte magic: version 01 in bits 7-6, block independence in bit 5.
    auto packed = must_compress(compression_codec::lz4, compressible_bytes(200000));
    ASSERT_GT(packed.size(), 5u);
    EXPECT_EQ(packed[4] & 0xC0, 0x40);
    EXPECT_EQ(packed[4] & 0x20, 0x20);
}

TEST(compression, compressible_input_shrinks) {
    auto input = compressible_bytes(100000);
    for (compression_codec c : real_codecs) {
        EXPECT_LT(must_compress(c, input).size(), input.size() / 4) << "codec " << int(c);
    }
}

TEST(compression, decompress_appends_after_existing_bytes) {
    auto input = compressible_bytes(5000);
    for (compression_codec c : all_codecs) {
        std::vector<uint8_t> out = {1, 2, 3};
        auto n = decompress(c, must_compress(c, input), out, 1u << 20);
        ASSERT_TRUE(n.has_value());
        ASSERT_EQ(out.size(), 3 + input.size());
        EXPECT_EQ(out[0], 1);
        EXPECT_TRUE(std::equal(input.begin(), input.end(), out.begin() + 3));
    }
}

TEST(compression, unknown_codec_is_unsupported) {
    auto bogus = static_cast<compression_codec>(5);
    std::vector<uint8_t> out;
    auto in = bytes_of("abc");
    auto c = compress(bogus, in);
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error(), compression_errc::unsupported_codec);
    auto d = decompress(bogus, in, out, 100);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error(), compression_errc::unsupported_codec);
}

TEST(compression, snappy_hand_written_raw_block) {
    // varint length 5, literal tag ((5 - 1) << 2 | 0), then the five literal bytes.
    std::vector<uint8_t> block = {0x05, 0x10, 'h', 'e', 'l', 'l', 'o'};
    std::vector<uint8_t> out;
    auto n = decompress(compression_codec::snappy, block, out, 100);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(out, bytes_of("hello"));
}

std::vector<uint8_t> xerial_header() {
    // magic, version 1, compatible version 1 (what snappy-java writes)
    return {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0x00, 0, 0, 0, 1, 0, 0, 0, 1};
}

void append_be32(std::vector<uint8_t>& v, uint32_t n) {
    for (int s = 24; s >= 0; s -= 8) {
        v.push_back(static_cast<uint8_t>(n >> s));
    }
}

void append_xerial_chunk(std::vector<uint8_t>& v, const std::vector<uint8_t>& block) {
    append_be32(v, static_cast<uint32_t>(block.size()));
    v.insert(v.end(), block.begin(), block.end());
}

TEST(compression, snappy_xerial_stream_is_decoded) {
    auto part1 = compressible_bytes(40000);
    auto part2 = random_bytes(1000, 3);
    std::vector<uint8_t> stream = xerial_header();
    append_xerial_chunk(stream, {0x05, 0x10, 'h', 'e', 'l', 'l', 'o'});
    append_xerial_chunk(stream, must_compress(compression_codec::snappy, part1));
    append_xerial_chunk(stream, must_compress(compression_codec::snappy, part2));
    std::vector<uint8_t> expected = bytes_of("hello");
    expected.insert(expected.end(), part1.begin(), part1.end());
    expected.insert(expected.end(), part2.begin(), part2.end());

    std::vector<uint8_t> out;
    auto n = decompress(compression_codec::snappy, stream, out, 1u << 20);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(out, expected);
}

TEST(compression, snappy_xerial_header_only_is_empty) {
    std::vector<uint8_t> out;
    auto n = decompress(compression_codec::snappy, xerial_header(), out, 100);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 0u);
}

TEST(compression, snappy_xerial_bad_framing_is_corrupt) {
    std::vector<uint8_t> block = {0x05, 0x10, 'h', 'e', 'l', 'l', 'o'};
    std::vector<std::vector<uint8_t>> cases;
    auto h = xerial_header();
    cases.push_back({h.begin(), h.begin() + 12});  // header cut short
    auto partial_length = h;
    partial_length.push_back(0);
    partial_length.push_back(0);
    cases.push_back(partial_length);  // chunk length cut short
    auto long_length = h;
    append_be32(long_length, 8);  // says 8 bytes, 7 follow
    long_length.insert(long_length.end(), block.begin(), block.end());
    cases.push_back(long_length);
    auto negative = h;
    append_be32(negative, 0xFFFFFFFFu);
    negative.insert(negative.end(), block.begin(), block.end());
    cases.push_back(negative);
    auto bad_block = h;
    append_xerial_chunk(bad_block, {0x05, 0x10, 'h', 'e'});  // literal runs past the block
    cases.push_back(bad_block);
    for (const auto& c : cases) {
        std::vector<uint8_t> out = {9};
        auto n = decompress(compression_codec::snappy, c, out, 1000);
        ASSERT_FALSE(n.has_value()) << "case of " << c.size() << " bytes";
        EXPECT_EQ(n.error(), compression_errc::corrupt);
        EXPECT_EQ(out, std::vector<uint8_t>{9});
    }
}

TEST(compression, zstd_frame_without_content_size) {
    auto input = compressible_bytes(200000);
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    std::vector<uint8_t> frame(ZSTD_compressBound(input.size()));
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    ZSTD_outBuffer o{frame.data(), frame.size(), 0};
    // Like a streaming producer that never learns the size: no content size in the header.
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
    size_t rc = ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_end);
    ZSTD_freeCCtx(cctx);
    ASSERT_EQ(rc, 0u);
    frame.resize(o.pos);
    ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), ZSTD_CONTENTSIZE_UNKNOWN);

    std::vector<uint8_t> out;
    auto n = decompress(compression_codec::zstd, frame, out, 1u << 20);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(out, input);
}

TEST(compression, gzip_concatenated_members) {
    auto a = bytes_of("first member;");
    auto b = bytes_of("second member");
    auto stream = must_compress(compression_codec::gzip, a);
    auto second = must_compress(compression_codec::gzip, b);
    stream.insert(stream.end(), second.begin(), second.end());
    std::vector<uint8_t> out;
    auto n = decompress(compression_codec::gzip, stream, out, 1000);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(out, bytes_of("first member;second member"));
}

TEST(compression, gzip_rejects_zlib_wrapper) {
    auto input = bytes_of("zlib, not gzip");
    std::vector<uint8_t> z(compressBound(input.size()));
    uLongf z_size = z.size();
    ASSERT_EQ(compress2(z.data(), &z_size, input.data(), input.size(), 6), Z_OK);
    z.resize(z_size);
    std::vector<uint8_t> out;
    auto n = decompress(compression_codec::gzip, z, out, 1000);
    ASSERT_FALSE(n.has_value());
    EXPECT_EQ(n.error(), compression_errc::corrupt);
}

TEST(compression, truncated_input_is_corrupt) {
    auto input = compressible_bytes(50000);
    for (compression_codec c : real_codecs) {
        auto packed = must_compress(c, input);
        for (size_t keep :
             {size_t{0}, size_t{1}, size_t{4}, packed.size() / 2, packed.size() - 1}) {
            std::vector<uint8_t> out = {7};
            auto n = decompress(c, bytes_view(packed).first(keep), out, 1u << 20);
            ASSERT_FALSE(n.has_value()) << "codec " << int(c) << " kept " << keep;
            EXPECT_EQ(n.error(), compression_errc::corrupt) << "codec " << int(c);
            EXPECT_EQ(out, std::vector<uint8_t>{7}) << "partial output left behind";
        }
    }
}

TEST(compression, corrupted_input_fails_without_crashing) {
    // Flipping bytes may or may not be detected (snappy has no checksum); what matters is
    // that every outcome is a clean result, and that codecs with checksums catch it.
    auto input = compressible_bytes(20000);
    std::mt19937_64 rng(99);
    for (compression_codec c : real_codecs) {
        auto packed = must_compress(c, input);
        int detected = 0;
        for (int trial = 0; trial < 200; ++trial) {
            auto bad = packed;
            bad[rng() % bad.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
            std::vector<uint8_t> out;
            auto n = decompress(c, bad, out, 1u << 20);
            if (!n.has_value()) {
                ++detected;
                EXPECT_TRUE(out.empty());
            } else {
                EXPECT_LE(out.size(), size_t{1} << 20);
            }
        }
        if (c == compression_codec::gzip) {
            EXPECT_GT(detected, 150);  // gzip carries a CRC-32 of the content
        }
    }
}

TEST(compression, garbage_is_corrupt) {
    auto garbage = random_bytes(1000, 5);
    for (compression_codec c :
         {compression_codec::gzip, compression_codec::lz4, compression_codec::zstd}) {
        std::vector<uint8_t> out;
        auto n = decompress(c, garbage, out, 1u << 20);
        ASSERT_FALSE(n.has_value());
        EXPECT_EQ(n.error(), compression_errc::corrupt);
    }
}

TEST(compression, bombs_stop_at_the_limit) {
    std::vector<uint8_t> zeros(8u << 20, 0);
    for (compression_codec c : real_codecs) {
        auto bomb = must_compress(c, zeros);
        ASSERT_LT(bomb.size(), 1u << 20) << "codec " << int(c);
        std::vector<uint8_t> out;
        auto n = decompress(c, bomb, out, 1u << 20);
        ASSERT_FALSE(n.has_value()) << "codec " << int(c);
        EXPECT_EQ(n.error(), compression_errc::too_large) << "codec " << int(c);
        EXPECT_TRUE(out.empty());
        EXPECT_LE(out.capacity(), (2u << 20) + 1) << "codec " << int(c);
    }
}

TEST(compression, limit_is_inclusive) {
    auto input = compressible_bytes(10000);
    for (compression_codec c : all_codecs) {
        auto packed = must_compress(c, input);
        std::vector<uint8_t> out;
        EXPECT_TRUE(decompress(c, packed, out, input.size()).has_value()) << "codec " << int(c);
        out.clear();
        auto n = decompress(c, packed, out, input.size() - 1);
        ASSERT_FALSE(n.has_value()) << "codec " << int(c);
        EXPECT_EQ(n.error(), compression_errc::too_large);
    }
}

TEST(compression, snappy_lying_length_is_refused_before_allocating) {
    // Claims 2^32 - 1 bytes of output in a 6-byte block.
    std::vector<uint8_t> block = {0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00};
    std::vector<uint8_t> out;
    auto n = decompress(compression_codec::snappy, block, out, 1u << 20);
    ASSERT_FALSE(n.has_value());
    EXPECT_EQ(n.error(), compression_errc::too_large);
    EXPECT_EQ(out.capacity(), 0u);
}

}  // namespace
}  // namespace riacho::protocol
