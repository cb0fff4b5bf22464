#include "replication/leader_epoch_cache.h"

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

}  // namespace riacho::replication
