// The raft core's rules one at a time, on replicas over in-memory logs with messages carried
// by hand (a FIFO queue, optionally filtered): vote granting (one vote per epoch, the
// up-to-date check, stale epochs), elections, replication, truncation of a diverging log,
// the high watermark (majority only, and only through an entry of the leader's own epoch),
// stepping down on a higher epoch, resignation, restarts and the snapshot path. The seeded
// simulation of whole clusters under faults is in simulation_test.cc.
#include "raft/replica.h"

#include "base/log.h"
#include "memory_log.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>

namespace riacho::raft {
namespace {

using test::memory_log;
using test::memory_quorum_store;
using namespace std::chrono_literals;

// RIACHO_RAFT_DEBUG=1 shows the core's transitions.
const bool debug_logging = [] {
    if (std::getenv("RIACHO_RAFT_DEBUG")) {
        log::set_level(log::level::debug);
    }
    return true;
}();

node_id n(int32_t v) { return node_id(v); }
kafka_offset off(int64_t v) { return kafka_offset(v); }
leader_epoch ep(int32_t v) { return leader_epoch(v); }

log_entry entry(int32_t epoch, std::string data = "x") {
    return log_entry{ep(epoch), entry_kind::data, std::move(data)};
}

replica_config config_for(int32_t id, int voters = 3) {
    replica_config c;
    c.id = n(id);
    for (int32_t v = 1; v <= voters; ++v) {
        c.voters.push_back(n(v));
    }
    c.fetch_timeout = 200ms;
    c.election_timeout = 100ms;
    c.request_timeout = 50ms;
    c.fetch_idle_backoff = 10ms;
    return c;
}

// Voters 1..N over in-memory logs; messages queue until pump() delivers them, each passing
// through `deliver_if` (drop when it returns false).
struct cluster {
    struct node {
        memory_log log;
        memory_quorum_store store;
        std::unique_ptr<replica> r;
        std::vector<kafka_offset> committed;  // every committed_up_to seen
        int snapshots_installed = 0;
    };
    explicit cluster(int voters, size_t fetch_max_entries = 64) : size(voters) {
        for (int i = 0; i < voters; ++i) {
            nodes.push_back(std::make_unique<node>());
        }
        max_entries = fetch_max_entries;
    }
    void start(int32_t id) {
        auto c = config_for(id, size);
        c.fetch_max_entries = max_entries;
        at(id).r = std::make_unique<replica>(c, at(id).log, at(id).store, 1000 + id, now);
    }
    void start_all() {
        for (int32_t id = 1; id <= size; ++id) {
            start(id);
        }
    }
    node& at(int32_t id) { return *nodes[static_cast<size_t>(id - 1)]; }
    replica& r(int32_t id) { return *at(id).r; }
    void collect(int32_t id) {
        auto out = at(id).r->take_output();
        for (auto& m : out.messages) {
            queue.push_back(std::move(m));
        }
        if (out.committed_up_to) {
            at(id).committed.push_back(*out.committed_up_to);
        }
        if (out.snapshot_installed) {
            ++at(id).snapshots_installed;
        }
    }
    void pump(int rounds = 200) {
        for (int i = 0; i < rounds; ++i) {
            for (int32_t id = 1; id <= size; ++id) {
                if (at(id).r) {
                    collect(id);
                }
            }
            if (queue.empty()) {
                return;
            }
            auto batch = std::exchange(queue, {});
            for (auto& m : batch) {
                auto& dest = at(m.to.value());
                if (dest.r && (!deliver_if || deliver_if(m))) {
                    dest.r->receive(m, now);
                }
            }
        }
    }
    // Advance the clock, ticking only `who` (all when empty), and deliver everything.
    void advance(time_ms by, std::vector<int32_t> who = {}) {
        auto end = now + by;
        while (now < end) {
            now += 5ms;
            for (int32_t id = 1; id <= size; ++id) {
                bool chosen = who.empty() || std::find(who.begin(), who.end(), id) != who.end();
                if (chosen && at(id).r) {
                    at(id).r->tick(now);
                }
            }
            pump();
        }
    }
    std::optional<int32_t> leader() {
        std::optional<int32_t> found;
        for (int32_t id = 1; id <= size; ++id) {
            if (at(id).r && r(id).current_role() == role::leader) {
                EXPECT_FALSE(found) << "two leaders";
                found = id;
            }
        }
        return found;
    }
    std::vector<log_entry> entries(int32_t id) {
        auto& l = at(id).log;
        return l.read(l.log_start_offset(), 1 << 20);
    }

    int size;
    size_t max_entries;
    time_ms now{0};
    std::vector<std::unique_ptr<node>> nodes;
    std::deque<message> queue;
    std::function<bool(const message&)> deliver_if;
};

message vote_from(
    int32_t candidate, int32_t to, int32_t epoch, int64_t end_offset, int32_t last_epoch) {
    return message{n(candidate), n(to), 7,
                   vote_request{ep(epoch), n(candidate), {off(end_offset), ep(last_epoch)}}};
}

std::optional<vote_response> vote_answer(cluster& c, int32_t id) {
    auto out = c.r(id).take_output();
    for (auto& m : out.messages) {
        if (auto* v = std::get_if<vote_response>(&m.body)) {
            return *v;
        }
    }
    return std::nullopt;
}

// ---------------------------------------------------------------- votes

TEST(raft_vote, one_vote_per_epoch_and_it_is_stored_before_the_answer) {
    cluster c(3);
    c.start(1);
    c.r(1).receive(vote_from(2, 1, 1, 0, 0), c.now);
    auto a = vote_answer(c, 1);
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->vote_granted);
    ASSERT_TRUE(c.at(1).store.read());
    EXPECT_EQ(c.at(1).store.read()->voted_for, n(2));
    EXPECT_EQ(c.at(1).store.read()->epoch, ep(1));

    c.r(1).receive(vote_from(3, 1, 1, 0, 0), c.now);
    EXPECT_FALSE(vote_answer(c, 1)->vote_granted) << "a second candidate in the same epoch";
    c.r(1).receive(vote_from(2, 1, 1, 0, 0), c.now);
    EXPECT_TRUE(vote_answer(c, 1)->vote_granted) << "the same candidate asking again";
    c.r(1).receive(vote_from(3, 1, 2, 0, 0), c.now);
    EXPECT_TRUE(vote_answer(c, 1)->vote_granted) << "a new epoch, a new vote";
}

TEST(raft_vote, the_vote_survives_a_restart) {
    cluster c(3);
    c.start(1);
    c.r(1).receive(vote_from(2, 1, 1, 0, 0), c.now);
    ASSERT_TRUE(vote_answer(c, 1)->vote_granted);
    c.start(1);  // a new replica on the same store
    c.r(1).receive(vote_from(3, 1, 1, 0, 0), c.now);
    EXPECT_FALSE(vote_answer(c, 1)->vote_granted);
}

TEST(raft_vote, a_less_up_to_date_log_gets_no_vote) {
    cluster c(3);
    std::vector<log_entry> mine{entry(1), entry(1), entry(2)};
    c.at(1).log.append(mine);
    c.at(1).log.flush();
    c.start(1);
    c.r(1).receive(vote_from(2, 1, 3, 2, 2), c.now);  // same last epoch, shorter
    EXPECT_FALSE(vote_answer(c, 1)->vote_granted);
    c.r(1).receive(vote_from(3, 1, 3, 10, 1), c.now);  // longer, but an older last epoch
    EXPECT_FALSE(vote_answer(c, 1)->vote_granted);
    c.r(1).receive(vote_from(2, 1, 3, 3, 2), c.now);  // equal
    EXPECT_TRUE(vote_answer(c, 1)->vote_granted);
}

TEST(raft_vote, a_newer_last_epoch_wins_over_a_longer_log) {
    cluster c(3);
    std::vector<log_entry> mine{entry(1), entry(1), entry(1)};
    c.at(1).log.append(mine);
    c.start(1);
    c.r(1).receive(vote_from(2, 1, 3, 1, 2), c.now);
    EXPECT_TRUE(vote_answer(c, 1)->vote_granted);
}

TEST(raft_vote, a_stale_epoch_is_refused_with_the_current_one) {
    cluster c(3);
    c.at(1).store.write(quorum_state{ep(5), std::nullopt, std::nullopt});
    c.start(1);
    c.r(1).receive(vote_from(2, 1, 4, 0, 0), c.now);
    auto a = vote_answer(c, 1);
    EXPECT_FALSE(a->vote_granted);
    EXPECT_EQ(a->leader_epoch, ep(5));
}

TEST(raft_vote, a_follower_with_a_leader_refuses_votes_in_its_epoch) {
    cluster c(3);
    c.at(1).store.write(quorum_state{ep(2), std::nullopt, n(3)});
    c.start(1);
    EXPECT_EQ(c.r(1).current_role(), role::follower);
    c.r(1).take_output();
    c.r(1).receive(vote_from(2, 1, 2, 0, 0), c.now);
    EXPECT_FALSE(vote_answer(c, 1)->vote_granted);
}

// ---------------------------------------------------------------- election, replication

TEST(raft_election, one_leader_is_elected_and_commits_its_leader_change) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = c.leader();
    ASSERT_TRUE(l);
    for (int32_t id = 1; id <= 3; ++id) {
        EXPECT_EQ(c.r(id).epoch(), c.r(*l).epoch());
        EXPECT_EQ(c.r(id).leader_id(), n(*l));
        EXPECT_EQ(c.r(id).high_watermark(), off(1)) << id;
        ASSERT_EQ(c.entries(id).size(), 1u);
        EXPECT_EQ(c.entries(id)[0].kind, entry_kind::leader_change);
    }
}

TEST(raft_election, a_single_voter_leads_at_once) {
    cluster c(1);
    c.start(1);
    c.advance(300ms);
    EXPECT_EQ(c.r(1).current_role(), role::leader);
    auto at = c.r(1).append({"a", "b"}, c.now);
    ASSERT_TRUE(at);
    EXPECT_EQ(*at, off(1));
    c.advance(10ms);
    EXPECT_EQ(c.r(1).high_watermark(), off(3));
}

TEST(raft_replication, appends_commit_on_every_replica) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = *c.leader();
    auto first = c.r(l).append({"a", "b", "c"}, c.now);
    ASSERT_TRUE(first);
    EXPECT_EQ(*first, off(1));
    c.advance(200ms);
    for (int32_t id = 1; id <= 3; ++id) {
        EXPECT_EQ(c.r(id).high_watermark(), off(4)) << id;
        EXPECT_EQ(c.entries(id), c.entries(l)) << id;
    }
    int other = l == 1 ? 2 : 1;
    EXPECT_FALSE(c.r(other).append({"x"}, c.now)) << "a follower refuses appends";
}

TEST(raft_replication, a_follower_that_loses_the_leader_stands_for_election) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = *c.leader();
    auto old_epoch = c.r(l).epoch();
    c.at(l).r.reset();  // the leader's process is gone
    c.advance(800ms);
    auto l2 = c.leader();
    ASSERT_TRUE(l2);
    EXPECT_NE(*l2, l);
    EXPECT_GT(c.r(*l2).epoch(), old_epoch);
}

TEST(raft_replication, a_diverging_follower_truncates_to_the_leader) {
    cluster c(3);
    // 1 has an epoch-2 tail nobody else has; 2 and 3 went on in epoch 3.
    std::vector<log_entry> one{entry(1, "a"), entry(1, "b"), entry(2, "stale"), entry(2, "old")};
    std::vector<log_entry> two{entry(1, "a"), entry(1, "b"), entry(3, "c"), entry(3, "d")};
    std::vector<log_entry> three{entry(1, "a"), entry(1, "b"), entry(3, "c")};
    c.at(1).log.append(one);
    c.at(2).log.append(two);
    c.at(3).log.append(three);
    for (int32_t id = 1; id <= 3; ++id) {
        c.at(id).log.flush();
        c.at(id).store.write(quorum_state{ep(3), std::nullopt, std::nullopt});
    }
    c.start_all();
    c.advance(200ms, {2});  // only 2's timers run: it stands first, and wins
    c.advance(200ms);
    ASSERT_EQ(c.leader(), 2);
    for (int32_t id = 1; id <= 3; ++id) {
        EXPECT_EQ(c.entries(id), c.entries(2)) << id;
        EXPECT_EQ(c.r(id).high_watermark(), off(5)) << id;
    }
    EXPECT_EQ(c.entries(1)[2].data, "c");
}

TEST(raft_replication, a_follower_longer_than_the_leader_in_an_old_epoch_truncates) {
    cluster c(3);
    std::vector<log_entry> one{entry(1, "a"), entry(2, "p"), entry(2, "q"), entry(2, "r")};
    std::vector<log_entry> two{entry(1, "a"), entry(2, "p")};
    c.at(1).log.append(one);
    c.at(2).log.append(two);
    c.at(3).log.append(two);
    for (int32_t id = 1; id <= 3; ++id) {
        c.at(id).store.write(quorum_state{ep(4), std::nullopt, std::nullopt});
    }
    c.start_all();
    // 1's log is the most up to date, so make 2 lead by keeping 1 away from the vote.
    c.deliver_if = [](const message& m) { return m.to != n(1) && m.from != n(1); };
    c.advance(200ms, {2});
    ASSERT_EQ(c.leader(), 2);
    c.deliver_if = nullptr;
    c.advance(300ms, {2, 3});
    EXPECT_EQ(c.entries(1), c.entries(2));
    EXPECT_EQ(c.entries(1).size(), 3u);  // a, p, leader change of epoch 5
}

// ---------------------------------------------------------------- high watermark

TEST(raft_high_watermark, advances_only_when_a_majority_has_the_entries) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = *c.leader();
    int a = l == 1 ? 2 : 1;
    int b = 6 - l - a;
    c.deliver_if = [&](const message& m) { return m.from != n(a) && m.from != n(b); };
    ASSERT_TRUE(c.r(l).append({"x"}, c.now));
    c.advance(100ms, {l});
    EXPECT_EQ(c.r(l).high_watermark(), off(1)) << "only the leader has it";
    c.deliver_if = [&](const message& m) { return m.from != n(b); };  // a is back
    c.advance(100ms, {l, a});
    EXPECT_EQ(c.r(l).high_watermark(), off(2));
}

TEST(raft_high_watermark, the_leader_counts_only_its_flushed_entries) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = *c.leader();
    int a = l == 1 ? 2 : 1;
    int b = 6 - l - a;
    c.deliver_if = [&](const message& m) { return m.from != n(b) && m.to != n(b); };
    auto flushes = c.at(l).log.flushes;
    ASSERT_TRUE(c.r(l).append({"x"}, c.now));
    c.advance(50ms, {a});  // the leader's loop does not tick: its append stays unflushed
    ASSERT_EQ(c.at(l).log.flushes, flushes);
    ASSERT_EQ(c.entries(a).size(), 2u) << "the follower has it, flushed";
    EXPECT_EQ(c.r(l).high_watermark(), off(1)) << "a power loss now would lose it on the leader";
    c.advance(5ms, {l});
    EXPECT_EQ(c.r(l).high_watermark(), off(2));
}

TEST(raft_high_watermark, an_earlier_epoch_entry_is_not_committed_by_count) {
    cluster c(3, /*fetch_max_entries=*/1);
    // 1 holds three entries of epoch 1 nobody else has (its old leader tail).
    std::vector<log_entry> one{entry(1, "a"), entry(1, "b"), entry(1, "c")};
    c.at(1).log.append(one);
    for (int32_t id = 1; id <= 3; ++id) {
        c.at(id).store.write(quorum_state{ep(1), std::nullopt, std::nullopt});
    }
    c.start_all();
    // 1 wins epoch 2 with 2's vote (3 is away) and appends its leader change at offset 3.
    // 2 then fetches offsets 0-2 and asks for 3, but the answer holding the leader change is
    // lost: epoch 1's entries are on a majority (1 and 2), yet none of them may commit.
    c.deliver_if = [](const message& m) {
        if (m.to == n(3) || m.from == n(3)) {
            return false;
        }
        auto* f = std::get_if<fetch_response>(&m.body);
        return !(f && f->records_base_offset >= off(3));
    };
    c.r(1).tick(c.now + 1000ms);
    c.pump();
    ASSERT_EQ(c.leader(), 1);
    ASSERT_EQ(c.r(1).epoch(), ep(2));
    c.advance(20ms, {1});
    ASSERT_EQ(c.entries(2).size(), 3u);
    EXPECT_EQ(c.r(1).describe_quorum().voters[1].log_end_offset, off(3));
    EXPECT_EQ(c.r(1).high_watermark(), off(0));
    c.deliver_if = [](const message& m) { return m.to != n(3) && m.from != n(3); };
    c.advance(50ms, {1, 2});
    EXPECT_EQ(c.r(1).high_watermark(), off(4));
}

// ---------------------------------------------------------------- stepping down, resigning

TEST(raft_leader, steps_down_on_a_higher_epoch) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = *c.leader();
    auto e = c.r(l).epoch();
    int other = l == 1 ? 2 : 1;
    c.r(l).take_output();
    c.r(l).receive(vote_from(other, l, e.value() + 1, 0, 0), c.now);
    EXPECT_EQ(c.r(l).current_role(), role::unattached);
    EXPECT_EQ(c.r(l).epoch(), e + 1);
    EXPECT_FALSE(vote_answer(c, l)->vote_granted) << "the candidate's log is behind";
    EXPECT_FALSE(c.r(l).append({"x"}, c.now));
}

TEST(raft_leader, resigning_hands_over_to_a_new_epoch_quickly) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = *c.leader();
    auto e = c.r(l).epoch();
    c.r(l).resign(c.now);
    EXPECT_EQ(c.r(l).current_role(), role::resigned);
    c.advance(150ms);  // below the fetch timeout: EndQuorumEpoch made someone stand at once
    auto l2 = c.leader();
    ASSERT_TRUE(l2);
    EXPECT_GT(c.r(*l2).epoch(), e);
}

TEST(raft_leader, a_restarted_leader_does_not_lead_its_epoch_again) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = *c.leader();
    c.start(l);
    EXPECT_EQ(c.r(l).current_role(), role::resigned);
    c.advance(800ms);
    ASSERT_TRUE(c.leader());
    EXPECT_GT(c.r(*c.leader()).epoch(), c.at(l).log.end_offset_and_epoch().epoch - 1);
}

TEST(raft_leader, a_leader_cut_off_from_the_majority_resigns) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = *c.leader();
    c.deliver_if = [&](const message& m) { return m.from != n(l) && m.to != n(l); };
    c.advance(400ms, {l});
    EXPECT_EQ(c.r(l).current_role(), role::resigned);
}

// ---------------------------------------------------------------- snapshots

TEST(raft_snapshot, a_follower_below_the_log_start_loads_the_snapshot) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = *c.leader();
    int lagging = l == 3 ? 2 : 3;
    c.deliver_if = [&](const message& m) { return m.from != n(lagging) && m.to != n(lagging); };
    ASSERT_TRUE(c.r(l).append({"a", "b", "c", "d"}, c.now));
    c.advance(100ms);
    ASSERT_EQ(c.r(l).high_watermark(), off(5));
    c.r(l).take_snapshot(snapshot_id{off(4), c.r(l).epoch()}, "state@4");
    EXPECT_EQ(c.at(l).log.log_start_offset(), off(4));
    // Wipe the lagging follower, as if its disk was replaced.
    c.at(lagging).log = memory_log{};
    c.start(lagging);
    c.deliver_if = nullptr;
    c.advance(200ms);
    EXPECT_EQ(c.at(lagging).snapshots_installed, 1);
    EXPECT_EQ(c.at(lagging).log.read_snapshot(snapshot_id{off(4), c.r(l).epoch()}), "state@4");
    EXPECT_EQ(c.at(lagging).log.log_start_offset(), off(4));
    EXPECT_EQ(c.entries(lagging), c.entries(l));
    EXPECT_EQ(c.r(lagging).high_watermark(), off(5));
}

TEST(raft_snapshot, a_diverging_follower_past_the_trimmed_epochs_gets_the_snapshot) {
    cluster c(3);
    // 3 holds an uncommitted epoch-1 tail; the others committed epoch 2 and trimmed it.
    std::vector<log_entry> stale{entry(1, "a"), entry(1, "zz")};
    c.at(3).log.append(stale);
    c.at(3).store.write(quorum_state{ep(2), std::nullopt, std::nullopt});
    for (int32_t id = 1; id <= 2; ++id) {
        std::vector<log_entry> good{entry(1, "a"), entry(2, "b"), entry(2, "c")};
        c.at(id).log.append(good);
        c.at(id).store.write(quorum_state{ep(2), std::nullopt, std::nullopt});
    }
    c.start_all();
    c.deliver_if = [](const message& m) { return m.to != n(3) && m.from != n(3); };
    c.advance(200ms, {1});
    ASSERT_EQ(c.leader(), 1);
    c.advance(100ms, {1, 2});
    ASSERT_EQ(c.r(1).high_watermark(), off(4));
    c.r(1).take_snapshot(snapshot_id{off(3), ep(2)}, "s3");
    c.deliver_if = nullptr;
    c.advance(300ms, {1, 3});
    EXPECT_EQ(c.at(3).snapshots_installed, 1);
    EXPECT_EQ(c.entries(3), c.entries(1));
    EXPECT_EQ(c.r(3).high_watermark(), off(4));
}

TEST(raft_quorum, ticking_only_at_the_next_deadline_elects_and_commits) {
    cluster c(3);
    c.start_all();
    // An event loop that sleeps until the earliest deadline, then ticks whoever is due.
    auto run_until = [&](time_ms end) {
        while (c.now < end) {
            time_ms next = end;
            for (int32_t id = 1; id <= 3; ++id) {
                next = std::min(next, std::max(c.r(id).next_deadline(), c.now + 1ms));
            }
            c.now = next;
            for (int32_t id = 1; id <= 3; ++id) {
                if (c.r(id).next_deadline() <= c.now) {
                    c.r(id).tick(c.now);
                }
            }
            c.pump();
        }
    };
    run_until(1000ms);
    auto l = c.leader();
    ASSERT_TRUE(l);
    ASSERT_TRUE(c.r(*l).append({"a"}, c.now));
    EXPECT_EQ(c.r(*l).next_deadline(), time_ms(0)) << "unflushed appends want a tick now";
    run_until(c.now + 500ms);
    for (int32_t id = 1; id <= 3; ++id) {
        EXPECT_EQ(c.r(id).high_watermark(), off(2)) << id;
    }
}

TEST(raft_quorum, describe_reports_every_voter_from_the_leader) {
    cluster c(3);
    c.start_all();
    c.advance(600ms);
    auto l = *c.leader();
    auto d = c.r(l).describe_quorum();
    EXPECT_EQ(d.leader_id, n(l));
    EXPECT_EQ(d.high_watermark, off(1));
    ASSERT_EQ(d.voters.size(), 3u);
    for (auto& v : d.voters) {
        EXPECT_EQ(v.log_end_offset, off(1)) << v.id.value();
    }
}

}  // namespace
}  // namespace riacho::raft
