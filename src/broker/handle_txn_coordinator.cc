// The transaction coordinator's APIs: InitProducerId (22, idempotent and transactional),
// AddPartitionsToTxn (24), AddOffsetsToTxn (25), EndTxn (26) and TxnOffsetCommit (28).
// Each answers once what it changed is durable (the coordinator's record flushed; for EndTxn
// also every marker), so an acknowledged commit survives kill -9.
#include "broker/handle_group_runtime.h"
#include "broker/handlers.h"
#include "broker/txn_runtime.h"
#include "protocol/messages/add_offsets_to_txn.h"
#include "protocol/messages/add_partitions_to_txn.h"
#include "protocol/messages/end_txn.h"
#include "protocol/messages/init_producer_id.h"
#include "protocol/messages/txn_offset_commit.h"

namespace riacho::broker {

namespace {
using protocol::error_code;

// Transaction version 2 (KIP-890 part 2): EndTxn v5 bumps the epoch; TxnOffsetCommit v5 adds
// the group's offsets partition itself.
constexpr int16_t end_txn_version2 = 5;
constexpr int16_t txn_offset_commit_version2 = 5;

// PRODUCER_FENCED (KIP-588) is new in these versions; older clients know it as
// INVALID_PRODUCER_EPOCH.
error_code for_version(error_code e, int16_t version, int16_t first_fenced_version) {
    return e == error_code::producer_fenced && version < first_fenced_version
               ? error_code::invalid_producer_epoch
               : e;
}

bool partition_known(broker_context& ctx, const txn::topic_partition& tp) {
    return ctx.controller.image()->has_partition(tp.topic, tp.partition);
}

void log_refusal(const net::request& req, const char* api, const std::string& id, error_code e) {
    LOG_DEBUG("txn", "{} (client id '{}') {} for '{}': {}", req.peer, req.header.client_id, api, id,
              protocol::error_name(e));
}
}  // namespace

asio::awaitable<net::reply> handle_init_producer_id(broker_context& ctx, net::request& req) {
    protocol::msg::init_producer_id_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    protocol::msg::init_producer_id_response response;
    response.producer_epoch = -1;
    if (request.transactional_id && !ctx.txns->coordinates(*request.transactional_id)) {
        response.error_code = protocol::code(error_code::not_coordinator);
        co_return encode_response(req, response);
    }
    if (request.transactional_id) {
        auto& coordinator = ctx.txns->coordinator();
        // An open transaction of a previous incarnation is aborted first (at most once more:
        // the second call finds it complete).
        for (int attempt = 0; attempt < 2; ++attempt) {
            auto r = coordinator.init_producer_id(
                *request.transactional_id, request.transaction_timeout_ms, request.producer_id,
                request.producer_epoch, broker_context::now_ms());
            if (!co_await ctx.txns->persist()) {
                r.error = error_code::coordinator_not_available;
            } else if (r.abort_first) {
                auto e = co_await ctx.txns->finish(std::move(*r.abort_first));
                if (e == error_code::none) {
                    continue;
                }
                r.error = error_code::concurrent_transactions;
            }
            response.error_code = protocol::code(for_version(r.error, version, 4));
            response.producer_id = r.producer_id;
            response.producer_epoch = r.producer_epoch;
            break;
        }
        if (response.error_code != 0) {
            log_refusal(req, "InitProducerId", *request.transactional_id,
                        static_cast<error_code>(response.error_code));
        }
        co_return encode_response(req, response);
    }
    if (request.producer_id >= 0 && request.producer_epoch >= 0 &&
        request.producer_epoch < INT16_MAX - 1) {
        // An idempotent producer bumping its epoch after a sequence error (KIP-360).
        response.producer_id = request.producer_id;
        response.producer_epoch = static_cast<int16_t>(request.producer_epoch + 1);
        co_return encode_response(req, response);
    }
    int64_t id = ctx.controller.allocate_producer_id();
    if (id < 0) {
        response.error_code = protocol::code(error_code::kafka_storage_error);
        co_return encode_response(req, response);
    }
    response.producer_id = id;
    response.producer_epoch = 0;
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_add_partitions_to_txn(broker_context& ctx, net::request& req) {
    using protocol::msg::add_partitions_to_txn_request;
    using protocol::msg::add_partitions_to_txn_response;
    add_partitions_to_txn_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    // v0-3 carry one transaction in top-level fields; v4+ a list (brokers verifying).
    if (version <= 3) {
        add_partitions_to_txn_request::add_partitions_to_txn_transaction t;
        t.transactional_id = request.v3_and_below_transactional_id;
        t.producer_id = request.v3_and_below_producer_id;
        t.producer_epoch = request.v3_and_below_producer_epoch;
        t.topics = std::move(request.v3_and_below_topics);
        request.transactions.push_back(std::move(t));
    }
    add_partitions_to_txn_response response;
    bool changed = false;
    std::vector<add_partitions_to_txn_response::add_partitions_to_txn_result> results;
    for (const auto& t : request.transactions) {
        std::vector<txn::topic_partition> partitions;
        for (const auto& topic : t.topics) {
            for (int32_t p : topic.partitions) {
                partitions.push_back({topic.name, p});
            }
        }
        auto r = ctx.txns->coordinates(t.transactional_id)
                     ? ctx.txns->coordinator().add_partitions(
                           t.transactional_id, t.producer_id, t.producer_epoch, partitions,
                           [&](const txn::topic_partition& tp) { return partition_known(ctx, tp); },
                           t.verify_only, broker_context::now_ms())
                     : txn::add_partitions_result{error_code::not_coordinator, {}};
        changed = changed || (!t.verify_only && r.error == error_code::none);
        error_code top = for_version(r.error, version, 2);
        if (top != error_code::none) {
            log_refusal(req, "AddPartitionsToTxn", t.transactional_id, top);
        }
        add_partitions_to_txn_response::add_partitions_to_txn_result result;
        result.transactional_id = t.transactional_id;
        for (const auto& topic : t.topics) {
            add_partitions_to_txn_response::add_partitions_to_txn_topic_result tr;
            tr.name = topic.name;
            for (int32_t p : topic.partitions) {
                auto it = r.partition_errors.find({topic.name, p});
                error_code e = top != error_code::none          ? top
                               : it != r.partition_errors.end() ? it->second
                                                                : error_code::none;
                tr.results_by_partition.push_back({p, protocol::code(e)});
            }
            result.topic_results.push_back(std::move(tr));
        }
        results.push_back(std::move(result));
    }
    if (changed && !co_await ctx.txns->persist()) {
        for (auto& result : results) {
            for (auto& tr : result.topic_results) {
                for (auto& pr : tr.results_by_partition) {
                    if (pr.partition_error_code == 0) {
                        pr.partition_error_code =
                            protocol::code(error_code::coordinator_not_available);
                    }
                }
            }
        }
    }
    if (version <= 3) {
        response.results_by_topic_v3_and_below = std::move(results.front().topic_results);
    } else {
        response.results_by_transaction = std::move(results);
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_add_offsets_to_txn(broker_context& ctx, net::request& req) {
    protocol::msg::add_offsets_to_txn_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    protocol::msg::add_offsets_to_txn_response response;
    error_code e = error_code::none;
    if (!ctx.txns->coordinates(request.transactional_id)) {
        e = error_code::not_coordinator;
    } else if (request.group_id.empty()) {
        e = error_code::invalid_group_id;
    } else if (!ctx.groups->ensure_offsets_topic()) {
        e = error_code::coordinator_not_available;
    } else {
        e = ctx.txns->coordinator().add_offsets(request.transactional_id, request.producer_id,
                                                request.producer_epoch, request.group_id,
                                                broker_context::now_ms());
        if (e == error_code::none && !co_await ctx.txns->persist()) {
            e = error_code::coordinator_not_available;
        }
    }
    e = for_version(e, req.header.api_version, 2);
    if (e != error_code::none) {
        log_refusal(req, "AddOffsetsToTxn", request.transactional_id, e);
    }
    response.error_code = protocol::code(e);
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_end_txn(broker_context& ctx, net::request& req) {
    protocol::msg::end_txn_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    if (!ctx.txns->coordinates(request.transactional_id)) {
        protocol::msg::end_txn_response refused;
        refused.error_code = protocol::code(error_code::not_coordinator);
        co_return encode_response(req, refused);
    }
    auto& coordinator = ctx.txns->coordinator();
    auto r = coordinator.end_txn(request.transactional_id, request.producer_id,
                                 request.producer_epoch, request.committed,
                                 version >= end_txn_version2, broker_context::now_ms());
    error_code e = r.error;
    if (!co_await ctx.txns->persist()) {
        e = error_code::coordinator_not_available;
    } else if (r.markers) {
        // Prepared and durable: the outcome is decided. Answer once the markers are written,
        // so the producer's next transaction and read_committed consumers see it complete.
        auto written = co_await ctx.txns->finish(std::move(*r.markers));
        if (written != error_code::none && written != error_code::concurrent_transactions) {
            LOG_WARN("txn", "markers of '{}' not written yet ({}); retrying in the background",
                     request.transactional_id, protocol::error_name(written));
        }
    }
    e = for_version(e, version, 2);
    if (e != error_code::none) {
        log_refusal(req, request.committed ? "EndTxn(commit)" : "EndTxn(abort)",
                    request.transactional_id, e);
    }
    protocol::msg::end_txn_response response;
    response.error_code = protocol::code(e);
    if (const txn::txn_metadata* m = coordinator.find(request.transactional_id);
        m != nullptr && e == error_code::none) {
        // v5: the (bumped) producer id and epoch the next transaction uses.
        response.producer_id = m->producer_id;
        response.producer_epoch = m->producer_epoch;
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_txn_offset_commit(broker_context& ctx, net::request& req) {
    using protocol::msg::txn_offset_commit_request;
    using protocol::msg::txn_offset_commit_response;
    txn_offset_commit_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    group::txn_commit_request c;
    c.producer_id = request.producer_id;
    c.producer_epoch = request.producer_epoch;
    c.commit.group_id = request.group_id;
    c.commit.generation_id = request.generation_id;
    c.commit.member_id = request.member_id;
    c.commit.group_instance_id = request.group_instance_id;
    c.commit.version = version;
    std::vector<std::vector<error_code>> errors(request.topics.size());
    std::vector<std::pair<size_t, size_t>> forwarded;
    error_code all = error_code::none;
    if (!ctx.txns->coordinates(request.transactional_id)) {
        // Another node coordinates the transaction: it adds (version 2) or verifies the
        // group's offsets partition there.
        all = co_await ctx.txns->add_offsets_at_coordinator(
            request.transactional_id, request.producer_id, request.producer_epoch, request.group_id,
            version < txn_offset_commit_version2);
    } else if (version >= txn_offset_commit_version2 && ctx.groups->ensure_offsets_topic()) {
        // Transaction version 2 has no AddOffsetsToTxn: the commit adds the partition.
        all = ctx.txns->coordinator().add_offsets(request.transactional_id, request.producer_id,
                                                  request.producer_epoch, request.group_id,
                                                  broker_context::now_ms());
        if (all == error_code::none && !co_await ctx.txns->persist()) {
            all = error_code::coordinator_not_available;
        }
    }
    if (all == error_code::none && ctx.txns->coordinates(request.transactional_id)) {
        all = ctx.txns->coordinator().check_offset_commit(request.transactional_id,
                                                          request.producer_id,
                                                          request.producer_epoch, request.group_id);
    }
    auto shard = ctx.groups->shard_for(request.group_id);
    if (all == error_code::none && !shard.coordinator) {
        all = shard.error;
    }
    for (size_t t = 0; t < request.topics.size(); ++t) {
        const auto& topic = request.topics[t];
        errors[t].assign(topic.partitions.size(), for_version(all, version, 3));
        if (all != error_code::none) {
            continue;
        }
        for (size_t p = 0; p < topic.partitions.size(); ++p) {
            const auto& part = topic.partitions[p];
            if (!partition_known(ctx, {topic.name, part.partition_index})) {
                errors[t][p] = error_code::unknown_topic_or_partition;
                continue;
            }
            group::commit_request::partition cp;
            cp.key = {topic.name, part.partition_index};
            cp.offset = part.committed_offset;
            cp.leader_epoch = part.committed_leader_epoch;
            cp.metadata = part.committed_metadata;
            c.commit.partitions.push_back(std::move(cp));
            forwarded.emplace_back(t, p);
        }
    }
    if (all != error_code::none) {
        log_refusal(req, "TxnOffsetCommit", request.transactional_id, all);
    }
    if (!forwarded.empty()) {
        auto result = shard.coordinator->txn_commit(c, group_runtime::now_ms());
        if (auto persisted = co_await ctx.groups->persist(true); persisted != error_code::none) {
            for (auto& e : result.partition_errors) {
                if (e == error_code::none) {
                    e = persisted;
                }
            }
        }
        for (size_t i = 0; i < forwarded.size(); ++i) {
            errors[forwarded[i].first][forwarded[i].second] =
                result.error != error_code::none ? result.error : result.partition_errors[i];
        }
    }
    txn_offset_commit_response response;
    for (size_t t = 0; t < request.topics.size(); ++t) {
        txn_offset_commit_response::txn_offset_commit_response_topic rt;
        rt.name = request.topics[t].name;
        for (size_t p = 0; p < request.topics[t].partitions.size(); ++p) {
            rt.partitions.push_back(
                {request.topics[t].partitions[p].partition_index, protocol::code(errors[t][p])});
        }
        response.topics.push_back(std::move(rt));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
