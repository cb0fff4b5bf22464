// The leader's view of its replicas: the high watermark is the smallest log end in the ISR
// and never moves back; ISR changes follow Kafka's lag rule.
#include "replication/partition_replicas.h"

#include <gtest/gtest.h>

namespace riacho::replication {
namespace {

TEST(partition_replicas, high_watermark_is_the_smallest_log_end_in_the_isr) {
    partition_replicas p(1, {1, 2, 3}, {1, 2, 3}, 10, 0, 0);
    EXPECT_EQ(p.high_watermark(), 0);  // followers not heard from yet
    EXPECT_FALSE(p.on_leader_append(15));
    EXPECT_FALSE(p.on_follower_fetch(2, 12, 15, 1));
    EXPECT_EQ(p.high_watermark(), 0);  // follower 3 still unknown
    EXPECT_TRUE(p.on_follower_fetch(3, 8, 15, 1));
    EXPECT_EQ(p.high_watermark(), 8);
    EXPECT_TRUE(p.on_follower_fetch(3, 15, 15, 2));
    EXPECT_EQ(p.high_watermark(), 12);
    // A follower fetching from an older offset (it truncated) does not move the HW back.
    EXPECT_FALSE(p.on_follower_fetch(2, 5, 15, 3));
    EXPECT_EQ(p.high_watermark(), 12);
    EXPECT_EQ(p.follower_end(2), 5);
}

TEST(partition_replicas, a_leader_alone_in_the_isr_follows_its_own_log) {
    partition_replicas p(1, {1, 2}, {1}, 10, 4, 0);
    EXPECT_EQ(p.high_watermark(), 10);
    EXPECT_TRUE(p.on_leader_append(11));
    EXPECT_EQ(p.high_watermark(), 11);
    // Follower 2 is outside the ISR: its progress does not hold the HW back.
    EXPECT_FALSE(p.on_follower_fetch(2, 3, 11, 1));
    EXPECT_EQ(p.high_watermark(), 11);
}

TEST(partition_replicas, lagging_followers_leave_and_caught_up_ones_rejoin) {
    const int64_t lag_ms = 100;
    partition_replicas p(1, {1, 2, 3}, {1, 2, 3}, 10, 0, 0);
    EXPECT_FALSE(p.wanted_isr(50, lag_ms));  // everyone within the lag time
    p.on_follower_fetch(2, 10, 10, 90);
    p.on_follower_fetch(3, 4, 10, 90);  // fetching, but behind
    auto wanted = p.wanted_isr(150, lag_ms);
    ASSERT_TRUE(wanted);
    EXPECT_EQ(*wanted, (std::vector<int32_t>{1, 2}));
    p.set_isr(*wanted, 10, 150);
    EXPECT_EQ(p.high_watermark(), 10);
    EXPECT_FALSE(p.wanted_isr(150, lag_ms));
    // Follower 3's last fetch before it left does not count; catching up afterwards does.
    EXPECT_FALSE(p.wanted_isr(155, lag_ms));
    // Follower 3 catches up: it rejoins.
    p.on_follower_fetch(3, 10, 10, 160);
    wanted = p.wanted_isr(170, lag_ms);
    ASSERT_TRUE(wanted);
    EXPECT_EQ(*wanted, (std::vector<int32_t>{1, 2, 3}));
}

TEST(partition_replicas, a_replica_proposed_to_the_isr_holds_the_high_watermark_back) {
    // Leader 1 alone in the ISR; follower 2 caught up and is proposed. Until the controller
    // answers, records it lacks are not acknowledged: once recorded it may be elected.
    partition_replicas p(1, {1, 2}, {1}, 10, 10, 0);
    p.on_follower_fetch(2, 10, 10, 1);
    auto wanted = p.wanted_isr(2, 1000);
    ASSERT_TRUE(wanted);
    p.propose_isr(*wanted);
    EXPECT_FALSE(p.on_leader_append(15));
    EXPECT_EQ(p.high_watermark(), 10);
    EXPECT_TRUE(p.on_follower_fetch(2, 13, 15, 3));
    EXPECT_EQ(p.high_watermark(), 13);
    // An image applied for another reason (the same ISR) does not end the proposal.
    p.set_isr({1}, 15, 3);
    EXPECT_FALSE(p.on_leader_append(16));
    EXPECT_EQ(p.high_watermark(), 13);
    // Refused: the leader alone again decides.
    p.proposal_failed();
    EXPECT_TRUE(p.on_leader_append(16));
    EXPECT_EQ(p.high_watermark(), 16);
    // Recorded: follower 2 counts as an ISR member from now on.
    p.propose_isr({1, 2});
    p.set_isr({1, 2}, 16, 4);
    EXPECT_FALSE(p.on_leader_append(18));
    EXPECT_EQ(p.high_watermark(), 16);
}

TEST(partition_replicas, the_high_watermark_waits_for_min_isr_members) {
    // Strict min ISR (KIP-966): with the ISR below min.insync.replicas nothing more becomes
    // visible, so replicas that left it still have everything below the high watermark.
    partition_replicas p(1, {1, 2, 3}, {1}, 10, 10, 0, 2);
    EXPECT_FALSE(p.on_leader_append(12));
    EXPECT_EQ(p.high_watermark(), 10);
    p.on_follower_fetch(2, 12, 12, 1);
    p.set_isr({1, 2}, 12, 2);
    EXPECT_EQ(p.high_watermark(), 12);
}

}  // namespace
}  // namespace riacho::replication
