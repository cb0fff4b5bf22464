// Power loss through the sync_tracker seam (src/storage/sync_tracker.h): first the seam itself
// (a crash keeps exactly the fdatasync'ed bytes, or a torn prefix or page subset of what came
// after), then the real partition_log on it: after a crash in each mode the log reopens as a
// prefix of what was appended that keeps everything below the recovery point of the moment
// of the crash; an atomic file replace cut at any instant leaves the old or the new file; and
// a truncation that was acknowledged (replication truncation) does not come
// back after a power loss.
#include "storage/sync_tracker.h"
#include "storage_test_util.h"

#include <fcntl.h>
#include <unistd.h>

namespace riacho::storage::test {
namespace {

class power_loss : public ::testing::Test {
protected:
    void SetUp() override { _tracker.install(); }
    void TearDown() override { _tracker.uninstall(); }

    sync_tracker _tracker;
    temp_dir _tmp;
};

std::vector<uint8_t> file_bytes(const std::filesystem::path& p) {
    auto r = read_small_file(p);
    EXPECT_TRUE(r.has_value() && r->has_value());
    return r && *r ? **r : std::vector<uint8_t>{};
}

TEST_F(power_loss, crash_keeps_exactly_the_synced_bytes) {
    auto path = _tmp.path() / "f";
    auto fd = open_file_rw(path, true);
    ASSERT_TRUE(fd.has_value());
    std::vector<uint8_t> a(5000, 'a');
    std::vector<uint8_t> b(3000, 'b');
    ASSERT_TRUE(pwrite_all(*fd, a.data(), a.size(), 0).has_value());
    sync_file(*fd, path);
    ASSERT_TRUE(pwrite_all(*fd, b.data(), b.size(), 4000).has_value());
    ASSERT_TRUE(truncate_file(*fd, 6000).has_value());
    close_fd(*fd);
    EXPECT_EQ(_tracker.durable_size(path), 5000u);

    auto stats = _tracker.crash(_tmp.path(), crash_mode::drop_unsynced, 1);
    EXPECT_EQ(stats.files_changed, 1u);
    EXPECT_EQ(file_bytes(path), a);
    // The crash's result is the new durable state: a second crash changes nothing.
    EXPECT_EQ(_tracker.crash(_tmp.path(), crash_mode::torn_pages, 2).files_changed, 0u);
}

TEST_F(power_loss, torn_modes_keep_the_synced_bytes_and_some_of_the_rest) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        auto path = _tmp.path() / ("f" + std::to_string(seed));
        auto fd = open_file_rw(path, true);
        ASSERT_TRUE(fd.has_value());
        std::vector<uint8_t> synced(1000, 's');
        ASSERT_TRUE(pwrite_all(*fd, synced.data(), synced.size(), 0).has_value());
        sync_file(*fd, path);
        std::vector<uint8_t> later(20000);
        for (size_t i = 0; i < later.size(); ++i) {
            later[i] = static_cast<uint8_t>(1 + i % 251);
        }
        // Two writes, so a torn prefix can stop inside either.
        ASSERT_TRUE(pwrite_all(*fd, later.data(), 9000, 1000).has_value());
        ASSERT_TRUE(pwrite_all(*fd, later.data() + 9000, 11000, 10000).has_value());
        close_fd(*fd);
        auto mode = seed % 2 == 0 ? crash_mode::torn_prefix : crash_mode::torn_pages;
        _tracker.crash(_tmp.path(), mode, seed);
        auto got = file_bytes(path);
        ASSERT_GE(got.size(), synced.size());
        ASSERT_LE(got.size(), synced.size() + later.size());
        EXPECT_TRUE(std::equal(synced.begin(), synced.end(), got.begin()));
        for (size_t i = synced.size(); i < got.size(); ++i) {
            // Each later byte is either what was written or a hole's zero, never anything else,
            // and a torn prefix has no holes.
            uint8_t want = later[i - synced.size()];
            ASSERT_TRUE(got[i] == want || (mode == crash_mode::torn_pages && got[i] == 0))
                << "seed " << seed << " byte " << i;
        }
    }
}

TEST_F(power_loss, renamed_file_keeps_its_durable_state) {
    auto path = _tmp.path() / "checkpoint";
    std::vector<uint8_t> v1{1, 2, 3};
    std::vector<uint8_t> v2{4, 5, 6, 7};
    ASSERT_TRUE(write_file_atomic(path, v1).has_value());
    ASSERT_TRUE(write_file_atomic(path, v2).has_value());
    _tracker.crash(_tmp.path(), crash_mode::drop_unsynced, 3);
    EXPECT_EQ(file_bytes(path), v2);
}

TEST_F(power_loss, atomic_replace_cut_at_every_instant_leaves_old_or_new) {
    auto path = _tmp.path() / "checkpoint";
    std::vector<uint8_t> v1(100, 1);
    std::vector<uint8_t> v2(5000, 2);
    for (uint64_t at = 0; at < 6; ++at) {
        for (auto mode :
             {crash_mode::drop_unsynced, crash_mode::torn_prefix, crash_mode::torn_pages}) {
            SCOPED_TRACE(::testing::Message() << "instant " << at << " mode " << int(mode));
            ASSERT_TRUE(write_file_atomic(path, v1).has_value());
            _tracker.arm_power_loss(_tmp.path(), at, mode, at);
            ASSERT_TRUE(write_file_atomic(path, v2).has_value());
            // write_file_atomic does open, write, sync: the instants past those fall after it.
            if (!_tracker.power_loss_captured()) {
                _tracker.disarm();
                EXPECT_GE(at, 3u);
                continue;
            }
            _tracker.restore_power_loss();
            auto got = file_bytes(path);
            EXPECT_TRUE(got == v1 || got == v2) << got.size() << " bytes";
        }
    }
}

log_config small_segments() {
    log_config cfg;
    cfg.segment_bytes = 2000;
    cfg.index_interval_bytes = 200;
    return cfg;
}

TEST_F(power_loss, log_keeps_everything_below_the_recovery_point) {
    const crash_mode modes[] = {crash_mode::drop_unsynced, crash_mode::torn_prefix,
                                crash_mode::torn_pages};
    for (uint64_t seed = 1; seed <= 30; ++seed) {
        SCOPED_TRACE(::testing::Message() << "seed " << seed);
        auto dir = _tmp.path() / ("t-" + std::to_string(seed));
        std::vector<std::vector<uint8_t>> appended;  // with their final headers
        kafka_offset recovery_point;
        {
            auto log = partition_log::open(dir, small_segments());
            ASSERT_TRUE(log.has_value());
            for (int i = 0; i < 40; ++i) {
                auto b = make_batch(batch_spec{.records = 1 + i % 3,
                                               .value_bytes = 50 + size_t(i) * 7 % 300,
                                               .fill = uint8_t('a' + i % 26)});
                ASSERT_TRUE((*log)->append(b, leader_epoch(1), 1000 + i).has_value());
                appended.push_back(b);
                if (i == int(seed % 37)) {
                    (*log)->flush();
                }
            }
            recovery_point = (*log)->recovery_point();
        }  // no close(): the process dies
        auto mode = modes[seed % 3];
        _tracker.crash(dir, mode, seed);
        auto log = partition_log::open(dir, small_segments());
        ASSERT_TRUE(log.has_value());
        EXPECT_GE((*log)->log_end_offset(), recovery_point);
        if (mode == crash_mode::drop_unsynced) {
            EXPECT_EQ((*log)->log_end_offset(), recovery_point);
        }
        auto got = read_all(**log, kafka_offset(0));
        ASSERT_LE(got.size(), appended.size());
        for (size_t i = 0; i < got.size(); ++i) {
            auto want = decode_batch_header(appended[i].data());
            ASSERT_EQ(got[i].base_offset, want.base_offset);
            ASSERT_EQ(got[i].crc, want.crc);
        }
        ASSERT_TRUE((*log)->close().has_value());
    }
}

TEST_F(power_loss, truncation_does_not_come_back) {
    auto dir = _tmp.path() / "t-0";
    {
        auto log = partition_log::open(dir, small_segments());
        ASSERT_TRUE(log.has_value());
        for (int i = 0; i < 5; ++i) {
            auto b = make_batch(batch_spec{.records = 2, .fill = 'o'});
            ASSERT_TRUE((*log)->append(b, leader_epoch(1), 1000).has_value());
        }
        (*log)->flush();
        ASSERT_TRUE((*log)->truncate_to(kafka_offset(4)).has_value());
        EXPECT_EQ((*log)->log_end_offset(), kafka_offset(4));
        EXPECT_LE((*log)->recovery_point(), kafka_offset(4));
    }
    _tracker.crash(dir, crash_mode::drop_unsynced, 1);
    auto log = partition_log::open(dir, small_segments());
    ASSERT_TRUE(log.has_value());
    // The truncated batches (offsets 4..9) were removed before the crash: a log that served
    // them again would diverge from the leader it truncated to match.
    EXPECT_EQ((*log)->log_end_offset(), kafka_offset(4));
}

}  // namespace
}  // namespace riacho::storage::test
