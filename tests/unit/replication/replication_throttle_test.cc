// Replication quotas: which replicas a throttled-replicas config names, which values Kafka
// accepts, and a byte rate that is exceeded until time pays an overdraft back.
#include "replication/replication_throttle.h"

#include <gtest/gtest.h>

#include <climits>

namespace riacho::replication {
namespace {

TEST(replication_throttle, lists_name_partition_and_broker_pairs_or_everything) {
    EXPECT_TRUE(lists_replica("*", 7, 3));
    EXPECT_TRUE(lists_replica("0:1, 1:2 ,2:3", 1, 2));
    EXPECT_FALSE(lists_replica("0:1,1:2", 1, 1));
    EXPECT_FALSE(lists_replica("", 0, 1));
    EXPECT_FALSE(lists_replica("garbage", 0, 1));
}

TEST(replication_throttle, only_kafkas_formats_are_valid) {
    const char* key = "leader.replication.throttled.replicas";
    for (const char* ok : {"", "*", "0:1", "0:1,1:2", " 0 : 1 , 12:3 "}) {
        EXPECT_FALSE(validate_throttled_replicas(key, ok)) << ok;
    }
    for (const char* bad : {"0", "a:1", "0:1,", "0:1;1:2", "**", "0:-1"}) {
        auto why = validate_throttled_replicas(key, bad);
        ASSERT_TRUE(why) << bad;
        EXPECT_NE(why->find(key), std::string::npos) << *why;
    }
}

TEST(replication_throttle, a_rate_is_exceeded_until_time_pays_the_overdraft_back) {
    byte_rate_quota quota;
    const int64_t rate = 1000;  // bytes per second
    EXPECT_FALSE(quota.exceeded(rate, 0));
    quota.record(1500, rate, 0);  // a second's allowance and 500 more
    EXPECT_TRUE(quota.exceeded(rate, 100));
    EXPECT_TRUE(quota.exceeded(rate, 490));
    EXPECT_FALSE(quota.exceeded(rate, 510));
    // No quota at all (Kafka's Long.MAX_VALUE default) is never exceeded.
    byte_rate_quota unlimited;
    unlimited.record(INT64_MAX / 2, INT64_MAX, 0);
    EXPECT_FALSE(unlimited.exceeded(INT64_MAX, 0));
}

}  // namespace
}  // namespace riacho::replication
