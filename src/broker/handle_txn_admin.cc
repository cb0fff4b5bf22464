// Transaction admin APIs, what Kafka's `kafka-transactions` tool uses: DescribeProducers (61,
// the producers a partition tracks), DescribeTransactions (65), ListTransactions (66), and
// WriteTxnMarkers (27, which the tool's `abort` sends to end a hanging transaction on a
// partition).
#include "broker/handlers.h"
#include "broker/txn_runtime.h"
#include "protocol/messages/describe_producers.h"
#include "protocol/messages/describe_transactions.h"
#include "protocol/messages/list_transactions.h"
#include "protocol/messages/write_txn_markers.h"

namespace riacho::broker {

namespace {
using protocol::error_code;
}  // namespace

asio::awaitable<net::reply> handle_write_txn_markers(broker_context& ctx, net::request& req) {
    using protocol::msg::write_txn_markers_request;
    using protocol::msg::write_txn_markers_response;
    write_txn_markers_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    write_txn_markers_response response;
    touched_partitions touched;
    for (const auto& m : request.markers) {
        write_txn_markers_response::writable_txn_marker_result mr;
        mr.producer_id = m.producer_id;
        for (const auto& topic : m.topics) {
            write_txn_markers_response::writable_txn_marker_result::writable_txn_marker_topic_result
                tr;
            tr.name = topic.name;
            for (int32_t p : topic.partition_indexes) {
                auto e = write_txn_marker(ctx, {topic.name, p}, m.producer_id, m.producer_epoch,
                                          m.transaction_result, m.coordinator_epoch);
                if (e == error_code::none) {
                    touched.emplace_back(topic.name, p);
                }
                tr.partitions.push_back({p, protocol::code(e)});
                LOG_INFO("txn", "{} (client id '{}') wrote {} marker for producer {} to {}-{}: {}",
                         req.peer, req.header.client_id, m.transaction_result ? "COMMIT" : "ABORT",
                         m.producer_id, topic.name, p, protocol::error_name(e));
            }
            mr.topics.push_back(std::move(tr));
        }
        response.markers.push_back(std::move(mr));
    }
    if (auto published = co_await publish_txn_markers(ctx, std::move(touched));
        published != error_code::none) {
        for (auto& mr : response.markers) {
            for (auto& tr : mr.topics) {
                for (auto& pr : tr.partitions) {
                    if (pr.error_code == 0) {
                        pr.error_code = protocol::code(published);
                    }
                }
            }
        }
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_describe_transactions(broker_context& ctx, net::request& req) {
    using protocol::msg::describe_transactions_request;
    using protocol::msg::describe_transactions_response;
    describe_transactions_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    describe_transactions_response response;
    for (const auto& id : request.transactional_ids) {
        describe_transactions_response::described_transaction d;
        d.transactional_id = id;
        const txn::txn_metadata* m = ctx.txns->coordinator().find(id);
        if (m == nullptr || m->state == txn::txn_state::dead) {
            d.error_code = protocol::code(error_code::transactional_id_not_found);
            d.producer_id = -1;
            d.producer_epoch = -1;
            d.transaction_start_time_ms = -1;
            response.transaction_states.push_back(std::move(d));
            continue;
        }
        d.transaction_state = txn::state_name(m->state);
        d.transaction_timeout_ms = m->timeout_ms;
        d.transaction_start_time_ms = m->start_ms;
        d.producer_id = m->producer_id;
        d.producer_epoch = m->producer_epoch;
        for (const auto& tp : m->partitions) {
            if (d.topics.empty() || d.topics.back().topic != tp.topic) {
                d.topics.push_back({tp.topic, {}});
            }
            d.topics.back().partitions.push_back(tp.partition);
        }
        response.transaction_states.push_back(std::move(d));
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_list_transactions(broker_context& ctx, net::request& req) {
    using protocol::msg::list_transactions_request;
    using protocol::msg::list_transactions_response;
    list_transactions_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    list_transactions_response response;
    std::set<txn::txn_state> states;
    for (const auto& name : request.state_filters) {
        if (auto s = txn::parse_state(name)) {
            states.insert(*s);
        } else {
            response.unknown_state_filters.push_back(name);
        }
    }
    if (!request.state_filters.empty() && states.empty()) {
        co_return encode_response(req, response);  // only unknown states: nothing matches
    }
    std::set<int64_t> producers(request.producer_id_filters.begin(),
                                request.producer_id_filters.end());
    int64_t now = broker_context::now_ms();
    for (const auto& [id, m] : ctx.txns->coordinator().all()) {
        if (m.state == txn::txn_state::dead || (!states.empty() && states.count(m.state) == 0) ||
            (!producers.empty() && producers.count(m.producer_id) == 0)) {
            continue;
        }
        // v1: only transactions running longer than the filter (open ones).
        if (request.duration_filter >= 0 &&
            (m.start_ms < 0 || now - m.start_ms < request.duration_filter)) {
            continue;
        }
        response.transaction_states.push_back({id, m.producer_id, txn::state_name(m.state)});
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_describe_producers(broker_context& ctx, net::request& req) {
    using protocol::msg::describe_producers_request;
    using protocol::msg::describe_producers_response;
    describe_producers_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    describe_producers_response response;
    for (const auto& topic : request.topics) {
        describe_producers_response::topic_response tr;
        tr.name = topic.name;
        for (int32_t p : topic.partition_indexes) {
            describe_producers_response::topic_response::partition_response pr;
            pr.partition_index = p;
            auto* log = ctx.log(topic.name, p);
            if (log == nullptr) {
                pr.error_code = protocol::code(error_code::unknown_topic_or_partition);
                tr.partitions.push_back(std::move(pr));
                continue;
            }
            for (const auto& [id, e] : log->producers().entries()) {
                describe_producers_response::topic_response::partition_response::producer_state s;
                s.producer_id = id.value();
                s.producer_epoch = e.epoch.value();
                s.last_sequence = e.batches.empty() ? -1 : e.batches.back().last_sequence;
                s.last_timestamp = e.last_timestamp;
                s.coordinator_epoch = e.coordinator_epoch;
                s.current_txn_start_offset =
                    e.current_txn_first_offset ? e.current_txn_first_offset->value() : -1;
                pr.active_producers.push_back(s);
            }
            tr.partitions.push_back(std::move(pr));
        }
        response.topics.push_back(std::move(tr));
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
