#include "replication/leader_epoch_cache.h"

#include <algorithm>

namespace riacho::replication {

void leader_epoch_cache::on_append(int32_t epoch, int64_t base_offset) {
    if (epoch < 0 || (!_entries.empty() && epoch <= _entries.back().epoch)) {
        return;
    }
    _entries.push_back({epoch, base_offset});
}

void leader_epoch_cache::truncate_to(int64_t end) {
    while (!_entries.empty() && _entries.back().start_offset >= end) {
        _entries.pop_back();
    }
}

epoch_end leader_epoch_cache::end_offset_for(int32_t epoch, int64_t log_end) const {
    for (size_t i = _entries.size(); i-- > 0;) {
        if (_entries[i].epoch <= epoch) {
            int64_t end = i + 1 < _entries.size() ? _entries[i + 1].start_offset : log_end;
            return {_entries[i].epoch, end};
        }
    }
    return {};
}

std::optional<epoch_end> diverging_epoch(const leader_epoch_cache& leader_epochs,
                                         int64_t fetch_offset,
                                         int32_t last_fetched_epoch,
                                         int64_t leader_log_end) {
    if (last_fetched_epoch < 0) {
        return std::nullopt;  // an empty follower log cannot diverge
    }
    auto end = leader_epochs.end_offset_for(last_fetched_epoch, leader_log_end);
    if (end.epoch == last_fetched_epoch && end.end_offset >= fetch_offset) {
        return std::nullopt;
    }
    return end;
}

int64_t truncation_offset(const leader_epoch_cache& follower_epochs,
                          epoch_end diverging,
                          int64_t log_start,
                          int64_t log_end) {
    auto mine = follower_epochs.end_offset_for(diverging.epoch, log_end);
    if (mine.epoch < 0) {
        return log_start;
    }
    return mine.epoch == diverging.epoch ? std::min(mine.end_offset, diverging.end_offset)
                                         : mine.end_offset;
}

}  // namespace riacho::replication
