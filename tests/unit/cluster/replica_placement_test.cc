// Replica placement: distinct brokers, leaders spread, replicas spread over racks.
#include "cluster/replica_placement.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace riacho::cluster {
namespace {

std::set<std::string> racks_of(const std::vector<int32_t>& replicas,
                               const std::vector<placement_broker>& brokers) {
    std::set<std::string> out;
    for (int32_t id : replicas) {
        for (const auto& b : brokers) {
            if (b.id == id) {
                out.insert(b.rack);
            }
        }
    }
    return out;
}

TEST(replica_placement, without_racks_replicas_are_distinct_and_leaders_spread) {
    std::vector<placement_broker> brokers{{1, ""}, {2, ""}, {3, ""}, {4, ""}};
    std::map<int32_t, int> leaders;
    for (int32_t p = 0; p < 8; ++p) {
        auto replicas = place_replicas(brokers, "orders", p, 3);
        ASSERT_EQ(replicas.size(), 3u);
        EXPECT_EQ(std::set<int32_t>(replicas.begin(), replicas.end()).size(), 3u);
        ++leaders[replicas.front()];
    }
    EXPECT_EQ(leaders.size(), 4u);
    for (const auto& [id, n] : leaders) {
        EXPECT_EQ(n, 2) << "broker " << id;
    }
}

TEST(replica_placement, every_partition_spans_as_many_racks_as_it_can) {
    // Uneven racks: a has three brokers, b two, c one.
    std::vector<placement_broker> brokers{{1, "a"}, {2, "a"}, {3, "a"},
                                          {4, "b"}, {5, "b"}, {6, "c"}};
    for (const std::string topic : {"t", "orders", "payments"}) {
        for (int32_t p = 0; p < 12; ++p) {
            auto three = place_replicas(brokers, topic, p, 3);
            EXPECT_EQ(racks_of(three, brokers).size(), 3u) << topic << "-" << p;
            auto two = place_replicas(brokers, topic, p, 2);
            EXPECT_EQ(racks_of(two, brokers).size(), 2u) << topic << "-" << p;
            auto five = place_replicas(brokers, topic, p, 5);
            EXPECT_EQ(std::set<int32_t>(five.begin(), five.end()).size(), 5u);
            EXPECT_EQ(racks_of(five, brokers).size(), 3u);
        }
    }
}

TEST(replica_placement, brokers_without_a_rack_count_as_one_rack) {
    std::vector<placement_broker> brokers{{1, "a"}, {2, "a"}, {3, ""}};
    for (int32_t p = 0; p < 6; ++p) {
        auto two = place_replicas(brokers, "t", p, 2);
        EXPECT_EQ(racks_of(two, brokers).size(), 2u) << p;
    }
}

}  // namespace
}  // namespace riacho::cluster
