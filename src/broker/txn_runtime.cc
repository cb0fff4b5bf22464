#include "broker/txn_runtime.h"

#include "base/log.h"
#include "broker/broker_context.h"
#include "broker/handle_group_runtime.h"
#include "broker/internal_topic.h"
#include "broker/log_errors.h"
#include "broker/replica_manager.h"
#include "group/records.h"
#include "net/client.h"
#include "protocol/control_record.h"
#include "protocol/messages/add_partitions_to_txn.h"
#include "protocol/messages/write_txn_markers.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>

namespace riacho::broker {

using namespace std::chrono_literals;

namespace {
// How long a marker may wait for the partition's in-sync replicas.
constexpr std::chrono::milliseconds marker_replication_timeout = 30s;
constexpr int16_t write_txn_markers_version = 1;
constexpr int16_t add_partitions_to_txn_broker_version = 4;  // batched, with VerifyOnly
}  // namespace

protocol::error_code write_txn_marker(broker_context& ctx,
                                      const txn::topic_partition& tp,
                                      int64_t producer_id,
                                      int16_t producer_epoch,
                                      bool commit,
                                      int32_t coordinator_epoch) {
    auto topic = ctx.controller.image()->find_topic(tp.topic);
    auto* log = ctx.log(tp.topic, tp.partition);
    if (!topic || log == nullptr || !topic->has_partition(tp.partition)) {
        return protocol::error_code::unknown_topic_or_partition;
    }
    if (!ctx.leads(*topic, tp.partition)) {
        // A follower's log takes only its leader's batches.
        return protocol::error_code::not_leader_or_follower;
    }
    int64_t now = broker_context::now_ms();
    auto batch =
        protocol::build_txn_marker(producer_id, producer_epoch, {commit, coordinator_epoch}, now);
    auto epoch = leader_epoch(topic->partitions[static_cast<size_t>(tp.partition)].leader_epoch);
    auto appended = ctx.replicas->append_as_leader({tp.topic, partition_id(tp.partition)}, *log,
                                                   batch, epoch, now);
    if (!appended) {
        LOG_WARN("txn", "{} marker for producer {} on {}-{}: {}", commit ? "COMMIT" : "ABORT",
                 producer_id, tp.topic, tp.partition, storage::to_string(appended.error()));
        return to_error_code(appended.error());
    }
    if (tp.topic == group::offsets_topic && ctx.groups != nullptr) {
        ctx.groups->complete_txn(tp.partition, producer_id, commit);
    }
    return protocol::error_code::none;
}

bool ensure_txn_state_topic(broker_context& ctx, int32_t partitions) {
    return ensure_internal_topic(
        ctx, txn::state_topic, partitions,
        static_cast<int32_t>(ctx.config.number("transaction.state.log.replication.factor", 3)));
}

asio::awaitable<protocol::error_code> publish_txn_markers(broker_context& ctx,
                                                          touched_partitions touched) {
    ctx.appends.notify_all();
    // As Kafka writes markers with acks=all: a transaction counts as complete only once every
    // in-sync replica of its partitions has the marker, so a new leader has it too.
    co_return co_await wait_until_durable(ctx, std::move(touched), marker_replication_timeout);
}

txn_runtime::txn_runtime(broker_context& ctx) : _ctx(ctx), _timer(ctx.io) {}

txn_runtime::~txn_runtime() { stop(); }

void txn_runtime::stop() {
    _stopped = true;
    _timer.cancel();
}

std::optional<std::string> txn_runtime::start() {
    const auto& c = _ctx.config;
    txn::coordinator_config cfg;
    cfg.max_timeout_ms =
        static_cast<int32_t>(c.number("transaction.max.timeout.ms", cfg.max_timeout_ms));
    cfg.state_partitions = static_cast<int32_t>(
        c.number("transaction.state.log.num.partitions", cfg.state_partitions));
    _check_interval_ms =
        std::max<int64_t>(1, c.number("transaction.abort.timed.out.transaction.cleanup.interval.ms",
                                      _check_interval_ms));
    // Existing topics keep their partition counts (id -> partition mapping).
    auto image = _ctx.controller.image();
    if (auto topic = image->find_topic(txn::state_topic)) {
        cfg.state_partitions = static_cast<int32_t>(topic->partitions.size());
    }
    cfg.offsets_partitions =
        _ctx.groups != nullptr ? _ctx.groups->offsets_partitions() : cfg.offsets_partitions;
    _coordinator = std::make_unique<txn::coordinator>(
        cfg, [this] { return _ctx.controller.allocate_producer_id(); });
    arm_timer();
    return std::nullopt;
}

void txn_runtime::reconcile(const cluster::metadata_image&) {
    // Deferred to its own turn of the loop: a metadata change is applied while a coordinator
    // call waits for the controller (InitProducerId allocating a producer id), and forgetting
    // a partition's transactions under that call would pull its state from under it.
    if (_stopped || !_coordinator || _reconcile_posted) {
        return;
    }
    _reconcile_posted = true;
    asio::post(_ctx.io, [this] {
        _reconcile_posted = false;
        if (!_stopped) {
            reconcile_now(*_ctx.controller.image());
        }
    });
}

void txn_runtime::reconcile_now(const cluster::metadata_image& image) {
    auto led = partitions_led_by(image, txn::state_topic, _ctx.node_id());
    // A partition led elsewhere now (or here again in a later epoch: another leader may have
    // written in between) is forgotten; its transactions continue at its new leader.
    for (auto it = _loaded.begin(); it != _loaded.end();) {
        auto now_led = led.find(it->first);
        if (now_led != led.end() && now_led->second == it->second) {
            ++it;
            continue;
        }
        LOG_INFO("txn", "{}-{}: no longer led here; its transactions move with it",
                 txn::state_topic, it->first);
        _coordinator->unload_partition(it->first);
        it = _loaded.erase(it);
    }
    for (const auto& [partition, epoch] : led) {
        if (_loaded.count(partition) == 0 && load_partition(partition)) {
            _loaded.emplace(partition, epoch);
        }
    }
}

bool txn_runtime::load_partition(int32_t partition) {
    size_t loaded = 0;
    bool ok = for_each_internal_batch(
        _ctx, txn::state_topic,
        [&](int32_t, const protocol::batch_header& header,
            const std::vector<protocol::record_view>& records) {
            if (header.is_control()) {
                return;
            }
            for (const auto& r : records) {
                if (r.key) {
                    _coordinator->load_record(*r.key, r.value);
                    ++loaded;
                }
            }
        },
        partition);
    if (!ok) {
        LOG_ERROR("txn", "cannot read {}-{}; its transactions are not served here",
                  txn::state_topic, partition);
        return false;
    }
    // Transactions a crash (or the previous leader) left prepared: finish them.
    std::vector<txn::marker_job> pending;
    for (auto& job : _coordinator->pending_markers()) {
        if (_coordinator->partition_for(job.transactional_id) == partition) {
            pending.push_back(std::move(job));
        }
    }
    if (loaded > 0) {
        LOG_INFO("txn", "{}-{}: loaded {} records, {} to complete", txn::state_topic, partition,
                 loaded, pending.size());
    }
    for (auto& job : pending) {
        asio::co_spawn(_ctx.io, finish(std::move(job)), asio::detached);
    }
    return true;
}

asio::awaitable<bool> txn_runtime::persist() {
    auto records = _coordinator->take_records();
    if (records.empty()) {
        co_return true;
    }
    if (!ensure_txn_state_topic(_ctx, _coordinator->config().state_partitions)) {
        co_return false;
    }
    std::vector<internal_record> out;
    out.reserve(records.size());
    for (auto& r : records) {
        out.push_back({r.partition, std::move(r.key), std::move(r.value)});
    }
    touched_partitions touched;
    if (!append_internal_records(_ctx, txn::state_topic, std::move(out), &touched)) {
        co_return false;
    }
    // As Kafka's coordinator writes with acks=all: a new leader of the partition must find
    // every state change it answered for.
    co_return co_await wait_until_durable(_ctx, std::move(touched), marker_replication_timeout) ==
        protocol::error_code::none;
}

asio::awaitable<protocol::error_code> txn_runtime::finish(txn::marker_job job) {
    if (!_finishing.insert(job.transactional_id).second) {
        co_return protocol::error_code::concurrent_transactions;
    }
    auto error = co_await write_markers_and_complete(job);
    _finishing.erase(job.transactional_id);
    co_return error;
}

asio::awaitable<protocol::error_code> txn_runtime::write_markers_and_complete(
    const txn::marker_job& job) {
    touched_partitions touched;
    std::map<int32_t, std::vector<txn::topic_partition>> remote;  // by leader
    auto image = _ctx.controller.image();
    for (const auto& tp : job.partitions) {
        auto topic = image->find_topic(tp.topic);
        if (!topic || !topic->has_partition(tp.partition)) {
            continue;  // deleted since it joined the transaction: nothing to mark
        }
        int32_t leader = topic->partitions[static_cast<size_t>(tp.partition)].leader;
        if (leader != _ctx.node_id()) {
            remote[leader].push_back(tp);
            continue;
        }
        auto error = write_txn_marker(_ctx, tp, job.producer_id, job.producer_epoch, job.commit, 0);
        if (error == protocol::error_code::unknown_topic_or_partition) {
            continue;
        }
        if (error != protocol::error_code::none) {
            co_return error;
        }
        touched.emplace_back(tp.topic, tp.partition);
    }
    // Markers are durable (and replicated) before the transaction is recorded complete: a
    // crash in between leaves it prepared, and the next start writes them again.
    if (auto error = co_await publish_txn_markers(_ctx, std::move(touched));
        error != protocol::error_code::none) {
        co_return error;
    }
    for (const auto& [leader, partitions] : remote) {
        if (auto error = co_await send_markers(leader, job, partitions);
            error != protocol::error_code::none) {
            co_return error;  // the timer retries the whole job; markers are idempotent
        }
    }
    _coordinator->markers_written(job, broker_context::now_ms());
    if (!co_await persist()) {
        co_return protocol::error_code::kafka_storage_error;
    }
    LOG_DEBUG("txn", "{} transaction of '{}' (producer {} epoch {}) on {} partitions",
              job.commit ? "committed" : "aborted", job.transactional_id, job.producer_id,
              job.producer_epoch, job.partitions.size());
    co_return protocol::error_code::none;
}

asio::awaitable<protocol::error_code> txn_runtime::send_markers(
    int32_t leader,
    const txn::marker_job& job,
    const std::vector<txn::topic_partition>& partitions) {
    using protocol::error_code;
    using protocol::msg::write_txn_markers_request;
    using protocol::msg::write_txn_markers_response;
    auto image = _ctx.controller.image();
    auto broker = image->brokers.find(leader);
    if (leader < 0 || broker == image->brokers.end()) {
        co_return error_code::not_leader_or_follower;  // offline: retried later
    }
    write_txn_markers_request request;
    write_txn_markers_request::writable_txn_marker marker;
    marker.producer_id = job.producer_id;
    marker.producer_epoch = job.producer_epoch;
    marker.transaction_result = job.commit;
    marker.coordinator_epoch = 0;
    for (const auto& tp : partitions) {
        if (marker.topics.empty() || marker.topics.back().name != tp.topic) {
            marker.topics.push_back({tp.topic, {}});
        }
        marker.topics.back().partition_indexes.push_back(tp.partition);
    }
    request.markers.push_back(std::move(marker));
    protocol::writer body;
    request.encode(body, write_txn_markers_version);
    net::client_connection connection(_ctx.io,
                                      fmt::format("riacho-txn-coordinator-{}", _ctx.node_id()));
    connection.set_endpoint(broker->second.host, static_cast<uint16_t>(broker->second.port));
    auto answer =
        co_await connection.roundtrip(write_txn_markers_request::api_key, write_txn_markers_version,
                                      body.buffer(), marker_replication_timeout + 5s);
    if (!answer) {
        LOG_WARN("txn", "broker {} did not answer WriteTxnMarkers for producer {}", leader,
                 job.producer_id);
        co_return error_code::request_timed_out;
    }
    write_txn_markers_response response;
    protocol::reader r(*answer);
    response.decode(r, write_txn_markers_version);
    if (!r.ok()) {
        co_return error_code::unknown_server_error;
    }
    for (const auto& m : response.markers) {
        for (const auto& t : m.topics) {
            for (const auto& p : t.partitions) {
                auto error = static_cast<error_code>(p.error_code);
                if (error != error_code::none && error != error_code::unknown_topic_or_partition) {
                    LOG_WARN("txn", "broker {} refused the marker for producer {} on {}-{}: {}",
                             leader, job.producer_id, t.name, p.partition_index,
                             protocol::error_name(error));
                    co_return error;
                }
            }
        }
    }
    co_return error_code::none;
}

asio::awaitable<protocol::error_code> txn_runtime::add_offsets_at_coordinator(
    const std::string& transactional_id,
    int64_t producer_id,
    int16_t producer_epoch,
    const std::string& group_id,
    bool verify_only) {
    using protocol::error_code;
    using protocol::msg::add_partitions_to_txn_request;
    using protocol::msg::add_partitions_to_txn_response;
    auto image = _ctx.controller.image();
    auto state = image->find_topic(txn::state_topic);
    int32_t partition = _coordinator->partition_for(transactional_id);
    if (!state || !state->has_partition(partition)) {
        co_return error_code::coordinator_not_available;
    }
    auto broker = image->brokers.find(state->partitions[static_cast<size_t>(partition)].leader);
    if (broker == image->brokers.end()) {
        co_return error_code::coordinator_not_available;
    }
    add_partitions_to_txn_request request;
    add_partitions_to_txn_request::add_partitions_to_txn_transaction t;
    t.transactional_id = transactional_id;
    t.producer_id = producer_id;
    t.producer_epoch = producer_epoch;
    t.verify_only = verify_only;
    int32_t offsets_partition = group::partition_for(group_id, _ctx.groups->offsets_partitions());
    t.topics.push_back({group::offsets_topic, {offsets_partition}});
    request.transactions.push_back(std::move(t));
    protocol::writer body;
    request.encode(body, add_partitions_to_txn_broker_version);
    net::client_connection connection(_ctx.io,
                                      fmt::format("riacho-group-coordinator-{}", _ctx.node_id()));
    connection.set_endpoint(broker->second.host, static_cast<uint16_t>(broker->second.port));
    auto answer = co_await connection.roundtrip(add_partitions_to_txn_request::api_key,
                                                add_partitions_to_txn_broker_version, body.buffer(),
                                                marker_replication_timeout);
    if (!answer) {
        co_return error_code::coordinator_not_available;
    }
    add_partitions_to_txn_response response;
    protocol::reader r(*answer);
    response.decode(r, add_partitions_to_txn_broker_version);
    if (!r.ok()) {
        co_return error_code::unknown_server_error;
    }
    if (response.error_code != 0) {
        co_return static_cast<error_code>(response.error_code);
    }
    for (const auto& result : response.results_by_transaction) {
        for (const auto& topic : result.topic_results) {
            for (const auto& p : topic.results_by_partition) {
                if (p.partition_error_code != 0) {
                    co_return static_cast<error_code>(p.partition_error_code);
                }
            }
        }
    }
    co_return error_code::none;
}

bool txn_runtime::coordinates(const std::string& transactional_id) {
    if (!ensure_txn_state_topic(_ctx, _coordinator->config().state_partitions)) {
        return false;
    }
    auto image = _ctx.controller.image();
    auto topic = image->find_topic(txn::state_topic);
    int32_t partition = _coordinator->partition_for(transactional_id);
    if (!topic || !topic->has_partition(partition) || !_ctx.leads(*topic, partition)) {
        return false;
    }
    if (_loaded.count(partition) == 0) {
        reconcile_now(*image);  // led, but the deferred load has not run yet
    }
    return _loaded.count(partition) != 0;
}

void txn_runtime::arm_timer() {
    if (_stopped) {
        return;
    }
    _timer.expires_after(std::chrono::milliseconds(_check_interval_ms));
    _timer.async_wait([this](const asio::error_code& ec) {
        if (ec || _stopped) {
            return;
        }
        auto jobs = _coordinator->tick(broker_context::now_ms());
        // Transactions a failed marker write left prepared are retried here too.
        for (auto& job : _coordinator->pending_markers()) {
            bool fresh = std::any_of(jobs.begin(), jobs.end(), [&](const txn::marker_job& j) {
                return j.transactional_id == job.transactional_id;
            });
            if (!fresh && _finishing.count(job.transactional_id) == 0) {
                jobs.push_back(std::move(job));
            }
        }
        for (auto& job : jobs) {
            LOG_INFO("txn", "aborting or completing the transaction of '{}' (producer {})",
                     job.transactional_id, job.producer_id);
            asio::co_spawn(
                _ctx.io,
                [this, job = std::move(job)]() mutable -> asio::awaitable<void> {
                    if (co_await persist()) {
                        (void)co_await finish(std::move(job));
                    }
                },
                asio::detached);
        }
        arm_timer();
    });
}

}  // namespace riacho::broker
