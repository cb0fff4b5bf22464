// Transactional offset commits in the coordinator (the storage path of TxnOffsetCommit):
// pending until the transaction's marker, then committed (COMMIT) or dropped (ABORT); the
// records carry the producer's id and epoch, and replaying them with the marker at startup
// gives the same result; bad producers and members get Kafka's errors.
#include "group/coordinator.h"

#include <gtest/gtest.h>

namespace riacho::group {
namespace {

txn_commit_request txn(int64_t producer_id, int64_t offset) {
    txn_commit_request r;
    r.producer_id = producer_id;
    r.producer_epoch = 0;
    r.commit.group_id = "g";
    r.commit.version = 3;
    r.commit.partitions.push_back({{"orders", 0}, offset, -1, std::nullopt});
    return r;
}

int64_t committed(const coordinator& c) {
    return c.fetch_offsets("g", std::vector<partition_key>{{"orders", 0}}).at(0).value.offset;
}

TEST(txn_offsets, pending_until_the_marker_then_committed_or_dropped) {
    coordinator c({}, 1);
    auto r = c.txn_commit(txn(5, 42), 0);
    ASSERT_EQ(r.error, error_code::none);
    ASSERT_EQ(r.partition_errors, std::vector<error_code>{error_code::none});
    EXPECT_EQ(committed(c), -1);
    EXPECT_TRUE(c.has_pending_txn_offset("g", {"orders", 0}));
    auto records = c.take_records();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].producer_id, 5);
    EXPECT_EQ(records[0].producer_epoch, 0);

    c.complete_txn(5, /*commit=*/true);
    EXPECT_EQ(committed(c), 42);
    EXPECT_FALSE(c.has_pending_txn_offset("g", {"orders", 0}));

    ASSERT_EQ(c.txn_commit(txn(6, 99), 1).error, error_code::none);
    c.complete_txn(6, /*commit=*/false);
    EXPECT_EQ(committed(c), 42);
    EXPECT_FALSE(c.has_pending_txn_offset("g", {"orders", 0}));
}

TEST(txn_offsets, replaying_records_and_markers_gives_the_same_offsets) {
    coordinator writer({}, 1);
    ASSERT_EQ(writer.txn_commit(txn(5, 10), 0).error, error_code::none);
    ASSERT_EQ(writer.txn_commit(txn(6, 20), 0).error, error_code::none);
    auto records = writer.take_records();

    coordinator loaded({}, 2);
    for (const auto& r : records) {
        std::optional<protocol::bytes_view> value;
        if (r.value) {
            value = protocol::bytes_view(*r.value);
        }
        loaded.load_txn_record(r.producer_id, r.key, value);
    }
    loaded.complete_txn(6, /*commit=*/true);
    loaded.complete_txn(5, /*commit=*/false);
    loaded.finish_loading(0);
    EXPECT_EQ(committed(loaded), 20);
    EXPECT_FALSE(loaded.has_pending_txn_offset("g", {"orders", 0}));
}

TEST(txn_offsets, bad_producers_and_members_are_refused) {
    coordinator c({}, 1);
    auto no_producer = txn(-1, 1);
    EXPECT_EQ(c.txn_commit(no_producer, 0).error, error_code::invalid_producer_epoch);
    auto stranger = txn(5, 1);
    stranger.commit.member_id = "nobody";
    stranger.commit.generation_id = 3;
    EXPECT_EQ(c.txn_commit(stranger, 0).error, error_code::unknown_member_id);
    auto bad_group = txn(5, 1);
    bad_group.commit.group_id = "";
    EXPECT_EQ(c.txn_commit(bad_group, 0).error, error_code::invalid_group_id);
    EXPECT_FALSE(c.has_pending_txn_offset("g", {"orders", 0}));
}

}  // namespace
}  // namespace riacho::group
