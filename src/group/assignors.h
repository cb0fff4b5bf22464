// group: the server-side assignors of the consumer protocol (KIP-848). Pure functions from
// the members' subscriptions, the partition counts and the previous target to a new target.
//  - uniform (the default): every subscribed partition to exactly one subscribed member,
//    member counts differing by at most one where subscriptions allow, keeping each
//    partition where it was whenever that stays balanced (sticky).
//  - range: per topic, the members subscribed to it (by member id) get contiguous ranges.
#pragma once

#include "group/coordinator.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace riacho::group {

struct assignor_member {
    std::vector<std::string> subscribed_topics;
    std::set<partition_key> previous;  // the previous target, for stickiness
};

using assignment_map = std::map<std::string, std::set<partition_key>>;

assignment_map assign_uniform(const std::map<std::string, assignor_member>& members,
                              const std::map<std::string, int32_t>& partitions_per_topic);
assignment_map assign_range(const std::map<std::string, assignor_member>& members,
                            const std::map<std::string, int32_t>& partitions_per_topic);

}  // namespace riacho::group
