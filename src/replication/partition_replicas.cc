#include "replication/partition_replicas.h"

#include <algorithm>

namespace riacho::replication {

partition_replicas::partition_replicas(int32_t self,
                                       std::vector<int32_t> replicas,
                                       std::vector<int32_t> isr,
                                       int64_t log_end,
                                       int64_t high_watermark,
                                       int64_t now_ms,
                                       int32_t min_isr)
    : _self(self),
      _replicas(std::move(replicas)),
      _isr(std::move(isr)),
      _log_end(log_end),
      _high_watermark(std::min(high_watermark, log_end)),
      _min_isr(min_isr) {
    for (int32_t id : _replicas) {
        if (id != _self) {
            // Every follower gets a full lag period before it counts as out of sync.
            _followers.push_back({id, -1, now_ms});
        }
    }
    recompute(log_end);
}

bool partition_replicas::in_isr(int32_t id) const {
    return std::find(_isr.begin(), _isr.end(), id) != _isr.end();
}

int64_t partition_replicas::follower_end(int32_t id) const {
    for (const auto& f : _followers) {
        if (f.id == id) {
            return f.log_end;
        }
    }
    return -1;
}

bool partition_replicas::recompute(int64_t log_end) {
    _log_end = log_end;
    if (static_cast<int32_t>(_isr.size()) < _min_isr) {
        return false;  // strict min ISR
    }
    int64_t hw = log_end;
    for (const auto& f : _followers) {
        if (in_isr(f.id) || std::find(_joining.begin(), _joining.end(), f.id) != _joining.end()) {
            hw = std::min(hw, f.log_end);
        }
    }
    if (hw > _high_watermark) {
        _high_watermark = hw;
        return true;
    }
    return false;
}

bool partition_replicas::on_leader_append(int64_t log_end) { return recompute(log_end); }

bool partition_replicas::on_follower_fetch(int32_t id,
                                           int64_t fetch_offset,
                                           int64_t log_end,
                                           int64_t now_ms) {
    for (auto& f : _followers) {
        if (f.id != id) {
            continue;
        }
        f.log_end = std::min(fetch_offset, log_end);
        if (fetch_offset >= log_end) {
            f.last_caught_up_ms = now_ms;
        }
    }
    return recompute(log_end);
}

void partition_replicas::set_isr(std::vector<int32_t> isr, int64_t log_end, int64_t now_ms) {
    for (auto& f : _followers) {
        bool was_in = in_isr(f.id);
        bool is_in = std::find(isr.begin(), isr.end(), f.id) != isr.end();
        if (was_in && !is_in) {
            f.left_isr_ms = now_ms;
        }
    }
    _isr = std::move(isr);
    // Only the answer to a proposal ends it: an image applied for another reason (any
    // metadata change) must not reopen the window the proposal closes.
    std::erase_if(_joining, [&](int32_t id) { return in_isr(id); });
    recompute(log_end);
}

void partition_replicas::propose_isr(const std::vector<int32_t>& isr) {
    _joining.clear();
    for (int32_t id : isr) {
        if (id != _self && !in_isr(id)) {
            _joining.push_back(id);
        }
    }
}

std::optional<std::vector<int32_t>> partition_replicas::wanted_isr(int64_t now_ms,
                                                                   int64_t lag_max_ms) const {
    std::vector<int32_t> wanted;
    for (int32_t id : _replicas) {
        if (id == _self) {
            wanted.push_back(id);
            continue;
        }
        auto f = std::find_if(_followers.begin(), _followers.end(),
                              [&](const follower& x) { return x.id == id; });
        bool lagging = now_ms - f->last_caught_up_ms > lag_max_ms;
        // An outsider must have caught up since it left: a broker that died in sync would
        // otherwise look caught up forever.
        bool caught_up = f->log_end >= _high_watermark && f->log_end >= 0 &&
                         f->last_caught_up_ms > f->left_isr_ms;
        // Kafka's rules: an ISR member leaves when it has not caught up for the lag time; an
        // outsider rejoins once it has everything below the high watermark.
        if (in_isr(id) ? !lagging : caught_up && !lagging) {
            wanted.push_back(id);
        }
    }
    auto sorted_current = _isr;
    std::sort(sorted_current.begin(), sorted_current.end());
    auto sorted_wanted = wanted;
    std::sort(sorted_wanted.begin(), sorted_wanted.end());
    if (sorted_current == sorted_wanted) {
        return std::nullopt;
    }
    return wanted;
}

}  // namespace riacho::replication
