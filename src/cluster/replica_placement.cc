#include "cluster/replica_placement.h"

#include "base/invariant.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace riacho::cluster {

namespace {
// The brokers with racks interleaved: the first of each rack, then the second of each, ...
// Consecutive brokers in this order sit in different racks wherever racks allow it.
std::vector<placement_broker> alternate_racks(std::vector<placement_broker> brokers) {
    std::map<std::string, std::vector<placement_broker>> by_rack;
    std::sort(brokers.begin(), brokers.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    for (auto& b : brokers) {
        by_rack[b.rack].push_back(b);
    }
    std::vector<placement_broker> out;
    for (size_t round = 0; out.size() < brokers.size(); ++round) {
        for (const auto& [rack, members] : by_rack) {
            if (round < members.size()) {
                out.push_back(members[round]);
            }
        }
    }
    return out;
}
}  // namespace

std::vector<int32_t> place_replicas(std::vector<placement_broker> brokers,
                                    const std::string& topic,
                                    int32_t partition,
                                    int16_t count) {
    INVARIANT(count > 0 && static_cast<size_t>(count) <= brokers.size(),
              "replica count out of range");
    auto order = alternate_racks(std::move(brokers));
    size_t n = order.size();
    std::set<std::string> racks;
    for (const auto& b : order) {
        racks.insert(b.rack);
    }
    size_t first = (std::hash<std::string>{}(topic) + static_cast<size_t>(partition)) % n;
    std::vector<int32_t> replicas{order[first].id};
    std::vector<bool> taken(n, false);
    taken[first] = true;
    // Followers: the next brokers after the leader, skipping racks already holding a replica
    // until every rack holds one.
    std::set<std::string> used{order[first].rack};
    while (replicas.size() < static_cast<size_t>(count)) {
        if (used.size() == racks.size()) {
            used.clear();
        }
        bool picked = false;
        for (size_t k = 1; k < n && replicas.size() < static_cast<size_t>(count); ++k) {
            size_t i = (first + k) % n;
            if (taken[i] || used.count(order[i].rack) != 0) {
                continue;
            }
            taken[i] = true;
            replicas.push_back(order[i].id);
            used.insert(order[i].rack);
            picked = true;
            if (used.size() == racks.size()) {
                used.clear();
            }
        }
        if (!picked) {
            used.clear();  // the racks left have no free broker: any will do
        }
    }
    return replicas;
}

}  // namespace riacho::cluster
