// broker: runs the group coordinator (src/group) on the event loop. It turns the
// coordinator's deadlines into a timer, appends the records it queues to the
// __consumer_offsets partitions (creating that topic through the controller the first time a
// group needs it, as Kafka does), waits for the flush when a commit must be durable
// (riacho.acks.all.fsync), and loads every stored record at startup so offsets and group
// metadata survive restarts and kill -9.
//
// Thread: the broker's single event-loop thread. Owned by the broker; must outlive the
// handlers (it does: the server stops first). Crash behaviour: what was appended (and, for
// commits, flushed before the reply) is reloaded by start().
#pragma once

#include "broker/internal_topic.h"
#include "cluster/metadata_image.h"
#include "group/coordinator.h"
#include "net/server.h"

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <memory>
#include <optional>
#include <string>

namespace riacho::broker {

struct broker_context;

// Every topic's id and partition count, as the consumer group protocol needs them.
group::topic_catalog topic_catalog_of(const cluster::metadata_image& image);

// A group member's host as Kafka shows it ("/<ip>"), from the request's peer address.
std::string client_host(const net::request& req);

class group_runtime {
public:
    explicit group_runtime(broker_context& ctx);
    ~group_runtime();

    // Reads the coordinator settings and loads __consumer_offsets if it exists. An error
    // message when the stored records cannot be read.
    std::optional<std::string> start();
    void stop();

    group::coordinator& coordinator() { return *_coordinator; }
    static int64_t now_ms();

    // Creates __consumer_offsets when missing. false: answer COORDINATOR_NOT_AVAILABLE.
    bool ensure_offsets_topic();

    // JoinGroup / SyncGroup wait for the rebalance; these resume when the coordinator answers.
    asio::awaitable<group::join_result> join(group::join_request r);
    asio::awaitable<group::sync_result> sync(group::sync_request r);

    // Appends the records the coordinator queued and rearms the timer. With `durable`, also
    // waits until they are flushed (when riacho.acks.all.fsync is on). false on an IO error.
    asio::awaitable<bool> persist(bool durable);
    // The same without waiting for a flush; call after every coordinator call.
    bool settle();

private:
    bool append_records(touched_partitions* touched);
    bool load();
    void arm_timer();
    void arm_expiry();

    broker_context& _ctx;
    std::unique_ptr<group::coordinator> _coordinator;
    asio::steady_timer _timer;
    asio::steady_timer _expiry_timer;
    std::optional<int64_t> _armed_for;
    int64_t _retention_check_ms = 600000;
    bool _stopped = false;
};

}  // namespace riacho::broker
