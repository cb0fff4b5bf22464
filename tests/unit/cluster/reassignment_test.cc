// Partition reassignment as pure steps on a partition's state (Kafka's KRaft rules): the
// recorded replica set while moving, when the move completes, where leadership goes, what a
// cancel restores, and which requests are refused.
#include "cluster/reassignment.h"

#include <gtest/gtest.h>

namespace riacho::cluster {
namespace {

using protocol::error_code;
using ids = std::vector<int32_t>;

const std::set<int32_t> registered{1, 2, 3, 4};

partition_info partition(ids replicas, ids isr, int32_t leader) {
    partition_info p;
    p.leader = leader;
    p.leader_epoch = 5;
    p.replicas = std::move(replicas);
    p.isr = std::move(isr);
    return p;
}

TEST(reassignment, a_move_records_target_then_removed_replicas_until_the_isr_has_the_new_ones) {
    auto p = partition({1, 2}, {1, 2}, 1);
    auto started = start_reassignment(p, {2, 3}, registered, registered);
    ASSERT_EQ(started.error, error_code::none);
    ASSERT_TRUE(started.next);
    auto moving = *started.next;
    EXPECT_EQ(moving.replicas, (ids{2, 3, 1}));
    EXPECT_EQ(moving.adding_replicas, ids{3});
    EXPECT_EQ(moving.removing_replicas, ids{1});
    EXPECT_EQ(moving.isr, (ids{1, 2}));
    EXPECT_EQ(moving.leader, 1);
    EXPECT_EQ(moving.leader_epoch, 6);  // the leader restarts its role on the new set
    EXPECT_EQ(original_replicas(moving), (ids{2, 1}));

    auto waiting = moving;
    EXPECT_FALSE(complete_reassignment_if_ready(waiting, registered));
    EXPECT_EQ(waiting.replicas, moving.replicas);

    // Broker 3 joins the ISR: the move completes, and leadership leaves broker 1.
    moving.isr = {1, 2, 3};
    ASSERT_TRUE(complete_reassignment_if_ready(moving, registered));
    EXPECT_EQ(moving.replicas, (ids{2, 3}));
    EXPECT_EQ(moving.isr, (ids{2, 3}));
    EXPECT_TRUE(moving.adding_replicas.empty() && moving.removing_replicas.empty());
    EXPECT_EQ(moving.leader, 2);
}

TEST(reassignment, the_new_leader_is_a_live_target_replica) {
    auto p = partition({1, 2}, {1, 2, 3}, 1);
    p.replicas = {2, 3, 1};
    p.adding_replicas = {3};
    p.removing_replicas = {1};
    ASSERT_TRUE(complete_reassignment_if_ready(p, {1, 3}));  // broker 2 is fenced
    EXPECT_EQ(p.leader, 3);
}

TEST(reassignment, removing_replicas_only_completes_at_once) {
    auto p = partition({1, 2, 3}, {1, 2, 3}, 3);
    auto step = start_reassignment(p, {1, 2}, registered, registered);
    ASSERT_TRUE(step.next);
    EXPECT_EQ(step.next->replicas, (ids{1, 2}));
    EXPECT_EQ(step.next->isr, (ids{1, 2}));
    EXPECT_FALSE(step.next->reassigning());
    EXPECT_EQ(step.next->leader, 1);
}

TEST(reassignment, where_it_already_is_nothing_changes) {
    auto p = partition({1, 2}, {1, 2}, 1);
    auto step = start_reassignment(p, {1, 2}, registered, registered);
    EXPECT_EQ(step.error, error_code::none);
    EXPECT_FALSE(step.next);
}

TEST(reassignment, a_cancel_restores_the_original_replicas_without_the_added_ones) {
    auto p = partition({1, 2}, {1, 2}, 1);
    auto moving = *start_reassignment(p, {3, 4}, registered, registered).next;
    EXPECT_EQ(moving.replicas, (ids{3, 4, 1, 2}));
    moving.isr = {1, 2, 3};  // 3 caught up, 4 did not
    auto cancelled = cancel_reassignment(moving, registered);
    ASSERT_EQ(cancelled.error, error_code::none);
    EXPECT_EQ(cancelled.next->replicas, (ids{1, 2}));
    EXPECT_EQ(cancelled.next->isr, (ids{1, 2}));
    EXPECT_FALSE(cancelled.next->reassigning());
    EXPECT_EQ(cancelled.next->leader, 1);
    EXPECT_EQ(cancelled.next->leader_epoch, moving.leader_epoch + 1);
}

TEST(reassignment, a_new_target_replaces_the_move_in_progress) {
    auto p = partition({1, 2}, {1, 2}, 1);
    auto moving = *start_reassignment(p, {2, 3}, registered, registered).next;
    moving.isr = {1, 2};
    auto replaced = start_reassignment(moving, {2, 4}, registered, registered);
    ASSERT_TRUE(replaced.next);
    EXPECT_EQ(replaced.next->replicas, (ids{2, 4, 1}));  // 3 is no longer a replica at all
    EXPECT_EQ(replaced.next->adding_replicas, ids{4});
    EXPECT_EQ(replaced.next->removing_replicas, ids{1});
}

TEST(reassignment, bad_requests_get_kafkas_errors) {
    auto p = partition({1, 2}, {1, 2}, 1);
    EXPECT_EQ(start_reassignment(p, {}, registered, registered).error,
              error_code::invalid_replica_assignment);
    EXPECT_EQ(start_reassignment(p, {2, 2}, registered, registered).error,
              error_code::invalid_replica_assignment);
    auto unknown = start_reassignment(p, {2, 9}, registered, registered);
    EXPECT_EQ(unknown.error, error_code::invalid_replica_assignment);
    EXPECT_NE(unknown.message.find("broker 9"), std::string::npos) << unknown.message;
    EXPECT_EQ(cancel_reassignment(p, registered).error, error_code::no_reassignment_in_progress);
}

}  // namespace
}  // namespace riacho::cluster
