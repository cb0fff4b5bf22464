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

}  // namespace
}  // namespace riacho::replication
