// The controller on an in-memory metadata log: admin changes are validated (Kafka's error
// codes), recorded as metadata records, and a fresh controller replaying the same log builds
// the same image. Producer ids are unique across restarts.
#include "cluster/controller.h"

#include "memory_metadata_log.h"
#include "protocol/record_batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>

namespace riacho::cluster {
namespace {

using protocol::error_code;
using ids_t = std::vector<int32_t>;
using test::memory_metadata_log;

TEST(controller, create_topic_then_replay_builds_the_same_image) {
    memory_metadata_log log;
    controller c(log, 1);
    c.catch_up();
    auto created = c.create_topic("orders", 3, 1, {{"retention.ms", "1000"}}, false);
    ASSERT_EQ(created.error, error_code::none) << created.message;
    ASSERT_EQ(c.create_partitions("orders", 5, false).error, error_code::none);
    ASSERT_EQ(c.create_topic("gone", 1, 1, {}, false).error, error_code::none);
    ASSERT_EQ(c.delete_topic(c.image()->find_topic("gone")).error, error_code::none);

    auto replay_log = log.other_node();
    controller replayed(replay_log, 1);
    replayed.catch_up();
    auto t = replayed.image()->find_topic("orders");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->topic_id, created.topic->topic_id);
    EXPECT_EQ(t->partitions.size(), 5u);
    EXPECT_EQ(t->configs.at("retention.ms"), "1000");
    EXPECT_EQ(t->partitions[4].leader, 1);
    EXPECT_FALSE(replayed.image()->find_topic("gone"));
    EXPECT_EQ(replayed.image()->find_topic(t->topic_id), t);
}

TEST(controller, invalid_requests_get_kafka_errors_and_change_nothing) {
    memory_metadata_log log;
    controller c(log, 1);
    c.catch_up();
    EXPECT_EQ(c.create_topic("bad/name", 1, 1, {}, false).error,
              error_code::invalid_topic_exception);
    EXPECT_EQ(c.create_topic("", 1, 1, {}, false).error, error_code::invalid_topic_exception);
    EXPECT_EQ(c.create_topic("..", 1, 1, {}, false).error, error_code::invalid_topic_exception);
    EXPECT_EQ(c.create_topic(std::string(250, 'a'), 1, 1, {}, false).error,
              error_code::invalid_topic_exception);
    EXPECT_EQ(c.create_topic("t", 0, 1, {}, false).error, error_code::invalid_partitions);
    EXPECT_EQ(c.create_topic("t", -5, 1, {}, false).error, error_code::invalid_partitions);
    EXPECT_EQ(c.create_topic("t", 1, 3, {}, false).error, error_code::invalid_replication_factor);
    EXPECT_EQ(c.create_topic("t", 1, 1, {{"no.such.config", "1"}}, false).error,
              error_code::invalid_config);
    EXPECT_EQ(c.create_topic("t", 1, 1, {{"retention.ms", "soon"}}, false).error,
              error_code::invalid_config);
    EXPECT_EQ(c.create_topic("t", 1, 1, {{"cleanup.policy", "shred"}}, false).error,
              error_code::invalid_config);
    EXPECT_EQ(log.entries(), 0u);
    ASSERT_EQ(c.create_topic("t", 2, 1, {}, true).error, error_code::none);  // validate only
    EXPECT_EQ(log.entries(), 0u);
    ASSERT_EQ(c.create_topic("t", 2, 1, {}, false).error, error_code::none);
    EXPECT_EQ(c.create_topic("t", 2, 1, {}, false).error, error_code::topic_already_exists);
    EXPECT_EQ(c.create_partitions("t", 1, false).error, error_code::invalid_partitions);
    EXPECT_EQ(c.create_partitions("t", 2, false).error, error_code::invalid_partitions);
    EXPECT_EQ(c.create_partitions("nope", 3, false).error, error_code::unknown_topic_or_partition);
}

TEST(controller, altered_topic_configs_are_validated_and_replayed) {
    memory_metadata_log log;
    controller c(log, 1);
    c.catch_up();
    ASSERT_EQ(c.create_topic("orders", 1, 1, {{"retention.ms", "1000"}}, false).error,
              error_code::none);
    EXPECT_EQ(c.alter_topic_configs("orders", {{"retention.ms", "soon"}}, false).error,
              error_code::invalid_config);
    EXPECT_EQ(c.alter_topic_configs("orders", {{"no.such.config", "1"}}, false).error,
              error_code::invalid_config);
    EXPECT_EQ(c.alter_topic_configs("missing", {{"segment.ms", "1"}}, false).error,
              error_code::unknown_topic_or_partition);
    EXPECT_EQ(c.alter_topic_configs("orders", {{"segment.ms", "60000"}}, true).error,
              error_code::none);
    EXPECT_FALSE(c.image()->find_topic("orders")->configs.contains("segment.ms"));
    auto altered = c.alter_topic_configs(
        "orders", {{"segment.ms", "60000"}, {"retention.ms", std::nullopt}}, false);
    ASSERT_EQ(altered.error, error_code::none) << altered.message;

    auto replay_log = log.other_node();
    controller replayed(replay_log, 1);
    replayed.catch_up();
    auto configs = replayed.image()->find_topic("orders")->configs;
    EXPECT_EQ(configs, (std::map<std::string, std::string>{{"segment.ms", "60000"}}));
}

TEST(controller, a_metadata_write_the_quorum_does_not_take_changes_nothing) {
    memory_metadata_log log;
    controller c(log, 1);
    c.catch_up();
    log.fail_writes(true);
    EXPECT_EQ(c.create_topic("t", 1, 1, {}, false).error, error_code::request_timed_out);
    EXPECT_FALSE(c.image()->find_topic("t"));
    EXPECT_EQ(c.allocate_producer_id(), -1);
}

TEST(controller, producer_ids_are_unique_across_restarts) {
    memory_metadata_log log;
    std::set<int64_t> seen;
    for (int restart = 0; restart < 3; ++restart) {
        auto node_log = log.other_node();
        controller c(node_log, 1);
        c.catch_up();
        for (int i = 0; i < 1500; ++i) {
            int64_t id = c.allocate_producer_id();
            ASSERT_GE(id, 0);
            ASSERT_TRUE(seen.insert(id).second) << "producer id " << id << " handed out twice";
        }
    }
}

TEST(controller, listener_sees_every_change) {
    memory_metadata_log log;
    controller c(log, 1);
    c.catch_up();
    int calls = 0;
    size_t topics_after = 0;
    c.set_listener([&](const metadata_image&, const metadata_image& after) {
        ++calls;
        topics_after = after.topics_by_name.size();
    });
    ASSERT_EQ(c.create_topic("a", 1, 1, {}, false).error, error_code::none);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(topics_after, 1u);
}

TEST(controller, a_change_validated_on_a_stale_image_is_validated_again) {
    memory_metadata_log log_a;
    auto log_b = log_a.other_node();
    controller a(log_a, 1);
    controller b(log_b, 2);
    // a's change lands after b validated its own: b's write is refused as stale, b catches up
    // and validates again, and the second attempt goes through.
    log_b.before_next_write = [&] {
        ASSERT_EQ(a.create_topic("first", 1, 1, {}, false).error, error_code::none);
    };
    ASSERT_EQ(b.create_topic("second", 1, 1, {}, false).error, error_code::none);
    EXPECT_EQ(log_b.stale_writes, 1);
    EXPECT_TRUE(b.image()->find_topic("first"));
    // The same race on one name: validated again, b's duplicate is refused, not recorded.
    log_b.before_next_write = [&] {
        ASSERT_EQ(a.create_topic("both", 1, 1, {}, false).error, error_code::none);
    };
    EXPECT_EQ(b.create_topic("both", 1, 1, {}, false).error, error_code::topic_already_exists);
    EXPECT_EQ(log_b.stale_writes, 2);
    a.catch_up();
    EXPECT_EQ(a.image()->topics_by_name.size(), 3u);
    EXPECT_EQ(log_a.entries(), 3u);
}

TEST(controller, nodes_reserve_disjoint_producer_id_blocks) {
    memory_metadata_log log_a;
    auto log_b = log_a.other_node();
    controller a(log_a, 1);
    controller b(log_b, 2);
    std::set<int64_t> seen;
    for (int i = 0; i < 2500; ++i) {
        for (auto* c : {&a, &b}) {
            int64_t id = c->allocate_producer_id();
            ASSERT_GE(id, 0);
            ASSERT_TRUE(seen.insert(id).second) << "producer id " << id << " handed out twice";
        }
    }
}

TEST(controller, partitions_spread_over_registered_brokers) {
    memory_metadata_log log;
    controller c(log, 1);
    for (int32_t id : {1, 2, 3}) {
        ASSERT_EQ(c.register_broker({id, "localhost", 9090 + id, std::nullopt}).error,
                  error_code::none);
    }
    auto created = c.create_topic("spread", 6, 1, {}, false);
    ASSERT_EQ(created.error, error_code::none);
    std::map<int32_t, int> per_broker;
    for (const auto& p : created.topic->partitions) {
        ASSERT_EQ(p.replicas, std::vector<int32_t>{p.leader});
        ++per_broker[p.leader];
    }
    EXPECT_EQ(per_broker, (std::map<int32_t, int>{{1, 2}, {2, 2}, {3, 2}}));
    // More replicas than brokers: Kafka's error.
    EXPECT_EQ(c.create_topic("wide", 1, 4, {}, false).error,
              error_code::invalid_replication_factor);
    // Three replicas on three distinct brokers, the first the leader, all in sync.
    auto replicated = c.create_topic("replicated", 3, 3, {}, false);
    ASSERT_EQ(replicated.error, error_code::none);
    std::map<int32_t, int> leaders;
    for (const auto& p : replicated.topic->partitions) {
        EXPECT_EQ(std::set<int32_t>(p.replicas.begin(), p.replicas.end()).size(), 3u);
        EXPECT_EQ(p.leader, p.replicas.front());
        EXPECT_EQ(p.isr, p.replicas);
        ++leaders[p.leader];
    }
    EXPECT_EQ(leaders.size(), 3u) << "leaders spread over the brokers";
    // Registering the same endpoint again records nothing new.
    auto before = c.applied_end();
    ASSERT_EQ(c.register_broker({2, "localhost", 9092, std::nullopt}).error, error_code::none);
    EXPECT_EQ(c.applied_end(), before);
}

TEST(controller, a_broker_shut_down_stays_fenced_until_it_registers_again) {
    memory_metadata_log log;
    controller c(log, 1);
    for (int32_t id : {1, 2, 3}) {
        ASSERT_EQ(c.register_broker({id, "localhost", 9090 + id, std::nullopt}).error,
                  error_code::none);
    }
    ASSERT_EQ(c.create_topic("t", 3, 3, {}, false).error, error_code::none);
    // Broker 2's controlled shutdown: fenced, out of every ISR, leading nothing, in one commit.
    EXPECT_GE(c.shut_down_broker(2, {1, 3}), 2u);
    EXPECT_EQ(c.image()->fenced_brokers, std::set<int32_t>{2});
    EXPECT_EQ(c.image()->shut_down_brokers, std::set<int32_t>{2});
    for (const auto& p : c.image()->find_topic("t")->partitions) {
        EXPECT_NE(p.leader, 2);
        EXPECT_EQ(std::count(p.isr.begin(), p.isr.end(), 2), 0);
    }
    EXPECT_EQ(c.shut_down_broker(2, {1, 3}), 0u) << "recorded once";
    // Its last fetches on the way out make it look alive: it stays fenced.
    EXPECT_EQ(c.elect_leaders({1, 2, 3}), 0u);
    EXPECT_EQ(c.image()->fenced_brokers, std::set<int32_t>{2});
    // Its next start registers it (the same endpoint is recorded again): then it is unfenced
    // by being heard from, like any fenced broker.
    ASSERT_EQ(c.register_broker({2, "localhost", 9092, std::nullopt}).error, error_code::none);
    EXPECT_TRUE(c.image()->shut_down_brokers.empty());
    EXPECT_EQ(c.image()->fenced_brokers, std::set<int32_t>{2});
    EXPECT_EQ(c.elect_leaders({1, 2, 3}), 1u);
    EXPECT_TRUE(c.image()->fenced_brokers.empty());
    // Unregistering a shut-down broker forgets that too.
    c.shut_down_broker(3, {1, 2});
    ASSERT_EQ(c.unregister_broker(3).error, error_code::none);
    EXPECT_TRUE(c.image()->shut_down_brokers.empty());
}

TEST(controller, dead_leaders_are_replaced_by_live_isr_replicas) {
    memory_metadata_log log;
    controller c(log, 1);
    for (int32_t id : {1, 2, 3}) {
        ASSERT_EQ(c.register_broker({id, "localhost", 9090 + id, std::nullopt}).error,
                  error_code::none);
    }
    auto created = c.create_topic("t", 3, 3, {}, false);
    ASSERT_EQ(created.error, error_code::none);
    EXPECT_EQ(c.elect_leaders({1, 2, 3}), 0u) << "all alive: nothing to do";
    // Broker 2 dies: it leaves every ISR, and the partition it led moves on, in a new epoch.
    EXPECT_EQ(c.elect_leaders({1, 3}), 4u);  // three partitions, and broker 2 fenced
    EXPECT_EQ(c.image()->fenced_brokers, std::set<int32_t>{2});
    // A fenced broker may not rejoin an ISR (KIP-841).
    int32_t led_by_1 = -1;
    for (const auto& p : c.image()->find_topic("t")->partitions) {
        if (p.leader == 1) {
            led_by_1 = p.partition;
        }
    }
    ASSERT_GE(led_by_1, 0);
    auto p1 = c.image()->find_topic("t")->partitions[static_cast<size_t>(led_by_1)];
    auto with_2 = p1.isr;
    with_2.push_back(2);
    EXPECT_EQ(c.change_isr("t", led_by_1, p1.leader_epoch, with_2).error,
              error_code::ineligible_replica);
    for (const auto& p : c.image()->find_topic("t")->partitions) {
        EXPECT_NE(p.leader, 2);
        EXPECT_EQ(std::count(p.isr.begin(), p.isr.end(), 2), 0);
        auto before = created.topic->partitions[static_cast<size_t>(p.partition)];
        EXPECT_EQ(p.leader_epoch, before.leader == 2 ? 1 : 0);
    }
    // Then 1 and 3 die too: partitions go offline, their last ISR members eligible (KIP-966).
    c.elect_leaders({});
    for (const auto& p : c.image()->find_topic("t")->partitions) {
        EXPECT_EQ(p.leader, -1);
        EXPECT_TRUE(p.isr.empty());
        EXPECT_FALSE(p.elr.empty());
    }
    // The last leader returns: it takes its partitions back.
    c.elect_leaders({1, 3});
    EXPECT_EQ(c.image()->fenced_brokers, std::set<int32_t>{2});
    for (const auto& p : c.image()->find_topic("t")->partitions) {
        EXPECT_TRUE(p.leader == 1 || p.leader == 3) << p.leader;
    }
}

TEST(controller, preferred_leaders_come_back_when_in_sync) {
    memory_metadata_log log;
    controller c(log, 1);
    for (int32_t id : {1, 2, 3}) {
        ASSERT_EQ(c.register_broker({id, "localhost", 9090 + id, std::nullopt}).error,
                  error_code::none);
    }
    ASSERT_EQ(c.create_topic("t", 3, 3, {}, false).error, error_code::none);
    c.elect_leaders({1, 3});  // 2 dies: its partition moves
    EXPECT_EQ(c.restore_preferred_leaders({1, 3}, 0.1), 0u) << "2 is not back yet";
    c.elect_leaders({1, 2, 3});  // back, but not in the ISR yet
    EXPECT_EQ(c.restore_preferred_leaders({1, 2, 3}, 0.1), 0u) << "2 is not in sync";
    for (const auto& p : c.image()->find_topic("t")->partitions) {
        if (p.replicas.front() == 2) {
            // 2 caught up: its partition's leader puts it back in the ISR.
            auto isr = p.isr;
            isr.push_back(2);
            auto leader_log = log.other_node();  // the partition leader's node
            controller leader_view(leader_log, p.leader);
            ASSERT_EQ(leader_view.change_isr("t", p.partition, p.leader_epoch, isr).error,
                      error_code::none);
        }
    }
    EXPECT_EQ(c.restore_preferred_leaders({1, 2, 3}, 0.1), 1u);
    for (const auto& p : c.image()->find_topic("t")->partitions) {
        EXPECT_EQ(p.leader, p.replicas.front());
    }
}

TEST(controller, only_the_partition_leader_changes_its_isr) {
    memory_metadata_log log;
    controller c(log, 1);
    for (int32_t id : {1, 2}) {
        ASSERT_EQ(c.register_broker({id, "localhost", 9090 + id, std::nullopt}).error,
                  error_code::none);
    }
    ASSERT_EQ(c.create_topic("t", 2, 2, {}, false).error, error_code::none);
    auto topic = c.image()->find_topic("t");
    int32_t mine = topic->partitions[0].leader == 1 ? 0 : 1;
    EXPECT_EQ(c.change_isr("t", mine, 0, {1}).error, error_code::none);
    EXPECT_EQ(c.image()->find_topic("t")->partitions[static_cast<size_t>(mine)].isr,
              std::vector<int32_t>{1});
    EXPECT_EQ(c.change_isr("t", mine, 7, {1, 2}).error, error_code::fenced_leader_epoch);
    EXPECT_EQ(c.change_isr("t", 1 - mine, 0, {2}).error, error_code::fenced_leader_epoch);
}

}  // namespace
}  // namespace riacho::cluster

namespace riacho::cluster {
namespace {

// Three registered brokers and topic "t": one partition on brokers 2 (preferred) and 3.
std::unique_ptr<controller> with_two_replicas(
    memory_metadata_log& log, const std::map<std::string, std::string>& configs = {}) {
    auto c = std::make_unique<controller>(log, 1);
    for (int32_t id : {1, 2, 3}) {
        EXPECT_EQ(c->register_broker({id, "localhost", 9090 + id, std::nullopt}).error,
                  error_code::none);
    }
    EXPECT_EQ(c->create_topic("t", 1, 2, configs, false, {{2, 3}}).error, error_code::none);
    return c;
}

const partition_info& partition_0(const controller& c) {
    return c.image()->find_topic("t")->partitions.front();
}

TEST(controller, manual_assignments_are_checked_as_kafka_checks_them) {
    memory_metadata_log log;
    auto held = with_two_replicas(log);
    auto& c = *held;
    EXPECT_EQ(partition_0(c).replicas, (std::vector<int32_t>{2, 3}));
    EXPECT_EQ(partition_0(c).leader, 2);
    EXPECT_EQ(c.create_topic("unknown", 1, 1, {}, false, {{4}}).error,
              error_code::invalid_replica_assignment);
    EXPECT_EQ(c.create_topic("twice", 1, 2, {}, false, {{2, 2}}).error,
              error_code::invalid_replica_assignment);
    EXPECT_EQ(c.create_topic("uneven", 2, 2, {}, false, {{1, 2}, {3}}).error,
              error_code::invalid_replica_assignment);
    EXPECT_FALSE(c.image()->find_topic("unknown") || c.image()->find_topic("twice") ||
                 c.image()->find_topic("uneven"));
}

TEST(controller, unclean_election_only_where_the_topic_or_broker_allows_it) {
    memory_metadata_log log;
    auto held = with_two_replicas(log);
    auto& c = *held;
    // 3 falls out of the ISR, then 2 (the last ISR member) dies.
    c.elect_leaders({1, 2});
    ASSERT_EQ(partition_0(c).isr, std::vector<int32_t>{2});
    c.elect_leaders({1, 3}, {}, /*liveness=*/true);
    EXPECT_EQ(partition_0(c).leader, -1) << "clean only: offline";
    EXPECT_TRUE(partition_0(c).isr.empty());
    EXPECT_EQ(partition_0(c).elr, std::vector<int32_t>{2}) << "eligible: its last leader";
    // The broker default allows it: the live out-of-sync replica leads, alone in the ISR.
    c.elect_leaders({1, 3}, {{"unclean.leader.election.enable", "true"}}, /*liveness=*/true);
    EXPECT_EQ(partition_0(c).leader, 3);
    EXPECT_EQ(partition_0(c).isr, std::vector<int32_t>{3});
    EXPECT_EQ(partition_0(c).leader_epoch, 2);

    // A topic override does too, but a controlled shutdown never elects uncleanly.
    memory_metadata_log other;
    auto held_other = with_two_replicas(other, {{"unclean.leader.election.enable", "true"}});
    auto& d = *held_other;
    d.elect_leaders({1, 2});
    d.elect_leaders({1, 3});  // controlled shutdown of 2
    EXPECT_EQ(partition_0(d).leader, -1);
    d.elect_leaders({1, 3}, {}, /*liveness=*/true);
    EXPECT_EQ(partition_0(d).leader, 3);
}

TEST(controller, elect_leaders_answers_per_partition) {
    using type = controller::election_type;
    memory_metadata_log log;
    auto held = with_two_replicas(log);
    auto& c = *held;
    auto one = [](const std::vector<controller::election_result>& r) {
        EXPECT_EQ(r.size(), 1u);
        return r.empty() ? error_code::unknown_server_error : r.front().error;
    };
    std::vector<std::pair<std::string, int32_t>> t0{{"t", 0}};
    EXPECT_EQ(one(c.elect(type::preferred, t0)), error_code::election_not_needed);
    EXPECT_EQ(one(c.elect(type::unclean, t0)), error_code::election_not_needed);
    EXPECT_EQ(one(c.elect(type::preferred, {{{"t", 1}}})), error_code::unknown_topic_or_partition);
    EXPECT_EQ(one(c.elect(type::preferred, {{{"nope", 0}}})),
              error_code::unknown_topic_or_partition);
    // 2 dies: 3 leads; the preferred replica cannot be elected while it is fenced.
    c.elect_leaders({1, 3});
    ASSERT_EQ(partition_0(c).leader, 3);
    EXPECT_EQ(one(c.elect(type::preferred, t0)), error_code::preferred_leader_not_available);
    // Everything asked (nullopt): only partitions with something to report are listed.
    EXPECT_TRUE(c.elect(type::unclean, std::nullopt).empty());
    // 2 is back and in sync: a preferred election moves leadership to it.
    c.elect_leaders({1, 2, 3});
    auto leader_log = log.other_node();  // broker 3's node, the partition's leader
    controller leader_view(leader_log, 3);
    ASSERT_EQ(leader_view.change_isr("t", 0, partition_0(c).leader_epoch, {3, 2}).error,
              error_code::none);
    EXPECT_EQ(one(c.elect(type::preferred, std::nullopt)), error_code::none);
    EXPECT_EQ(partition_0(c).leader, 2);
    // Nobody alive: an unclean election has no one to elect.
    c.elect_leaders({1});
    EXPECT_EQ(one(c.elect(type::unclean, t0)), error_code::eligible_leaders_not_available);
}

}  // namespace
}  // namespace riacho::cluster

namespace riacho::cluster {
namespace {

TEST(controller, a_reassignment_completes_with_the_isr_change_that_has_every_new_replica) {
    memory_metadata_log log;
    controller c(log, 2);  // node 2 leads the partition, so it may change the ISR
    for (int32_t id : {1, 2, 3}) {
        ASSERT_EQ(c.register_broker({id, "localhost", 9090 + id, std::nullopt}).error,
                  error_code::none);
    }
    ASSERT_EQ(c.create_topic("t", 1, 2, {}, false, {{2, 1}}).error, error_code::none);
    EXPECT_EQ(c.alter_reassignment("t", 0, ids_t{2, 3}).error, error_code::none);
    auto moving = c.image()->find_topic("t")->partitions[0];
    EXPECT_EQ(moving.replicas, (ids_t{2, 3, 1}));
    EXPECT_EQ(moving.adding_replicas, ids_t{3});
    EXPECT_EQ(moving.leader_epoch, 1);
    EXPECT_EQ(c.alter_reassignment("t", 1, ids_t{2}).error, error_code::unknown_topic_or_partition);

    ASSERT_EQ(c.change_isr("t", 0, 1, {2, 1, 3}).error, error_code::none);
    auto done = c.image()->find_topic("t")->partitions[0];
    EXPECT_EQ(done.replicas, (ids_t{2, 3}));
    EXPECT_EQ(done.isr, (ids_t{2, 3}));
    EXPECT_FALSE(done.reassigning());
    EXPECT_EQ(done.leader, 2);
    EXPECT_EQ(done.leader_epoch, 2);
    EXPECT_EQ(c.alter_reassignment("t", 0, std::nullopt).error,
              error_code::no_reassignment_in_progress);

    // A node replaying the log sees the same partition, moving fields included.
    auto other = log.other_node();
    controller replayed(other, 3);
    replayed.catch_up();
    auto seen = replayed.image()->find_topic("t")->partitions[0];
    EXPECT_EQ(seen.replicas, done.replicas);
    EXPECT_EQ(seen.leader_epoch, done.leader_epoch);
}

TEST(controller, a_partition_record_keeps_a_move_in_progress) {
    memory_metadata_log log;
    controller c(log, 1);
    for (int32_t id : {1, 2}) {
        ASSERT_EQ(c.register_broker({id, "localhost", 9090 + id, std::nullopt}).error,
                  error_code::none);
    }
    ASSERT_EQ(c.create_topic("t", 1, 1, {}, false, {{1}}).error, error_code::none);
    ASSERT_EQ(c.alter_reassignment("t", 0, ids_t{2}).error, error_code::none);
    auto other = log.other_node();
    controller replayed(other, 2);
    replayed.catch_up();
    auto seen = replayed.image()->find_topic("t")->partitions[0];
    EXPECT_EQ(seen.replicas, (ids_t{2, 1}));
    EXPECT_EQ(seen.adding_replicas, ids_t{2});
    EXPECT_EQ(seen.removing_replicas, ids_t{1});
    // Cancelled: back where it was.
    ASSERT_EQ(c.alter_reassignment("t", 0, std::nullopt).error, error_code::none);
    auto back = c.image()->find_topic("t")->partitions[0];
    EXPECT_EQ(back.replicas, ids_t{1});
    EXPECT_FALSE(back.reassigning());
}

}  // namespace
}  // namespace riacho::cluster

namespace riacho::cluster {
namespace {

TEST(controller, an_eligible_replica_leads_when_no_isr_member_lives) {
    memory_metadata_log log;
    controller c(log, 1);
    for (int32_t id : {1, 2, 3}) {
        ASSERT_EQ(c.register_broker({id, "localhost", 9090 + id, std::nullopt}).error,
                  error_code::none);
    }
    ASSERT_EQ(c.create_topic("t", 1, 2, {{"min.insync.replicas", "2"}}, false, {{1, 2}}).error,
              error_code::none);
    c.elect_leaders({1, 3}, {}, true);  // broker 2 dies: ISR [1], below min ISR
    auto p = c.image()->find_topic("t")->partitions[0];
    EXPECT_EQ(p.isr, ids_t{1});
    EXPECT_EQ(p.elr, ids_t{2});
    c.elect_leaders({3}, {}, true);  // broker 1 dies: nobody in sync is alive
    p = c.image()->find_topic("t")->partitions[0];
    EXPECT_EQ(p.leader, -1);
    EXPECT_TRUE(p.isr.empty());
    EXPECT_EQ(p.elr, (ids_t{2, 1}));
    c.elect_leaders({2, 3}, {}, true);  // broker 2 is back first: it leads, cleanly
    p = c.image()->find_topic("t")->partitions[0];
    EXPECT_EQ(p.leader, 2);
    EXPECT_EQ(p.isr, ids_t{2});
    EXPECT_EQ(p.elr, ids_t{1});
    EXPECT_EQ(p.leader_epoch, 2);
    // A new min.insync.replicas voids what eligibility was judged against.
    ASSERT_EQ(c.alter_topic_configs("t", {{"min.insync.replicas", "1"}}, false).error,
              error_code::none);
    EXPECT_TRUE(c.image()->find_topic("t")->partitions[0].elr.empty());
}

TEST(controller, a_new_cluster_wide_min_isr_clears_the_elr_of_topics_without_their_own) {
    memory_metadata_log log;
    controller c(log, 1);
    c.set_broker_config({{"min.insync.replicas", "2"}});
    for (int32_t id : {1, 2, 3}) {
        ASSERT_EQ(c.register_broker({id, "localhost", 9090 + id, std::nullopt}).error,
                  error_code::none);
    }
    ASSERT_EQ(c.create_topic("plain", 1, 2, {}, false, {{1, 2}}).error, error_code::none);
    ASSERT_EQ(c.create_topic("own", 1, 2, {{"min.insync.replicas", "2"}}, false, {{1, 2}}).error,
              error_code::none);
    c.elect_leaders({1, 3}, {}, true);  // broker 2 dies: both ISRs [1], below min ISR 2
    EXPECT_EQ(c.image()->find_topic("plain")->partitions[0].elr, ids_t{2});
    EXPECT_EQ(c.image()->find_topic("own")->partitions[0].elr, ids_t{2});
    ASSERT_EQ(c.alter_broker_configs("", {{"min.insync.replicas", "1"}}).error, error_code::none);
    EXPECT_TRUE(c.image()->find_topic("plain")->partitions[0].elr.empty());
    EXPECT_EQ(c.image()->find_topic("own")->partitions[0].elr, ids_t{2})
        << "a topic with its own value is not affected";
    // Other broker configs leave the ELR alone.
    c.elect_leaders({1, 3}, {}, true);
    ASSERT_EQ(c.alter_broker_configs("", {{"log.retention.ms", "1000"}}).error, error_code::none);
    EXPECT_EQ(c.image()->find_topic("own")->partitions[0].elr, ids_t{2});
}

}  // namespace
}  // namespace riacho::cluster
