// The controller on an in-memory metadata log: admin changes are validated (Kafka's error
// codes), recorded as metadata records, and a fresh controller replaying the same log builds
// the same image. Producer ids are unique across restarts.
#include <gtest/gtest.h>

#include "cluster/controller.h"
#include "protocol/record_batch.h"

#include <set>

namespace riacho::cluster {
namespace {

using protocol::error_code;

class memory_metadata_log final : public metadata_log {
public:
    bool append_durably(std::vector<uint8_t> batch) override {
        if (fail_appends) {
            return false;
        }
        batches.push_back(std::move(batch));
        return true;
    }
    bool replay(const std::function<void(protocol::bytes_view)>& fn) override {
        for (const auto& b : batches) {
            fn(b);
        }
        return true;
    }
    std::vector<std::vector<uint8_t>> batches;
    bool fail_appends = false;
};

TEST(controller, create_topic_then_replay_builds_the_same_image) {
    memory_metadata_log log;
    controller c(log, 1);
    ASSERT_TRUE(c.load());
    auto created = c.create_topic("orders", 3, 1, {{"retention.ms", "1000"}}, false);
    ASSERT_EQ(created.error, error_code::none) << created.message;
    ASSERT_EQ(c.create_partitions("orders", 5, false).error, error_code::none);
    ASSERT_EQ(c.create_topic("gone", 1, 1, {}, false).error, error_code::none);
    ASSERT_EQ(c.delete_topic(c.image()->find_topic("gone")).error, error_code::none);

    controller replayed(log, 1);
    ASSERT_TRUE(replayed.load());
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
    ASSERT_TRUE(c.load());
    EXPECT_EQ(c.create_topic("bad/name", 1, 1, {}, false).error, error_code::invalid_topic_exception);
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
    EXPECT_TRUE(log.batches.empty());
    ASSERT_EQ(c.create_topic("t", 2, 1, {}, true).error, error_code::none);  // validate only
    EXPECT_TRUE(log.batches.empty());
    ASSERT_EQ(c.create_topic("t", 2, 1, {}, false).error, error_code::none);
    EXPECT_EQ(c.create_topic("t", 2, 1, {}, false).error, error_code::topic_already_exists);
    EXPECT_EQ(c.create_partitions("t", 1, false).error, error_code::invalid_partitions);
    EXPECT_EQ(c.create_partitions("t", 2, false).error, error_code::invalid_partitions);
    EXPECT_EQ(c.create_partitions("nope", 3, false).error, error_code::unknown_topic_or_partition);
}

TEST(controller, altered_topic_configs_are_validated_and_replayed) {
    memory_metadata_log log;
    controller c(log, 1);
    ASSERT_TRUE(c.load());
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

    controller replayed(log, 1);
    ASSERT_TRUE(replayed.load());
    auto configs = replayed.image()->find_topic("orders")->configs;
    EXPECT_EQ(configs, (std::map<std::string, std::string>{{"segment.ms", "60000"}}));
}

TEST(controller, a_failed_metadata_append_changes_nothing) {
    memory_metadata_log log;
    controller c(log, 1);
    ASSERT_TRUE(c.load());
    log.fail_appends = true;
    EXPECT_EQ(c.create_topic("t", 1, 1, {}, false).error, error_code::kafka_storage_error);
    EXPECT_FALSE(c.image()->find_topic("t"));
    EXPECT_EQ(c.allocate_producer_id(), -1);
}

TEST(controller, producer_ids_are_unique_across_restarts) {
    memory_metadata_log log;
    std::set<int64_t> seen;
    for (int restart = 0; restart < 3; ++restart) {
        controller c(log, 1);
        ASSERT_TRUE(c.load());
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
    ASSERT_TRUE(c.load());
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

}  // namespace
}  // namespace riacho::cluster
