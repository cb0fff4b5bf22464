// Metadata snapshots: an image encoded as a snapshot decodes to the same image, a controller
// takes one once metadata.log.max.record.bytes.between.snapshots bytes were applied, and a
// node that starts from it sees what a node replaying the whole log sees.
#include "cluster/metadata_snapshot.h"

#include "cluster/controller.h"
#include "memory_metadata_log.h"

#include <gtest/gtest.h>

#include <string>

namespace riacho::cluster {
namespace {

using protocol::error_code;
using test::memory_metadata_log;

bool same_partition(const partition_info& a, const partition_info& b) {
    return a.partition == b.partition && a.leader == b.leader && a.leader_epoch == b.leader_epoch &&
           a.replicas == b.replicas && a.isr == b.isr && a.adding_replicas == b.adding_replicas &&
           a.removing_replicas == b.removing_replicas && a.elr == b.elr;
}

void expect_same_image(const metadata_image& a, const metadata_image& b) {
    ASSERT_EQ(a.topics_by_name.size(), b.topics_by_name.size());
    EXPECT_EQ(a.topics_by_id.size(), b.topics_by_id.size());
    for (const auto& [name, t] : a.topics_by_name) {
        auto other = b.find_topic(name);
        ASSERT_TRUE(other) << name;
        EXPECT_EQ(b.find_topic(t->topic_id), other) << name;
        EXPECT_EQ(other->topic_id, t->topic_id) << name;
        EXPECT_EQ(other->configs, t->configs) << name;
        ASSERT_EQ(other->partitions.size(), t->partitions.size()) << name;
        for (size_t i = 0; i < t->partitions.size(); ++i) {
            EXPECT_TRUE(same_partition(t->partitions[i], other->partitions[i])) << name << "-" << i;
        }
    }
    EXPECT_EQ(a.brokers, b.brokers);
    EXPECT_EQ(a.fenced_brokers, b.fenced_brokers);
    EXPECT_EQ(a.shut_down_brokers, b.shut_down_brokers);
    EXPECT_EQ(a.broker_configs, b.broker_configs);
    EXPECT_EQ(a.next_producer_id, b.next_producer_id);
}

// An image with one of everything a snapshot must carry.
std::shared_ptr<const metadata_image> rich_image() {
    auto image = std::make_shared<const metadata_image>();
    auto apply = [&](auto fill) {
        protocol::msg::metadata_record r;
        fill(r);
        image = image->apply(r);
    };
    for (int32_t id : {1, 2, 3}) {
        apply([&](auto& r) {
            r.broker.broker_id = id;
            r.broker.host = "host-" + std::to_string(id);
            r.broker.port = 9090 + id;
            if (id != 2) {
                r.broker.rack = "rack-" + std::to_string(id % 2);
            }
        });
    }
    apply([](auto& r) { r.fence_broker = 3; });
    apply([](auto& r) { r.shut_down_broker = 1; });
    protocol::uuid orders_id = protocol::uuid::random();
    apply([&](auto& r) {
        r.topic.name = "orders";
        r.topic.topic_id = orders_id;
    });
    partition_info p0{0, 1, 4, {1, 2, 3}, {1, 2}, {}, {}, {3}};
    partition_info p1{1, 2, 7, {2, 3, 1}, {2, 1}, {3}, {1}, {}};
    partition_info p2{2, -1, 9, {3, 1, 2}, {}, {}, {}, {3, 1}};
    for (const auto& p : {p0, p1, p2}) {
        image = image->apply(partition_record(orders_id, p));
    }
    apply([](auto& r) {
        r.config.resource_type = static_cast<int8_t>(config_resource::topic);
        r.config.resource_name = "orders";
        r.config.name = "cleanup.policy";
        r.config.value = "compact";
    });
    apply([](auto& r) {
        r.topic.name = "__consumer_offsets";
        r.topic.topic_id = protocol::uuid::random();
    });
    apply([](auto& r) {
        r.config.resource_type = static_cast<int8_t>(config_resource::broker);
        r.config.resource_name = "";
        r.config.name = "min.insync.replicas";
        r.config.value = "2";
    });
    apply([](auto& r) {
        r.config.resource_type = static_cast<int8_t>(config_resource::broker);
        r.config.resource_name = "2";
        r.config.name = "leader.replication.throttled.rate";
        r.config.value = "100000";
    });
    apply([](auto& r) { r.next_producer_id = 4000; });
    return image;
}

TEST(metadata_snapshot, an_image_round_trips_through_a_snapshot) {
    auto image = rich_image();
    ASSERT_EQ(image->topics_by_name.size(), 2u);
    auto bytes = encode_snapshot(*image);
    auto decoded = decode_snapshot(bytes);
    ASSERT_TRUE(decoded) << decoded.error();
    expect_same_image(*image, **decoded);
    // The same records applied one by one build the same image too.
    auto replayed = std::make_shared<const metadata_image>();
    for (const auto& r : records_of_image(*image)) {
        replayed = replayed->apply(r);
    }
    expect_same_image(*image, *replayed);
    // An empty image is an empty snapshot.
    auto empty = decode_snapshot(encode_snapshot(metadata_image{}));
    ASSERT_TRUE(empty) << empty.error();
    EXPECT_TRUE((*empty)->topics_by_name.empty());
}

TEST(metadata_snapshot, a_damaged_snapshot_is_refused_with_a_reason) {
    auto bytes = encode_snapshot(*rich_image());
    auto flipped = bytes;
    flipped[flipped.size() - 3] ^= 0x40;
    auto decoded = decode_snapshot(flipped);
    ASSERT_FALSE(decoded);
    EXPECT_NE(decoded.error().find("does not decode"), std::string::npos) << decoded.error();
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2));
    EXPECT_FALSE(decode_snapshot(cut));
}

TEST(metadata_snapshot, a_large_image_loads_in_one_pass) {
    // 10,000 partitions: loading the snapshot must not copy the topic per partition.
    auto image = std::make_shared<const metadata_image>();
    protocol::msg::metadata_record topic;
    topic.topic.name = "wide";
    topic.topic.topic_id = protocol::uuid::random();
    image = image->apply(topic);
    auto snapshot_image = std::make_shared<metadata_image>(*image);
    auto wide = std::make_shared<topic_info>(*image->find_topic("wide"));
    for (int32_t i = 0; i < 10000; ++i) {
        wide->partitions.push_back({i, i % 3 + 1, 1, {i % 3 + 1}, {i % 3 + 1}, {}, {}, {}});
    }
    snapshot_image->topics_by_name["wide"] = wide;
    snapshot_image->topics_by_id[wide->topic_id] = wide;
    auto bytes = encode_snapshot(*snapshot_image);
    auto decoded = decode_snapshot(bytes);
    ASSERT_TRUE(decoded) << decoded.error();
    expect_same_image(*snapshot_image, **decoded);
    // Compressed: far less than the ~30 bytes per partition record it holds.
    EXPECT_LT(bytes.size(), 10000u * 10);
}

TEST(metadata_snapshot, a_controller_snapshots_after_the_configured_bytes) {
    memory_metadata_log log;
    controller c(log, 1);
    c.set_broker_config({{"metadata.log.max.record.bytes.between.snapshots", "1"}});
    c.catch_up();
    ASSERT_EQ(c.create_topic("orders", 3, 1, {{"retention.ms", "1000"}}, false).error,
              error_code::none);
    EXPECT_EQ(log.snapshots_stored, 1);
    ASSERT_EQ(c.create_topic("payments", 2, 1, {}, false).error, error_code::none);
    EXPECT_EQ(log.snapshots_stored, 2);

    // A node that starts now begins at the snapshot, then applies what follows it.
    auto late_log = log.other_node();
    ASSERT_EQ(c.create_partitions("payments", 4, false).error, error_code::none);
    controller late(late_log, 2);
    late.catch_up();
    EXPECT_EQ(late.applied_end(), c.applied_end());
    expect_same_image(*c.image(), *late.image());
    EXPECT_EQ(late.image()->find_topic("payments")->partitions.size(), 4u);
    EXPECT_EQ(late.image()->find_topic("orders")->configs.at("retention.ms"), "1000");

    // The default threshold (20 MiB) is far away.
    memory_metadata_log quiet_log;
    controller quiet(quiet_log, 1);
    quiet.catch_up();
    ASSERT_EQ(quiet.create_topic("orders", 3, 1, {}, false).error, error_code::none);
    EXPECT_EQ(quiet_log.snapshots_stored, 0);
}

}  // namespace
}  // namespace riacho::cluster
