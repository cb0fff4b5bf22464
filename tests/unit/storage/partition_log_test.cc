// partition_log basics on real temporary directories: appends assign consecutive offsets and
// patch base offset / leader epoch in place; reads return whole batches (checked by parsing
// the returned file range and verifying each CRC) from the batch holding the fetch offset,
// including from the middle of a segment (index lookup) and across segments rolled by size and
// by time; byte limits, KIP-74 min-one-batch, the max-offset bound and out-of-range offsets;
// timestamp lookups (offset_for_timestamp, max_timestamp_offset); LogAppendTime; reopen after a
// clean close keeps everything; truncate_to and advance_log_start_offset; the disk blocks
// reserved ahead of appends stay invisible and are given back; writeback started off the
// appending thread lets go of deleted files.
#include "storage/partition_log.h"

#include "storage/writeback.h"
#include "storage_test_util.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <thread>
#include <unistd.h>

namespace riacho::storage {
namespace {

using test::make_batch;
using test::read_all;
using test::read_batches;
using test::temp_dir;

log_config small_config() {
    log_config cfg;
    cfg.segment_bytes = 4096;
    cfg.index_interval_bytes = 256;
    return cfg;
}

std::unique_ptr<partition_log> open_log(const std::filesystem::path& dir, log_config cfg) {
    auto log = partition_log::open(dir, cfg);
    EXPECT_TRUE(log.has_value());
    return std::move(log).value();
}

TEST(partition_log, empty_log_starts_at_zero) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0", small_config());
    EXPECT_EQ(log->log_start_offset(), kafka_offset(0));
    EXPECT_EQ(log->log_end_offset(), kafka_offset(0));
    auto r = log->read(kafka_offset(0), 1000, true);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->size_bytes, 0u);
    EXPECT_FALSE(log->read(kafka_offset(1), 1000, true).has_value());
    EXPECT_TRUE(std::filesystem::exists(tmp.path() / "t-0" / "00000000000000000000.log"));
    auto ts = log->offset_for_timestamp(0);
    ASSERT_TRUE(ts.has_value());
    EXPECT_FALSE(ts->has_value());
}

TEST(partition_log, append_assigns_offsets_and_patches_header) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0", small_config());
    auto b1 = make_batch(3);
    auto r1 = log->append(b1, leader_epoch(7), 1);
    ASSERT_TRUE(r1.has_value());
    EXPECT_EQ(r1->base_offset, kafka_offset(0));
    EXPECT_EQ(r1->last_offset, kafka_offset(2));
    EXPECT_EQ(r1->log_append_time_ms, -1);
    EXPECT_FALSE(r1->duplicate);
    auto b2 = make_batch(2);
    auto r2 = log->append(b2, leader_epoch(8), 2);
    ASSERT_TRUE(r2.has_value());
    EXPECT_EQ(r2->base_offset, kafka_offset(3));
    EXPECT_EQ(log->log_end_offset(), kafka_offset(5));
    // Patched in place in the caller's buffer too.
    EXPECT_EQ(decode_batch_header(b2.data()).base_offset, 3);

    auto batches = read_batches(*log, kafka_offset(0));
    ASSERT_EQ(batches.size(), 2u);
    EXPECT_EQ(batches[0].base_offset, 0);
    EXPECT_EQ(batches[0].partition_leader_epoch, 7);
    EXPECT_EQ(batches[1].base_offset, 3);
    EXPECT_EQ(batches[1].partition_leader_epoch, 8);
    // Offset 4 lives in the second batch: the read starts there.
    batches = read_batches(*log, kafka_offset(4));
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(batches[0].base_offset, 3);
}

TEST(partition_log, reads_across_size_rolls_and_from_mid_segment) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0", small_config());
    std::vector<kafka_offset> bases;
    for (int i = 0; i < 200; ++i) {
        auto b = make_batch(1 + i % 4, 1000 + i, 20 + i % 50);
        auto r = log->append(b, leader_epoch(1), 1000 + i);
        ASSERT_TRUE(r.has_value());
        bases.push_back(r->base_offset);
    }
    EXPECT_GT(log->segment_count(), 5u);
    auto all = read_all(*log, kafka_offset(0));
    ASSERT_EQ(all.size(), 200u);
    for (size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(kafka_offset(all[i].base_offset), bases[i]);
    }
    // Every offset reads back starting with the batch that contains it.
    for (int64_t o = 0; o < log->log_end_offset().value(); ++o) {
        auto r = log->read(kafka_offset(o), 1, true);
        ASSERT_TRUE(r.has_value());
        auto b = test::parse_batches(test::slice_bytes(*r));
        ASSERT_EQ(b.size(), 1u) << o;
        EXPECT_LE(b[0].base_offset, o);
        EXPECT_GE(b[0].last_offset(), o);
    }
    for (const auto& f : test::files_with_suffix(tmp.path() / "t-0", ".log")) {
        EXPECT_LE(std::filesystem::file_size(f), 4096u);
    }
    EXPECT_EQ(log->size_bytes(), [&] {
        uint64_t s = 0;
        for (const auto& f : test::files_with_suffix(tmp.path() / "t-0", ".log")) {
            s += std::filesystem::file_size(f);
        }
        return s;
    }());
}

TEST(partition_log, rolls_by_time) {
    temp_dir tmp;
    log_config cfg;
    cfg.segment_ms = 1000;
    auto log = open_log(tmp.path() / "t-0", cfg);
    int64_t now = 10'000;
    for (int i = 0; i < 10; ++i) {
        auto b = make_batch(1, now);
        ASSERT_TRUE(log->append(b, leader_epoch(0), now).has_value());
        now += 400;  // a new segment every 3 batches (> 1000 ms after the first)
    }
    EXPECT_EQ(log->segment_count(), 4u);
    EXPECT_EQ(read_all(*log, kafka_offset(0)).size(), 10u);
}

TEST(partition_log, byte_limits_and_min_one_batch) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0", small_config());
    std::vector<size_t> sizes;
    for (int i = 0; i < 5; ++i) {
        auto b = make_batch(2, 1000, 100);
        sizes.push_back(b.size());
        ASSERT_TRUE(log->append(b, leader_epoch(0), 0).has_value());
    }
    auto r = log->read(kafka_offset(0), sizes[0] + sizes[1] + 1, false);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->size_bytes, sizes[0] + sizes[1]);
    EXPECT_EQ(r->first_offset, kafka_offset(0));
    EXPECT_EQ(r->next_offset, kafka_offset(4));
    // Too small for one batch: empty unless min_one_batch (KIP-74).
    r = log->read(kafka_offset(0), 10, false);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->size_bytes, 0u);
    r = log->read(kafka_offset(0), 10, true);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->size_bytes, sizes[0]);
    // The max offset bound (e.g. a high watermark) stops before batches reaching it.
    r = log->read(kafka_offset(0), 1 << 20, true, kafka_offset(6));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(test::parse_batches(test::slice_bytes(*r)).size(), 3u);
    r = log->read(kafka_offset(6), 1 << 20, true, kafka_offset(6));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->size_bytes, 0u);
    r = log->read(kafka_offset(2), 1 << 20, true, kafka_offset(3));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->size_bytes, 0u);  // offset 3 is in the batch [2, 3], which reaches the bound
    // Out of range.
    EXPECT_EQ(log->read(kafka_offset(11), 100, true).error(), storage_errc::offset_out_of_range);
    r = log->read(kafka_offset(10), 100, true);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->size_bytes, 0u);
}

TEST(partition_log, timestamp_lookups) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0", small_config());
    // Batch i holds 3 records with timestamps 1000*i + {0,1,2}; batch 7 is out of order (low).
    for (int i = 0; i < 40; ++i) {
        int64_t ts = i == 7 ? 5 : 1000 * i;
        auto b = make_batch(3, ts, 60);
        ASSERT_TRUE(log->append(b, leader_epoch(0), 0).has_value());
    }
    ASSERT_GT(log->segment_count(), 1u);
    auto at = [&](int64_t ts) {
        auto r = log->offset_for_timestamp(ts);
        EXPECT_TRUE(r.has_value());
        return *r;
    };
    EXPECT_EQ(at(0), (timestamp_and_offset{0, kafka_offset(0)}));
    EXPECT_EQ(at(1), (timestamp_and_offset{1, kafka_offset(1)}));
    EXPECT_EQ(at(3), (timestamp_and_offset{1000, kafka_offset(3)}));
    EXPECT_EQ(at(20001), (timestamp_and_offset{20001, kafka_offset(61)}));
    EXPECT_EQ(at(20003), (timestamp_and_offset{21000, kafka_offset(63)}));
    EXPECT_EQ(at(39002), (timestamp_and_offset{39002, kafka_offset(119)}));
    EXPECT_FALSE(at(39003).has_value());
    auto max = log->max_timestamp_offset();
    ASSERT_TRUE(max.has_value());
    EXPECT_EQ(*max, (timestamp_and_offset{39002, kafka_offset(119)}));
}

TEST(partition_log, log_append_time_overwrites_timestamps) {
    temp_dir tmp;
    log_config cfg;
    cfg.message_timestamp_type = timestamp_type::log_append_time;
    auto log = open_log(tmp.path() / "t-0", cfg);
    auto b = make_batch(2, 5);
    auto r = log->append(b, leader_epoch(0), 777);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->log_append_time_ms, 777);
    auto batches = read_batches(*log, kafka_offset(0));  // CRC re-checked here
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_TRUE(batches[0].is_log_append_time());
    EXPECT_EQ(batches[0].max_timestamp, 777);
    auto ts = log->offset_for_timestamp(700);
    ASSERT_TRUE(ts.has_value());
    EXPECT_EQ(*ts, (timestamp_and_offset{777, kafka_offset(0)}));
}

TEST(partition_log, reopen_after_clean_close_keeps_everything) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    std::vector<protocol::batch_header> before;
    timestamp_and_offset max_before;
    {
        auto log = open_log(dir, small_config());
        for (int i = 0; i < 100; ++i) {
            auto b = make_batch(1 + i % 3, 1000 + 10 * i, 40);
            ASSERT_TRUE(log->append(b, leader_epoch(2), 0).has_value());
        }
        ASSERT_TRUE(log->advance_log_start_offset(kafka_offset(3)).has_value());
        before = read_all(*log, kafka_offset(3));
        max_before = **log->max_timestamp_offset();
        ASSERT_TRUE(log->close().has_value());
    }
    EXPECT_TRUE(std::filesystem::exists(dir / "clean-shutdown"));
    auto log = open_log(dir, small_config());
    EXPECT_FALSE(std::filesystem::exists(dir / "clean-shutdown"));
    EXPECT_EQ(log->recovered_truncated_bytes(), 0u);
    EXPECT_EQ(log->log_start_offset(), kafka_offset(3));
    auto after = read_all(*log, kafka_offset(3));
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i) {
        EXPECT_EQ(after[i].base_offset, before[i].base_offset);
        EXPECT_EQ(after[i].crc, before[i].crc);
    }
    EXPECT_EQ(**log->max_timestamp_offset(), max_before);
    EXPECT_EQ(log->offset_for_timestamp(1000 + 10 * 50)->value().timestamp, 1500);
    auto b = make_batch(1);
    auto r = log->append(b, leader_epoch(2), 0);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->base_offset, kafka_offset(before.back().last_offset() + 1));
}

TEST(partition_log, truncate_to_removes_whole_batches) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    auto log = open_log(dir, small_config());
    for (int i = 0; i < 60; ++i) {
        auto b = make_batch(2, 1000 + i, 60);
        ASSERT_TRUE(log->append(b, leader_epoch(0), 0).has_value());
    }
    size_t segments = log->segment_count();
    ASSERT_GT(segments, 2u);
    ASSERT_TRUE(log->truncate_to(kafka_offset(31)).has_value());  // inside batch [30, 31]
    EXPECT_EQ(log->log_end_offset(), kafka_offset(30));
    EXPECT_LT(log->segment_count(), segments);
    EXPECT_EQ(read_all(*log, kafka_offset(0)).size(), 15u);
    auto b = make_batch(1);
    EXPECT_EQ(log->append(b, leader_epoch(1), 0)->base_offset, kafka_offset(30));
    // Below the log start: the log restarts empty at that offset.
    ASSERT_TRUE(log->advance_log_start_offset(kafka_offset(20)).has_value());
    ASSERT_TRUE(log->truncate_to(kafka_offset(10)).has_value());
    EXPECT_EQ(log->log_start_offset(), kafka_offset(10));
    EXPECT_EQ(log->log_end_offset(), kafka_offset(10));
    EXPECT_EQ(log->segment_count(), 1u);
    ASSERT_TRUE(log->close().has_value());
    auto reopened = open_log(dir, small_config());
    EXPECT_EQ(reopened->log_start_offset(), kafka_offset(10));
    EXPECT_EQ(reopened->log_end_offset(), kafka_offset(10));
}

TEST(partition_log, advance_log_start_deletes_whole_segments_only) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0", small_config());
    for (int i = 0; i < 100; ++i) {
        auto b = make_batch(1, 1000, 100);
        ASSERT_TRUE(log->append(b, leader_epoch(0), 0).has_value());
    }
    size_t segments = log->segment_count();
    ASSERT_TRUE(log->advance_log_start_offset(kafka_offset(50)).has_value());
    EXPECT_LT(log->segment_count(), segments);
    EXPECT_EQ(log->read(kafka_offset(49), 100, true).error(), storage_errc::offset_out_of_range);
    auto b = read_batches(*log, kafka_offset(50), 1);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].base_offset, 50);
    ASSERT_TRUE(log->advance_log_start_offset(kafka_offset(100)).has_value());
    EXPECT_EQ(log->segment_count(), 1u);  // the active segment stays
}

TEST(partition_log, flush_policy_moves_the_recovery_point) {
    temp_dir tmp;
    log_config cfg;
    cfg.flush_messages = 5;
    auto log = open_log(tmp.path() / "t-0", cfg);
    auto b = make_batch(3);
    ASSERT_TRUE(log->append(b, leader_epoch(0), 0).has_value());
    EXPECT_EQ(log->recovery_point(), kafka_offset(0));
    b = make_batch(3);
    ASSERT_TRUE(log->append(b, leader_epoch(0), 0).has_value());
    EXPECT_EQ(log->recovery_point(), kafka_offset(6));
    b = make_batch(1);
    ASSERT_TRUE(log->append(b, leader_epoch(0), 0).has_value());
    EXPECT_EQ(log->recovery_point(), kafka_offset(6));
    log->flush();
    EXPECT_EQ(log->recovery_point(), kafka_offset(7));
}

TEST(partition_log, read_slice_becomes_file_backed_records) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0", small_config());
    auto b = make_batch(2);
    ASSERT_TRUE(log->append(b, leader_epoch(0), 0).has_value());
    auto r = log->read(kafka_offset(0), 1 << 20, true);
    ASSERT_TRUE(r.has_value());
    auto records = to_records_data(*r);
    EXPECT_FALSE(records.is_null);
    ASSERT_TRUE(records.file != nullptr);
    EXPECT_EQ(records.size_bytes(), b.size());
    EXPECT_EQ(records.file_position, 0u);
    // The descriptor outlives the log.
    ASSERT_TRUE(log->close().has_value());
    log.reset();
    std::vector<uint8_t> back(b.size());
    EXPECT_EQ(::pread(records.file->fd, back.data(), back.size(), 0),
              static_cast<ssize_t>(b.size()));
    EXPECT_EQ(back, b);
}

TEST(partition_log, retention_deletes_old_segments_by_time_and_size) {
    temp_dir tmp;
    log_config cfg = small_config();
    cfg.retention_ms = 10'000;
    auto log = open_log(tmp.path() / "t-0", cfg);
    // Batch i has timestamps around 1000 * i; ~200 bytes each, so ~20 per 4 KiB segment.
    for (int i = 0; i < 100; ++i) {
        auto b = make_batch(1, 1000 * i, 130);
        ASSERT_TRUE(log->append(b, leader_epoch(0), 0).has_value());
    }
    size_t segments = log->segment_count();
    ASSERT_GE(segments, 5u);
    auto d = log->delete_old_segments(50'000);  // keeps segments with data newer than 40 s
    ASSERT_TRUE(d.has_value());
    EXPECT_GT(*d, 0u);
    EXPECT_EQ(log->segment_count(), segments - *d);
    EXPECT_GT(log->log_start_offset(), kafka_offset(0));
    EXPECT_LE(log->log_start_offset(), kafka_offset(41));
    auto first = read_batches(*log, log->log_start_offset(), 1);
    ASSERT_EQ(first.size(), 1u);
    // By size: keep at most ~2 segments' worth.
    cfg.retention_ms = -1;
    cfg.retention_bytes = 8192;
    ASSERT_TRUE(log->close().has_value());
    log = open_log(tmp.path() / "t-0", cfg);
    d = log->delete_old_segments(50'000);
    ASSERT_TRUE(d.has_value());
    // As in Kafka: whole segments go while the rest still holds retention.bytes.
    EXPECT_GE(log->size_bytes(), 8192u);
    EXPECT_LT(log->size_bytes(), 8192u + 4096u);
    // Never the active segment.
    cfg.retention_bytes = 0;
    ASSERT_TRUE(log->close().has_value());
    log = open_log(tmp.path() / "t-0", cfg);
    ASSERT_TRUE(log->delete_old_segments(1'000'000).has_value());
    EXPECT_EQ(log->segment_count(), 1u);
    EXPECT_EQ(log->log_end_offset(), kafka_offset(100));
    kafka_offset start = log->log_start_offset();
    EXPECT_GT(start, kafka_offset(41));
    log.reset();  // even without close(), the new log start was checkpointed
    log = open_log(tmp.path() / "t-0", cfg);
    EXPECT_EQ(log->log_start_offset(), start);
}

TEST(partition_log, rejects_batches_it_cannot_store) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0", small_config());
    auto big = make_batch(1, 0, 5000);
    EXPECT_EQ(log->append(big, leader_epoch(0), 0).error(), storage_errc::batch_too_large);
    protocol::batch_builder empty;
    auto e = empty.build();  // records_count 0, last_offset_delta -1
    EXPECT_EQ(log->append(e, leader_epoch(0), 0).error(), storage_errc::invalid_batch);
    EXPECT_EQ(log->log_end_offset(), kafka_offset(0));
}

}  // namespace
}  // namespace riacho::storage

namespace riacho::storage {
namespace {

// flush() in two steps, the fdatasync off the owning thread (broker::flush_scheduler).
TEST(partition_log, a_flush_ticket_moves_the_recovery_point_to_its_end_only) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0", small_config());
    auto first = make_batch(3);
    ASSERT_TRUE(log->append(first, leader_epoch(1), 0).has_value());
    auto ticket = log->prepare_flush();
    EXPECT_EQ(ticket.end, kafka_offset(3));
    ASSERT_TRUE(ticket.file);
    EXPECT_EQ(ticket.path.filename(), "00000000000000000000.log");
    // Appended after the ticket was taken: not covered by it.
    auto second = make_batch(2);
    ASSERT_TRUE(log->append(second, leader_epoch(1), 0).has_value());
    std::thread([&] { EXPECT_EQ(::fdatasync(ticket.file->fd), 0); }).join();
    log->flushed(ticket);
    EXPECT_EQ(log->recovery_point(), kafka_offset(3));
    // A truncation meanwhile lowers what a ticket can claim.
    auto later = log->prepare_flush();
    ASSERT_TRUE(log->truncate_to(kafka_offset(3)).has_value());
    log->flushed(later);
    EXPECT_EQ(log->recovery_point(), kafka_offset(3));

    // A ticket of another log (one deleted and made again under the same name) is ignored.
    auto other = open_log(tmp.path() / "t-1", small_config());
    auto third = make_batch(4);
    ASSERT_TRUE(other->append(third, leader_epoch(1), 0).has_value());
    auto foreign = other->prepare_flush();
    auto more = make_batch(4);
    ASSERT_TRUE(log->append(more, leader_epoch(1), 0).has_value());
    log->flushed(foreign);
    EXPECT_EQ(log->recovery_point(), kafka_offset(3));
}

// Disk blocks a segment's file holds, extent-tree blocks included.
uint64_t allocated_bytes(const std::filesystem::path& file) {
    struct stat st {};
    EXPECT_EQ(::stat(file.c_str(), &st), 0) << file;
    return static_cast<uint64_t>(st.st_blocks) * 512;
}

// True when no more than the file's own blocks (rounded up) and two extent-tree blocks are
// allocated: nothing is reserved past its end (a reserve is at least 64 KiB).
bool holds_no_reserve(const std::filesystem::path& file) {
    uint64_t size = std::filesystem::file_size(file);
    return allocated_bytes(file) <= (size + 4095) / 4096 * 4096 + 2 * 4096;
}

bool filesystem_preallocates(const std::filesystem::path& dir) {
    int fd = ::open((dir / "probe").c_str(), O_CREAT | O_RDWR, 0644);
    EXPECT_GE(fd, 0);
    bool ok = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20) == 0;
    ::close(fd);
    std::filesystem::remove(dir / "probe");
    return ok;
}

TEST(partition_log, blocks_reserved_ahead_of_appends_are_given_back_at_roll_truncate_and_close) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    log_config cfg;
    cfg.segment_bytes = 1 << 20;
    cfg.segment_ms = 1000;
    std::filesystem::create_directories(dir);
    const bool preallocates = filesystem_preallocates(dir);
    auto log = open_log(dir, cfg);
    auto active_file = [&] { return test::files_with_suffix(dir, ".log").back(); };
    auto b = make_batch(4, 1000, 1000);  // ~4 KiB
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(log->append(b, leader_epoch(1), 0).has_value());
    }
    // The reserve is invisible: the file's size is what was appended.
    EXPECT_EQ(std::filesystem::file_size(active_file()), log->size_bytes());
    if (preallocates) {
        EXPECT_GE(allocated_bytes(active_file()), log->size_bytes() + (16u << 10));
    }
    // A roll (by time, well short of segment.bytes) gives the old segment's reserve back.
    ASSERT_TRUE(log->append(b, leader_epoch(1), 5000).has_value());
    ASSERT_EQ(log->segment_count(), 2u);
    auto files = test::files_with_suffix(dir, ".log");
    EXPECT_TRUE(holds_no_reserve(files.front())) << allocated_bytes(files.front());
    // So does a truncation, and the log appends and reads as before after it.
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(log->append(b, leader_epoch(1), 5000).has_value());
    }
    kafka_offset cut(log->log_end_offset().value() - 8);
    ASSERT_TRUE(log->truncate_to(cut).has_value());
    EXPECT_TRUE(holds_no_reserve(active_file())) << allocated_bytes(active_file());
    ASSERT_TRUE(log->append(b, leader_epoch(1), 5000).has_value());
    // A process that dies keeps its reserve; the next process reads the log intact and gives
    // the reserve back when it closes the log.
    auto end = log->log_end_offset();
    log.reset();  // no close(): as after kill -9
    log = open_log(dir, cfg);
    EXPECT_EQ(log->recovered_truncated_bytes(), 0u);
    EXPECT_EQ(log->log_end_offset(), end);
    EXPECT_EQ(read_all(*log, kafka_offset(0)).size(), static_cast<size_t>(end.value() / 4));
    ASSERT_TRUE(log->close().has_value());
    for (const auto& f : test::files_with_suffix(dir, ".log")) {
        EXPECT_TRUE(holds_no_reserve(f)) << f << " " << allocated_bytes(f);
    }
}

size_t open_descriptors() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

TEST(partition_log, writeback_runs_off_the_appending_thread_and_lets_go_of_deleted_files) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    wait_for_queued_writeback();  // the worker thread exists and is idle
    size_t descriptors_before = open_descriptors();
    auto log = open_log(dir, log_config{});
    auto b = make_batch(1, 1000, 1 << 20);
    for (int i = 0; i < 20; ++i) {  // 20 MiB: writeback starts at 8 and at 16
        ASSERT_TRUE(log->append(b, leader_epoch(1), 0).has_value());
    }
    // The log goes away at once, files and all, whatever the worker still has queued.
    log.reset();
    std::filesystem::remove_all(dir);
    wait_for_queued_writeback();
    EXPECT_EQ(open_descriptors(), descriptors_before);
}

// Pages of [offset, offset + length) of `path` in the page cache (mincore).
size_t resident_pages(const std::filesystem::path& path, size_t offset, size_t length) {
    int fd = ::open(path.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0);
    void* map = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(offset));
    ::close(fd);
    EXPECT_NE(map, MAP_FAILED);
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> in_core((length + page - 1) / page);
    EXPECT_EQ(::mincore(map, length, in_core.data()), 0);
    ::munmap(map, length);
    size_t n = 0;
    for (unsigned char c : in_core) {
        n += c & 1;
    }
    return n;
}

TEST(partition_log, written_data_beyond_the_cache_limit_leaves_the_page_cache) {
    temp_dir tmp;
    struct statfs fs {};
    ASSERT_EQ(::statfs(tmp.path().c_str(), &fs), 0);
    if (fs.f_type == TMPFS_MAGIC) {
        GTEST_SKIP() << "tmpfs keeps its pages whatever it is told";
    }
    constexpr size_t mib = 1 << 20;
    wait_for_queued_writeback();
    set_written_cache_limit(20 * mib);  // two ranges of a little over 8 MiB fit, not three
    auto dir = tmp.path() / "t-0";
    auto log = open_log(dir, log_config{});
    auto b = make_batch(1, 1000, mib);
    for (int i = 0; i < 40; ++i) {  // writeback starts at 8, 16, 24, 32 and 40 MiB
        ASSERT_TRUE(log->append(b, leader_epoch(1), 0).has_value());
    }
    wait_for_queued_writeback();
    set_written_cache_limit(0);  // the worker is the process's: leave it as it was
    auto file = dir / "00000000000000000000.log";
    // The newest two ranges stay; the three before them went once written back.
    EXPECT_EQ(resident_pages(file, 0, 24 * mib), 0u);
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    EXPECT_EQ(resident_pages(file, 24 * mib, 16 * mib), 16 * mib / page);
    // They are still the log's, read back from disk.
    auto batches = test::read_all(*log, kafka_offset(0));
    EXPECT_EQ(batches.size(), 40u);
}

}  // namespace
}  // namespace riacho::storage
