// The consumer group protocol (KIP-848) in the coordinator: a second member gets its share
// only after the first revoked it (incremental, never two owners), epochs move as KIP-848 says,
// silent members leave after the session timeout, bad requests get Kafka's errors, commits are
// checked against the member epoch. A seeded random walk of joining, heartbeating (with
// clients that revoke at once or late), leaving and crashing members checks after every step
// that no partition is owned by two clients, and that a quiet group converges to a balanced
// assignment covering every partition. The assignors are checked directly too.
#include "group/assignors.h"
#include "group/classic_group.h"
#include "group/coordinator.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace riacho::group {
namespace {

const topic_catalog catalog{{"orders", {protocol::uuid{}, 6}}, {"audit", {protocol::uuid{}, 2}}};

coordinator_config config() {
    coordinator_config c;
    c.consumer_session_timeout_ms = 10000;
    c.consumer_heartbeat_interval_ms = 500;
    return c;
}

consumer_heartbeat_request join(const std::string& member, std::vector<std::string> topics) {
    consumer_heartbeat_request r;
    r.group_id = "g";
    r.member_id = member;
    r.member_epoch = 0;
    r.rebalance_timeout_ms = 30000;
    r.subscribed_topic_names = std::move(topics);
    r.owned = std::vector<partition_key>{};
    return r;
}

consumer_heartbeat_request beat(const std::string& member,
                                int32_t epoch,
                                std::optional<std::vector<partition_key>> owned = std::nullopt) {
    consumer_heartbeat_request r;
    r.group_id = "g";
    r.member_id = member;
    r.member_epoch = epoch;
    r.owned = std::move(owned);
    return r;
}

std::set<partition_key> as_set(const std::optional<std::vector<partition_key>>& v) {
    return v ? std::set<partition_key>(v->begin(), v->end()) : std::set<partition_key>{};
}

TEST(consumer_protocol, a_second_member_gets_its_share_after_the_first_revokes) {
    coordinator c(config(), 1);
    auto a = c.consumer_heartbeat(join("a", {"orders"}), catalog, 0);
    ASSERT_EQ(a.error, error_code::none) << a.message;
    EXPECT_EQ(a.member_epoch, 1);
    EXPECT_EQ(as_set(a.assignment).size(), 6u);
    EXPECT_EQ(a.heartbeat_interval_ms, 500);

    auto b = c.consumer_heartbeat(join("b", {"orders"}), catalog, 10);
    ASSERT_EQ(b.error, error_code::none);
    EXPECT_EQ(b.member_epoch, 2);
    EXPECT_TRUE(as_set(b.assignment).empty());  // a still owns everything

    auto a2 = c.consumer_heartbeat(beat("a", 1), catalog, 20);
    EXPECT_EQ(a2.member_epoch, 1);  // revoking: the epoch waits
    auto keep = as_set(a2.assignment);
    EXPECT_EQ(keep.size(), 3u);
    EXPECT_EQ(c.describe_consumer_group("g").state, "Reconciling");

    auto b2 = c.consumer_heartbeat(beat("b", 2), catalog, 30);
    EXPECT_TRUE(as_set(b2.assignment).empty());  // not released yet

    auto a3 = c.consumer_heartbeat(beat("a", 1, a2.assignment), catalog, 40);
    EXPECT_EQ(a3.member_epoch, 2);
    auto b3 = c.consumer_heartbeat(beat("b", 2), catalog, 50);
    auto theirs = as_set(b3.assignment);
    EXPECT_EQ(theirs.size(), 3u);
    for (const auto& p : theirs) {
        EXPECT_EQ(keep.count(p), 0u);
    }
    auto d = c.describe_consumer_group("g");
    EXPECT_EQ(d.state, "Stable");
    EXPECT_EQ(d.group_epoch, 2);
    EXPECT_EQ(d.assignment_epoch, 2);
    ASSERT_EQ(d.members.size(), 2u);
}

TEST(consumer_protocol, silent_members_leave_and_their_partitions_move) {
    coordinator c(config(), 1);
    auto a = c.consumer_heartbeat(join("a", {"orders"}), catalog, 0);
    auto b = c.consumer_heartbeat(join("b", {"orders"}), catalog, 0);
    a = c.consumer_heartbeat(beat("a", 1), catalog, 100);
    a = c.consumer_heartbeat(beat("a", 1, a.assignment), catalog, 200);
    ASSERT_EQ(a.member_epoch, 2);
    // b goes quiet; a keeps heartbeating past b's session timeout.
    for (int64_t t = 1000; t <= 12000; t += 1000) {
        if (auto next = c.next_deadline(); next && *next <= t) {
            c.tick(t);
        }
        a = c.consumer_heartbeat(beat("a", a.member_epoch, a.assignment), catalog, t);
    }
    EXPECT_EQ(as_set(a.assignment).size(), 6u);
    EXPECT_EQ(c.describe_consumer_group("g").members.size(), 1u);
    EXPECT_EQ(c.consumer_heartbeat(beat("b", 2), catalog, 12500).error,
              error_code::unknown_member_id);
}

TEST(consumer_protocol, bad_requests_and_commits_get_kafkas_errors) {
    coordinator c(config(), 1);
    auto no_subscription = join("a", {"orders"});
    no_subscription.subscribed_topic_names.reset();
    EXPECT_EQ(c.consumer_heartbeat(no_subscription, catalog, 0).error, error_code::invalid_request);
    auto bad_assignor = join("a", {"orders"});
    bad_assignor.server_assignor = "sticky-ish";
    EXPECT_EQ(c.consumer_heartbeat(bad_assignor, catalog, 0).error,
              error_code::unsupported_assignor);
    EXPECT_EQ(c.consumer_heartbeat(beat("nobody", 3), catalog, 0).error,
              error_code::unknown_member_id);
    auto a = c.consumer_heartbeat(join("a", {"orders"}), catalog, 0);
    EXPECT_EQ(c.consumer_heartbeat(beat("a", 7), catalog, 1).error,
              error_code::fenced_member_epoch);

    commit_request commit;
    commit.group_id = "g";
    commit.member_id = "a";
    commit.version = 9;
    commit.partitions.push_back({{"orders", 0}, 42, -1, std::nullopt});
    commit.generation_id = a.member_epoch;
    EXPECT_EQ(c.commit(commit, 2).error, error_code::none);
    commit.generation_id = a.member_epoch - 1;
    EXPECT_EQ(c.commit(commit, 3).error, error_code::stale_member_epoch);
    commit.generation_id = a.member_epoch + 1;
    EXPECT_EQ(c.commit(commit, 4).error, error_code::fenced_member_epoch);
    commit.member_id = "nobody";
    EXPECT_EQ(c.commit(commit, 5).error, error_code::unknown_member_id);
    auto fetched = c.fetch_offsets("g", std::vector<partition_key>{{"orders", 0}});
    ASSERT_EQ(fetched.size(), 1u);
    EXPECT_EQ(fetched[0].value.offset, 42);

    // A classic member may not join while consumer-protocol members own the group.
    join_request classic;
    classic.group_id = "g";
    classic.session_timeout_ms = 10000;
    classic.protocol_type = "consumer";
    classic.protocols.push_back({"range", {}});
    std::optional<join_result> joined;
    c.join(classic, 6, [&](join_result r) { joined = r; });
    ASSERT_TRUE(joined);
    EXPECT_EQ(joined->error, error_code::inconsistent_group_protocol);

    auto left = c.consumer_heartbeat(beat("a", -1), catalog, 7);
    EXPECT_EQ(left.error, error_code::none);
    EXPECT_EQ(left.member_epoch, -1);
    EXPECT_EQ(c.describe_consumer_group("g").state, "Empty");
}

TEST(consumer_protocol, a_restarted_coordinator_resumes_from_its_records) {
    topic_catalog topics = catalog;
    topics["orders"].topic_id.bytes[0] = 1;
    topics["audit"].topic_id.bytes[0] = 2;
    coordinator c(config(), 1);
    auto a = c.consumer_heartbeat(join("a", {"orders"}), topics, 0);
    auto b = c.consumer_heartbeat(join("b", {"orders"}), topics, 0);
    a = c.consumer_heartbeat(beat("a", a.member_epoch), topics, 10);
    a = c.consumer_heartbeat(beat("a", a.member_epoch, a.assignment), topics, 20);
    b = c.consumer_heartbeat(beat("b", b.member_epoch), topics, 30);
    ASSERT_EQ(c.describe_consumer_group("g").state, "Stable");
    auto records = c.take_records();

    coordinator restarted(config(), 2);
    restarted.set_loading_topics(topics);
    for (const auto& r : records) {
        std::optional<protocol::bytes_view> value;
        if (r.value) {
            value = protocol::bytes_view(*r.value);
        }
        restarted.load_record(r.key, value);
    }
    restarted.finish_loading(1000);
    auto before = c.describe_consumer_group("g");
    auto after = restarted.describe_consumer_group("g");
    EXPECT_EQ(after.state, "Stable");
    EXPECT_EQ(after.group_epoch, before.group_epoch);
    EXPECT_EQ(after.assignment_epoch, before.assignment_epoch);
    ASSERT_EQ(after.members.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(after.members[i].member_id, before.members[i].member_id);
        EXPECT_EQ(after.members[i].member_epoch, before.members[i].member_epoch);
        EXPECT_EQ(after.members[i].assignment, before.members[i].assignment);
        EXPECT_EQ(after.members[i].target_assignment, before.members[i].target_assignment);
        EXPECT_EQ(after.members[i].subscribed_topic_names, std::vector<std::string>{"orders"});
    }
    // The members carry on with their epochs: same assignment, no new group epoch.
    auto a2 = restarted.consumer_heartbeat(beat("a", a.member_epoch, a.assignment), topics, 1100);
    ASSERT_EQ(a2.error, error_code::none) << a2.message;
    EXPECT_EQ(a2.member_epoch, a.member_epoch);
    EXPECT_EQ(as_set(a2.assignment), as_set(a.assignment));
    EXPECT_EQ(restarted.describe_consumer_group("g").group_epoch, before.group_epoch);

    // A member that left is gone after a restart too.
    c.consumer_heartbeat(beat("b", -1), topics, 40);
    auto more = c.take_records();
    coordinator again(config(), 3);
    again.set_loading_topics(topics);
    for (const auto* batch : {&records, &more}) {
        for (const auto& r : *batch) {
            std::optional<protocol::bytes_view> value;
            if (r.value) {
                value = protocol::bytes_view(*r.value);
            }
            again.load_record(r.key, value);
        }
    }
    again.finish_loading(2000);
    EXPECT_EQ(again.describe_consumer_group("g").members.size(), 1u);
}

TEST(consumer_protocol, a_static_member_restarting_keeps_its_partitions) {
    coordinator c(config(), 1);
    auto static_join = [](const std::string& member) {
        auto r = join(member, {"orders"});
        r.instance_id = "host-1";
        return r;
    };
    auto a = c.consumer_heartbeat(static_join("a1"), catalog, 0);
    auto b = c.consumer_heartbeat(join("b", {"orders"}), catalog, 0);
    a = c.consumer_heartbeat(beat("a1", a.member_epoch), catalog, 10);
    a = c.consumer_heartbeat(beat("a1", a.member_epoch, a.assignment), catalog, 20);
    b = c.consumer_heartbeat(beat("b", b.member_epoch), catalog, 30);
    auto epoch = c.describe_consumer_group("g").group_epoch;
    ASSERT_EQ(as_set(a.assignment).size(), 3u);

    // Restart: -2, then a new incarnation (a new member id, the same instance id).
    auto paused = c.consumer_heartbeat(beat("a1", -2), catalog, 40);
    ASSERT_EQ(paused.error, error_code::none);
    EXPECT_EQ(paused.member_epoch, -2);
    EXPECT_EQ(c.describe_consumer_group("g").members.size(), 2u);  // still holds its place
    auto back = c.consumer_heartbeat(static_join("a2"), catalog, 1000);
    ASSERT_EQ(back.error, error_code::none) << back.message;
    EXPECT_EQ(back.member_id, "a2");
    EXPECT_EQ(back.member_epoch, a.member_epoch);
    EXPECT_EQ(as_set(back.assignment), as_set(a.assignment));
    EXPECT_EQ(c.describe_consumer_group("g").group_epoch, epoch);  // nobody else rebalances
    EXPECT_EQ(c.consumer_heartbeat(beat("a1", a.member_epoch), catalog, 1100).error,
              error_code::unknown_member_id);

    // A static member that never comes back leaves at its session timeout.
    c.consumer_heartbeat(beat("a2", -2), catalog, 1200);
    for (int64_t t = 2000; t <= 12000; t += 1000) {
        if (auto next = c.next_deadline(); next && *next <= t) {
            c.tick(t);
        }
        b = c.consumer_heartbeat(beat("b", b.member_epoch, b.assignment), catalog, t);
    }
    EXPECT_EQ(c.describe_consumer_group("g").members.size(), 1u);
    EXPECT_EQ(as_set(b.assignment).size(), 6u);
}

TEST(consumer_protocol, random_walk_never_gives_a_partition_to_two_clients) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        SCOPED_TRACE(::testing::Message() << "seed " << seed);
        std::mt19937_64 rng(seed);
        auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
        coordinator c(config(), seed);
        struct client {
            int32_t epoch = -1;  // -1: not in the group
            std::set<partition_key> owned;
            bool slow = false;  // revokes one heartbeat late
            std::set<partition_key> to_drop;
            std::vector<std::string> topics;
        };
        std::map<std::string, client> clients;
        for (int i = 0; i < 5; ++i) {
            clients["m" + std::to_string(i)].topics =
                i % 3 == 2 ? std::vector<std::string>{"orders", "audit"}
                           : std::vector<std::string>{"orders"};
        }
        int64_t now = 0;
        auto apply = [&](const std::string& id, client& cl, const consumer_heartbeat_result& r) {
            if (r.error != error_code::none) {
                cl.epoch = -1;  // fenced or unknown: it drops everything and rejoins later
                cl.owned.clear();
                cl.to_drop.clear();
                return;
            }
            cl.epoch = r.member_epoch;
            auto assigned = as_set(r.assignment);
            std::set<partition_key> gone;
            for (const auto& p : cl.owned) {
                if (!assigned.count(p)) gone.insert(p);
            }
            if (cl.slow && !gone.empty()) {
                cl.to_drop = gone;  // still consuming them until the next heartbeat
                for (const auto& p : assigned) cl.owned.insert(p);
            } else {
                cl.owned = assigned;
            }
            (void)id;
        };
        for (int step = 0; step < 400; ++step) {
            SCOPED_TRACE(::testing::Message() << "step " << step);
            now += pick(10, 400);
            if (auto next = c.next_deadline(); next && *next <= now) {
                c.tick(now);
            }
            auto it = clients.begin();
            std::advance(it, pick(0, static_cast<int>(clients.size()) - 1));
            auto& [id, cl] = *it;
            int op = pick(0, 99);
            if (cl.epoch < 0) {
                if (op < 60) {
                    cl.slow = pick(0, 1) == 1;
                    apply(id, cl, c.consumer_heartbeat(join(id, cl.topics), catalog, now));
                }
            } else if (op < 80) {
                if (!cl.to_drop.empty()) {
                    for (const auto& p : cl.to_drop) cl.owned.erase(p);
                    cl.to_drop.clear();
                }
                std::vector<partition_key> owned(cl.owned.begin(), cl.owned.end());
                apply(id, cl, c.consumer_heartbeat(beat(id, cl.epoch, owned), catalog, now));
            } else if (op < 88) {
                c.consumer_heartbeat(beat(id, -1), catalog, now);
                cl = client{.topics = cl.topics};
            } else if (op < 93) {
                // Crash: it stops heartbeating and consuming; the session timeout removes it.
                cl.owned.clear();
                cl.to_drop.clear();
                cl.epoch = -2;
            }
            std::map<partition_key, std::string> owner;
            for (const auto& [cid, other] : clients) {
                for (const auto& p : other.owned) {
                    auto [pos, fresh] = owner.emplace(p, cid);
                    ASSERT_TRUE(fresh) << p.topic << "-" << p.partition << " owned by "
                                       << pos->second << " and " << cid;
                }
            }
        }
        // Quiet down: crashed clients expire, the rest heartbeat until stable.
        for (auto& [id, cl] : clients) {
            if (cl.epoch == -2) cl.epoch = -3;  // stays away
        }
        for (int round = 0; round < 40; ++round) {
            now += 1000;
            if (auto next = c.next_deadline(); next && *next <= now) {
                c.tick(now);
            }
            for (auto& [id, cl] : clients) {
                if (cl.epoch >= 0) {
                    cl.to_drop.clear();
                    std::vector<partition_key> owned(cl.owned.begin(), cl.owned.end());
                    auto r = c.consumer_heartbeat(beat(id, cl.epoch, owned), catalog, now);
                    cl.slow = false;
                    apply(id, cl, r);
                } else if (cl.epoch == -1) {
                    apply(id, cl, c.consumer_heartbeat(join(id, cl.topics), catalog, now));
                }
            }
        }
        bool any_active = false;
        for (const auto& [id, cl] : clients) {
            any_active = any_active || cl.epoch >= 0;
        }
        auto d = c.describe_consumer_group("g");
        ASSERT_EQ(d.state, any_active ? "Stable" : "Empty");
        std::set<partition_key> all;
        for (const auto& [id, cl] : clients) {
            all.insert(cl.owned.begin(), cl.owned.end());
        }
        bool audit_subscribed = false;
        for (const auto& [id, cl] : clients) {
            if (cl.epoch >= 0 && cl.topics.size() == 2) audit_subscribed = true;
        }
        EXPECT_EQ(all.size(), !any_active ? 0u : audit_subscribed ? 8u : 6u);
    }
}

TEST(assignors, uniform_balances_and_sticks_range_gives_contiguous_ranges) {
    std::map<std::string, assignor_member> members{{"a", {{"orders"}, {}}},
                                                   {"b", {{"orders"}, {}}}};
    std::map<std::string, int32_t> sizes{{"orders", 6}};
    auto first = assign_uniform(members, sizes);
    EXPECT_EQ(first["a"].size(), 3u);
    EXPECT_EQ(first["b"].size(), 3u);
    members["a"].previous = first["a"];
    members["b"].previous = first["b"];
    members["c"] = {{"orders"}, {}};
    auto second = assign_uniform(members, sizes);
    EXPECT_EQ(second["a"].size(), 2u);
    EXPECT_EQ(second["b"].size(), 2u);
    EXPECT_EQ(second["c"].size(), 2u);
    for (const auto& p : second["a"]) {
        EXPECT_TRUE(first["a"].count(p)) << "a lost a partition it could keep";
    }
    auto ranges = assign_range(members, {{"orders", 7}});
    EXPECT_EQ(ranges["a"], (std::set<partition_key>{{"orders", 0}, {"orders", 1}, {"orders", 2}}));
    EXPECT_EQ(ranges["b"], (std::set<partition_key>{{"orders", 3}, {"orders", 4}}));
    EXPECT_EQ(ranges["c"], (std::set<partition_key>{{"orders", 5}, {"orders", 6}}));
}

}  // namespace
}  // namespace riacho::group
