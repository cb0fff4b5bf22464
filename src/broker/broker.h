// broker: a Riacho node. Startup order: config -> data dir and meta.properties -> the metadata
// quorum joined (raft::node) and caught up, committed entries applied to the image ->
// partition logs opened (recovered) and reconciled with the image -> listeners -> broker
// registered in the metadata -> ready file. Shutdown (SIGTERM/SIGINT): stop
// accepting, close every log cleanly (checkpoints, so the next start skips recovery).
//
// Threading: one event loop thread (one shard) runs the network, the handlers and the logs.
// The storage, controller and handlers take no locks, so more shards can own disjoint
// partitions later without changing them (see docs/design/threading.md).
#pragma once

#include "broker/append_signal.h"
#include "broker/broker_context.h"
#include "broker/config.h"
#include "broker/fetch_sessions.h"
#include "broker/flush_scheduler.h"
#include "broker/handle_group_runtime.h"
#include "broker/log_maintenance.h"
#include "broker/replica_manager.h"
#include "broker/request_router.h"
#include "broker/txn_runtime.h"
#include "cluster/controller.h"
#include "net/server.h"
#include "raft/node.h"
#include "storage/log_manager.h"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace riacho::broker {

class broker {
public:
    explicit broker(broker_config config);
    ~broker();

    // Opens storage and metadata and starts listening. Returns an error message on failure.
    std::optional<std::string> start(const std::optional<std::string>& ready_file);
    // Runs the event loop until a shutdown signal; returns the process exit code.
    int run();

private:
    class metadata_log_on_quorum;
    std::optional<std::string> open_data_dir();
    // Starts this node's raft::node on the metadata log and waits until it caught up.
    std::optional<std::string> start_quorum(const std::filesystem::path& dir);
    std::optional<std::string> broker_rack() const {
        auto it = _config.values.find("broker.rack");
        return it == _config.values.end() || it->second.empty()
                   ? std::nullopt
                   : std::optional<std::string>(it->second);
    }
    // Writes the ready file and installs the signal handlers: the last step of start().
    std::optional<std::string> finish_start(const std::optional<std::string>& ready_file,
                                            const std::string& ready_address);
    void reconcile(const cluster::metadata_image& image);
    // Puts the image's dynamic broker configs over the static ones (before logs reconcile,
    // so topic defaults they change reach every log).
    // Returns whether they changed.
    bool apply_dynamic_configs(const cluster::metadata_image& image);
    storage::log_config log_config_for(const cluster::topic_info* topic) const;
    void shutdown();
    // The active controller's periodic check: fence silent brokers, elect new leaders.
    void check_liveness();
    // SIGTERM in a cluster: move this broker's leaderships to other in-sync replicas first.
    void controlled_shutdown();
    void close_logs();

    broker_config _config;  // static settings (static_set) with the dynamic ones applied
    std::map<std::string, std::string> _applied_dynamic_configs;
    // Each topic's info as of the last reconcile (see reconcile()).
    std::map<std::string, std::shared_ptr<const cluster::topic_info>> _reconciled_topics;
    asio::io_context _io{1};
    asio::signal_set _signals{_io};
    std::string _cluster_id;
    std::string _quorum_listen_host;  // where this node's controller listener is bound
    std::unique_ptr<storage::log_manager> _logs;
    std::unique_ptr<raft::node> _quorum;
    std::unique_ptr<metadata_log_on_quorum> _metadata_log;
    std::unique_ptr<cluster::controller> _controller;
    std::unique_ptr<append_signal> _appends;
    std::unique_ptr<flush_scheduler> _flusher;
    std::unique_ptr<fetch_sessions> _sessions;
    std::unique_ptr<broker_context> _context;
    std::unique_ptr<group_runtime> _groups;
    std::unique_ptr<txn_runtime> _txns;
    std::unique_ptr<log_maintenance> _maintenance;
    std::unique_ptr<replica_manager> _replicas;
    std::unique_ptr<asio::steady_timer> _liveness_timer;
    int64_t _last_rebalance_check_ms = 0;
    // The quorum epoch this node leads (or last saw), and since when (steady clock).
    raft::leader_epoch _leading_epoch = raft::no_epoch;
    std::chrono::milliseconds _leading_since{
        0};  // wall clock; the first check waits a full interval
    std::unique_ptr<request_router> _router;
    std::unique_ptr<net::server> _server;
    bool _shut_down = false;
    bool _logs_closed = false;
};

}  // namespace riacho::broker
