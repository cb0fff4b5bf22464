// Transactions in the partition log: transactional batches hold the last stable offset at
// their transaction's first offset until the COMMIT/ABORT marker; ABORT markers land in the
// aborted index that read_committed fetches consult; markers from a fenced epoch are refused;
// and all of it (open transactions, aborted index) survives clean and unclean restarts,
// truncation and retention.
#include "protocol/control_record.h"
#include "storage/partition_log.h"
#include "storage_test_util.h"

#include <gtest/gtest.h>

namespace riacho::storage {
namespace {

using test::temp_dir;

std::unique_ptr<partition_log> open_log(const std::filesystem::path& dir) {
    log_config cfg;
    cfg.segment_bytes = 1024;
    auto log = partition_log::open(dir, cfg);
    EXPECT_TRUE(log.has_value());
    return log ? std::move(log).value() : nullptr;
}

std::vector<uint8_t> txn_batch(int64_t pid, int16_t epoch, int32_t seq, int records = 2) {
    protocol::batch_builder b;
    b.set_producer(pid, epoch, seq).set_transactional(true);
    for (int i = 0; i < records; ++i) {
        protocol::batch_builder::record r;
        r.timestamp = 1000 + i;
        r.value = std::vector<uint8_t>(100, 'v');
        b.add(std::move(r));
    }
    return b.build();
}

result<append_result, storage_errc> append(partition_log& log, std::vector<uint8_t> batch) {
    return log.append(batch, leader_epoch(0), 1000);
}

result<append_result, storage_errc> marker(partition_log& log,
                                           int64_t pid,
                                           int16_t epoch,
                                           bool commit) {
    return append(log, protocol::build_txn_marker(pid, epoch, {commit, 3}, 1000));
}

TEST(transaction_log, last_stable_offset_waits_for_the_earliest_open_transaction) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    ASSERT_TRUE(append(*log, test::make_batch(2)).has_value());  // 0-1, not transactional
    EXPECT_EQ(log->last_stable_offset(), kafka_offset(2));
    ASSERT_TRUE(append(*log, txn_batch(7, 0, 0)).has_value());  // 2-3, producer 7 opens
    ASSERT_TRUE(append(*log, txn_batch(8, 0, 0)).has_value());  // 4-5, producer 8 opens
    ASSERT_TRUE(append(*log, txn_batch(7, 0, 2)).has_value());  // 6-7
    EXPECT_EQ(log->last_stable_offset(), kafka_offset(2));
    ASSERT_TRUE(marker(*log, 7, 0, true).has_value());  // 8: commit 7
    EXPECT_EQ(log->last_stable_offset(), kafka_offset(4));
    ASSERT_TRUE(marker(*log, 8, 0, false).has_value());  // 9: abort 8
    EXPECT_EQ(log->last_stable_offset(), kafka_offset(10));
    auto aborted = log->aborted_transactions(kafka_offset(0), kafka_offset(10));
    ASSERT_EQ(aborted.size(), 1u);
    EXPECT_EQ(aborted[0], (completed_txn{producer_id(8), kafka_offset(4), kafka_offset(9)}));
    // A fetch starting after the aborted transaction ended does not list it.
    EXPECT_TRUE(log->aborted_transactions(kafka_offset(10), kafka_offset(20)).empty());
    // One ending before the transaction started does not either.
    EXPECT_TRUE(log->aborted_transactions(kafka_offset(0), kafka_offset(4)).empty());
    // The producer's state shows no open transaction and the marker's coordinator epoch.
    const producer_entry* e = log->producers().find(producer_id(8));
    ASSERT_NE(e, nullptr);
    EXPECT_FALSE(e->current_txn_first_offset.has_value());
    EXPECT_EQ(e->coordinator_epoch, 3);
}

TEST(transaction_log, markers_from_a_fenced_epoch_are_refused_and_retries_are_harmless) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    ASSERT_TRUE(append(*log, txn_batch(7, 1, 0)).has_value());
    EXPECT_EQ(marker(*log, 7, 0, true).error(), storage_errc::invalid_producer_epoch);
    EXPECT_EQ(log->last_stable_offset(), kafka_offset(0));
    // A coordinator that bumped the epoch (timeout abort) ends the transaction and fences.
    ASSERT_TRUE(marker(*log, 7, 2, false).has_value());
    EXPECT_EQ(log->last_stable_offset(), log->log_end_offset());
    EXPECT_EQ(append(*log, txn_batch(7, 1, 2)).error(), storage_errc::invalid_producer_epoch);
    // The same marker again (a coordinator retry) closes nothing and indexes nothing new.
    ASSERT_TRUE(marker(*log, 7, 2, false).has_value());
    EXPECT_EQ(log->aborted_transactions(kafka_offset(0), kafka_offset(100)).size(), 1u);
}

void fill(partition_log& log) {
    // Producer 7 commits, 8 aborts, 9 stays open; enough data to roll 1 KiB segments.
    int32_t seq = 0;
    for (int round = 0; round < 6; ++round) {
        for (int64_t pid : {7, 8}) {
            ASSERT_TRUE(append(log, txn_batch(pid, 0, seq)).has_value());
        }
        seq += 2;
        ASSERT_TRUE(marker(log, 7, 0, true).has_value());
        ASSERT_TRUE(marker(log, 8, 0, false).has_value());
    }
    ASSERT_TRUE(append(log, txn_batch(9, 0, 0)).has_value());
}

struct observed {
    kafka_offset lso;
    std::vector<completed_txn> aborted;
};

observed observe(const partition_log& log) {
    return {log.last_stable_offset(),
            log.aborted_transactions(kafka_offset(0), log.log_end_offset())};
}

TEST(transaction_log, open_transactions_and_aborted_index_survive_restarts) {
    for (bool clean : {true, false}) {
        SCOPED_TRACE(clean ? "clean" : "unclean");
        temp_dir tmp;
        auto dir = tmp.path() / "t-0";
        observed before;
        {
            auto log = open_log(dir);
            fill(*log);
            ASSERT_GT(log->segment_count(), 2u);
            before = observe(*log);
            ASSERT_EQ(before.aborted.size(), 6u);
            if (clean) {
                ASSERT_TRUE(log->close().has_value());
            }
        }
        auto log = open_log(dir);
        auto after = observe(*log);
        EXPECT_EQ(after.lso, before.lso);
        EXPECT_EQ(after.aborted, before.aborted);
        // Without any index file or snapshot, replaying the whole log gives the same.
        std::filesystem::remove(dir / "aborted-transactions.index");
        for (const auto& s : test::files_with_suffix(dir, ".snapshot")) {
            std::filesystem::remove(s);
        }
        log.reset();
        log = open_log(dir);
        after = observe(*log);
        EXPECT_EQ(after.lso, before.lso);
        EXPECT_EQ(after.aborted, before.aborted);
    }
}

TEST(transaction_log, truncation_reopens_transactions_and_drops_later_aborts) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    ASSERT_TRUE(append(*log, txn_batch(8, 0, 0)).has_value());  // 0-1
    auto abort_at = marker(*log, 8, 0, false);                  // 2
    ASSERT_TRUE(abort_at.has_value());
    ASSERT_TRUE(append(*log, txn_batch(8, 0, 2)).has_value());  // 3-4
    ASSERT_TRUE(marker(*log, 8, 0, false).has_value());         // 5
    ASSERT_EQ(observe(*log).aborted.size(), 2u);
    ASSERT_TRUE(log->truncate_to(kafka_offset(5)).has_value());  // the second abort is gone
    EXPECT_EQ(observe(*log).aborted.size(), 1u);
    EXPECT_EQ(log->last_stable_offset(), kafka_offset(3));  // its transaction is open again
}

TEST(transaction_log, retention_prunes_aborted_transactions_below_the_log_start) {
    temp_dir tmp;
    auto log = open_log(tmp.path() / "t-0");
    fill(*log);
    auto all = observe(*log).aborted;
    kafka_offset start = all[3].last_offset + 1;
    ASSERT_TRUE(log->advance_log_start_offset(start).has_value());
    auto left = log->aborted_transactions(kafka_offset(0), log->log_end_offset());
    for (const auto& t : left) {
        EXPECT_GE(t.last_offset, log->log_start_offset());
    }
    EXPECT_LT(left.size(), all.size());
}

}  // namespace
}  // namespace riacho::storage
