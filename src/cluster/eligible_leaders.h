// cluster: eligible leader replicas (KIP-966, on by default in Kafka 4.1's new clusters). With
// "strict min ISR" the high watermark only advances while the ISR has min.insync.replicas
// members, so a replica that leaves an ISR that is (then) below that size still has every
// record below the high watermark: it is recorded as eligible (ELR) and may be elected, cleanly,
// when no ISR member is alive. Once the ISR is back at min.insync.replicas the high watermark
// may move past them, and the ELR is cleared. When the last ISR member is fenced the ISR
// becomes empty and its members join the ELR; the first unfenced one leads again.
// Pure functions on a partition's state.
#pragma once

#include "cluster/metadata_image.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace riacho::cluster {

// min.insync.replicas for `topic` (its override, else `broker_values`), at most
// `replica_count` (Kafka caps it so that a topic with fewer replicas can make progress).
int32_t effective_min_isr(const topic_info& topic,
                          const std::map<std::string, std::string>& broker_values,
                          size_t replica_count);

// The ISR of `p` changed from `old_isr` to `p.isr`: replicas that left it while it is below
// `min_isr` join the ELR, replicas back in the ISR (or no longer replicas) leave it, and an
// ISR of `min_isr` members clears it.
void update_eligible_leaders(partition_info& p,
                             const std::vector<int32_t>& old_isr,
                             int32_t min_isr);

// The first ELR member (in replica order) in `alive`, or -1.
int32_t eligible_leader(const partition_info& p, const std::set<int32_t>& alive);

}  // namespace riacho::cluster
