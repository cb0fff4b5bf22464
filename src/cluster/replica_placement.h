// cluster: where a new partition's replicas go. Leaders go round-robin over the brokers from a
// start that depends on the topic name (so that many small topics do not all lead on one
// broker); each partition's replicas are distinct brokers, spread over as many racks
// (`broker.rack`) as there are before any rack gets a second one, as Kafka's rack-aware
// placement does. Brokers without a rack count as one rack of their own. Pure: no IO, no state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace riacho::cluster {

struct placement_broker {
    int32_t id = -1;
    std::string rack;  // empty: none set
};

// `count` distinct brokers for `partition` of `topic`, the first its preferred leader.
// REQUIRES: 0 < count <= brokers.size().
std::vector<int32_t> place_replicas(std::vector<placement_broker> brokers,
                                    const std::string& topic,
                                    int32_t partition,
                                    int16_t count);

}  // namespace riacho::cluster
