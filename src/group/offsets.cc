// Committed offsets, group metadata records, loading, and the admin operations of the
// coordinator (see coordinator.h).
#include "base/invariant.h"
#include "group/classic_group.h"
#include "group/coordinator.h"

#include <algorithm>
#include <set>

namespace riacho::group {

namespace {
constexpr const char* consumer_protocol_type = "consumer";

// The topics a consumer-protocol member subscribes to: ConsumerProtocolSubscription starts
// with int16 version then Topics as a non-flexible []string at every version.
std::set<std::string> subscribed_topics(const std::vector<uint8_t>& metadata) {
    std::set<std::string> out;
    protocol::reader r(metadata);
    int16_t version = r.read_int16();
    if (!r.ok() || version < 0) {
        return out;
    }
    int32_t n = r.read_array_length(false);
    for (int32_t i = 0; i < n && r.ok(); ++i) {
        auto topic = r.read_string(false);
        if (r.ok()) {
            out.insert(std::move(topic));
        }
    }
    return out;
}
}  // namespace

void coordinator::write_group_metadata(const classic_group& g, int64_t now_ms) {
    protocol::msg::group_metadata_value v;
    v.protocol_type = g.protocol_type;
    v.generation = g.generation_id;
    v.protocol = g.protocol_name;
    v.leader = g.leader_id;
    v.current_state_timestamp = now_ms;
    for (const auto& [id, m] : g.members) {
        protocol::msg::group_metadata_value::member_metadata mm;
        mm.member_id = id;
        mm.group_instance_id = m.group_instance_id;
        mm.client_id = m.client_id;
        mm.client_host = m.client_host;
        mm.rebalance_timeout = m.rebalance_timeout_ms;
        mm.session_timeout = m.session_timeout_ms;
        if (g.protocol_name) {
            if (const auto* md = m.metadata_for(*g.protocol_name)) {
                mm.subscription = *md;
            }
        }
        mm.assignment = m.assignment;
        v.members.push_back(std::move(mm));
    }
    _records.push_back({partition_for(g.group_id, _cfg.offsets_partitions),
                        encode_group_metadata_key(g.group_id), encode_group_metadata_value(v)});
}

void coordinator::write_offset(const classic_group& g,
                               const partition_key& key,
                               const committed_offset* value) {
    offsets_record rec;
    rec.partition = partition_for(g.group_id, _cfg.offsets_partitions);
    rec.key = encode_offset_commit_key(g.group_id, key.topic, key.partition);
    if (value) {
        protocol::msg::offset_commit_value v;
        v.offset = value->offset;
        v.leader_epoch = value->leader_epoch;
        v.metadata = value->metadata;
        v.commit_timestamp = value->commit_timestamp_ms;
        v.expire_timestamp = value->expire_timestamp_ms.value_or(-1);
        rec.value = encode_offset_commit_value(v);
    }
    _records.push_back(std::move(rec));
}

error_code coordinator::check_committer(classic_group& g,
                                        const commit_request& req,
                                        int64_t now_ms) {
    if (g.consumer) {
        if (auto e = check_consumer_commit(*g.consumer, req); e != error_code::none) {
            return e;
        }
    } else if (req.generation_id < 0 && g.state == group_state::empty) {
        // A simple (assign-only) consumer or an admin client.
    } else if (req.generation_id >= 0 || !req.member_id.empty() || req.group_instance_id) {
        if (req.group_instance_id) {
            auto known = g.static_members.find(*req.group_instance_id);
            if (known != g.static_members.end() && known->second != req.member_id) {
                return error_code::fenced_instance_id;
            }
        }
        if (!g.has(req.member_id)) {
            return error_code::unknown_member_id;
        }
        if (req.generation_id != g.generation_id) {
            return error_code::illegal_generation;
        }
        if (g.state == group_state::completing_rebalance) {
            return error_code::rebalance_in_progress;
        }
        auto& m = g.members.at(req.member_id);
        m.heartbeat_deadline_ms = std::max(m.heartbeat_deadline_ms, now_ms + m.session_timeout_ms);
    } else {
        return error_code::unknown_member_id;
    }
    return error_code::none;
}

commit_result coordinator::commit(const commit_request& req, int64_t now_ms) {
    commit_result out;
    auto fail = [&](error_code e) {
        out.error = e;
        out.partition_errors.assign(req.partitions.size(), e);
        return out;
    };
    if (!valid_group_id(req.group_id)) {
        return fail(error_code::invalid_group_id);
    }
    auto it = _groups.find(req.group_id);
    if (it == _groups.end()) {
        if (req.generation_id >= 0) {
            // Kafka: a generation for a group it does not know.
            return fail(req.version >= 9 ? error_code::group_id_not_found
                                         : error_code::illegal_generation);
        }
    }
    auto& g = get_or_create(req.group_id, now_ms);
    if (g.state == group_state::dead) {
        return fail(error_code::coordinator_not_available);
    }
    if (auto e = check_committer(g, req, now_ms); e != error_code::none) {
        return fail(e);
    }
    std::optional<int64_t> expire;
    if (req.retention_time_ms >= 0 && req.version <= 4) {
        expire = now_ms + req.retention_time_ms;
    }
    for (const auto& p : req.partitions) {
        const std::string metadata = p.metadata.value_or("");
        if (metadata.size() > static_cast<size_t>(_cfg.offset_metadata_max_bytes)) {
            out.partition_errors.push_back(error_code::offset_metadata_too_large);
            continue;
        }
        committed_offset c;
        c.offset = p.offset;
        c.leader_epoch = p.leader_epoch;
        c.metadata = metadata;
        c.commit_timestamp_ms = now_ms;
        c.expire_timestamp_ms = expire;
        g.offsets[p.key] = c;
        write_offset(g, p.key, &c);
        out.partition_errors.push_back(error_code::none);
    }
    return out;
}

std::vector<fetched_offset> coordinator::fetch_offsets(
    const std::string& group_id,
    const std::optional<std::vector<partition_key>>& partitions) const {
    std::vector<fetched_offset> out;
    const auto* g = find(group_id);
    if (!partitions) {
        if (g) {
            for (const auto& [key, value] : g->offsets) {
                out.push_back({key, value});
            }
        }
        return out;
    }
    for (const auto& key : *partitions) {
        fetched_offset f{key, {}};
        if (g) {
            auto it = g->offsets.find(key);
            if (it != g->offsets.end()) {
                f.value = it->second;
            }
        }
        out.push_back(std::move(f));
    }
    return out;
}

coordinator::delete_offsets_result coordinator::delete_offsets(
    const std::string& group_id, const std::vector<partition_key>& partitions, int64_t now_ms) {
    delete_offsets_result out;
    if (!valid_group_id(group_id)) {
        out.error = error_code::invalid_group_id;
        return out;
    }
    auto it = _groups.find(group_id);
    if (it == _groups.end() || it->second->state == group_state::dead) {
        out.error = error_code::group_id_not_found;
        return out;
    }
    auto& g = *it->second;
    std::set<std::string> live_topics;
    if (g.state != group_state::empty) {
        if (g.protocol_type != consumer_protocol_type || !g.protocol_name) {
            out.error = error_code::non_empty_group;
            return out;
        }
        for (const auto& [id, m] : g.members) {
            if (const auto* md = m.metadata_for(*g.protocol_name)) {
                auto topics = subscribed_topics(*md);
                live_topics.insert(topics.begin(), topics.end());
            }
        }
    }
    for (const auto& key : partitions) {
        if (live_topics.count(key.topic)) {
            out.partition_errors.push_back(error_code::group_subscribed_to_topic);
            continue;
        }
        if (g.offsets.erase(key) != 0) {
            write_offset(g, key, nullptr);
        }
        out.partition_errors.push_back(error_code::none);
    }
    (void)now_ms;
    return out;
}

void coordinator::expire_offsets(int64_t now_ms) {
    std::vector<std::string> dead;
    for (auto& [id, gp] : _groups) {
        auto& g = *gp;
        if (g.state != group_state::empty) {
            continue;
        }
        // Kafka (KIP-211): offsets of an empty consumer group expire retention after the group
        // became empty; a simple group's offsets each after their own commit.
        std::vector<partition_key> expired;
        for (const auto& [key, value] : g.offsets) {
            int64_t base = value.commit_timestamp_ms;
            if (!g.protocol_type.empty() && g.current_state_timestamp_ms >= 0) {
                base = std::max(base, g.current_state_timestamp_ms);
            }
            bool past = value.expire_timestamp_ms ? *value.expire_timestamp_ms <= now_ms
                                                  : base + _cfg.offsets_retention_ms <= now_ms;
            if (past) {
                expired.push_back(key);
            }
        }
        for (const auto& key : expired) {
            g.offsets.erase(key);
            write_offset(g, key, nullptr);
        }
        if (g.offsets.empty() && g.members.empty() && g.pending_members.empty() &&
            g.pending_txn_offsets.empty()) {
            dead.push_back(id);
        }
    }
    for (const auto& id : dead) {
        auto& g = *_groups.at(id);
        g.transition(group_state::dead, now_ms);
        if (g.generation_id > 0 || !g.protocol_type.empty()) {
            _records.push_back({partition_for(id, _cfg.offsets_partitions),
                                encode_group_metadata_key(id), std::nullopt});
        }
        if (g.consumer) {
            write_consumer_group_removed(g);
        }
        remove_group(id);
    }
}

group_description coordinator::describe(const std::string& group_id) const {
    group_description d;
    d.group_id = group_id;
    if (!valid_group_id(group_id)) {
        d.error = error_code::invalid_group_id;
        d.state = "";
        return d;
    }
    const auto* g = find(group_id);
    if (!g) {
        d.state = state_name(group_state::dead);
        return d;
    }
    if (g->consumer) {
        return describe_as_classic(*g);
    }
    d.state = state_name(g->state);
    d.protocol_type = g->protocol_type;
    bool stable = g->state == group_state::stable;
    if (stable && g->protocol_name) {
        d.protocol = *g->protocol_name;
    }
    for (const auto& [id, m] : g->members) {
        member_description md;
        md.member_id = id;
        md.group_instance_id = m.group_instance_id;
        md.client_id = m.client_id;
        md.client_host = m.client_host;
        if (stable && g->protocol_name) {
            if (const auto* meta = m.metadata_for(*g->protocol_name)) {
                md.metadata = *meta;
            }
            md.assignment = m.assignment;
        }
        d.members.push_back(std::move(md));
    }
    return d;
}

std::vector<group_listing> coordinator::list() const {
    std::vector<group_listing> out;
    for (const auto& [id, g] : _groups) {
        if (g->state != group_state::dead) {
            out.push_back({id, g->protocol_type, g->state, g->consumer ? "consumer" : "classic",
                           g->consumer ? g->consumer->state_name() : state_name(g->state)});
        }
    }
    return out;
}

error_code coordinator::delete_group(const std::string& group_id, int64_t now_ms) {
    if (!valid_group_id(group_id)) {
        return error_code::invalid_group_id;
    }
    auto it = _groups.find(group_id);
    if (it == _groups.end() || it->second->state == group_state::dead) {
        return error_code::group_id_not_found;
    }
    auto& g = *it->second;
    if (g.state != group_state::empty || !g.pending_members.empty()) {
        return error_code::non_empty_group;
    }
    for (const auto& [key, value] : g.offsets) {
        write_offset(g, key, nullptr);
    }
    _records.push_back({partition_for(group_id, _cfg.offsets_partitions),
                        encode_group_metadata_key(group_id), std::nullopt});
    if (g.consumer) {
        write_consumer_group_removed(g);
    }
    g.transition(group_state::dead, now_ms);
    remove_group(group_id);
    return error_code::none;
}

// ------------------------------------------------------------------ loading

void coordinator::load_record(protocol::bytes_view key, std::optional<protocol::bytes_view> value) {
    auto decoded = decode_record(key, value);
    if (auto* oc = std::get_if<decoded_offset_commit>(&decoded)) {
        partition_key pk{oc->key.topic, oc->key.partition};
        if (!oc->value) {
            auto it = _groups.find(oc->key.group);
            if (it != _groups.end()) {
                it->second->offsets.erase(pk);
            }
            return;
        }
        auto& g = get_or_create(oc->key.group, -1);
        committed_offset c;
        c.offset = oc->value->offset;
        c.leader_epoch = oc->value->leader_epoch;
        c.metadata = oc->value->metadata;
        c.commit_timestamp_ms = oc->value->commit_timestamp;
        if (oc->value->expire_timestamp >= 0) {
            c.expire_timestamp_ms = oc->value->expire_timestamp;
        }
        g.offsets[pk] = std::move(c);
        return;
    }
    if (auto* cr = std::get_if<decoded_consumer_record>(&decoded)) {
        load_consumer_record(*cr);
        return;
    }
    if (auto* gm = std::get_if<decoded_group_metadata>(&decoded)) {
        if (!gm->value) {
            auto it = _groups.find(gm->key.group);
            if (it != _groups.end()) {
                // The group is gone; offsets written after its tombstone (none by Kafka) stay.
                auto offsets = std::move(it->second->offsets);
                _groups.erase(it);
                if (!offsets.empty()) {
                    get_or_create(gm->key.group, -1).offsets = std::move(offsets);
                }
            }
            return;
        }
        auto& g = get_or_create(gm->key.group, -1);
        const auto& v = *gm->value;
        g.members.clear();
        g.static_members.clear();
        g.protocol_type = v.protocol_type;
        g.generation_id = v.generation;
        g.protocol_name = v.protocol;
        g.leader_id = v.leader;
        g.current_state_timestamp_ms = v.current_state_timestamp;
        for (const auto& mm : v.members) {
            member m;
            m.member_id = mm.member_id;
            m.group_instance_id = mm.group_instance_id;
            m.client_id = mm.client_id;
            m.client_host = mm.client_host;
            m.rebalance_timeout_ms =
                mm.rebalance_timeout >= 0 ? mm.rebalance_timeout : mm.session_timeout;
            m.session_timeout_ms = mm.session_timeout;
            if (v.protocol) {
                m.protocols.push_back({*v.protocol, mm.subscription});
            }
            m.assignment = mm.assignment;
            m.join_order = g.next_join_order++;
            if (m.group_instance_id) {
                g.static_members[*m.group_instance_id] = m.member_id;
            }
            g.members.emplace(m.member_id, std::move(m));
        }
        g.state = g.members.empty() ? group_state::empty : group_state::stable;
        if (g.leader_id && !g.has(*g.leader_id)) {
            g.leader_id.reset();
        }
    }
}

void coordinator::finish_loading(int64_t now_ms) {
    for (auto& [id, g] : _groups) {
        if (g->consumer) {
            finish_loading_consumer_group(*g, now_ms);
            continue;
        }
        for (auto& [mid, m] : g->members) {
            m.heartbeat_deadline_ms = now_ms + m.session_timeout_ms;
        }
        if (g->current_state_timestamp_ms < 0) {
            g->current_state_timestamp_ms = now_ms;
        }
        if (g->state == group_state::stable && (!g->leader_id || !g->protocol_name)) {
            prepare_rebalance(*g, now_ms);
        }
    }
    _loading_topics.clear();
    _loading_topic_names.clear();
}

}  // namespace riacho::group
