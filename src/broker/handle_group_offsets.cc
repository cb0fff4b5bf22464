// OffsetCommit (8), OffsetFetch (9), OffsetDelete (47): committed offsets of groups, stored
// as records in __consumer_offsets. A commit is answered after its records are appended and,
// with riacho.acks.all.fsync (the default), flushed: an acknowledged commit survives kill -9.
#include "broker/handle_group_runtime.h"
#include "broker/handlers.h"
#include "protocol/messages/offset_commit.h"
#include "protocol/messages/offset_delete.h"
#include "protocol/messages/offset_fetch.h"

namespace riacho::broker {

namespace {
using protocol::error_code;
}  // namespace

asio::awaitable<net::reply> handle_offset_commit(broker_context& ctx, net::request& req) {
    using protocol::msg::offset_commit_request;
    using protocol::msg::offset_commit_response;
    offset_commit_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    // Partitions of unknown topics are answered here; the rest go to the coordinator.
    group::commit_request c;
    c.group_id = request.group_id;
    c.generation_id = request.generation_id_or_member_epoch;
    c.member_id = request.member_id;
    c.group_instance_id = request.group_instance_id;
    c.retention_time_ms = request.retention_time_ms;
    c.version = version;
    std::vector<std::vector<error_code>> errors(request.topics.size());
    std::vector<std::pair<size_t, size_t>> forwarded;
    for (size_t t = 0; t < request.topics.size(); ++t) {
        const auto& topic = request.topics[t];
        errors[t].assign(topic.partitions.size(), error_code::none);
        for (size_t p = 0; p < topic.partitions.size(); ++p) {
            const auto& part = topic.partitions[p];
            if (!ctx.controller.image()->has_partition(topic.name, part.partition_index)) {
                errors[t][p] = error_code::unknown_topic_or_partition;
                continue;
            }
            group::commit_request::partition cp;
            cp.key = {topic.name, part.partition_index};
            cp.offset = part.committed_offset;
            cp.leader_epoch = part.committed_leader_epoch;
            cp.metadata = part.committed_metadata;
            c.partitions.push_back(std::move(cp));
            forwarded.emplace_back(t, p);
        }
    }
    auto shard = ctx.groups->shard_for(c.group_id);
    if (!shard.coordinator) {
        // Another node coordinates the group (or none can yet): every partition says so.
        for (auto& topic_errors : errors) {
            topic_errors.assign(topic_errors.size(), shard.error);
        }
        forwarded.clear();
    }
    if (!forwarded.empty()) {
        group::commit_result result;
        {
            result = shard.coordinator->commit(c, group_runtime::now_ms());
            auto persisted = co_await ctx.groups->persist(true);
            if (persisted != error_code::none) {
                for (auto& e : result.partition_errors) {
                    if (e == error_code::none) {
                        e = persisted;
                    }
                }
            }
        }
        for (size_t i = 0; i < forwarded.size(); ++i) {
            errors[forwarded[i].first][forwarded[i].second] = result.partition_errors[i];
        }
    }
    offset_commit_response response;
    for (size_t t = 0; t < request.topics.size(); ++t) {
        offset_commit_response::offset_commit_response_topic rt;
        rt.name = request.topics[t].name;
        for (size_t p = 0; p < request.topics[t].partitions.size(); ++p) {
            offset_commit_response::offset_commit_response_topic::offset_commit_response_partition
                rp;
            rp.partition_index = request.topics[t].partitions[p].partition_index;
            rp.error_code = protocol::code(errors[t][p]);
            rt.partitions.push_back(std::move(rp));
        }
        response.topics.push_back(std::move(rt));
    }
    co_return encode_response(req, response);
}

namespace {
struct fetched_topic {
    std::string name;
    std::vector<group::fetched_offset> partitions;
};

std::vector<fetched_topic> fetch_group(
    const group::coordinator& coordinator,
    const std::string& group_id,
    const std::optional<std::vector<group::partition_key>>& keys) {
    auto offsets = coordinator.fetch_offsets(group_id, keys);
    std::vector<fetched_topic> out;
    for (auto& f : offsets) {
        if (out.empty() || out.back().name != f.key.topic) {
            // Requests list a topic's partitions together; offsets from memory are sorted.
            bool merged = false;
            for (auto& t : out) {
                if (t.name == f.key.topic) {
                    t.partitions.push_back(std::move(f));
                    merged = true;
                    break;
                }
            }
            if (merged) {
                continue;
            }
            out.push_back({f.key.topic, {}});
        }
        out.back().partitions.push_back(std::move(f));
    }
    return out;
}

// RequireStable (v7+): a partition with a transactional commit still pending is not stable
// yet; the client retries.
bool unstable(const group::coordinator& coordinator,
              bool require_stable,
              const std::string& group_id,
              const group::partition_key& key) {
    return require_stable && coordinator.has_pending_txn_offset(group_id, key);
}

template <typename Topics>
std::optional<std::vector<group::partition_key>> requested_keys(
    const std::optional<Topics>& topics) {
    if (!topics) {
        return std::nullopt;
    }
    std::vector<group::partition_key> keys;
    for (const auto& t : *topics) {
        for (int32_t p : t.partition_indexes) {
            keys.push_back({t.name, p});
        }
    }
    return keys;
}
}  // namespace

asio::awaitable<net::reply> handle_offset_fetch(broker_context& ctx, net::request& req) {
    using protocol::msg::offset_fetch_request;
    using protocol::msg::offset_fetch_response;
    offset_fetch_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    int16_t version = req.header.api_version;
    offset_fetch_response response;
    if (version < 8) {
        if (!group::valid_group_id(request.group_id)) {
            response.error_code = protocol::code(error_code::invalid_group_id);
            co_return encode_response(req, response);
        }
        auto shard = ctx.groups->shard_for(request.group_id);
        if (!shard.coordinator) {
            response.error_code = protocol::code(shard.error);
            co_return encode_response(req, response);
        }
        // v0-1 have no null topics: an empty list there means none.
        auto keys = requested_keys(request.topics);
        for (auto& t : fetch_group(*shard.coordinator, request.group_id, keys)) {
            offset_fetch_response::offset_fetch_response_topic rt;
            rt.name = t.name;
            for (auto& f : t.partitions) {
                offset_fetch_response::offset_fetch_response_topic::offset_fetch_response_partition
                    rp;
                rp.partition_index = f.key.partition;
                rp.committed_offset = f.value.offset;
                rp.committed_leader_epoch = f.value.leader_epoch;
                rp.metadata = f.value.metadata;
                if (unstable(*shard.coordinator, request.require_stable, request.group_id, f.key)) {
                    rp.error_code = protocol::code(error_code::unstable_offset_commit);
                }
                rt.partitions.push_back(std::move(rp));
            }
            response.topics.push_back(std::move(rt));
        }
        co_return encode_response(req, response);
    }
    for (const auto& g : request.groups) {
        offset_fetch_response::offset_fetch_response_group rg;
        rg.group_id = g.group_id;
        if (!group::valid_group_id(g.group_id)) {
            rg.error_code = protocol::code(error_code::invalid_group_id);
            response.groups.push_back(std::move(rg));
            continue;
        }
        auto shard = ctx.groups->shard_for(g.group_id);
        if (!shard.coordinator) {
            rg.error_code = protocol::code(shard.error);
            response.groups.push_back(std::move(rg));
            continue;
        }
        for (auto& t : fetch_group(*shard.coordinator, g.group_id, requested_keys(g.topics))) {
            offset_fetch_response::offset_fetch_response_group::offset_fetch_response_topics rt;
            rt.name = t.name;
            for (auto& f : t.partitions) {
                offset_fetch_response::offset_fetch_response_group::offset_fetch_response_topics::
                    offset_fetch_response_partitions rp;
                rp.partition_index = f.key.partition;
                rp.committed_offset = f.value.offset;
                rp.committed_leader_epoch = f.value.leader_epoch;
                rp.metadata = f.value.metadata;
                if (unstable(*shard.coordinator, request.require_stable, g.group_id, f.key)) {
                    rp.error_code = protocol::code(error_code::unstable_offset_commit);
                }
                rt.partitions.push_back(std::move(rp));
            }
            rg.topics.push_back(std::move(rt));
        }
        response.groups.push_back(std::move(rg));
    }
    co_return encode_response(req, response);
}

asio::awaitable<net::reply> handle_offset_delete(broker_context& ctx, net::request& req) {
    using protocol::msg::offset_delete_request;
    using protocol::msg::offset_delete_response;
    offset_delete_request request;
    if (!decode_request(req, request)) {
        co_return net::reply::close();
    }
    std::vector<group::partition_key> keys;
    for (const auto& t : request.topics) {
        for (const auto& p : t.partitions) {
            keys.push_back({t.name, p.partition_index});
        }
    }
    offset_delete_response response;
    auto shard = ctx.groups->shard_for(request.group_id);
    if (!shard.coordinator) {
        response.error_code = protocol::code(shard.error);
        co_return encode_response(req, response);
    }
    auto result =
        shard.coordinator->delete_offsets(request.group_id, keys, group_runtime::now_ms());
    auto persisted = co_await ctx.groups->persist(true);
    response.error_code = protocol::code(result.error);
    if (result.error == error_code::none) {
        size_t i = 0;
        for (const auto& t : request.topics) {
            offset_delete_response::offset_delete_response_topic rt;
            rt.name = t.name;
            for (const auto& p : t.partitions) {
                offset_delete_response::offset_delete_response_topic::
                    offset_delete_response_partition rp;
                rp.partition_index = p.partition_index;
                auto e = result.partition_errors[i++];
                if (!ctx.controller.image()->has_partition(t.name, p.partition_index)) {
                    e = error_code::unknown_topic_or_partition;
                } else if (persisted != error_code::none && e == error_code::none) {
                    e = persisted;
                }
                rp.error_code = protocol::code(e);
                rt.partitions.push_back(std::move(rp));
            }
            response.topics.push_back(std::move(rt));
        }
    }
    co_return encode_response(req, response);
}

}  // namespace riacho::broker
