// Idempotent-producer rules as Kafka applies them (README 3.4), through partition_log::append:
// a retried batch (same epoch and first/last sequence as one of the producer's last 5) is not
// appended and answers with the original offsets; a sequence gap is out_of_order_sequence; an
// older epoch is invalid_producer_epoch; a new epoch must start at 0; an unknown producer is
// accepted at any sequence; sequences wrap at INT32_MAX. The state must survive a restart:
// from the snapshot written at roll/close, and from a log scan after an unclean stop. Also the
// snapshot encoding round-trips and rejects corruption.
#include "storage/producer_state.h"

#include "storage/partition_log.h"
#include "storage_test_util.h"

#include <gtest/gtest.h>

namespace riacho::storage {
namespace {

using test::batch_spec;
using test::make_batch;
using test::temp_dir;

constexpr int64_t pid = 4242;

std::vector<uint8_t> idem(int16_t epoch, int32_t seq, int records = 2, int64_t id = pid) {
    return make_batch(batch_spec{
        .records = records, .producer_id = id, .producer_epoch = epoch, .base_sequence = seq});
}

result<append_result, storage_errc> append(partition_log& log, std::vector<uint8_t> b) {
    return log.append(b, leader_epoch(0), 0);
}

std::unique_ptr<partition_log> open_log(const std::filesystem::path& dir) {
    log_config cfg;
    cfg.segment_bytes = 1024;
    auto log = partition_log::open(dir, cfg);
    EXPECT_TRUE(log.has_value());
    return std::move(log).value();
}

TEST(producer_state, duplicate_returns_original_offsets_without_appending) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    ASSERT_EQ(append(*log, idem(0, 0))->base_offset, kafka_offset(0));
    ASSERT_EQ(append(*log, idem(0, 2))->base_offset, kafka_offset(2));
    ASSERT_EQ(append(*log, idem(0, 4))->base_offset, kafka_offset(4));
    auto dup = append(*log, idem(0, 2));
    ASSERT_TRUE(dup.has_value());
    EXPECT_TRUE(dup->duplicate);
    EXPECT_EQ(dup->base_offset, kafka_offset(2));
    EXPECT_EQ(dup->last_offset, kafka_offset(3));
    EXPECT_EQ(log->log_end_offset(), kafka_offset(6));
    EXPECT_EQ(test::read_all(*log, kafka_offset(0)).size(), 3u);
}

TEST(producer_state, only_the_last_five_batches_are_remembered) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    for (int i = 0; i < 6; ++i) {
        ASSERT_TRUE(append(*log, idem(0, 2 * i)).has_value());
    }
    // Batch seq 0 fell out of the window: it is neither a duplicate nor in sequence.
    EXPECT_EQ(append(*log, idem(0, 0)).error(), storage_errc::out_of_order_sequence);
    EXPECT_TRUE(append(*log, idem(0, 2))->duplicate);
}

TEST(producer_state, gaps_and_reorders_are_out_of_order) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    ASSERT_TRUE(append(*log, idem(0, 0)).has_value());
    EXPECT_EQ(append(*log, idem(0, 3)).error(), storage_errc::out_of_order_sequence);
    EXPECT_EQ(append(*log, idem(0, 1)).error(), storage_errc::out_of_order_sequence);
    EXPECT_EQ(log->log_end_offset(), kafka_offset(2));
    EXPECT_TRUE(append(*log, idem(0, 2)).has_value());
}

TEST(producer_state, epochs_fence_and_restart_sequences) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    ASSERT_TRUE(append(*log, idem(3, 0)).has_value());
    ASSERT_TRUE(append(*log, idem(3, 2)).has_value());
    EXPECT_EQ(append(*log, idem(2, 4)).error(), storage_errc::invalid_producer_epoch);
    EXPECT_EQ(append(*log, idem(4, 5)).error(), storage_errc::out_of_order_sequence);
    ASSERT_TRUE(append(*log, idem(4, 0)).has_value());
    EXPECT_EQ(append(*log, idem(3, 4)).error(), storage_errc::invalid_producer_epoch);
    EXPECT_TRUE(append(*log, idem(4, 2)).has_value());
}

TEST(producer_state, unknown_producer_is_accepted_at_any_sequence) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    ASSERT_TRUE(append(*log, idem(0, 77)).has_value());
    EXPECT_TRUE(append(*log, idem(0, 79)).has_value());
    // Independent producers do not interfere.
    EXPECT_TRUE(append(*log, idem(0, 5, 2, pid + 1)).has_value());
    EXPECT_TRUE(append(*log, idem(0, 81)).has_value());
}

TEST(producer_state, sequence_wraps_at_int32_max) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    constexpr int32_t max = std::numeric_limits<int32_t>::max();
    ASSERT_TRUE(append(*log, idem(0, max - 1, 2)).has_value());  // max-1, max
    ASSERT_TRUE(append(*log, idem(0, 0, 2)).has_value());        // wraps to 0
    EXPECT_TRUE(append(*log, idem(0, 0, 2))->duplicate);
    // A batch straddling the wrap: max, 0.
    ASSERT_TRUE(append(*log, idem(1, 0, 1)).has_value());
    auto b = make_batch(batch_spec{
        .records = 2, .producer_id = pid + 9, .producer_epoch = 0, .base_sequence = max});
    ASSERT_TRUE(log->append(b, leader_epoch(0), 0).has_value());
    EXPECT_TRUE(append(*log, idem(0, 1, 1, pid + 9)).has_value());
}

TEST(producer_state, non_idempotent_batches_are_not_checked) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    for (int i = 0; i < 3; ++i) {
        auto b = make_batch(1);
        EXPECT_FALSE(log->append(b, leader_epoch(0), 0)->duplicate);
    }
    EXPECT_EQ(log->log_end_offset(), kafka_offset(3));
}

void fill_producers(partition_log& log) {
    // Enough batches to roll several 1 KiB segments; three producers.
    for (int i = 0; i < 30; ++i) {
        for (int64_t p = 0; p < 3; ++p) {
            ASSERT_TRUE(append(log, idem(1, 2 * i, 2, pid + p)).has_value());
        }
    }
}

void expect_state_restored(partition_log& log) {
    for (int64_t p = 0; p < 3; ++p) {
        const producer_entry* e = log.producers().find(producer_id(pid + p));
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(e->epoch, producer_epoch(1));
        ASSERT_EQ(e->batches.size(), 5u);
        EXPECT_EQ(e->batches.back().last_sequence, 59);
    }
    EXPECT_TRUE(append(log, idem(1, 56))->duplicate);
    EXPECT_EQ(append(log, idem(1, 62)).error(), storage_errc::out_of_order_sequence);
    EXPECT_EQ(append(log, idem(0, 60)).error(), storage_errc::invalid_producer_epoch);
    EXPECT_FALSE(append(log, idem(1, 60))->duplicate);
}

TEST(producer_state, survives_clean_restart_via_snapshot) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    {
        auto log = open_log(dir);
        fill_producers(*log);
        ASSERT_GT(log->segment_count(), 3u);
        ASSERT_TRUE(log->close().has_value());
    }
    auto snapshots = test::files_with_suffix(dir, ".snapshot");
    ASSERT_FALSE(snapshots.empty());
    EXPECT_LE(snapshots.size(), 2u);  // producer_snapshots_retained
    auto log = open_log(dir);
    expect_state_restored(*log);
}

TEST(producer_state, survives_unclean_stop_from_older_snapshot_plus_log) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    {
        auto log = open_log(dir);
        fill_producers(*log);  // snapshots at each roll; the tail after the last is replayed
    }
    auto log = open_log(dir);
    expect_state_restored(*log);
}

TEST(producer_state, survives_unclean_stop_without_any_snapshot) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    {
        auto log = open_log(dir);
        fill_producers(*log);
    }
    for (const auto& s : test::files_with_suffix(dir, ".snapshot")) {
        std::filesystem::remove(s);
    }
    auto log = open_log(dir);
    expect_state_restored(*log);
}

TEST(producer_state, corrupt_snapshot_is_skipped) {
    temp_dir tmp;
    auto dir = tmp.path() / "t-0";
    {
        auto log = open_log(dir);
        fill_producers(*log);
        ASSERT_TRUE(log->close().has_value());
    }
    auto newest = test::files_with_suffix(dir, ".snapshot").back();
    std::filesystem::resize_file(newest, std::filesystem::file_size(newest) - 1);
    auto log = open_log(dir);
    expect_state_restored(*log);
}

TEST(producer_state, truncation_rewinds_the_state) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    fill_producers(*log);  // producer pid: batch seq 2i at offsets 6i..6i+1
    ASSERT_TRUE(log->truncate_to(kafka_offset(6 * 20)).has_value());
    const producer_entry* e = log->producers().find(producer_id(pid));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->batches.back().last_sequence, 39);
    EXPECT_FALSE(append(*log, idem(1, 40))->duplicate);
}

TEST(producer_state, snapshot_encoding_round_trips) {
    producer_state s;
    for (int i = 0; i < 8; ++i) {
        protocol::batch_header h;
        h.producer_id = 10 + i % 3;
        h.producer_epoch = static_cast<int16_t>(i % 2);
        h.base_sequence = i;
        h.base_offset = 100 + i;
        h.last_offset_delta = 0;
        h.max_timestamp = 5000 + i;
        s.update(h);
    }
    auto bytes = s.encode();
    auto back = producer_state::decode(bytes);
    ASSERT_TRUE(back.has_value());
    EXPECT_TRUE(*back == s);
    for (size_t i = 0; i < bytes.size(); ++i) {
        auto bad = bytes;
        bad[i] ^= 0x10;
        EXPECT_FALSE(producer_state::decode(bad).has_value()) << i;
    }
    bytes.pop_back();
    EXPECT_FALSE(producer_state::decode(bytes).has_value());
}

// A follower copies its leader's batches whatever its own producer state says: here it
// remembers a producer the leader has forgotten (the leader's retention passed its batches),
// whose next batch would be out of order for a client's append, and a batch that looks like
// a retry. Both are written as the leader sent them: offsets, epoch and all.
TEST(producer_state, a_replica_copies_the_leaders_batches_without_producer_checks) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    ASSERT_TRUE(append(*log, idem(0, 0)).has_value());  // seq 0-1 at offsets 0-1
    auto from_leader = [](std::vector<uint8_t> b, int64_t base_offset, int32_t epoch) {
        protocol::set_base_offset(b, base_offset);
        protocol::set_partition_leader_epoch(b, epoch);
        return b;
    };
    auto gap = from_leader(idem(0, 40), 2, 7);
    EXPECT_EQ(append(*log, gap).error(), storage_errc::out_of_order_sequence);
    auto copied = log->append_replica(gap, 0);
    ASSERT_TRUE(copied.has_value());
    EXPECT_FALSE(copied->duplicate);
    auto again = from_leader(idem(0, 40), 4, 7);
    ASSERT_TRUE(log->append_replica(again, 0).has_value());
    EXPECT_EQ(log->log_end_offset(), kafka_offset(6));
    auto batches = test::read_all(*log, kafka_offset(0));
    ASSERT_EQ(batches.size(), 3u);
    EXPECT_EQ(batches[1].base_offset, 2);
    EXPECT_EQ(batches[1].partition_leader_epoch, 7);
    EXPECT_EQ(batches[2].base_offset, 4);
    // Its state follows the copied batches: a client's next append continues after them.
    EXPECT_TRUE(append(*log, idem(0, 42)).has_value());
    // A batch that is not at the log end is refused and nothing is written.
    auto elsewhere = from_leader(idem(0, 44), 99, 7);
    EXPECT_EQ(log->append_replica(elsewhere, 0).error(), storage_errc::invalid_batch);
    EXPECT_EQ(log->log_end_offset(), kafka_offset(8));
}

}  // namespace
}  // namespace riacho::storage
