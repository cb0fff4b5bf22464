// cluster: partition reassignment as Kafka's KRaft controller does it (KIP-455), as pure
// functions on a partition's state. A reassignment to `target` records replicas = target
// followed by the replicas being removed, with the replicas being added and removed named;
// followers on the new replicas fetch like any other, the leader adds them to the ISR once
// caught up, and the ISR change that has every added replica in it completes the move:
// replicas = target, the ISR keeps only target replicas, and the leader moves to a target
// replica if it was being removed. Cancelling reverts to the replicas before the move.
// Every change of the replica set bumps the leader epoch, so the leader and the followers
// start their roles again on the new set.
#pragma once

#include "cluster/metadata_image.h"
#include "protocol/error_code.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace riacho::cluster {

struct reassignment_step {
    protocol::error_code error = protocol::error_code::none;
    std::string message;
    // The partition as it is to be recorded; nullopt when nothing changes.
    std::optional<partition_info> next;
};

// The replicas the partition had before its reassignment began (all of them when none is in
// progress).
std::vector<int32_t> original_replicas(const partition_info& p);

// Starts (or replaces) a reassignment of `p` to `target`. Every target broker must be in
// `registered`, once. When the ISR already holds every target replica the move completes in
// the same step (e.g. a replica only removed). `alive`: brokers a moved leadership may go to.
reassignment_step start_reassignment(const partition_info& p,
                                     const std::vector<int32_t>& target,
                                     const std::set<int32_t>& registered,
                                     const std::set<int32_t>& alive);

// Cancels the reassignment in progress: back to the original replicas, without the ones being
// added (NO_REASSIGNMENT_IN_PROGRESS when none is).
reassignment_step cancel_reassignment(const partition_info& p, const std::set<int32_t>& alive);

// Completes `p`'s reassignment when its ISR holds every replica being added (and one target
// replica at least). Returns whether it did.
bool complete_reassignment_if_ready(partition_info& p, const std::set<int32_t>& alive);

}  // namespace riacho::cluster
