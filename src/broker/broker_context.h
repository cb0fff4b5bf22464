// broker: what every request handler may use: the config, the metadata image (through the
// controller), the local partition logs, the append and flush signals, and the node's
// identity. Owned by the broker; lives on the shard's event loop thread.
#pragma once

#include <asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "broker/config.h"
#include "broker/fetch_sessions.h"
#include "broker/flush_scheduler.h"
#include "broker/append_signal.h"
#include "cluster/controller.h"
#include "storage/log_manager.h"

namespace riacho::broker {

struct advertised_endpoint {
    std::string host;
    uint16_t port = 0;
};

class group_runtime;  // broker/handle_group_runtime.h
class txn_runtime;    // broker/txn_runtime.h

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
    group_runtime* groups = nullptr;  // the group coordinator; set by broker::start()
    txn_runtime* txns = nullptr;      // the transaction coordinator; set by broker::start()

    int32_t node_id() const { return config.node_id; }
    storage::partition_log* log(const std::string& topic, int32_t partition) const {
        return logs.get({topic, partition_id(partition)});
    }
    static int64_t now_ms() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

}  // namespace riacho::broker
