#include "cluster/reassignment.h"

#include "cluster/replica_ids.h"

#include <fmt/format.h>

#include <algorithm>

namespace riacho::cluster {

namespace {

// Keeps the leader when it is still in the ISR, else the first ISR member of `replicas`
// that is alive (any ISR member when none is alive: the liveness check moves it on). A leader
// change bumps the epoch; the caller bumps it for a replica set change anyway.
void choose_leader(partition_info& p, const std::set<int32_t>& alive) {
    if (p.leader >= 0 && contains(p.isr, p.leader)) {
        return;
    }
    int32_t chosen = -1;
    for (int32_t id : p.replicas) {
        if (contains(p.isr, id) && (alive.count(id) != 0 || chosen < 0)) {
            chosen = id;
            if (alive.count(id) != 0) {
                break;
            }
        }
    }
    p.leader = chosen;
}

}  // namespace

std::vector<int32_t> original_replicas(const partition_info& p) {
    return minus(p.replicas, p.adding_replicas);
}

bool complete_reassignment_if_ready(partition_info& p, const std::set<int32_t>& alive) {
    if (!p.reassigning()) {
        return false;
    }
    auto target = minus(p.replicas, p.removing_replicas);
    std::vector<int32_t> target_isr;
    for (int32_t id : p.isr) {
        if (contains(target, id)) {
            target_isr.push_back(id);
        }
    }
    if (target_isr.empty()) {
        return false;
    }
    for (int32_t id : p.adding_replicas) {
        if (!contains(p.isr, id)) {
            return false;
        }
    }
    p.replicas = std::move(target);
    p.isr = std::move(target_isr);
    p.adding_replicas.clear();
    p.removing_replicas.clear();
    choose_leader(p, alive);
    return true;
}

reassignment_step start_reassignment(const partition_info& p,
                                     const std::vector<int32_t>& target,
                                     const std::set<int32_t>& registered,
                                     const std::set<int32_t>& alive) {
    using protocol::error_code;
    if (target.empty()) {
        return {error_code::invalid_replica_assignment,
                "The manual partition assignment includes an empty replica list.", std::nullopt};
    }
    for (size_t i = 0; i < target.size(); ++i) {
        if (std::find(target.begin(), target.begin() + static_cast<std::ptrdiff_t>(i), target[i]) !=
            target.begin() + static_cast<std::ptrdiff_t>(i)) {
            return {error_code::invalid_replica_assignment,
                    fmt::format("The manual partition assignment includes the broker {} more than "
                                "once.",
                                target[i]),
                    std::nullopt};
        }
        if (registered.count(target[i]) == 0) {
            return {error_code::invalid_replica_assignment,
                    fmt::format("The manual partition assignment includes broker {}, but no such "
                                "broker is registered.",
                                target[i]),
                    std::nullopt};
        }
    }
    auto original = original_replicas(p);
    partition_info next = p;
    next.adding_replicas = minus(target, original);
    next.removing_replicas = minus(original, target);
    next.replicas = target;
    for (int32_t id : next.removing_replicas) {
        next.replicas.push_back(id);
    }
    // Replicas being added that were not in the original set never belong in its ISR.
    next.isr = minus(p.isr, minus(p.adding_replicas, target));
    complete_reassignment_if_ready(next, alive);
    choose_leader(next, alive);  // a former added replica that led may have left
    if (next.replicas == p.replicas && next.isr == p.isr && next.leader == p.leader &&
        next.adding_replicas == p.adding_replicas &&
        next.removing_replicas == p.removing_replicas) {
        return {};  // already there
    }
    next.leader_epoch = p.leader_epoch + 1;
    return {error_code::none, "", std::move(next)};
}

reassignment_step cancel_reassignment(const partition_info& p, const std::set<int32_t>& alive) {
    if (!p.reassigning()) {
        return {protocol::error_code::no_reassignment_in_progress,
                "No reassignment is in progress for this partition.", std::nullopt};
    }
    partition_info next = p;
    next.replicas = original_replicas(p);
    next.isr = minus(p.isr, p.adding_replicas);
    if (next.isr.empty()) {
        // Only replicas being added were in sync (the original ones died): Kafka reverts
        // uncleanly to the original set; its first replica takes the partition.
        next.isr = {next.replicas.front()};
    }
    next.adding_replicas.clear();
    next.removing_replicas.clear();
    choose_leader(next, alive);
    next.leader_epoch = p.leader_epoch + 1;
    return {protocol::error_code::none, "", std::move(next)};
}

}  // namespace riacho::cluster
