// cluster: the metadata image, an immutable snapshot of topics, partitions, configs and
// producer-id allocation, built by replaying metadata records in order. A new image is made
// per applied record batch (copy-on-write of the maps; topic entries are shared), so readers
// on any thread can hold a shared_ptr<const metadata_image> without locks.
#pragma once

#include "protocol/messages/metadata_records.h"
#include "protocol/wire.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace riacho::cluster {

struct partition_info {
    int32_t partition = 0;
    int32_t leader = -1;
    int32_t leader_epoch = 0;
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
    // A reassignment in progress: `replicas` is the target followed by the replicas being
    // removed; `adding_replicas` are not in the ISR yet. Both empty otherwise.
    std::vector<int32_t> adding_replicas;
    std::vector<int32_t> removing_replicas;
    // Eligible leader replicas (KIP-966; cluster/eligible_leaders.h).
    std::vector<int32_t> elr;

    bool reassigning() const { return !adding_replicas.empty() || !removing_replicas.empty(); }
};

struct topic_info {
    std::string name;
    protocol::uuid topic_id;
    std::vector<partition_info> partitions;      // index = partition id
    std::map<std::string, std::string> configs;  // topic-level overrides only

    bool has_partition(int32_t partition) const {
        return partition >= 0 && static_cast<size_t>(partition) < partitions.size();
    }
    // Kafka's internal topics (__consumer_offsets, __transaction_state) start with "__".
    bool is_internal() const { return name.rfind("__", 0) == 0; }
};

struct uuid_hash {
    size_t operator()(const protocol::uuid& u) const noexcept {
        size_t h = 0;
        for (uint8_t b : u.bytes) {
            h = h * 131 + b;
        }
        return h;
    }
};

// A broker's registration: where clients reach it.
struct broker_info {
    int32_t id = -1;
    std::string host;
    int32_t port = 0;
    std::optional<std::string> rack;
    bool operator==(const broker_info&) const = default;
};

enum class config_resource : int8_t { topic = 2, broker = 4 };

struct metadata_image {
    std::map<std::string, std::shared_ptr<const topic_info>> topics_by_name;
    std::unordered_map<protocol::uuid, std::shared_ptr<const topic_info>, uuid_hash> topics_by_id;
    // Dynamic broker configs by resource name: a node id ("1"), or "" for the cluster-wide
    // default every broker uses unless it has its own.
    std::map<std::string, std::map<std::string, std::string>> broker_configs;
    int64_t next_producer_id = 0;            // first id not yet handed out
    std::map<int32_t, broker_info> brokers;  // registered brokers by id
    // Brokers the active controller has not heard from within broker.session.timeout.ms:
    // they lead nothing and may not join an ISR until they are heard from again.
    std::set<int32_t> fenced_brokers;
    // Brokers that shut down in a controlled way and have not registered since: fenced, and
    // not unfenced by the fetches they still make while stopping.
    std::set<int32_t> shut_down_brokers;

    std::shared_ptr<const topic_info> find_topic(const std::string& name) const;
    std::shared_ptr<const topic_info> find_topic(const protocol::uuid& id) const;
    // Registered brokers that are not fenced: those that may lead or join an ISR.
    std::set<int32_t> unfenced_brokers() const;
    // The topic exists and has this partition.
    bool has_partition(const std::string& topic, int32_t partition) const {
        auto t = find_topic(topic);
        return t && t->has_partition(partition);
    }

    // Returns the image after applying one record. Unknown or inconsistent records (e.g. a
    // partition of an unknown topic) are skipped with a log line: the log is input.
    std::shared_ptr<const metadata_image> apply(const protocol::msg::metadata_record& r) const;
    // The parts of a record that are not about topics (brokers, fencing, broker configs,
    // producer ids), applied to this image in place.
    void apply_cluster_parts(const protocol::msg::metadata_record& r);
};

// The record that sets a partition's state to `p` (every field of it).
protocol::msg::metadata_record partition_record(const protocol::uuid& topic_id,
                                                const partition_info& p);

// The partition state a partition record sets.
partition_info partition_of_record(const protocol::msg::metadata_record& r);

// Encodes/decodes a metadata record as a record value: int16 version + struct.
std::vector<uint8_t> encode_metadata_record(const protocol::msg::metadata_record& r);
std::optional<protocol::msg::metadata_record> decode_metadata_record(protocol::bytes_view value);

}  // namespace riacho::cluster
