#include "group/assignors.h"

#include <algorithm>

namespace riacho::group {

namespace {

bool subscribed(const assignor_member& m, const std::string& topic) {
    return std::binary_search(m.subscribed_topics.begin(), m.subscribed_topics.end(), topic);
}

}  // namespace

assignment_map assign_uniform(const std::map<std::string, assignor_member>& members,
                              const std::map<std::string, int32_t>& partitions_per_topic) {
    assignment_map out;
    for (const auto& [id, m] : members) {
        out[id];
    }
    if (members.empty()) {
        return out;
    }
    // 1. Sticky: each partition stays with its previous owner while that owner is subscribed
    //    and holds no more than its fair share.
    size_t total = 0;
    for (const auto& [topic, count] : partitions_per_topic) {
        for (const auto& [id, m] : members) {
            if (subscribed(m, topic)) {
                total += static_cast<size_t>(count);
                break;
            }
        }
    }
    size_t fair = (total + members.size() - 1) / members.size();
    std::set<partition_key> taken;
    for (const auto& [id, m] : members) {
        for (const auto& p : m.previous) {
            auto it = partitions_per_topic.find(p.topic);
            if (it == partitions_per_topic.end() || p.partition >= it->second ||
                !subscribed(m, p.topic) || out[id].size() >= fair || taken.count(p) != 0) {
                continue;
            }
            out[id].insert(p);
            taken.insert(p);
        }
    }
    // 2. Every other partition to the subscribed member holding the fewest (then by id).
    for (const auto& [topic, count] : partitions_per_topic) {
        for (int32_t i = 0; i < count; ++i) {
            partition_key p{topic, i};
            if (taken.count(p) != 0) {
                continue;
            }
            const std::string* best = nullptr;
            for (const auto& [id, m] : members) {
                if (subscribed(m, topic) &&
                    (best == nullptr || out[id].size() < out[*best].size())) {
                    best = &id;
                }
            }
            if (best != nullptr) {
                out[*best].insert(p);
                taken.insert(p);
            }
        }
    }
    // 3. Balance: move partitions from the fullest to the emptiest member that may take them
    //    until counts differ by at most one (or no move is possible).
    for (bool moved = true; moved;) {
        moved = false;
        for (auto& [from, owned] : out) {
            for (auto& [to, other] : out) {
                if (owned.size() <= other.size() + 1) {
                    continue;
                }
                for (auto it = owned.begin(); it != owned.end(); ++it) {
                    if (subscribed(members.at(to), it->topic)) {
                        other.insert(*it);
                        owned.erase(it);
                        moved = true;
                        break;
                    }
                }
            }
        }
    }
    return out;
}

assignment_map assign_range(const std::map<std::string, assignor_member>& members,
                            const std::map<std::string, int32_t>& partitions_per_topic) {
    assignment_map out;
    for (const auto& [id, m] : members) {
        out[id];
    }
    for (const auto& [topic, count] : partitions_per_topic) {
        std::vector<std::string> takers;  // sorted by member id (map order)
        for (const auto& [id, m] : members) {
            if (subscribed(m, topic)) {
                takers.push_back(id);
            }
        }
        if (takers.empty()) {
            continue;
        }
        int32_t per = count / static_cast<int32_t>(takers.size());
        int32_t extra = count % static_cast<int32_t>(takers.size());
        int32_t next = 0;
        for (size_t i = 0; i < takers.size(); ++i) {
            int32_t n = per + (static_cast<int32_t>(i) < extra ? 1 : 0);
            for (int32_t j = 0; j < n; ++j) {
                out[takers[i]].insert({topic, next++});
            }
        }
    }
    return out;
}

}  // namespace riacho::group
