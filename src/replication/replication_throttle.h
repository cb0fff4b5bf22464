// replication: Kafka's replication quotas, which keep a reassignment (or a replica catching up)
// from taking all of a broker's network and disk. A partition's replicas listed in the topic
// configs leader.replication.throttled.replicas / follower.replication.throttled.replicas
// ("partition:broker,...", or "*" for all) share their broker's leader.replication.throttled.rate
// / follower.replication.throttled.rate (bytes per second). A throttled replica that is not in
// the ISR is left out of a fetch while the broker's rate is above its quota; in-sync replicas
// are never held back.
//
// Pure state, no IO. Thread: the broker's loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace riacho::replication {

// Whether `list` (a throttled-replicas config value) names `partition` on `broker`.
bool lists_replica(const std::string& list, int32_t partition, int32_t broker);

// Why `value` is not a valid throttled-replicas config value, or nullopt when it is.
std::optional<std::string> validate_throttled_replicas(const std::string& name,
                                                       const std::string& value);

// A rate limit in bytes per second over a one-second window, like Kafka's quota sensors:
// recording may overdraw it; it is exceeded until time pays the overdraft back.
class byte_rate_quota {
public:
    // Whether bytes recorded recently are above `rate_bytes_per_s` (never for a rate of
    // INT64_MAX, Kafka's "no quota").
    bool exceeded(int64_t rate_bytes_per_s, int64_t now_ms);
    void record(int64_t bytes, int64_t rate_bytes_per_s, int64_t now_ms);

private:
    void refill(int64_t rate_bytes_per_s, int64_t now_ms);

    double _allowance_bytes = 0;  // may go negative: the overdraft
    int64_t _last_ms = -1;
};

}  // namespace riacho::replication
