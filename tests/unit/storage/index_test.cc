// offset_index and time_index on their own: big-endian 8/12-byte entries on disk, binary-search
// lookups (the last entry at or below the target, or the segment base), truncation, a partial
// trailing entry dropped on open, files written only by write_file (no descriptor held), sanity
// checks, and the segment file naming.
#include "storage/file_io.h"
#include "storage/offset_index.h"
#include "storage/segment.h"
#include "storage/time_index.h"
#include "storage_test_util.h"

#include <gtest/gtest.h>

#include <fstream>

namespace riacho::storage {
namespace {

using test::temp_dir;

std::vector<uint8_t> file_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

TEST(offset_index, append_lookup_truncate_reopen) {
    temp_dir tmp;
    auto path = tmp.path() / "00000000000000000100.index";
    {
        bool existed = true;
        auto idx = offset_index::open(path, kafka_offset(100), 1000, &existed);
        ASSERT_TRUE(idx.has_value());
        EXPECT_FALSE(existed);
        EXPECT_EQ(idx->lookup(kafka_offset(150)).position, 0u);
        EXPECT_EQ(idx->lookup(kafka_offset(150)).offset, kafka_offset(100));
        for (int i = 1; i <= 10; ++i) {
            idx->append(kafka_offset(100 + 10 * i), 1000u * i);
        }
        EXPECT_EQ(idx->lookup(kafka_offset(109)).position, 0u);
        EXPECT_EQ(idx->lookup(kafka_offset(110)).position, 1000u);
        EXPECT_EQ(idx->lookup(kafka_offset(155)).position, 5000u);
        EXPECT_EQ(idx->lookup(kafka_offset(1000)).position, 10000u);
        EXPECT_TRUE(idx->is_sane(10001));
        EXPECT_FALSE(idx->is_sane(10000));
        EXPECT_FALSE(std::filesystem::exists(path));  // nothing written before write_file
        ASSERT_TRUE(idx->write_file(false).has_value());
        EXPECT_EQ(std::filesystem::file_size(path), 80u);
        idx->truncate_to_position(5000);
        EXPECT_EQ(idx->size(), 4u);
        ASSERT_TRUE(idx->write_file(true).has_value());  // cuts the file too
    }
    auto bytes = file_bytes(path);
    ASSERT_EQ(bytes.size(), 32u);
    EXPECT_EQ(get_be32(&bytes[0]), 10u);    // relative offset 110 - 100
    EXPECT_EQ(get_be32(&bytes[4]), 1000u);  // position
    // A torn trailing entry is dropped.
    {
        std::ofstream f(path, std::ios::binary | std::ios::app);
        f.write("\x01\x02\x03", 3);
    }
    bool existed = false;
    auto idx = offset_index::open(path, kafka_offset(100), 1000, &existed);
    ASSERT_TRUE(idx.has_value());
    EXPECT_TRUE(existed);
    EXPECT_EQ(idx->size(), 4u);
    EXPECT_EQ(idx->last().offset, kafka_offset(140));
    // The torn bytes go at the next write, which also appends the new entry after the old ones.
    idx->append(kafka_offset(150), 6000);
    ASSERT_TRUE(idx->write_file(false).has_value());
    bytes = file_bytes(path);
    ASSERT_EQ(bytes.size(), 40u);
    EXPECT_EQ(get_be32(&bytes[28]), 4000u);  // the 4th entry kept as it was
    EXPECT_EQ(get_be32(&bytes[32]), 50u);
    EXPECT_EQ(get_be32(&bytes[36]), 6000u);
}

TEST(time_index, appends_only_growing_timestamps) {
    temp_dir tmp;
    auto path = tmp.path() / "00000000000000000000.timeindex";
    auto idx = time_index::open(path, kafka_offset(0), 100);
    ASSERT_TRUE(idx.has_value());
    idx->maybe_append(1000, kafka_offset(5));
    idx->maybe_append(1000, kafka_offset(8));  // not larger: skipped
    idx->maybe_append(2000, kafka_offset(9));
    idx->maybe_append(3000, kafka_offset(20));
    EXPECT_EQ(idx->size(), 3u);
    EXPECT_EQ(idx->lookup(999), kafka_offset(0));
    EXPECT_EQ(idx->lookup(1000), kafka_offset(5));
    EXPECT_EQ(idx->lookup(2500), kafka_offset(9));
    EXPECT_EQ(idx->lookup(9999), kafka_offset(20));
    ASSERT_TRUE(idx->write_file(false).has_value());
    idx->truncate_to_offset(kafka_offset(9));
    EXPECT_EQ(idx->size(), 1u);
    ASSERT_TRUE(idx->write_file(false).has_value());
    auto bytes = file_bytes(path);
    ASSERT_EQ(bytes.size(), 12u);
    EXPECT_EQ(get_be64(&bytes[0]), 1000u);
    EXPECT_EQ(get_be32(&bytes[8]), 5u);
    EXPECT_TRUE(idx->is_sane());
}

TEST(segment, file_names_are_twenty_digits) {
    EXPECT_EQ(offset_file_name(kafka_offset(0), ".log"), "00000000000000000000.log");
    EXPECT_EQ(offset_file_name(kafka_offset(1234567), ".index"), "00000000000001234567.index");
}

TEST(segment, full_index_rolls_the_segment) {
    temp_dir tmp;
    log_config cfg;
    cfg.index_interval_bytes = 1;
    cfg.segment_index_bytes = 8 * 4 + 4;  // 4 offset entries, 3 time entries
    auto log = partition_log::open(tmp.path() / "t-0", cfg);
    ASSERT_TRUE(log.has_value());
    for (int i = 0; i < 20; ++i) {
        auto b = test::make_batch(1, 1000 + i);
        ASSERT_TRUE((*log)->append(b, leader_epoch(0), 0).has_value());
    }
    EXPECT_GT((*log)->segment_count(), 3u);
    EXPECT_EQ(test::read_all(**log, kafka_offset(0)).size(), 20u);
    for (const auto& f : test::files_with_suffix(tmp.path() / "t-0", ".timeindex")) {
        EXPECT_LE(std::filesystem::file_size(f), 36u);
    }
}

}  // namespace
}  // namespace riacho::storage
