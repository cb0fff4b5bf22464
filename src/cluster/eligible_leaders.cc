#include "cluster/eligible_leaders.h"

#include "cluster/replica_ids.h"
#include "cluster/topic_config.h"

#include <algorithm>
#include <cstdlib>

namespace riacho::cluster {

int32_t effective_min_isr(const topic_info& topic,
                          const std::map<std::string, std::string>& broker_values,
                          size_t replica_count) {
    auto value = effective_topic_config(topic.configs, broker_values,
                                        *find_topic_config_key("min.insync.replicas"));
    long configured = value.empty() ? 1 : std::strtol(value.c_str(), nullptr, 10);
    configured = std::max(configured, 1L);
    return static_cast<int32_t>(
        std::min<long>(configured, static_cast<long>(std::max<size_t>(replica_count, 1))));
}

void update_eligible_leaders(partition_info& p,
                             const std::vector<int32_t>& old_isr,
                             int32_t min_isr) {
    if (static_cast<int32_t>(p.isr.size()) >= min_isr) {
        p.elr.clear();
        return;
    }
    for (int32_t id : old_isr) {
        if (!contains(p.isr, id) && !contains(p.elr, id)) {
            p.elr.push_back(id);
        }
    }
    std::erase_if(p.elr,
                  [&](int32_t id) { return contains(p.isr, id) || !contains(p.replicas, id); });
}

int32_t eligible_leader(const partition_info& p, const std::set<int32_t>& alive) {
    for (int32_t id : p.replicas) {
        if (contains(p.elr, id) && alive.count(id) != 0) {
            return id;
        }
    }
    return -1;
}

}  // namespace riacho::cluster
