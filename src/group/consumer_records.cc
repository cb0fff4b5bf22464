// The consumer group protocol's state in __consumer_offsets, in Kafka's record formats (key
// versions 3, 5, 6, 7 and 8), so a restarted broker knows its members, their epochs and
// assignments and they carry on without a rebalance. Written when the state changes (see
// consumer_protocol.cc); read back by load_consumer_record() and finished with the current
// topics by finish_loading_consumer_group().
#include "group/classic_group.h"
#include "group/coordinator.h"

namespace riacho::group {

namespace {

std::string uuid_key(const protocol::uuid& id) {
    return std::string(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

// {topic id, partitions} entries of a generated record type from partition keys by name.
template <typename Entry>
std::vector<Entry> by_topic_id(const std::set<partition_key>& partitions,
                               const std::map<std::string, protocol::uuid>& ids) {
    std::vector<Entry> out;
    for (const auto& p : partitions) {
        auto id = ids.find(p.topic);
        if (id == ids.end()) {
            continue;  // a topic never seen in a heartbeat's metadata: deleted meanwhile
        }
        if (out.empty() || !(out.back().topic_id == id->second)) {
            out.push_back({});
            out.back().topic_id = id->second;
        }
        out.back().partitions.push_back(p.partition);
    }
    return out;
}

template <typename Entry>
std::set<partition_key> by_topic_name(const std::vector<Entry>& entries,
                                      const std::map<std::string, std::string>& names) {
    std::set<partition_key> out;
    for (const auto& e : entries) {
        auto name = names.find(uuid_key(e.topic_id));
        if (name == names.end()) {
            continue;  // deleted while the broker was down
        }
        for (int32_t p : e.partitions) {
            out.insert({name->second, p});
        }
    }
    return out;
}

}  // namespace

void coordinator::write_consumer_group_epoch(const classic_group& g) {
    protocol::msg::consumer_group_metadata_value v;
    v.epoch = g.consumer->group_epoch;
    _records.push_back({partition_for(g.group_id, _cfg.offsets_partitions),
                        encode_consumer_group_key(consumer_group_epoch_key_version, g.group_id),
                        encode_consumer_value(v)});
}

void coordinator::write_consumer_member(const classic_group& g, const consumer_member& m) {
    protocol::msg::consumer_group_member_metadata_value v;
    v.instance_id = m.instance_id;
    v.rack_id = m.rack_id;
    v.client_id = m.client_id;
    v.client_host = m.client_host;
    v.subscribed_topic_names = m.subscribed_topics;
    v.rebalance_timeout_ms = m.rebalance_timeout_ms;
    v.server_assignor = m.server_assignor;
    _records.push_back(
        {partition_for(g.group_id, _cfg.offsets_partitions),
         encode_consumer_member_key(consumer_member_metadata_key_version, g.group_id, m.member_id),
         encode_consumer_value(v)});
}

void coordinator::write_consumer_target(const classic_group& g) {
    const auto& cg = *g.consumer;
    int32_t partition = partition_for(g.group_id, _cfg.offsets_partitions);
    for (const auto& [member_id, target] : cg.target) {
        protocol::msg::consumer_group_target_assignment_member_value v;
        v.topic_partitions =
            by_topic_id<decltype(v.topic_partitions)::value_type>(target, _topic_ids);
        _records.push_back(
            {partition,
             encode_consumer_member_key(consumer_target_member_key_version, g.group_id, member_id),
             encode_consumer_value(v)});
    }
    protocol::msg::consumer_group_target_assignment_metadata_value v;
    v.assignment_epoch = cg.assignment_epoch;
    _records.push_back({partition,
                        encode_consumer_group_key(consumer_target_epoch_key_version, g.group_id),
                        encode_consumer_value(v)});
}

void coordinator::write_consumer_assignment(const classic_group& g, const consumer_member& m) {
    using value_type = protocol::msg::consumer_group_current_member_assignment_value;
    value_type v;
    v.member_epoch = m.member_epoch;
    v.previous_member_epoch = m.previous_member_epoch;
    v.state = m.pending_revocation.empty() ? 0 : 1;  // Kafka: 0 stable, 1 unrevoked partitions
    v.assigned_partitions =
        by_topic_id<value_type::member_topic_partitions>(m.assigned, _topic_ids);
    v.partitions_pending_revocation =
        by_topic_id<value_type::member_topic_partitions>(m.pending_revocation, _topic_ids);
    _records.push_back({partition_for(g.group_id, _cfg.offsets_partitions),
                        encode_consumer_member_key(consumer_member_assignment_key_version,
                                                   g.group_id, m.member_id),
                        encode_consumer_value(v)});
}

void coordinator::write_consumer_member_removed(const classic_group& g,
                                                const std::string& member_id) {
    int32_t partition = partition_for(g.group_id, _cfg.offsets_partitions);
    for (int16_t key_version :
         {consumer_member_assignment_key_version, consumer_target_member_key_version,
          consumer_member_metadata_key_version}) {
        _records.push_back({partition,
                            encode_consumer_member_key(key_version, g.group_id, member_id),
                            std::nullopt});
    }
}

namespace {
// The classic consumer protocol's embedded formats (version 0): ConsumerProtocolSubscription
// {topics []string, user_data bytes} and ConsumerProtocolAssignment {[]{topic, []int32},
// user_data bytes}, each after an int16 version; strings int16-length, arrays int32-count.
std::vector<uint8_t> classic_subscription(const std::vector<std::string>& topics) {
    protocol::writer w;
    w.buffer().reserve(64);  // also keeps GCC 12's -O3 -Warray-bounds false positive away
    w.write_int16(0);
    w.write_int32(static_cast<int32_t>(topics.size()));
    for (const auto& t : topics) {
        w.write_string(t, false);
    }
    w.write_int32(-1);  // no user data
    return std::move(w.buffer());
}

std::vector<uint8_t> classic_assignment(const std::set<partition_key>& partitions) {
    std::map<std::string, std::vector<int32_t>> by_topic;
    for (const auto& p : partitions) {
        by_topic[p.topic].push_back(p.partition);
    }
    protocol::writer w;
    w.buffer().reserve(64);  // as above
    w.write_int16(0);
    w.write_int32(static_cast<int32_t>(by_topic.size()));
    for (const auto& [topic, ps] : by_topic) {
        w.write_string(topic, false);
        w.write_int32(static_cast<int32_t>(ps.size()));
        for (int32_t p : ps) {
            w.write_int32(p);
        }
    }
    w.write_int32(-1);  // no user data
    return std::move(w.buffer());
}
}  // namespace

group_description coordinator::describe_as_classic(const classic_group& g) const {
    const auto& cg = *g.consumer;
    group_description d;
    d.group_id = g.group_id;
    d.state = cg.state_name();
    d.protocol_type = "consumer";
    d.protocol = cg.assignor;
    for (const auto& [id, m] : cg.members) {
        member_description md;
        md.member_id = id;
        md.group_instance_id = m.instance_id;
        md.client_id = m.client_id;
        md.client_host = m.client_host;
        md.metadata = classic_subscription(m.subscribed_topics);
        md.assignment = classic_assignment(m.assigned);
        d.members.push_back(std::move(md));
    }
    return d;
}

void coordinator::set_loading_topics(topic_catalog topics) {
    _loading_topics = std::move(topics);
    _loading_topic_names.clear();
    for (const auto& [name, meta] : _loading_topics) {
        _loading_topic_names[uuid_key(meta.topic_id)] = name;
        _topic_ids[name] = meta.topic_id;
    }
}

void coordinator::write_consumer_group_removed(const classic_group& g) {
    int32_t partition = partition_for(g.group_id, _cfg.offsets_partitions);
    for (int16_t key_version :
         {consumer_target_epoch_key_version, consumer_group_epoch_key_version}) {
        _records.push_back(
            {partition, encode_consumer_group_key(key_version, g.group_id), std::nullopt});
    }
}

void coordinator::load_consumer_record(const decoded_consumer_record& r) {
    auto& g = get_or_create(r.group, -1);
    if (!g.consumer) {
        g.consumer.emplace();
        g.protocol_type = "consumer";
    }
    auto& cg = *g.consumer;
    const auto& names = _loading_topic_names;
    switch (r.key_version) {
        case consumer_group_epoch_key_version:
            cg.group_epoch = r.tombstone ? 0 : r.group_epoch.epoch;
            break;
        case consumer_target_epoch_key_version:
            cg.assignment_epoch = r.tombstone ? 0 : r.target_epoch.assignment_epoch;
            break;
        case consumer_member_metadata_key_version: {
            if (r.tombstone) {
                cg.members.erase(r.member);
                break;
            }
            auto& m = cg.members[r.member];
            const auto& v = r.member_metadata;
            m.member_id = r.member;
            m.instance_id = v.instance_id;
            m.rack_id = v.rack_id;
            m.client_id = v.client_id;
            m.client_host = v.client_host;
            m.subscribed_topics = v.subscribed_topic_names;
            if (v.rebalance_timeout_ms >= 0) {
                m.rebalance_timeout_ms = v.rebalance_timeout_ms;
            }
            m.server_assignor = v.server_assignor;
            break;
        }
        case consumer_target_member_key_version:
            if (r.tombstone) {
                cg.target.erase(r.member);
            } else {
                cg.target[r.member] = by_topic_name(r.target.topic_partitions, names);
            }
            break;
        default: {  // the member's current assignment
            auto it = cg.members.find(r.member);
            if (r.tombstone || it == cg.members.end()) {
                break;
            }
            auto& m = it->second;
            m.member_epoch = r.assignment.member_epoch;
            m.previous_member_epoch = r.assignment.previous_member_epoch;
            m.assigned = by_topic_name(r.assignment.assigned_partitions, names);
            m.pending_revocation = by_topic_name(r.assignment.partitions_pending_revocation, names);
            break;
        }
    }
}

void coordinator::finish_loading_consumer_group(classic_group& g, int64_t now_ms) {
    auto& cg = *g.consumer;
    for (auto it = cg.target.begin(); it != cg.target.end();) {
        it = cg.members.count(it->first) == 0 ? cg.target.erase(it) : std::next(it);
    }
    // Members must heartbeat again within their session; revocations restart their clock.
    for (auto& [id, m] : cg.members) {
        m.session_deadline_ms = now_ms + _cfg.consumer_session_timeout_ms;
        if (!m.pending_revocation.empty()) {
            m.revocation_deadline_ms = now_ms + m.rebalance_timeout_ms;
        }
        for (const auto& t : m.subscribed_topics) {
            auto meta = _loading_topics.find(t);
            if (meta != _loading_topics.end() && meta->second.partitions > 0) {
                cg.subscribed_partitions[t] = meta->second.partitions;
            }
        }
    }
    if (cg.members.empty()) {
        g.transition(group_state::empty, now_ms);
    } else {
        g.transition(group_state::stable, now_ms);
    }
}

}  // namespace riacho::group
