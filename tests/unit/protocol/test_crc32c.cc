// Checks CRC-32C against published vectors (the "123456789" check value and the iSCSI test
// patterns of RFC 3720 B.4), that the hardware and slicing-by-8 paths agree on random data at
// every alignment and length up to a few KiB and on long buffers (the hardware path's
// three-stripe variant), that a CRC can be continued across buffers, and
// that the SSE4.2 path is the one selected on a CPU that has the instruction.
#include "protocol/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace riacho::protocol {
namespace {

struct vector_case {
    std::vector<uint8_t> data;
    uint32_t crc;
};

std::vector<vector_case> known_vectors() {
    std::vector<vector_case> v;
    std::string check = "123456789";
    v.push_back({{check.begin(), check.end()}, 0xE3069283u});
    v.push_back({{}, 0x00000000u});
    v.push_back({std::vector<uint8_t>(32, 0x00), 0x8A9136AAu});
    v.push_back({std::vector<uint8_t>(32, 0xFF), 0x62A8AB43u});
    std::vector<uint8_t> up(32);
    std::vector<uint8_t> down(32);
    for (uint8_t i = 0; i < 32; ++i) {
        up[i] = i;
        down[i] = static_cast<uint8_t>(31 - i);
    }
    v.push_back({up, 0x46DD794Eu});
    v.push_back({down, 0x113FDB5Cu});
    return v;
}

TEST(crc32c, known_vectors_default_path) {
    for (const auto& c : known_vectors()) {
        EXPECT_EQ(crc32c(c.data.data(), c.data.size()), c.crc) << "size " << c.data.size();
    }
}

TEST(crc32c, known_vectors_software_path) {
    for (const auto& c : known_vectors()) {
        EXPECT_EQ(crc32c_software(c.data.data(), c.data.size()), c.crc) << "size " << c.data.size();
    }
}

TEST(crc32c, hardware_path_selected_when_cpu_has_sse42) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    EXPECT_EQ(crc32c_is_hardware(), static_cast<bool>(__builtin_cpu_supports("sse4.2")));
#else
    GTEST_SKIP() << "no hardware path on this architecture";
#endif
}

TEST(crc32c, hardware_matches_software_on_random_data) {
    std::mt19937_64 rng(12345);
    std::vector<uint8_t> buf(8192 + 16);
    for (auto& b : buf) {
        b = static_cast<uint8_t>(rng());
    }
    for (size_t offset = 0; offset < 16; ++offset) {
        for (size_t len = 0; len < 300; ++len) {
            ASSERT_EQ(crc32c(buf.data() + offset, len), crc32c_software(buf.data() + offset, len))
                << "offset " << offset << " len " << len;
        }
    }
    for (int i = 0; i < 200; ++i) {
        size_t offset = rng() % 16;
        size_t len = rng() % 8192;
        ASSERT_EQ(crc32c(buf.data() + offset, len), crc32c_software(buf.data() + offset, len));
    }
}

// Buffers of 12 KiB and more take the three-stripe path (stripes of 4 KiB, combined by
// shifting): every length around the stripe boundaries, then random long ones, at random
// alignments and continuing from random earlier CRCs.
TEST(crc32c, striped_long_buffers_match_software) {
    std::mt19937_64 rng(777);
    std::vector<uint8_t> buf(256 * 1024 + 16);
    for (auto& b : buf) {
        b = static_cast<uint8_t>(rng());
    }
    for (size_t len : {12287u, 12288u, 12289u, 12295u, 12296u, 24575u, 24576u, 24577u, 36864u}) {
        for (size_t offset = 0; offset < 9; ++offset) {
            ASSERT_EQ(crc32c(buf.data() + offset, len), crc32c_software(buf.data() + offset, len))
                << "offset " << offset << " len " << len;
        }
    }
    for (int i = 0; i < 100; ++i) {
        size_t offset = rng() % 16;
        size_t len = rng() % (256 * 1024);
        auto start = static_cast<uint32_t>(rng());
        ASSERT_EQ(crc32c(buf.data() + offset, len, start),
                  crc32c_software(buf.data() + offset, len, start))
            << "offset " << offset << " len " << len;
    }
}

TEST(crc32c, continues_across_buffers) {
    std::string a = "12345";
    std::string b = "6789";
    uint32_t first = crc32c(a.data(), a.size());
    EXPECT_EQ(crc32c(b.data(), b.size(), first), 0xE3069283u);
    EXPECT_EQ(crc32c_software(b.data(), b.size(), crc32c_software(a.data(), a.size())),
              0xE3069283u);
}

TEST(crc32c, single_bit_flip_changes_crc) {
    std::vector<uint8_t> data(1000, 0x5a);
    uint32_t base = crc32c(data.data(), data.size());
    for (size_t i = 0; i < data.size(); i += 37) {
        data[i] ^= 0x01;
        EXPECT_NE(crc32c(data.data(), data.size()), base);
        data[i] ^= 0x01;
    }
}

}  // namespace
}  // namespace riacho::protocol
