// group (internal): the state of a group of the next-generation consumer protocol (KIP-848):
// members with their epochs, subscriptions and what each was told it owns, the group epoch
// (bumped on every membership, subscription or metadata change) and the target assignment
// computed for it (assignment epoch). Owned by the coordinator (same thread); the logic is in
// consumer_protocol.cc.
#pragma once

#include "group/coordinator.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace riacho::group {

struct consumer_member {
    std::string member_id;
    std::optional<std::string> instance_id;
    std::optional<std::string> rack_id;
    std::string client_id;
    std::string client_host;
    int32_t member_epoch = 0;
    int32_t previous_member_epoch = -1;
    int32_t rebalance_timeout_ms = 300000;
    std::vector<std::string> subscribed_topics;  // sorted
    std::optional<std::string> server_assignor;
    std::set<partition_key> assigned;            // what it was told it may consume
    std::set<partition_key> pending_revocation;  // told to give up; not yet confirmed
    int64_t session_deadline_ms = 0;
    std::optional<int64_t> revocation_deadline_ms;
};

struct consumer_group_state {
    int32_t group_epoch = 0;
    int32_t assignment_epoch = 0;
    std::string assignor = "uniform";
    std::map<std::string, consumer_member> members;
    std::map<std::string, std::set<partition_key>> target;  // member id -> target assignment
    // Partition counts of the subscribed topics the target was computed from.
    std::map<std::string, int32_t> subscribed_partitions;

    // Kafka's states of a consumer group.
    const char* state_name() const {
        if (members.empty()) return "Empty";
        if (group_epoch > assignment_epoch) return "Assigning";
        for (const auto& [id, m] : members) {
            if (m.member_epoch != assignment_epoch || !m.pending_revocation.empty()) {
                return "Reconciling";
            }
        }
        return "Stable";
    }
};

}  // namespace riacho::group
