// replication: what a partition's leader knows about its replicas, as Kafka's Partition keeps
// it: each follower's log end (its last fetch offset), when it was last caught up, the
// in-sync replica set (ISR) as the metadata records it, and the high watermark that follows
// from them: the smallest log end among the ISR (the leader's included), never moving back.
// It also says which ISR change the leader should ask the controller for: a follower that
// has not caught up for replica.lag.time.max.ms leaves, one that reached the high watermark
// rejoins.
//
// Pure state, no IO: the broker feeds it fetches and appends. Thread: the broker's loop.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace riacho::replication {

class partition_replicas {
public:
    // `high_watermark` is where the leader starts (its own view; it only moves forward).
    partition_replicas(int32_t self,
                       std::vector<int32_t> replicas,
                       std::vector<int32_t> isr,
                       int64_t log_end,
                       int64_t high_watermark,
                       int64_t now_ms,
                       int32_t min_isr = 1);

    // The leader's log grew (an append): with no follower in the ISR the HW follows it.
    // Returns whether the high watermark moved.
    bool on_leader_append(int64_t log_end);
    // A follower fetched from `fetch_offset`: everything below it is in its log. Returns
    // whether the high watermark moved.
    bool on_follower_fetch(int32_t follower, int64_t fetch_offset, int64_t log_end, int64_t now_ms);
    // min.insync.replicas (at most the replica count). "Strict min ISR" (KIP-966): the high
    // watermark does not move while the ISR has fewer members, so replicas that leave such an
    // ISR keep every record below it and may be elected (eligible leader replicas).
    void set_min_isr(int32_t min_isr) { _min_isr = min_isr; }
    // The controller recorded a new ISR.
    void set_isr(std::vector<int32_t> isr, int64_t log_end, int64_t now_ms);

    // The ISR the leader should propose, if it differs from the current one.
    std::optional<std::vector<int32_t>> wanted_isr(int64_t now_ms, int64_t lag_max_ms) const;
    // The leader asked the controller for `isr`. Until they are in a recorded ISR (set_isr)
    // or the proposal fails (proposal_failed), the high watermark also waits for the
    // replicas it adds (Kafka's maximal ISR): once recorded they may be elected, so nothing
    // they lack may be acknowledged in between.
    void propose_isr(const std::vector<int32_t>& isr);
    void proposal_failed() { _joining.clear(); }

    int64_t high_watermark() const { return _high_watermark; }
    const std::vector<int32_t>& isr() const { return _isr; }
    const std::vector<int32_t>& replicas() const { return _replicas; }
    // A follower's known log end, -1 before its first fetch.
    int64_t follower_end(int32_t follower) const;

private:
    struct follower {
        int32_t id = -1;
        int64_t log_end = -1;
        int64_t last_caught_up_ms = 0;
        int64_t left_isr_ms = -1;  // when it was last seen leaving the ISR
    };
    bool recompute(int64_t log_end);
    bool in_isr(int32_t id) const;

    int32_t _self;
    std::vector<int32_t> _replicas;
    std::vector<int32_t> _isr;
    std::vector<int32_t> _joining;  // proposed to join the ISR, not recorded yet
    std::vector<follower> _followers;
    int64_t _log_end = 0;
    int64_t _high_watermark = 0;
    int32_t _min_isr = 1;
};

}  // namespace riacho::replication
