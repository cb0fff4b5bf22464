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

// The leader's side of a follower's fetch from `fetch_offset` whose last batch has
// `last_fetched_epoch`: where the follower's log diverges from the leader's (the epoch both
// have and where it ends on the leader: Fetch's DivergingEpoch), or nullopt when it does not.
// {-1, -1} when the leader has no epoch at or below the follower's (its log starts after
// them): nothing is known to match, which Kafka answers with OFFSET_OUT_OF_RANGE.
std::optional<epoch_end> diverging_epoch(const leader_epoch_cache& leader_epochs,
                                         int64_t fetch_offset,
                                         int32_t last_fetched_epoch,
                                         int64_t leader_log_end);

// The follower's side: where it cuts its log when the leader answered `diverging` (Kafka's
// truncation on a diverging epoch): where that epoch ends on both logs, or the end of the
// follower's own latest epoch below it when it never had that epoch (the next fetch refines),
// or its log start when it has no epoch at or below it.
int64_t truncation_offset(const leader_epoch_cache& follower_epochs,
                          epoch_end diverging,
                          int64_t log_start,
                          int64_t log_end);

}  // namespace riacho::replication
