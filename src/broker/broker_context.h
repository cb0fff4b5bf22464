// broker: what every request handler may use: the config, the metadata image (through the
// controller), the local partition logs, the append and flush signals, and the node's
// identity. Owned by the broker; lives on the shard's event loop thread.
#pragma once

#include "broker/append_signal.h"
#include "broker/config.h"
#include "broker/fetch_sessions.h"
#include "broker/flush_scheduler.h"
#include "cluster/controller.h"
#include "raft/node.h"
#include "storage/log_manager.h"

#include <asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

namespace riacho::broker {

struct advertised_endpoint {
    std::string host;
    uint16_t port = 0;
};

class group_runtime;    // broker/handle_group_runtime.h
class txn_runtime;      // broker/txn_runtime.h
class replica_manager;  // broker/replica_manager.h

struct broker_context {
    asio::io_context& io;
    broker_config& config;
    cluster::controller& controller;
    storage::log_manager& logs;
    append_signal& appends;
    flush_scheduler& flusher;
    fetch_sessions& sessions;
    std::string cluster_id;
    advertised_endpoint endpoint;
    group_runtime* groups = nullptr;      // the group coordinator; set by broker::start()
    txn_runtime* txns = nullptr;          // the transaction coordinator; set by broker::start()
    raft::node* quorum = nullptr;         // the metadata quorum; set by broker::start()
    replica_manager* replicas = nullptr;  // partition replication; set by broker::start()

    int32_t node_id() const { return config.node_id; }
    storage::partition_log* log(const std::string& topic, int32_t partition) const {
        return logs.get({topic, partition_id(partition)});
    }
    // Whether this node leads the partition (REQUIRES: the topic has it).
    bool leads(const cluster::topic_info& topic, int32_t partition) const {
        return topic.partitions[static_cast<size_t>(partition)].leader == config.node_id;
    }
    // The brokers clients may use: the registered ones that are not fenced, or this node
    // before it registered.
    std::vector<cluster::broker_info> brokers() const {
        std::vector<cluster::broker_info> out;
        auto image = controller.image();
        for (const auto& [id, b] : image->brokers) {
            if (image->fenced_brokers.count(id) == 0) {
                out.push_back(b);
            }
        }
        if (std::none_of(out.begin(), out.end(),
                         [&](const auto& b) { return b.id == config.node_id; })) {
            out.push_back({config.node_id, endpoint.host, endpoint.port, std::nullopt});
        }
        return out;
    }
    static int64_t now_ms() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

}  // namespace riacho::broker
