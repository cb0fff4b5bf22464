// Crash recovery of a partition log. A "crash" is destroying the partition_log without
// close() (no clean-shutdown marker), optionally followed by damaging the newest segment file
// the way a power cut or a bad disk would: cutting bytes off the end (torn write), appending
// garbage, flipping a byte covered by the last batch's CRC, or zeroing the tail. On reopen the
// log must truncate exactly the damaged batch (and everything after it), rebuild the indexes,
// and continue appending at the right offset. Also: a clean close skips the scan, a damaged
// index file is rebuilt, a corrupt middle segment drops the later segments.
#include "storage/partition_log.h"
#include "storage_test_util.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <fstream>
#include <unistd.h>

namespace riacho::storage {
namespace {

using test::make_batch;
using test::read_all;
using test::temp_dir;

log_config small_config() {
    log_config cfg;
    cfg.segment_bytes = 2048;
    cfg.index_interval_bytes = 200;
    return cfg;
}

// Appends `n` batches of 2 records; returns the batch sizes.
std::vector<size_t> fill(partition_log& log, int n) {
    std::vector<size_t> sizes;
    for (int i = 0; i < n; ++i) {
        auto b = make_batch(2, 1000 + i, 50 + i % 7);
        sizes.push_back(b.size());
        EXPECT_TRUE(log.append(b, leader_epoch(1), 0).has_value());
    }
    return sizes;
}

std::filesystem::path last_log_file(const std::filesystem::path& dir) {
    return test::files_with_suffix(dir, ".log").back();
}

void damage(const std::filesystem::path& file,
            const std::function<void(int fd, uint64_t size)>& fn) {
    int fd = ::open(file.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    fn(fd, std::filesystem::file_size(file));
    ::close(fd);
}

struct crashed_log {
    temp_dir tmp;
    std::filesystem::path dir;
    std::vector<size_t> sizes;
    kafka_offset end;
};

// 30 batches (60 offsets) written and "crashed" (no close()).
std::unique_ptr<crashed_log> crash_after_writes() {
    auto c = std::make_unique<crashed_log>();
    c->dir = c->tmp.path() / "t-0";
    auto log = partition_log::open(c->dir, small_config());
    EXPECT_TRUE(log.has_value());
    c->sizes = fill(**log, 30);
    c->end = (*log)->log_end_offset();
    return c;  // the log is destroyed without close()
}

void expect_recovered_to(const std::filesystem::path& dir,
                         kafka_offset expected_end,
                         size_t expected_batches) {
    auto log = partition_log::open(dir, small_config());
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ((*log)->log_end_offset(), expected_end);
    EXPECT_EQ(read_all(**log, kafka_offset(0)).size(), expected_batches);
    auto b = make_batch(3);
    auto r = (*log)->append(b, leader_epoch(2), 0);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->base_offset, expected_end);
    EXPECT_EQ(read_all(**log, kafka_offset(0)).size(), expected_batches + 1);
    // And it stays consistent through another crash.
    log->reset();
    auto again = partition_log::open(dir, small_config());
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ((*again)->log_end_offset(), expected_end + 3);
    EXPECT_EQ((*again)->recovered_truncated_bytes(), 0u);
}

TEST(log_recovery, intact_log_after_crash_loses_nothing) {
    auto c = crash_after_writes();
    expect_recovered_to(c->dir, c->end, 30);
}

TEST(log_recovery, torn_tail_is_truncated) {
    auto c = crash_after_writes();
    damage(last_log_file(c->dir),
           [](int fd, uint64_t size) { ASSERT_EQ(::ftruncate(fd, size - 5), 0); });
    expect_recovered_to(c->dir, c->end - 2, 29);
}

TEST(log_recovery, torn_header_is_truncated) {
    auto c = crash_after_writes();
    uint64_t last = c->sizes.back();
    damage(last_log_file(c->dir), [&](int fd, uint64_t size) {
        ASSERT_EQ(::ftruncate(fd, size - last + 20), 0);  // 20 bytes of the last header remain
    });
    expect_recovered_to(c->dir, c->end - 2, 29);
}

TEST(log_recovery, garbage_after_the_last_batch_is_truncated) {
    auto c = crash_after_writes();
    damage(last_log_file(c->dir), [](int fd, uint64_t size) {
        std::vector<uint8_t> junk(100, 0xAB);
        ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), static_cast<off_t>(size)), 100);
    });
    expect_recovered_to(c->dir, c->end, 30);
}

TEST(log_recovery, zeroed_tail_is_truncated) {
    auto c = crash_after_writes();
    damage(last_log_file(c->dir), [](int fd, uint64_t size) {
        ASSERT_EQ(::ftruncate(fd, size + 4096), 0);  // file extended with zeros (lost data)
    });
    expect_recovered_to(c->dir, c->end, 30);
}

TEST(log_recovery, crc_mismatch_in_last_batch_is_truncated) {
    auto c = crash_after_writes();
    damage(last_log_file(c->dir), [](int fd, uint64_t size) {
        uint8_t b = 0;
        ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(size - 3)), 1);
        b ^= 0x01;
        ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(size - 3)), 1);
    });
    expect_recovered_to(c->dir, c->end - 2, 29);
}

TEST(log_recovery, flipped_base_offset_outside_the_crc_is_truncated) {
    auto c = crash_after_writes();
    uint64_t last = c->sizes.back();
    damage(last_log_file(c->dir), [&](int fd, uint64_t size) {
        uint8_t b = 0;
        off_t at = static_cast<off_t>(size - last + 4);  // a high byte of base_offset
        ASSERT_EQ(::pread(fd, &b, 1, at), 1);
        b ^= 0x08;
        ASSERT_EQ(::pwrite(fd, &b, 1, at), 1);
    });
    expect_recovered_to(c->dir, c->end - 2, 29);
}

TEST(log_recovery, corrupt_first_batch_of_last_segment_empties_it) {
    auto c = crash_after_writes();
    auto logs = test::files_with_suffix(c->dir, ".log");
    ASSERT_GE(logs.size(), 2u);
    // No recovery point known: the last segment is validated (older ones were fsynced at
    // their roll). A flipped byte in its first batch empties it.
    auto first_base = std::stoll(logs.back().filename().string().substr(0, 20));
    damage(logs.back(), [](int fd, uint64_t) {
        uint8_t b = 0;
        ASSERT_EQ(::pread(fd, &b, 1, 70), 1);
        b ^= 0xFF;
        ASSERT_EQ(::pwrite(fd, &b, 1, 70), 1);
    });
    std::filesystem::remove(c->dir / "recovery-point");
    auto batches_before = (first_base) / 2;
    expect_recovered_to(c->dir, kafka_offset(first_base), static_cast<size_t>(batches_before));
}

TEST(log_recovery, torn_segment_before_a_newer_one_deletes_the_newer) {
    auto c = crash_after_writes();
    auto logs = test::files_with_suffix(c->dir, ".log");
    ASSERT_GE(logs.size(), 3u);
    // Pretend the recovery point is 0 (nothing known durable) and tear the second segment.
    std::filesystem::remove(c->dir / "recovery-point");
    {
        std::ofstream f(c->dir / "recovery-point");
        f << "0\n0\n";
    }
    auto second = logs[1];
    damage(second, [](int fd, uint64_t size) { ASSERT_EQ(::ftruncate(fd, size - 1), 0); });
    auto log = partition_log::open(c->dir, small_config());
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ((*log)->segment_count(), 2u);
    auto batches = read_all(**log, kafka_offset(0));
    ASSERT_FALSE(batches.empty());
    EXPECT_EQ((*log)->log_end_offset(), kafka_offset(batches.back().last_offset() + 1));
    EXPECT_FALSE(std::filesystem::exists(logs[2]));
}

TEST(log_recovery, clean_shutdown_skips_the_scan_but_rebuilds_a_bad_index) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    std::vector<protocol::batch_header> before;
    {
        auto log = partition_log::open(dir, small_config());
        ASSERT_TRUE(log.has_value());
        fill(**log, 30);
        before = read_all(**log, kafka_offset(0));
        ASSERT_TRUE((*log)->close().has_value());
    }
    // Garbage in an index file (entries going backwards) is noticed and the index rebuilt.
    auto index = test::files_with_suffix(dir, ".index").front();
    ASSERT_GT(std::filesystem::file_size(index), 16u);
    damage(index, [](int fd, uint64_t) {
        uint8_t junk[8] = {0x7f, 0, 0, 0, 0, 0, 0, 0};
        ASSERT_EQ(::pwrite(fd, junk, 8, 0), 8);
    });
    auto log = partition_log::open(dir, small_config());
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ((*log)->recovered_truncated_bytes(), 0u);
    auto after = read_all(**log, kafka_offset(0));
    ASSERT_EQ(after.size(), before.size());
    for (int64_t o = 0; o < (*log)->log_end_offset().value(); o += 3) {
        auto b = test::read_batches(**log, kafka_offset(o), 1);
        ASSERT_EQ(b.size(), 1u);
        EXPECT_LE(b[0].base_offset, o);
        EXPECT_GE(b[0].last_offset(), o);
    }
}

TEST(log_recovery, missing_index_files_are_rebuilt) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    {
        auto log = partition_log::open(dir, small_config());
        ASSERT_TRUE(log.has_value());
        fill(**log, 30);
        ASSERT_TRUE((*log)->close().has_value());
    }
    auto index = test::files_with_suffix(dir, ".index").front();
    auto size = std::filesystem::file_size(index);
    ASSERT_GT(size, 0u);
    std::filesystem::remove(index);
    std::filesystem::remove(test::files_with_suffix(dir, ".timeindex").front());
    auto log = partition_log::open(dir, small_config());
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ(std::filesystem::file_size(index), size);
    EXPECT_EQ(read_all(**log, kafka_offset(0)).size(), 30u);
}

TEST(log_recovery, clean_marker_with_wrong_end_offset_triggers_recovery) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    {
        auto log = partition_log::open(dir, small_config());
        ASSERT_TRUE(log.has_value());
        fill(**log, 10);
        ASSERT_TRUE((*log)->close().has_value());
    }
    // Damage after the clean close: the tail no longer matches the marker.
    damage(last_log_file(dir),
           [](int fd, uint64_t size) { ASSERT_EQ(::ftruncate(fd, size - 1), 0); });
    auto log = partition_log::open(dir, small_config());
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ((*log)->log_end_offset(), kafka_offset(18));
    EXPECT_EQ(read_all(**log, kafka_offset(0)).size(), 9u);
}

}  // namespace
}  // namespace riacho::storage
