// broker: the internal compacted topics coordinators keep their state in (__consumer_offsets,
// __transaction_state): create one on first use, append a coordinator's records (one batch
// per partition and producer), and read every stored record back at startup.
//
// Thread: the broker's event-loop thread.
#pragma once

#include "cluster/metadata_image.h"
#include "protocol/error_code.h"
#include "protocol/record_batch.h"

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace riacho::broker {

struct broker_context;

struct internal_record {
    int32_t partition = 0;
    std::vector<uint8_t> key;
    std::optional<std::vector<uint8_t>> value;  // nullopt = tombstone
    // A transactional record's producer (-1: an ordinary record).
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
};

using touched_partitions = std::vector<std::pair<std::string, int32_t>>;

// Creates `topic` (compacted, `partitions` partitions, `replication_factor` replicas or as
// many as there are live brokers when fewer) when missing. false: it could not be.
bool ensure_internal_topic(broker_context& ctx,
                           const std::string& topic,
                           int32_t partitions,
                           int32_t replication_factor);

// Appends the records (the topic must exist) and wakes fetchers. Adds each partition written
// to `touched` when given. false when any append failed (each failure is logged).
bool append_internal_records(broker_context& ctx,
                             const std::string& topic,
                             std::vector<internal_record> records,
                             touched_partitions* touched);

// Waits until the in-sync replicas of every partition in `touched` have what this node
// appended to it (acks=all, as Kafka's coordinators write), then flushes them when
// riacho.acks.all.fsync is on. none, NOT_LEADER_OR_FOLLOWER (leadership moved away),
// REQUEST_TIMED_OUT (the replicas did not follow within `timeout`) or KAFKA_STORAGE_ERROR.
asio::awaitable<protocol::error_code> wait_until_durable(broker_context& ctx,
                                                         touched_partitions touched,
                                                         std::chrono::milliseconds timeout);

// The partitions of `topic` that `node_id` leads, with their leader epochs: where a
// coordinator's state lives on this node.
std::map<int32_t, int32_t> partitions_led_by(const cluster::metadata_image& image,
                                             const std::string& topic,
                                             int32_t node_id);

// Calls fn(partition, header, records) for every batch stored locally in `topic` (or only in
// `only_partition`), in log order. false when a partition cannot be read.
using internal_batch_fn = std::function<void(
    int32_t, const protocol::batch_header&, const std::vector<protocol::record_view>&)>;
bool for_each_internal_batch(broker_context& ctx,
                             const std::string& topic,
                             const internal_batch_fn& fn,
                             std::optional<int32_t> only_partition = std::nullopt);

}  // namespace riacho::broker
