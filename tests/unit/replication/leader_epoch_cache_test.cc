// Where each leader epoch ends: what a leader answers a follower's LastFetchedEpoch with.
#include "replication/leader_epoch_cache.h"

#include <gtest/gtest.h>

namespace riacho::replication {
namespace {

TEST(leader_epoch_cache, an_epoch_ends_where_the_next_begins) {
    leader_epoch_cache c;
    EXPECT_EQ(c.end_offset_for(5, 0), (epoch_end{-1, -1}));
    c.on_append(0, 0);
    c.on_append(0, 10);  // same epoch: no new entry
    c.on_append(2, 20);
    c.on_append(5, 35);
    EXPECT_EQ(c.latest_epoch(), 5);
    EXPECT_EQ(c.end_offset_for(0, 50), (epoch_end{0, 20}));
    EXPECT_EQ(c.end_offset_for(1, 50), (epoch_end{0, 20}));  // never led: the one below
    EXPECT_EQ(c.end_offset_for(2, 50), (epoch_end{2, 35}));
    EXPECT_EQ(c.end_offset_for(5, 50), (epoch_end{5, 50}));  // the latest ends at the log end
    EXPECT_EQ(c.end_offset_for(9, 50), (epoch_end{5, 50}));
    c.on_append(3, 60);  // older than the latest: ignored
    EXPECT_EQ(c.latest_epoch(), 5);
}

TEST(leader_epoch_cache, truncation_drops_epochs_that_started_after_the_cut) {
    leader_epoch_cache c;
    c.on_append(1, 0);
    c.on_append(3, 10);
    c.on_append(4, 20);
    c.truncate_to(15);
    EXPECT_EQ(c.latest_epoch(), 3);
    EXPECT_EQ(c.end_offset_for(4, 15), (epoch_end{3, 15}));
    c.truncate_to(0);
    EXPECT_EQ(c.latest_epoch(), -1);
}

TEST(leader_epoch_cache, a_follower_diverges_where_its_last_epoch_ends_on_the_leader) {
    leader_epoch_cache leader;
    leader.on_append(2, 0);
    leader.on_append(4, 10);
    // An empty follower log, or one that stops inside its last epoch, agrees.
    EXPECT_EQ(diverging_epoch(leader, 0, -1, 30), std::nullopt);
    EXPECT_EQ(diverging_epoch(leader, 7, 2, 30), std::nullopt);
    EXPECT_EQ(diverging_epoch(leader, 10, 2, 30), std::nullopt);
    EXPECT_EQ(diverging_epoch(leader, 30, 4, 30), std::nullopt);
    // Past where epoch 2 ends here, or with an epoch this leader never had.
    EXPECT_EQ(diverging_epoch(leader, 12, 2, 30), (epoch_end{2, 10}));
    EXPECT_EQ(diverging_epoch(leader, 12, 3, 30), (epoch_end{2, 10}));
    // Before every epoch the leader has: nothing known to match (out of range).
    EXPECT_EQ(diverging_epoch(leader, 5, 1, 30), (epoch_end{-1, -1}));
}

TEST(leader_epoch_cache, a_follower_cuts_where_both_logs_agree) {
    leader_epoch_cache follower;
    follower.on_append(2, 0);
    follower.on_append(3, 12);
    // The leader's epoch 2 ends at 10, the follower's at 12: both have up to 10.
    EXPECT_EQ(truncation_offset(follower, {2, 10}, 0, 20), 10);
    // The leader never had epoch 3; its latest epoch at or below is 2, which ends at 15
    // there: the follower cuts to where its own epoch 2 ends and asks again.
    EXPECT_EQ(truncation_offset(follower, {2, 15}, 0, 20), 12);
    // No epoch at or below the leader's: back to the log start.
    EXPECT_EQ(truncation_offset(follower, {1, 5}, 0, 20), 0);
}

}  // namespace
}  // namespace riacho::replication
