// The consumer group protocol of KIP-848 in the coordinator: members heartbeat; the
// coordinator keeps the target assignment and moves each member towards it without a
// stop-the-world rebalance.
//
// - Every membership, subscription or (subscribed) metadata change bumps the group epoch; the
//   next heartbeat computes a new target assignment with the group's assignor (assignors.h)
//   and sets the assignment epoch to the group epoch.
// - A member whose epoch is behind reconciles: partitions it owns but the target gives to
//   someone else are revoked first (it keeps its epoch until a heartbeat shows it no longer
//   owns them, within its rebalance timeout, or it is fenced); then it gets the target
//   partitions nobody else holds and the assignment epoch. Target partitions still held by
//   others follow in later heartbeats once released. So no partition is ever held by two
//   members.
// - A member silent for group.consumer.session.timeout.ms leaves; so does one that does not
//   revoke within its rebalance timeout.
//
// The state is written to __consumer_offsets as it changes (consumer_records.cc), so after a
// broker restart members carry on with their epochs and assignments.
#include "group/assignors.h"
#include "group/classic_group.h"
#include "group/coordinator.h"

#include <algorithm>

namespace riacho::group {

namespace {

std::vector<partition_key> as_vector(const std::set<partition_key>& s) {
    return {s.begin(), s.end()};
}

consumer_heartbeat_result error_result(error_code e, std::string message) {
    consumer_heartbeat_result r;
    r.error = e;
    r.message = std::move(message);
    return r;
}

}  // namespace

error_code coordinator::check_consumer_commit(const consumer_group_state& cg,
                                              const commit_request& req) const {
    if (req.member_id.empty() && req.generation_id < 0) {
        // An admin client or a consumer without the group: only while nobody consumes.
        return cg.members.empty() ? error_code::none : error_code::unknown_member_id;
    }
    auto it = cg.members.find(req.member_id);
    if (it == cg.members.end()) {
        return error_code::unknown_member_id;
    }
    if (req.generation_id != it->second.member_epoch) {
        return req.generation_id < it->second.member_epoch ? error_code::stale_member_epoch
                                                           : error_code::fenced_member_epoch;
    }
    return error_code::none;
}

void coordinator::remove_consumer_member(classic_group& g,
                                         const std::string& member_id,
                                         int64_t now_ms) {
    auto& cg = *g.consumer;
    if (cg.members.erase(member_id) == 0) {
        return;
    }
    cg.target.erase(member_id);
    cg.group_epoch += 1;
    write_consumer_member_removed(g, member_id);
    write_consumer_group_epoch(g);
    if (cg.members.empty()) {
        g.transition(group_state::empty, now_ms);
    }
}

void coordinator::expire_consumer_members(classic_group& g, int64_t now_ms) {
    std::vector<std::string> gone;
    for (const auto& [id, m] : g.consumer->members) {
        bool silent = m.session_deadline_ms <= now_ms;
        bool stuck = m.revocation_deadline_ms && *m.revocation_deadline_ms <= now_ms;
        if (silent || stuck) {
            gone.push_back(id);
        }
    }
    for (const auto& id : gone) {
        remove_consumer_member(g, id, now_ms);
    }
}

void coordinator::compute_target(consumer_group_state& cg) {
    std::map<std::string, assignor_member> input;
    for (const auto& [id, m] : cg.members) {
        auto previous = cg.target.find(id);
        input[id] = {m.subscribed_topics,
                     previous == cg.target.end() ? std::set<partition_key>{} : previous->second};
    }
    cg.target = cg.assignor == "range" ? assign_range(input, cg.subscribed_partitions)
                                       : assign_uniform(input, cg.subscribed_partitions);
    cg.assignment_epoch = cg.group_epoch;
}

void coordinator::reconcile(consumer_group_state& cg, consumer_member& m, int64_t now_ms) {
    const auto& target = cg.target[m.member_id];
    // 1. Revoke what the target gives to others; the member keeps its epoch meanwhile.
    std::set<partition_key> revoke;
    for (const auto& p : m.assigned) {
        if (target.count(p) == 0) {
            revoke.insert(p);
        }
    }
    if (!revoke.empty()) {
        for (const auto& p : revoke) {
            m.assigned.erase(p);
            m.pending_revocation.insert(p);
        }
        m.revocation_deadline_ms = now_ms + m.rebalance_timeout_ms;
    }
    if (!m.pending_revocation.empty()) {
        return;
    }
    m.revocation_deadline_ms.reset();
    // 2. Take the target partitions no other member holds (or is still giving up).
    for (const auto& p : target) {
        if (m.assigned.count(p) != 0) {
            continue;
        }
        bool held = false;
        for (const auto& [id, other] : cg.members) {
            if (id != m.member_id &&
                (other.assigned.count(p) != 0 || other.pending_revocation.count(p) != 0)) {
                held = true;
                break;
            }
        }
        if (!held) {
            m.assigned.insert(p);
        }
    }
    if (m.member_epoch != cg.assignment_epoch) {
        m.previous_member_epoch = m.member_epoch;
        m.member_epoch = cg.assignment_epoch;
    }
}

consumer_heartbeat_result coordinator::consumer_heartbeat(const consumer_heartbeat_request& req,
                                                          const topic_lookup& topics,
                                                          int64_t now_ms) {
    if (!valid_group_id(req.group_id)) {
        return error_result(error_code::invalid_group_id, "The group id must not be empty");
    }
    if (req.member_epoch < -2) {
        return error_result(error_code::invalid_request,
                            "MemberEpoch must be 0 (join), -1 or -2 (leave), or the epoch");
    }
    if (req.member_epoch == 0) {
        if (!req.subscribed_topic_names && !req.subscribed_topic_regex) {
            return error_result(error_code::invalid_request,
                                "SubscribedTopicNames or SubscribedTopicRegex must be set to join");
        }
        if (req.rebalance_timeout_ms == -1) {
            return error_result(error_code::invalid_request,
                                "RebalanceTimeoutMs must be set to join");
        }
    } else if (req.member_id.empty()) {
        return error_result(error_code::unknown_member_id, "MemberId must be set");
    }
    if (req.subscribed_topic_regex && !req.subscribed_topic_regex->empty()) {
        return error_result(error_code::invalid_request,
                            "Regular expression subscriptions are not supported yet; "
                            "subscribe to topic names");
    }
    if (req.server_assignor && *req.server_assignor != "uniform" &&
        *req.server_assignor != "range") {
        return error_result(error_code::unsupported_assignor,
                            "Unknown server assignor " + *req.server_assignor +
                                "; this broker has uniform and range");
    }

    auto existing = _groups.find(req.group_id);
    if (req.member_epoch != 0 && (existing == _groups.end() || !existing->second->consumer)) {
        return error_result(error_code::unknown_member_id,
                            "Member " + req.member_id + " is not in group " + req.group_id);
    }
    if (req.member_epoch == 0 && existing != _groups.end() && !existing->second->consumer) {
        auto& classic = *existing->second;
        if (classic.state != group_state::empty || !classic.pending_members.empty()) {
            return error_result(error_code::group_id_not_found,
                                "Group " + req.group_id + " is a classic group in use");
        }
    }
    auto& g = get_or_create(req.group_id, now_ms);
    if (g.state == group_state::dead) {
        return error_result(error_code::coordinator_not_available, "The group is being removed");
    }
    if (!g.consumer) {
        g.consumer.emplace();  // a new group, or an empty classic one (offsets are kept)
        g.protocol_type = "consumer";
    }
    auto& cg = *g.consumer;

    if (req.member_epoch < 0) {
        auto leaving = cg.members.find(req.member_id);
        if (leaving == cg.members.end()) {
            return error_result(error_code::unknown_member_id,
                                "Member " + req.member_id + " is not in group " + req.group_id);
        }
        // -2: a static member stepping away to come back (a restart). It keeps its place and
        // partitions until its session times out; its next incarnation takes them over.
        bool static_pause = req.member_epoch == -2 && leaving->second.instance_id.has_value();
        if (!static_pause) {
            remove_consumer_member(g, req.member_id, now_ms);
        }
        consumer_heartbeat_result left;
        left.member_id = req.member_id;
        left.member_epoch = req.member_epoch;
        left.heartbeat_interval_ms = _cfg.consumer_heartbeat_interval_ms;
        return left;
    }

    consumer_member* m = nullptr;
    bool bump = false;            // one new group epoch for whatever this heartbeat changed
    bool member_changed = false;  // its metadata record must be rewritten
    if (req.member_epoch == 0) {
        std::string id = req.member_id.empty() ? new_member_id(req.client_id) : req.member_id;
        if (req.instance_id) {
            // A static member coming back takes its previous incarnation's place: the same
            // epoch and partitions, and no new group epoch for the others.
            auto previous = std::find_if(cg.members.begin(), cg.members.end(), [&](const auto& e) {
                return e.first != id && e.second.instance_id == req.instance_id;
            });
            auto wanted = req.subscribed_topic_names.value_or(std::vector<std::string>{});
            std::sort(wanted.begin(), wanted.end());
            wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
            if (previous != cg.members.end() && previous->second.subscribed_topics != wanted) {
                // Back with another subscription: a new member, and a rebalance.
                remove_consumer_member(g, previous->first, now_ms);
                previous = cg.members.end();
            }
            if (previous != cg.members.end()) {
                consumer_member heir = previous->second;
                std::string old_id = previous->first;
                heir.member_id = id;
                heir.client_id = req.client_id;
                heir.client_host = req.client_host;
                if (req.rebalance_timeout_ms >= 0) {
                    heir.rebalance_timeout_ms = req.rebalance_timeout_ms;
                }
                heir.session_deadline_ms = now_ms + _cfg.consumer_session_timeout_ms;
                if (auto t = cg.target.find(old_id); t != cg.target.end()) {
                    cg.target[id] = t->second;
                    cg.target.erase(t);
                }
                cg.members.erase(previous);
                write_consumer_member_removed(g, old_id);
                auto& placed = cg.members[id] = std::move(heir);
                write_consumer_member(g, placed);
                write_consumer_assignment(g, placed);
                if (cg.target.count(id) != 0) {
                    write_consumer_target(g);
                }
                consumer_heartbeat_result back;
                back.member_id = id;
                back.member_epoch = placed.member_epoch;
                back.heartbeat_interval_ms = _cfg.consumer_heartbeat_interval_ms;
                back.assignment = as_vector(placed.assigned);
                return back;
            }
        }
        if (cg.members.count(id) == 0 &&
            cg.members.size() >= static_cast<size_t>(_cfg.consumer_max_size)) {
            return error_result(error_code::group_max_size_reached,
                                "The group has reached its maximum size");
        }
        auto& fresh = cg.members[id];
        fresh = consumer_member{};  // a rejoin after being fenced starts over
        fresh.member_id = id;
        cg.target.erase(id);
        bump = true;
        member_changed = true;
        m = &fresh;
    } else {
        auto it = cg.members.find(req.member_id);
        if (it == cg.members.end()) {
            return error_result(error_code::unknown_member_id,
                                "Member " + req.member_id + " is not in group " + req.group_id);
        }
        m = &it->second;
        if (req.member_epoch != m->member_epoch && req.member_epoch != m->previous_member_epoch) {
            return error_result(error_code::fenced_member_epoch,
                                "The member epoch " + std::to_string(req.member_epoch) +
                                    " is not the current one " + std::to_string(m->member_epoch));
        }
    }

    // Fields that changed (or, on a join, all of them).
    const consumer_member before = *m;
    m->client_id = req.client_id;
    m->client_host = req.client_host;
    if (req.instance_id) m->instance_id = req.instance_id;
    if (req.rack_id) m->rack_id = req.rack_id;
    if (req.rebalance_timeout_ms >= 0) m->rebalance_timeout_ms = req.rebalance_timeout_ms;
    if (req.server_assignor) {
        member_changed = member_changed || m->server_assignor != req.server_assignor;
        m->server_assignor = req.server_assignor;
        if (cg.assignor != *req.server_assignor) {
            cg.assignor = *req.server_assignor;
            bump = true;
        }
    }
    if (req.subscribed_topic_names) {
        auto topics_sorted = *req.subscribed_topic_names;
        std::sort(topics_sorted.begin(), topics_sorted.end());
        topics_sorted.erase(std::unique(topics_sorted.begin(), topics_sorted.end()),
                            topics_sorted.end());
        if (topics_sorted != m->subscribed_topics) {
            m->subscribed_topics = std::move(topics_sorted);
            bump = true;
            member_changed = true;
        }
    }
    member_changed = member_changed || m->instance_id != before.instance_id ||
                     m->rack_id != before.rack_id || m->client_id != before.client_id ||
                     m->client_host != before.client_host ||
                     m->rebalance_timeout_ms != before.rebalance_timeout_ms;
    if (req.owned) {
        std::set<partition_key> owned(req.owned->begin(), req.owned->end());
        for (auto it = m->pending_revocation.begin(); it != m->pending_revocation.end();) {
            it = owned.count(*it) == 0 ? m->pending_revocation.erase(it) : std::next(it);
        }
    }
    m->session_deadline_ms = now_ms + _cfg.consumer_session_timeout_ms;
    if (g.state != group_state::stable) {
        g.transition(group_state::stable, now_ms);
    }

    // The subscribed topics' sizes: a change (a topic created, deleted or grown) re-assigns.
    std::map<std::string, int32_t> sizes;
    for (const auto& [id, member] : cg.members) {
        for (const auto& t : member.subscribed_topics) {
            auto meta = topics(t);
            if (meta && meta->partitions > 0) {
                sizes[t] = meta->partitions;
                _topic_ids[t] = meta->topic_id;  // records name topics by id
            }
        }
    }
    if (sizes != cg.subscribed_partitions) {
        cg.subscribed_partitions = std::move(sizes);
        bump = true;
    }
    if (bump) {
        cg.group_epoch += 1;
        write_consumer_group_epoch(g);
    }
    if (member_changed) {
        write_consumer_member(g, *m);
    }
    if (cg.group_epoch > cg.assignment_epoch) {
        compute_target(cg);
        write_consumer_target(g);
    }
    reconcile(cg, *m, now_ms);
    if (m->member_epoch != before.member_epoch || m->assigned != before.assigned ||
        m->pending_revocation != before.pending_revocation) {
        write_consumer_assignment(g, *m);
    }

    consumer_heartbeat_result out;
    out.member_id = m->member_id;
    out.member_epoch = m->member_epoch;
    out.heartbeat_interval_ms = _cfg.consumer_heartbeat_interval_ms;
    out.assignment = as_vector(m->assigned);
    return out;
}

consumer_heartbeat_result coordinator::consumer_heartbeat(const consumer_heartbeat_request& req,
                                                          const topic_catalog& topics,
                                                          int64_t now_ms) {
    return consumer_heartbeat(
        req,
        [&](const std::string& name) -> std::optional<topic_metadata> {
            auto it = topics.find(name);
            return it == topics.end() ? std::nullopt : std::optional<topic_metadata>(it->second);
        },
        now_ms);
}

consumer_group_description coordinator::describe_consumer_group(const std::string& group_id) const {
    consumer_group_description d;
    d.group_id = group_id;
    if (!valid_group_id(group_id)) {
        d.error = error_code::invalid_group_id;
        d.message = "The group id must not be empty";
        return d;
    }
    const auto* g = find(group_id);
    if (g == nullptr || g->state == group_state::dead || !g->consumer) {
        d.error = error_code::group_id_not_found;
        d.message = g == nullptr || g->state == group_state::dead
                        ? "Group " + group_id + " not found."
                        : "Group " + group_id + " is not a consumer group.";
        return d;
    }
    const auto& cg = *g->consumer;
    d.state = cg.state_name();
    d.group_epoch = cg.group_epoch;
    d.assignment_epoch = cg.assignment_epoch;
    d.assignor = cg.assignor;
    for (const auto& [id, m] : cg.members) {
        consumer_member_description md;
        md.member_id = id;
        md.instance_id = m.instance_id;
        md.rack_id = m.rack_id;
        md.member_epoch = m.member_epoch;
        md.client_id = m.client_id;
        md.client_host = m.client_host;
        md.subscribed_topic_names = m.subscribed_topics;
        md.assignment = as_vector(m.assigned);
        auto t = cg.target.find(id);
        if (t != cg.target.end()) {
            md.target_assignment = as_vector(t->second);
        }
        d.members.push_back(std::move(md));
    }
    return d;
}

}  // namespace riacho::group
