// log_manager: directory names are `<topic>-<partition>` parsed at the LAST '-', so topics with
// '-' and '.' work; open() reopens every partition (in parallel) with its data; create/get/
// remove/close_all; a remove interrupted after the rename (a `...-delete` folder) is finished at
// the next open; stray folders are ignored.
#include "storage/log_manager.h"

#include "storage_test_util.h"

#include <gtest/gtest.h>

namespace riacho::storage {
namespace {

using test::make_batch;
using test::temp_dir;

TEST(log_manager, parses_partition_dir_names_at_the_last_dash) {
    auto tp = parse_partition_dir("my-topic.v2-13");
    ASSERT_TRUE(tp.has_value());
    EXPECT_EQ(tp->topic, "my-topic.v2");
    EXPECT_EQ(tp->partition, partition_id(13));
    EXPECT_EQ(parse_partition_dir("__cluster_metadata-0")->topic, "__cluster_metadata");
    EXPECT_FALSE(parse_partition_dir("topic").has_value());
    EXPECT_FALSE(parse_partition_dir("topic-").has_value());
    EXPECT_FALSE(parse_partition_dir("-1").has_value());
    EXPECT_FALSE(parse_partition_dir("topic-x1").has_value());
    EXPECT_FALSE(parse_partition_dir("topic-+1").has_value());
    EXPECT_FALSE(parse_partition_dir("topic-01").has_value());
    EXPECT_EQ(parse_partition_dir("topic-0")->partition, partition_id(0));
    EXPECT_FALSE(parse_partition_dir("t-0.abc-delete").has_value());
    EXPECT_EQ(partition_dir_name({"a-b.c", partition_id(7)}), "a-b.c-7");
}

log_config cfg_for(const topic_partition&) {
    log_config cfg;
    cfg.segment_bytes = 2048;
    return cfg;
}

TEST(log_manager, reopens_all_partitions) {
    temp_dir tmp;
    std::vector<topic_partition> tps = {
        {"orders", partition_id(0)},       {"orders", partition_id(1)},
        {"my-events.v1", partition_id(0)}, {"my-events.v1", partition_id(12)},
        {"a-b-c", partition_id(3)},        {"__consumer_offsets", partition_id(0)}};
    {
        auto mgr = log_manager::open(tmp.path(), cfg_for, 3);
        ASSERT_TRUE(mgr.has_value());
        for (size_t i = 0; i < tps.size(); ++i) {
            auto log = (*mgr)->create(tps[i], cfg_for(tps[i]));
            ASSERT_TRUE(log.has_value());
            for (size_t n = 0; n <= i; ++n) {
                auto b = make_batch(3, 1000, 100);
                ASSERT_TRUE((*log)->append(b, leader_epoch(0), 0).has_value());
            }
        }
        EXPECT_EQ((*mgr)->create(tps[0], cfg_for(tps[0])).error(), storage_errc::already_exists);
        ASSERT_TRUE((*mgr)->close_all().has_value());
    }
    std::filesystem::create_directories(tmp.path() / "not_a_partition");
    // The metadata quorum's log is raft::node's, not the manager's: it is left alone.
    std::filesystem::create_directories(tmp.path() / "__cluster_metadata-0");
    std::filesystem::create_directories(tmp.path() / "orders-9.0123abcd-delete" / "junk");
    auto mgr = log_manager::open(tmp.path(), cfg_for, 4);
    ASSERT_TRUE(mgr.has_value());
    auto found = (*mgr)->partitions();
    ASSERT_EQ(found.size(), tps.size());
    for (size_t i = 0; i < tps.size(); ++i) {
        partition_log* log = (*mgr)->get(tps[i]);
        ASSERT_NE(log, nullptr) << tps[i].topic;
        EXPECT_EQ(log->log_end_offset(), kafka_offset(3 * static_cast<int64_t>(i + 1)));
    }
    EXPECT_FALSE(std::filesystem::exists(tmp.path() / "orders-9.0123abcd-delete"));
    EXPECT_TRUE(std::filesystem::exists(tmp.path() / "not_a_partition"));
    EXPECT_EQ((*mgr)->get({"orders", partition_id(5)}), nullptr);
}

TEST(log_manager, remove_deletes_the_partition) {
    temp_dir tmp;
    auto mgr = log_manager::open(tmp.path(), cfg_for);
    ASSERT_TRUE(mgr.has_value());
    topic_partition tp{"x-y", partition_id(2)};
    auto log = (*mgr)->create(tp, cfg_for(tp));
    ASSERT_TRUE(log.has_value());
    auto b = make_batch(1);
    ASSERT_TRUE((*log)->append(b, leader_epoch(0), 0).has_value());
    // A reader holding the file keeps it readable after the delete.
    auto slice = (*log)->read(kafka_offset(0), 1000, true);
    ASSERT_TRUE(slice.has_value());
    ASSERT_TRUE((*mgr)->remove(tp).has_value());
    EXPECT_EQ((*mgr)->get(tp), nullptr);
    EXPECT_FALSE(std::filesystem::exists(tmp.path() / "x-y-2"));
    EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
    EXPECT_EQ(test::parse_batches(test::slice_bytes(*slice)).size(), 1u);
    EXPECT_EQ((*mgr)->remove(tp).error(), storage_errc::not_found);
    // Re-creating starts from scratch.
    auto again = (*mgr)->create(tp, cfg_for(tp));
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ((*again)->log_end_offset(), kafka_offset(0));
}

}  // namespace
}  // namespace riacho::storage
