// Broker configuration: Kafka's property names from a file and --set overrides, defaults, and
// a clear error naming the key for every unknown key or invalid value.
#include "broker/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace riacho::broker {
namespace {

std::string error_of(const std::vector<std::string>& sets) {
    try {
        load_broker_config(std::nullopt, sets);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

TEST(broker_config, defaults_need_no_settings) {
    auto cfg = load_broker_config(std::nullopt, {});
    ASSERT_EQ(cfg.listeners.size(), 1u);
    EXPECT_EQ(cfg.listeners[0].port, 9092);
    EXPECT_EQ(cfg.num_partitions, 1);
    EXPECT_TRUE(cfg.auto_create_topics_enable);
    EXPECT_EQ(cfg.log_segment_bytes, 1073741824);
    EXPECT_FALSE(cfg.log_dirs.empty());
    EXPECT_TRUE(cfg.acks_all_fsync);
}

TEST(broker_config, file_then_overrides) {
    std::string path = testing::TempDir() + "/server.properties";
    std::ofstream(path) << "# comment\nlisteners=PLAINTEXT://127.0.0.1:9999\n"
                           "num.partitions = 4\nlog.dirs=/tmp/a,/tmp/b\nlog.roll.hours=2\n";
    auto cfg = load_broker_config(path, {"num.partitions=6", "node.id=3"});
    EXPECT_EQ(cfg.listeners[0].host, "127.0.0.1");
    EXPECT_EQ(cfg.listeners[0].port, 9999);
    EXPECT_EQ(cfg.num_partitions, 6);
    EXPECT_EQ(cfg.node_id, 3);
    EXPECT_EQ(cfg.log_dirs, (std::vector<std::string>{"/tmp/a", "/tmp/b"}));
    EXPECT_EQ(cfg.log_roll_ms, 2 * 3600 * 1000);
    EXPECT_EQ(cfg.advertised_listeners[0].port, 9999);
    std::remove(path.c_str());
}

TEST(broker_config, every_bad_setting_names_its_key) {
    EXPECT_NE(error_of({"no.such.thing=1"}).find("no.such.thing"), std::string::npos);
    EXPECT_NE(error_of({"num.partitions=abc"}).find("num.partitions"), std::string::npos);
    EXPECT_NE(error_of({"num.partitions=0"}).find("num.partitions"), std::string::npos);
    EXPECT_NE(error_of({"auto.create.topics.enable=maybe"}).find("auto.create.topics.enable"),
              std::string::npos);
    EXPECT_NE(error_of({"listeners=localhost:9092"}).find("listeners"), std::string::npos);
    EXPECT_NE(error_of({"listeners=PLAINTEXT://:99999"}).find("listeners"), std::string::npos);
    EXPECT_NE(error_of({"compression.type=brotli"}).find("compression.type"), std::string::npos);
    EXPECT_NE(error_of({"advertised.listeners=OTHER://h:1"}).find("advertised.listeners"),
              std::string::npos);
    EXPECT_NE(error_of({"message.max.bytes=200000000"}).find("message.max.bytes"),
              std::string::npos);
    EXPECT_NE(error_of({"garbage"}).find("key=value"), std::string::npos);
    EXPECT_NE(error_of({"num.partitions=99999999999999999999"}).find("num.partitions"),
              std::string::npos);
}

TEST(broker_config, unreadable_file_is_an_error) {
    EXPECT_THROW(load_broker_config(std::string("/nonexistent/server.properties"), {}),
                 std::invalid_argument);
}

}  // namespace
}  // namespace riacho::broker
