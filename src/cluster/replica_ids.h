// cluster: helpers for lists of replica ids (a partition's replicas, ISR, ELR), which are
// short and kept in order (the first replica is the preferred leader), so they stay vectors.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace riacho::cluster {

inline bool contains(const std::vector<int32_t>& ids, int32_t id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// The ids of `a` that are not in `b`, in a's order.
inline std::vector<int32_t> minus(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    std::vector<int32_t> out;
    for (int32_t id : a) {
        if (!contains(b, id)) {
            out.push_back(id);
        }
    }
    return out;
}

}  // namespace riacho::cluster
