// replication: which leader epoch wrote which offsets of a partition's log, as Kafka's
// LeaderEpochFileCache: a list of (epoch, start offset), one entry per epoch change. It
// answers "where does epoch E end" (the start of the next epoch, or the log end for the
// latest), which lets a follower find where its log diverges from its leader's (Kafka's
// KIP-101/KIP-279 truncation, through Fetch's LastFetchedEpoch and DivergingEpoch).
//
// Pure state: the broker adds an entry per appended batch whose epoch is new and trims on
// truncation. Thread: the broker's loop.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace riacho::replication {

struct epoch_end {
    int32_t epoch = -1;
    int64_t end_offset = -1;
    bool operator==(const epoch_end&) const = default;
};

class leader_epoch_cache {
public:
    // A batch of `epoch` was appended at `base_offset`. Epochs never go back; a batch of an
    // older epoch than the latest (which a valid log never has) is ignored.
    void on_append(int32_t epoch, int64_t base_offset);
    // The log was cut: entries starting at or after `end` go.
    void truncate_to(int64_t end);
    // The largest epoch <= `epoch` and where it ends (`log_end` for the latest epoch);
    // {-1, -1} when the cache has no epoch <= `epoch`.
    epoch_end end_offset_for(int32_t epoch, int64_t log_end) const;
    // The epoch of the last batch (-1 when empty).
    int32_t latest_epoch() const { return _entries.empty() ? -1 : _entries.back().epoch; }

private:
    struct entry {
        int32_t epoch;
        int64_t start_offset;
    };
    std::vector<entry> _entries;
};

}  // namespace riacho::replication
