// Eligible leader replicas (KIP-966): who joins and leaves the ELR as the ISR changes, and who
// may lead when no ISR member is alive.
#include "cluster/eligible_leaders.h"

#include <gtest/gtest.h>

namespace riacho::cluster {
namespace {

using ids = std::vector<int32_t>;

partition_info partition(ids replicas, ids isr) {
    partition_info p;
    p.replicas = std::move(replicas);
    p.isr = std::move(isr);
    p.leader = p.isr.empty() ? -1 : p.isr.front();
    return p;
}

TEST(eligible_leaders, replicas_leaving_an_isr_below_min_isr_become_eligible) {
    auto p = partition({1, 2, 3}, {1, 2, 3});
    auto before = p.isr;
    p.isr = {1, 2};  // still at min.insync.replicas 2: the high watermark may move on
    update_eligible_leaders(p, before, 2);
    EXPECT_TRUE(p.elr.empty());
    before = p.isr;
    p.isr = {1};
    update_eligible_leaders(p, before, 2);
    EXPECT_EQ(p.elr, ids{2});
    before = p.isr;
    p.isr = {};
    update_eligible_leaders(p, before, 2);
    EXPECT_EQ(p.elr, (ids{2, 1}));
    EXPECT_EQ(eligible_leader(p, {1, 3}), 1);
    EXPECT_EQ(eligible_leader(p, {3}), -1);  // 3 left an ISR that was still whole
}

TEST(eligible_leaders, rejoining_leaves_the_elr_and_a_whole_isr_clears_it) {
    auto p = partition({1, 2, 3}, {2});
    p.elr = {1, 3};
    auto before = p.isr;
    p.isr = {2, 1};
    update_eligible_leaders(p, before, 3);
    EXPECT_EQ(p.elr, ids{3});
    before = p.isr;
    p.isr = {2, 1, 3};
    update_eligible_leaders(p, before, 3);
    EXPECT_TRUE(p.elr.empty());
}

TEST(eligible_leaders, min_isr_is_capped_at_the_replica_count) {
    topic_info t;
    t.configs["min.insync.replicas"] = "3";
    EXPECT_EQ(effective_min_isr(t, {}, 2), 2);
    EXPECT_EQ(effective_min_isr(t, {}, 5), 3);
    topic_info plain;
    EXPECT_EQ(effective_min_isr(plain, {{"min.insync.replicas", "2"}}, 3), 2);
    EXPECT_EQ(effective_min_isr(plain, {}, 3), 1);
}

}  // namespace
}  // namespace riacho::cluster
