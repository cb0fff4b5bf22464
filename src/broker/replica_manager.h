// broker: partition replication, Kafka's ReplicaManager in small. For every partition with
// more than one replica it plays the role the image gives this node:
// - leader: tracks each follower's log end from its fetches (replication::partition_replicas),
//   serves the high watermark (consumers read below it; acks=-1 waits for it), and asks the
//   controller to shrink or expand the ISR (replica.lag.time.max.ms);
// - follower: one fetcher per leader broker pulls with Fetch (replica id set) from the log
//   end, appends the leader's batches as they are (offsets and leader epochs kept), and takes
//   the leader's high watermark. Each fetch names the epoch of its last batch; a leader whose
//   log took another path after that epoch answers with where that epoch ends on it
//   (DivergingEpoch), and the follower cuts its log there before fetching again (Kafka's
//   truncation by leader epoch, KIP-101/KIP-279).
// A partition with one replica has its log end as high watermark, as before replication.
// High watermarks are checkpointed in `replication-offset-checkpoint` (Kafka's name) every few
// seconds and at shutdown: a restarted node that becomes leader starts from it.
//
// Thread: the broker's event loop; the fetchers are coroutines on it. Owned by the broker.
#pragma once

#include "net/client.h"
#include "replication/leader_epoch_cache.h"
#include "replication/partition_replicas.h"
#include "replication/replication_throttle.h"
#include "storage/log_manager.h"

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace riacho::cluster {
struct metadata_image;
struct topic_info;
}  // namespace riacho::cluster

namespace riacho::broker {

struct broker_context;

class replica_manager {
public:
    explicit replica_manager(broker_context& ctx);
    ~replica_manager();

    // Reads the high watermark checkpoint and starts the ISR and checkpoint timers.
    void start();
    // Stops the fetchers and timers and writes the checkpoint.
    void stop();
    // The image changed and the logs were reconciled: lead, follow or forget partitions.
    void reconcile(const cluster::metadata_image& image);

    // What consumers may read up to (exclusive).
    int64_t high_watermark(const storage::topic_partition& tp,
                           const storage::partition_log& log) const;
    // The partition's high watermark as this node knows it: a leader's own, a follower's from
    // its last fetch (the log end when it knows none yet).
    int64_t known_high_watermark(const storage::topic_partition& tp,
                                 const storage::partition_log& log) const;
    // Whether this node leads `tp` with followers (acks=-1 waits for them).
    bool replicated(const storage::topic_partition& tp) const { return _led.count(tp) != 0; }
    // The leader epoch in which this node leads `tp` with followers; nullopt when it does not.
    std::optional<int32_t> replicated_epoch(const storage::topic_partition& tp) const {
        auto it = _led.find(tp);
        return it == _led.end() ? std::nullopt : std::optional(it->second.leader_epoch);
    }
    // The in-sync replicas of a partition this node leads (1 when it has one replica).
    size_t isr_size(const storage::topic_partition& tp) const;
    // Appends a batch this node writes as `tp`'s leader (produce, coordinator records,
    // transaction markers) and records it with on_append(). Every leader append goes through
    // here: a batch missing from the epoch cache tells followers they diverge.
    result<storage::append_result, storage::storage_errc> append_as_leader(
        const storage::topic_partition& tp,
        storage::partition_log& log,
        std::span<uint8_t> batch,
        leader_epoch epoch,
        int64_t now_ms);
    // The leader appended a batch of `epoch` at `base_offset` to `tp`.
    void on_append(const storage::topic_partition& tp,
                   const storage::partition_log& log,
                   int32_t epoch,
                   int64_t base_offset);
    // A follower fetching `tp` from `fetch_offset` whose last batch has `last_fetched_epoch`:
    // where its log diverges from this leader's (the epoch both have and where it ends here),
    // or nullopt when it does not (Kafka's DivergingEpoch).
    std::optional<replication::epoch_end> diverging(const storage::topic_partition& tp,
                                                    int64_t fetch_offset,
                                                    int32_t last_fetched_epoch,
                                                    const storage::partition_log& log);
    // A follower fetched `tp` from `fetch_offset` (its log end); `log_start_offset` is its
    // log start (-1 when its request did not say).
    void on_follower_fetch(const storage::topic_partition& tp,
                           int32_t follower,
                           int64_t fetch_offset,
                           int64_t log_start_offset,
                           const storage::partition_log& log);
    // DeleteRecords' low watermark of a partition this node leads: the lowest log start of
    // its own log and of every replica on a live (unfenced) broker, as Kafka's; -1 while a
    // live follower has not said its log start since this node took the lead.
    int64_t low_watermark(const storage::topic_partition& tp,
                          const storage::partition_log& log) const;
    // DeleteRecords: waits until the low watermark of `tp` reaches `offset` in
    // `leader_epoch`. false when the deadline passes or this node no longer leads the
    // partition in that epoch.
    asio::awaitable<bool> wait_low_watermark(storage::topic_partition tp,
                                             int64_t offset,
                                             int32_t leader_epoch,
                                             std::chrono::steady_clock::time_point deadline);
    // acks=-1: waits until the high watermark of `tp` reaches `end_offset` in `leader_epoch`
    // (the epoch the batch was appended in). false when the deadline passes or this node no
    // longer leads the partition in that epoch: a leadership lost and regained meanwhile may
    // have cut the batch, and a later high watermark would say nothing about it.
    asio::awaitable<bool> wait_replicated(storage::topic_partition tp,
                                          int64_t end_offset,
                                          int32_t leader_epoch,
                                          std::chrono::steady_clock::time_point deadline);

    // Replication quotas (replication/replication_throttle.h), leader side: whether this
    // node, leading `topic`'s `partition`, holds back `follower`'s fetch because the replica
    // is throttled (leader.replication.throttled.replicas), out of sync, and the broker's
    // leader.replication.throttled.rate is used up. record_leader_throttled counts what a
    // throttled replica was sent.
    bool leader_throttled(const cluster::topic_info& topic, int32_t partition, int32_t follower);
    bool leader_quota_exceeded();
    void record_leader_throttled(size_t bytes);

private:
    struct led {
        int32_t leader_epoch = 0;
        replication::partition_replicas state;
        std::map<int32_t, int64_t> follower_log_starts;  // as their fetches say
    };
    struct followed {
        int32_t leader = -1;
        int32_t leader_epoch = 0;
    };
    struct fetcher;

    asio::awaitable<void> run_fetcher(std::shared_ptr<fetcher> f);
    // One fetch round to `f`'s leader; false when it failed (the caller backs off).
    asio::awaitable<bool> fetch_once(fetcher& f);
    void check_isr();
    // The partition's epoch cache, built from its batches' headers on first use.
    replication::leader_epoch_cache& epochs(const storage::topic_partition& tp,
                                            const storage::partition_log& log);
    void truncate(const storage::topic_partition& tp,
                  storage::partition_log& log,
                  int64_t offset,
                  std::string_view why);
    void write_checkpoint();
    void read_checkpoint();
    void arm_timer();

    broker_context& _ctx;
    std::map<storage::topic_partition, led> _led;
    std::map<storage::topic_partition, followed> _followed;
    // The high watermark each partition last had here (leader or follower): where a follower
    // may cut back to when its leader changes.
    std::map<storage::topic_partition, int64_t> _known_high_watermark;
    std::map<int32_t, std::shared_ptr<fetcher>> _fetchers;  // by leader id
    std::map<storage::topic_partition, replication::leader_epoch_cache> _epochs;
    std::unique_ptr<asio::steady_timer> _timer;
    replication::byte_rate_quota _leader_quota;
    replication::byte_rate_quota _follower_quota;
    int64_t _last_checkpoint_ms = 0;
    bool _stopped = false;
};

}  // namespace riacho::broker
