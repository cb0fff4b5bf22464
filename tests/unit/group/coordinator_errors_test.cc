// One test per error the classic coordinator answers (and the happy paths around them):
// each builds a group with the real join/sync sequence on a fake clock and checks Kafka's
// error code and that the group stays consistent afterwards. Also the records it queues for
// __consumer_offsets and their reload after a "restart" (a fresh coordinator).
#include "group/classic_group.h"
#include "group/coordinator.h"
#include "group/records.h"

#include <gtest/gtest.h>

namespace riacho::group {
namespace {

coordinator_config test_config() {
    coordinator_config c;
    c.initial_rebalance_delay_ms = 0;
    c.max_size = 3;
    c.offsets_partitions = 50;
    return c;
}

struct fixture : ::testing::Test {
    coordinator coord{test_config(), 42};
    int64_t now = 1'000'000;

    join_request request(std::string member_id = "",
                         std::optional<std::string> instance = std::nullopt) {
        join_request r;
        r.group_id = "g";
        r.member_id = std::move(member_id);
        r.group_instance_id = std::move(instance);
        r.client_id = "client";
        r.session_timeout_ms = 10000;
        r.rebalance_timeout_ms = 20000;
        r.protocol_type = "consumer";
        r.protocols = {{"range", {1, 2}}, {"roundrobin", {3}}};
        r.require_known_member_id = true;
        return r;
    }

    std::optional<join_result> join(join_request r) {
        std::optional<join_result> out;
        coord.join(std::move(r), now, [&](join_result res) { out = std::move(res); });
        if (!out) {
            coord.tick(now);  // the initial-delay timer, due at once at delay 0
        }
        return out;
    }

    // First join of a dynamic member: MEMBER_ID_REQUIRED, then the join with the id.
    std::string join_new(std::optional<join_result>* pending = nullptr) {
        auto first = join(request());
        EXPECT_TRUE(first);
        EXPECT_EQ(first->error, error_code::member_id_required);
        EXPECT_FALSE(first->member_id.empty());
        std::string id = first->member_id;
        if (pending) {
            coord.join(request(id), now, [pending](join_result res) { *pending = std::move(res); });
        } else {
            join(request(id));
        }
        // The first join of an empty group completes when the initial-delay timer fires, even
        // at delay 0 (as in Kafka); the broker ticks at the deadline.
        coord.tick(now);
        return id;
    }

    std::optional<sync_result> sync(
        const std::string& id,
        int32_t generation,
        std::vector<std::pair<std::string, std::vector<uint8_t>>> a = {},
        std::optional<std::string> instance = std::nullopt) {
        std::optional<sync_result> out;
        sync_request s;
        s.group_id = "g";
        s.member_id = id;
        s.generation_id = generation;
        s.group_instance_id = std::move(instance);
        s.assignments = std::move(a);
        coord.sync(s, now, [&](sync_result res) { out = std::move(res); });
        return out;
    }

    // A stable group with one member; returns its id.
    std::string stable_single() {
        std::optional<join_result> joined;
        std::string id = join_new(&joined);
        EXPECT_TRUE(joined);
        EXPECT_EQ(joined->error, error_code::none);
        EXPECT_EQ(joined->leader, id);
        auto s = sync(id, joined->generation_id, {{id, {0, 1, 2}}});
        EXPECT_TRUE(s);
        EXPECT_EQ(s->error, error_code::none);
        EXPECT_EQ(coord.find("g")->state, group_state::stable);
        return id;
    }
};

TEST_F(fixture, first_join_requires_member_id) {
    auto r = join(request());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->error, error_code::member_id_required);
    EXPECT_EQ(r->member_id.rfind("client-", 0), 0u);
}

TEST_F(fixture, single_member_becomes_leader_and_gets_its_assignment) {
    std::string id = stable_single();
    EXPECT_EQ(coord.find("g")->generation_id, 1);
    EXPECT_EQ(coord.find("g")->protocol_name, "range");
    auto again = sync(id, 1);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->assignment, (std::vector<uint8_t>{0, 1, 2}));
}

TEST_F(fixture, invalid_group_id) {
    auto r = request();
    r.group_id = "";
    auto res = join(r);
    EXPECT_EQ(res->error, error_code::invalid_group_id);
    EXPECT_EQ(coord.heartbeat({"", 1, "m", std::nullopt}, now), error_code::invalid_group_id);
    EXPECT_EQ(coord.delete_group("", now), error_code::invalid_group_id);
    EXPECT_EQ(coord.group_count(), 0u);
}

TEST_F(fixture, session_timeout_bounds) {
    auto r = request();
    r.session_timeout_ms = 1000;
    EXPECT_EQ(join(r)->error, error_code::invalid_session_timeout);
    r.session_timeout_ms = 1800001;
    EXPECT_EQ(join(r)->error, error_code::invalid_session_timeout);
    EXPECT_EQ(coord.group_count(), 0u);
}

TEST_F(fixture, unknown_member_on_join_sync_heartbeat) {
    EXPECT_EQ(join(request("nobody"))->error, error_code::unknown_member_id);
    stable_single();
    EXPECT_EQ(join(request("nobody"))->error, error_code::unknown_member_id);
    EXPECT_EQ(sync("nobody", 1)->error, error_code::unknown_member_id);
    EXPECT_EQ(coord.heartbeat({"g", 1, "nobody", std::nullopt}, now),
              error_code::unknown_member_id);
}

TEST_F(fixture, illegal_generation) {
    std::string id = stable_single();
    EXPECT_EQ(coord.heartbeat({"g", 7, id, std::nullopt}, now), error_code::illegal_generation);
    EXPECT_EQ(sync(id, 7)->error, error_code::illegal_generation);
    commit_request c;
    c.group_id = "g";
    c.generation_id = 7;
    c.member_id = id;
    c.partitions.push_back({{"t", 0}, 5, -1, std::nullopt});
    EXPECT_EQ(coord.commit(c, now).partition_errors[0], error_code::illegal_generation);
}

TEST_F(fixture, rebalance_in_progress_when_a_member_joins) {
    std::string a = stable_single();
    std::optional<join_result> b_joined;
    std::string b = join_new(&b_joined);
    EXPECT_FALSE(b_joined);  // waits for a to rejoin
    EXPECT_EQ(coord.find("g")->state, group_state::preparing_rebalance);
    EXPECT_EQ(coord.heartbeat({"g", 1, a, std::nullopt}, now), error_code::rebalance_in_progress);
    auto a_joined = join(request(a));
    ASSERT_TRUE(a_joined);
    ASSERT_TRUE(b_joined);
    EXPECT_EQ(a_joined->generation_id, 2);
    EXPECT_EQ(a_joined->leader, a);
    EXPECT_EQ(a_joined->members.size(), 2u);
    EXPECT_TRUE(b_joined->members.empty());
    // A commit from the follower of generation 2 before the leader syncs: REBALANCE_IN_PROGRESS.
    commit_request c;
    c.group_id = "g";
    c.generation_id = 2;
    c.member_id = b;
    c.partitions.push_back({{"t", 0}, 5, -1, std::nullopt});
    EXPECT_EQ(coord.commit(c, now).partition_errors[0], error_code::rebalance_in_progress);
    std::optional<sync_result> b_sync = sync(b, 2);
    EXPECT_FALSE(b_sync);
    auto a_sync = sync(a, 2, {{a, {0, 1}}, {b, {2}}});
    ASSERT_TRUE(b_sync);
    EXPECT_EQ(b_sync->assignment, std::vector<uint8_t>{2});
    EXPECT_EQ(a_sync->assignment, (std::vector<uint8_t>{0, 1}));
    EXPECT_EQ(coord.commit(c, now).partition_errors[0], error_code::none);
}

TEST_F(fixture, session_timeout_removes_member_and_rebalances) {
    std::string a = stable_single();
    now += 10001;
    coord.tick(now);
    const auto* g = coord.find("g");
    EXPECT_EQ(g->members.size(), 0u);
    EXPECT_EQ(g->state, group_state::empty);
    EXPECT_EQ(g->generation_id, 2);
}

TEST_F(fixture, group_max_size_reached) {
    for (int i = 0; i < 3; ++i) {
        std::optional<join_result> pending;
        join_new(&pending);
    }
    auto r = join(request());
    EXPECT_EQ(r->error, error_code::group_max_size_reached);
}

TEST_F(fixture, inconsistent_group_protocol) {
    stable_single();
    auto r = request();
    r.protocols = {{"sticky", {}}};
    EXPECT_EQ(join(r)->error, error_code::inconsistent_group_protocol);
    r.protocol_type = "connect";
    EXPECT_EQ(join(r)->error, error_code::inconsistent_group_protocol);
}

TEST_F(fixture, static_member_rejoins_without_rebalance_and_fences_the_old_id) {
    auto first = join(request("", "i-1"));
    ASSERT_TRUE(first);
    ASSERT_EQ(first->error, error_code::none);
    std::string old_id = first->member_id;
    ASSERT_EQ(sync(old_id, 1, {{old_id, {9}}}, "i-1")->error, error_code::none);
    // Restart: an unknown member id with the same instance id.
    auto again = join(request("", "i-1"));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->error, error_code::none);
    EXPECT_NE(again->member_id, old_id);
    EXPECT_EQ(again->generation_id, 1);  // no rebalance
    EXPECT_EQ(coord.find("g")->state, group_state::stable);
    auto s = sync(again->member_id, 1, {}, "i-1");
    EXPECT_EQ(s->assignment, std::vector<uint8_t>{9});
    EXPECT_EQ(coord.heartbeat({"g", 1, old_id, std::string("i-1")}, now),
              error_code::fenced_instance_id);
    EXPECT_EQ(sync(old_id, 1, {}, "i-1")->error, error_code::fenced_instance_id);
    EXPECT_EQ(join(request(old_id, "i-1"))->error, error_code::fenced_instance_id);
    auto left = coord.leave("g", {{old_id, std::string("i-1")}}, now);
    EXPECT_EQ(left.member_errors[0], error_code::fenced_instance_id);
}

TEST_F(fixture, batched_leave_by_instance_and_unknown_members) {
    auto a = join(request("", "i-1"));
    std::string id = a->member_id;
    auto left = coord.leave("g", {{"", std::string("i-1")}, {"ghost", std::nullopt}}, now);
    ASSERT_EQ(left.member_errors.size(), 2u);
    EXPECT_EQ(left.member_errors[0], error_code::none);
    EXPECT_EQ(left.member_errors[1], error_code::unknown_member_id);
    EXPECT_EQ(coord.find("g")->members.size(), 0u);
}

TEST_F(fixture, simple_commit_fetch_and_metadata_limit) {
    commit_request c;
    c.group_id = "simple";
    c.partitions.push_back({{"t", 0}, 42, 3, std::string("m")});
    c.partitions.push_back({{"t", 1}, 7, -1, std::string(5000, 'x')});
    auto res = coord.commit(c, now);
    EXPECT_EQ(res.partition_errors[0], error_code::none);
    EXPECT_EQ(res.partition_errors[1], error_code::offset_metadata_too_large);
    auto all = coord.fetch_offsets("simple", std::nullopt);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].value.offset, 42);
    EXPECT_EQ(all[0].value.leader_epoch, 3);
    auto some = coord.fetch_offsets("simple", std::vector<partition_key>{{"t", 1}});
    EXPECT_EQ(some[0].value.offset, -1);
    auto records = coord.take_records();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].partition, partition_for("simple", 50));
}

TEST_F(fixture, commit_to_unknown_group_with_generation) {
    commit_request c;
    c.group_id = "nope";
    c.generation_id = 3;
    c.member_id = "m";
    c.version = 8;
    c.partitions.push_back({{"t", 0}, 1, -1, std::nullopt});
    EXPECT_EQ(coord.commit(c, now).partition_errors[0], error_code::illegal_generation);
    c.version = 9;
    EXPECT_EQ(coord.commit(c, now).partition_errors[0], error_code::group_id_not_found);
}

TEST_F(fixture, simple_commit_to_active_group_is_rejected) {
    stable_single();
    commit_request c;
    c.group_id = "g";
    c.partitions.push_back({{"t", 0}, 1, -1, std::nullopt});
    EXPECT_EQ(coord.commit(c, now).partition_errors[0], error_code::unknown_member_id);
}

TEST_F(fixture, delete_group_non_empty_then_deleted) {
    std::string id = stable_single();
    EXPECT_EQ(coord.delete_group("g", now), error_code::non_empty_group);
    EXPECT_EQ(coord.delete_group("other", now), error_code::group_id_not_found);
    coord.leave("g", {{id, std::nullopt}}, now);
    EXPECT_EQ(coord.find("g")->state, group_state::empty);
    (void)coord.take_records();
    EXPECT_EQ(coord.delete_group("g", now), error_code::none);
    EXPECT_EQ(coord.find("g"), nullptr);
    auto records = coord.take_records();
    ASSERT_FALSE(records.empty());
    EXPECT_FALSE(records.back().value.has_value());  // group metadata tombstone
}

TEST_F(fixture, offset_delete_refuses_subscribed_topics) {
    // ConsumerProtocolSubscription v0: int16 version, [topics], user data.
    std::vector<uint8_t> subscription = {0, 0, 0, 0, 0, 1, 0, 1, 't', 0xff, 0xff, 0xff, 0xff};
    auto r = request();
    r.protocols = {{"range", subscription}};
    auto first = join(r);
    r.member_id = first->member_id;
    auto joined = join(r);
    ASSERT_EQ(joined->error, error_code::none);
    sync(r.member_id, 1, {{r.member_id, {}}});
    commit_request c;
    c.group_id = "g";
    c.generation_id = 1;
    c.member_id = r.member_id;
    c.partitions.push_back({{"t", 0}, 1, -1, std::nullopt});
    c.partitions.push_back({{"u", 0}, 1, -1, std::nullopt});
    coord.commit(c, now);
    auto res = coord.delete_offsets("g", {{"t", 0}, {"u", 0}}, now);
    EXPECT_EQ(res.error, error_code::none);
    EXPECT_EQ(res.partition_errors[0], error_code::group_subscribed_to_topic);
    EXPECT_EQ(res.partition_errors[1], error_code::none);
    EXPECT_EQ(coord.delete_offsets("none", {}, now).error, error_code::group_id_not_found);
}

TEST_F(fixture, offsets_of_empty_groups_expire) {
    commit_request c;
    c.group_id = "simple";
    c.partitions.push_back({{"t", 0}, 1, -1, std::nullopt});
    coord.commit(c, now);
    coord.expire_offsets(now + 1000);
    EXPECT_EQ(coord.fetch_offsets("simple", std::nullopt).size(), 1u);
    coord.expire_offsets(now + test_config().offsets_retention_ms);
    EXPECT_EQ(coord.fetch_offsets("simple", std::nullopt).size(), 0u);
    EXPECT_EQ(coord.find("simple"), nullptr);
}

TEST_F(fixture, records_reload_into_a_fresh_coordinator) {
    std::string id = stable_single();
    commit_request c;
    c.group_id = "g";
    c.generation_id = 1;
    c.member_id = id;
    c.partitions.push_back({{"t", 2}, 99, 4, std::string("meta")});
    coord.commit(c, now);
    coord.delete_offsets("g", {}, now);
    auto records = coord.take_records();
    coordinator fresh(test_config(), 7);
    for (const auto& r : records) {
        std::optional<protocol::bytes_view> value;
        if (r.value) {
            value = protocol::bytes_view(*r.value);
        }
        fresh.load_record(r.key, value);
    }
    fresh.finish_loading(now);
    const auto* g = fresh.find("g");
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->state, group_state::stable);
    EXPECT_EQ(g->generation_id, 1);
    EXPECT_TRUE(g->has(id));
    EXPECT_EQ(fresh.heartbeat({"g", 1, id, std::nullopt}, now), error_code::none);
    auto offsets = fresh.fetch_offsets("g", std::nullopt);
    ASSERT_EQ(offsets.size(), 1u);
    EXPECT_EQ(offsets[0].value.offset, 99);
    EXPECT_EQ(offsets[0].value.metadata, "meta");
    // Garbage is skipped, never a crash.
    std::vector<uint8_t> junk = {0, 1, 0xff};
    fresh.load_record(junk, protocol::bytes_view(junk));
}

TEST(group_records, partition_matches_java_string_hash) {
    // Java: "my-group".hashCode() == 1441440468 ... checked against values Kafka computes.
    EXPECT_EQ(java_string_hash(""), 0);
    EXPECT_EQ(java_string_hash("a"), 97);
    EXPECT_EQ(java_string_hash("hello"), 99162322);
    EXPECT_EQ(java_string_hash("polygenelubricants"), INT32_MIN);
    EXPECT_EQ(partition_for("polygenelubricants", 50), 0);
    EXPECT_EQ(java_string_hash("\xc3\xa9"), 0xe9);                          // U+00E9
    EXPECT_EQ(java_string_hash("\xf0\x9f\x98\x80"), 0xd83d * 31 + 0xde00);  // U+1F600
}

TEST(group_states, names_parse_case_insensitively) {
    EXPECT_EQ(parse_state("stable"), group_state::stable);
    EXPECT_EQ(parse_state("PreparingRebalance"), group_state::preparing_rebalance);
    EXPECT_FALSE(parse_state("Assigning").has_value());
}

}  // namespace
}  // namespace riacho::group
