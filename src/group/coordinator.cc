// The classic protocol follows Kafka's ClassicGroup/GroupMetadataManager: the same error for
// the same situation, so clients recover the way they do against Kafka.
#include "group/coordinator.h"

#include "base/invariant.h"
#include "base/log.h"
#include "group/classic_group.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace riacho::group {

namespace {

bool same_protocols(const std::vector<protocol_entry>& a, const std::vector<protocol_entry>& b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].metadata != b[i].metadata) {
            return false;
        }
    }
    return true;
}

// Protocols every member supports (in no particular order).
std::vector<std::string> common_protocols(const classic_group& g) {
    std::vector<std::string> out;
    bool first = true;
    for (const auto& [id, m] : g.members) {
        std::vector<std::string> names;
        for (const auto& p : m.protocols) {
            names.push_back(p.name);
        }
        if (first) {
            out = names;
            first = false;
            continue;
        }
        std::erase_if(out, [&](const std::string& n) {
            return std::find(names.begin(), names.end(), n) == names.end();
        });
    }
    return out;
}

bool supports_protocols(const classic_group& g,
                        const std::string& protocol_type,
                        const std::vector<protocol_entry>& protocols) {
    if (g.members.empty()) {
        return !protocol_type.empty() && !protocols.empty();
    }
    if (protocol_type != g.protocol_type) {
        return false;
    }
    auto common = common_protocols(g);
    for (const auto& p : protocols) {
        if (std::find(common.begin(), common.end(), p.name) != common.end()) {
            return true;
        }
    }
    return false;
}

// Each member votes for its most preferred protocol among those all support; most votes wins
// (ties: the oldest member's preference).
std::optional<std::string> select_protocol(const classic_group& g) {
    auto common = common_protocols(g);
    if (common.empty()) {
        return std::nullopt;
    }
    std::map<std::string, int> votes;
    const member* oldest = nullptr;
    for (const auto& [id, m] : g.members) {
        if (!oldest || m.join_order < oldest->join_order) {
            oldest = &m;
        }
        for (const auto& p : m.protocols) {
            if (std::find(common.begin(), common.end(), p.name) != common.end()) {
                ++votes[p.name];
                break;
            }
        }
    }
    std::optional<std::string> best;
    int best_votes = -1;
    for (const auto& p : oldest->protocols) {
        auto it = votes.find(p.name);
        if (it != votes.end() && it->second > best_votes) {
            best = p.name;
            best_votes = it->second;
        }
    }
    return best;
}

uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

join_result join_error(error_code e, std::string member_id = {}) {
    join_result r;
    r.error = e;
    r.member_id = std::move(member_id);
    return r;
}

sync_result sync_error(error_code e) {
    sync_result r;
    r.error = e;
    return r;
}
}  // namespace

const char* state_name(group_state s) {
    switch (s) {
        case group_state::empty:
            return "Empty";
        case group_state::preparing_rebalance:
            return "PreparingRebalance";
        case group_state::completing_rebalance:
            return "CompletingRebalance";
        case group_state::stable:
            return "Stable";
        case group_state::dead:
            return "Dead";
    }
    return "Dead";
}

std::optional<group_state> parse_state(const std::string& name) {
    std::string lower;
    for (char c : name) {
        lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
    for (auto s : {group_state::empty, group_state::preparing_rebalance,
                   group_state::completing_rebalance, group_state::stable, group_state::dead}) {
        std::string n = state_name(s);
        std::transform(n.begin(), n.end(), n.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (n == lower) {
            return s;
        }
    }
    return std::nullopt;
}

bool valid_group_id(const std::string& group_id) { return !group_id.empty(); }

coordinator::coordinator(coordinator_config cfg, uint64_t seed) : _cfg(cfg), _rng(seed) {}
coordinator::~coordinator() = default;

void coordinator::abandon(error_code error) {
    for (auto& [group_id, g] : _groups) {
        for (auto& [member_id, m] : g->members) {
            // Moved out first: a callback may resume a coroutine that touches this member.
            if (auto cb = std::exchange(m.awaiting_join, nullptr)) {
                cb(join_error(error, member_id));
            }
            if (auto cb = std::exchange(m.awaiting_sync, nullptr)) {
                cb(sync_error(error));
            }
        }
    }
}

const classic_group* coordinator::find(const std::string& group_id) const {
    auto it = _groups.find(group_id);
    return it == _groups.end() ? nullptr : it->second.get();
}

classic_group& coordinator::get_or_create(const std::string& group_id, int64_t now_ms) {
    auto& slot = _groups[group_id];
    if (!slot) {
        slot = std::make_unique<classic_group>();
        slot->group_id = group_id;
        slot->current_state_timestamp_ms = now_ms;
    }
    return *slot;
}

std::string coordinator::new_member_id(const std::string& prefix) {
    // Kafka: "<client id or instance id>-<uuid>".
    uint64_t a = splitmix(_rng);
    uint64_t b = splitmix(_rng);
    char buf[40];
    snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(a >> 32),
             static_cast<uint32_t>((a >> 16) & 0xffff), static_cast<uint32_t>(a & 0xffff),
             static_cast<uint32_t>(b >> 48),
             static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return prefix + "-" + buf;
}

// ------------------------------------------------------------------ JoinGroup

void coordinator::join(join_request req, int64_t now_ms, join_callback done) {
    if (!valid_group_id(req.group_id)) {
        return done(join_error(error_code::invalid_group_id, req.member_id));
    }
    if (req.session_timeout_ms < _cfg.min_session_timeout_ms ||
        req.session_timeout_ms > _cfg.max_session_timeout_ms) {
        return done(join_error(error_code::invalid_session_timeout, req.member_id));
    }
    if (req.group_instance_id && req.group_instance_id->empty()) {
        return done(join_error(error_code::invalid_request, req.member_id));
    }
    auto it = _groups.find(req.group_id);
    if (it == _groups.end()) {
        if (!req.member_id.empty()) {
            return done(join_error(error_code::unknown_member_id, req.member_id));
        }
    }
    auto& g = get_or_create(req.group_id, now_ms);
    if (g.state == group_state::dead) {
        return done(join_error(error_code::coordinator_not_available, req.member_id));
    }
    if (g.consumer) {
        if (!g.consumer->members.empty()) {
            // Members of the consumer protocol own it; Kafka's answer to a classic member.
            return done(join_error(error_code::inconsistent_group_protocol, req.member_id));
        }
        write_consumer_group_removed(g);
        g.consumer.reset();  // an empty consumer group becomes a classic one
        g.protocol_type.clear();
    }
    if (!supports_protocols(g, req.protocol_type, req.protocols)) {
        return done(join_error(error_code::inconsistent_group_protocol, req.member_id));
    }
    if (req.member_id.empty()) {
        join_unknown_member(g, req, now_ms, done);
    } else {
        join_known_member(g, req, now_ms, done);
    }
    if (g.members.empty() && g.pending_members.empty() && g.offsets.empty() &&
        g.state == group_state::empty && g.generation_id == 0) {
        // A join that failed left a group that never existed.
        remove_group(req.group_id);
        return;
    }
    if (g.state == group_state::preparing_rebalance) {
        maybe_complete_join(g, now_ms);
    }
}

void coordinator::join_unknown_member(classic_group& g,
                                      join_request& req,
                                      int64_t now_ms,
                                      join_callback& done) {
    if (req.group_instance_id) {
        auto known = g.static_members.find(*req.group_instance_id);
        if (known != g.static_members.end()) {
            return replace_static_member(g, req, now_ms, done);
        }
    }
    if (g.members.size() + g.pending_members.size() >= static_cast<size_t>(_cfg.max_size)) {
        return done(join_error(error_code::group_max_size_reached));
    }
    std::string member_id =
        new_member_id(req.group_instance_id ? *req.group_instance_id : req.client_id);
    if (!req.group_instance_id && req.require_known_member_id) {
        // KIP-394: hand out the id first; the member joins again with it.
        g.pending_members[member_id] = now_ms + req.session_timeout_ms;
        return done(join_error(error_code::member_id_required, member_id));
    }
    if (g.members.empty()) {
        g.protocol_type = req.protocol_type;
    }
    member m;
    m.member_id = member_id;
    m.group_instance_id = req.group_instance_id;
    m.client_id = req.client_id;
    m.client_host = req.client_host;
    m.session_timeout_ms = req.session_timeout_ms;
    m.rebalance_timeout_ms = req.rebalance_timeout_ms;
    m.protocols = std::move(req.protocols);
    m.supports_skip_assignment = req.supports_skip_assignment;
    m.awaiting_join = std::move(done);
    add_member(g, std::move(m), now_ms);
    prepare_rebalance(g, now_ms);
}

void coordinator::join_known_member(classic_group& g,
                                    join_request& req,
                                    int64_t now_ms,
                                    join_callback& done) {
    auto pending = g.pending_members.find(req.member_id);
    if (pending != g.pending_members.end()) {
        g.pending_members.erase(pending);
        if (g.members.size() >= static_cast<size_t>(_cfg.max_size)) {
            return done(join_error(error_code::group_max_size_reached, req.member_id));
        }
        if (g.members.empty()) {
            g.protocol_type = req.protocol_type;
        }
        member m;
        m.member_id = req.member_id;
        m.client_id = req.client_id;
        m.client_host = req.client_host;
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.protocols = std::move(req.protocols);
        m.supports_skip_assignment = req.supports_skip_assignment;
        m.awaiting_join = std::move(done);
        add_member(g, std::move(m), now_ms);
        prepare_rebalance(g, now_ms);
        return;
    }
    if (req.group_instance_id) {
        auto known = g.static_members.find(*req.group_instance_id);
        if (known != g.static_members.end() && known->second != req.member_id) {
            return done(join_error(error_code::fenced_instance_id, req.member_id));
        }
    }
    auto mit = g.members.find(req.member_id);
    if (mit == g.members.end()) {
        return done(join_error(error_code::unknown_member_id, req.member_id));
    }
    member& m = mit->second;
    switch (g.state) {
        case group_state::preparing_rebalance:
            return update_member_and_rebalance(g, m, req, now_ms, done);
        case group_state::completing_rebalance:
            if (same_protocols(m.protocols, req.protocols)) {
                // The member missed its JoinGroup response: send it again.
                return done(current_join_result(g, m));
            }
            return update_member_and_rebalance(g, m, req, now_ms, done);
        case group_state::stable:
            if (g.is_leader(m.member_id) || !same_protocols(m.protocols, req.protocols)) {
                return update_member_and_rebalance(g, m, req, now_ms, done);
            }
            return done(current_join_result(g, m));
        case group_state::empty:
        case group_state::dead:
            return done(join_error(error_code::unknown_member_id, req.member_id));
    }
}

void coordinator::replace_static_member(classic_group& g,
                                        join_request& req,
                                        int64_t now_ms,
                                        join_callback& done) {
    std::string old_id = g.static_members.at(*req.group_instance_id);
    auto node = g.members.extract(old_id);
    INVARIANT(!node.empty(), "static member {} maps to missing member {}", *req.group_instance_id,
              old_id);
    member m = std::move(node.mapped());
    if (m.awaiting_join) {
        auto cb = std::move(m.awaiting_join);
        m.awaiting_join = nullptr;
        cb(join_error(error_code::fenced_instance_id, old_id));
    }
    if (m.awaiting_sync) {
        auto cb = std::move(m.awaiting_sync);
        m.awaiting_sync = nullptr;
        cb(sync_error(error_code::fenced_instance_id));
    }
    std::string new_id = new_member_id(*req.group_instance_id);
    m.protocols = req.protocols;
    m.member_id = new_id;
    m.client_id = req.client_id;
    m.client_host = req.client_host;
    m.session_timeout_ms = req.session_timeout_ms;
    m.rebalance_timeout_ms = req.rebalance_timeout_ms;
    m.supports_skip_assignment = req.supports_skip_assignment;
    m.heartbeat_deadline_ms = now_ms + m.session_timeout_ms;
    g.static_members[*req.group_instance_id] = new_id;
    if (g.is_leader(old_id)) {
        g.leader_id = new_id;
    }
    auto& placed = g.members.emplace(new_id, std::move(m)).first->second;
    switch (g.state) {
        case group_state::stable:
            // Kafka rebalances only if the group would select another protocol; new metadata
            // alone (e.g. owned partitions) does not.
            if (select_protocol(g) == g.protocol_name) {
                // KIP-345: a static member comes back without a rebalance. The leader (v9+)
                // learns the members but skips the assignment (KIP-814).
                // As Kafka 4: the leader always gets the members (so an older client that
                // computes an assignment anyway sees the whole group; its SyncGroup in Stable
                // changes nothing).
                join_result r = current_join_result(g, placed);
                r.skip_assignment = g.is_leader(new_id);
                write_group_metadata(g, now_ms);
                return done(std::move(r));
            }
            return update_member_and_rebalance(g, placed, req, now_ms, done);
        case group_state::completing_rebalance:
        case group_state::preparing_rebalance:
        case group_state::empty:
        case group_state::dead:
            return update_member_and_rebalance(g, placed, req, now_ms, done);
    }
}

void coordinator::update_member_and_rebalance(
    classic_group& g, member& m, join_request& req, int64_t now_ms, join_callback& done) {
    m.protocols = std::move(req.protocols);
    m.session_timeout_ms = req.session_timeout_ms;
    m.rebalance_timeout_ms = req.rebalance_timeout_ms;
    m.supports_skip_assignment = req.supports_skip_assignment;
    if (m.awaiting_join) {
        // A second JoinGroup while the first waits: the first one is superseded.
        auto cb = std::move(m.awaiting_join);
        m.awaiting_join = nullptr;
        cb(join_error(error_code::rebalance_in_progress, m.member_id));
    }
    m.awaiting_join = std::move(done);
    if (g.state != group_state::preparing_rebalance) {
        prepare_rebalance(g, now_ms);
    }
}

join_result coordinator::current_join_result(const classic_group& g, const member& m) const {
    join_result r;
    r.generation_id = g.generation_id;
    r.protocol_type = g.protocol_type;
    r.protocol_name = g.protocol_name;
    r.leader = g.leader_id.value_or("");
    r.member_id = m.member_id;
    if (g.is_leader(m.member_id) && g.protocol_name) {
        for (const auto& [id, other] : g.members) {
            const auto* md = other.metadata_for(*g.protocol_name);
            r.members.push_back({id, other.group_instance_id, md ? *md : std::vector<uint8_t>{}});
        }
    }
    return r;
}

void coordinator::add_member(classic_group& g, member m, int64_t now_ms) {
    m.join_order = g.next_join_order++;
    m.heartbeat_deadline_ms = now_ms + m.session_timeout_ms;
    if (!g.leader_id) {
        g.leader_id = m.member_id;
    }
    if (m.group_instance_id) {
        g.static_members[*m.group_instance_id] = m.member_id;
    }
    if (g.state == group_state::preparing_rebalance && g.initial_delay) {
        g.new_member_added = true;
    }
    g.members.emplace(m.member_id, std::move(m));
}

void coordinator::remove_member(classic_group& g,
                                const std::string& member_id,
                                error_code why,
                                int64_t now_ms) {
    auto it = g.members.find(member_id);
    if (it == g.members.end()) {
        return;
    }
    member m = std::move(it->second);
    g.members.erase(it);
    if (m.group_instance_id) {
        auto s = g.static_members.find(*m.group_instance_id);
        if (s != g.static_members.end() && s->second == member_id) {
            g.static_members.erase(s);
        }
    }
    if (g.is_leader(member_id)) {
        g.leader_id.reset();
        const member* oldest = nullptr;
        for (const auto& [id, other] : g.members) {
            if (!oldest || other.join_order < oldest->join_order) {
                oldest = &other;
            }
        }
        if (oldest) {
            g.leader_id = oldest->member_id;
        }
    }
    if (m.awaiting_join) {
        m.awaiting_join(join_error(why, member_id));
    }
    if (m.awaiting_sync) {
        m.awaiting_sync(sync_error(why));
    }
    switch (g.state) {
        case group_state::stable:
        case group_state::completing_rebalance:
            prepare_rebalance(g, now_ms);
            break;
        case group_state::preparing_rebalance:
            maybe_complete_join(g, now_ms);
            break;
        case group_state::empty:
        case group_state::dead:
            break;
    }
}

void coordinator::prepare_rebalance(classic_group& g, int64_t now_ms) {
    if (g.state == group_state::completing_rebalance) {
        // Assignments of the old generation are void; waiting syncs learn of the rebalance.
        for (auto& [id, m] : g.members) {
            m.assignment.clear();
            if (m.awaiting_sync) {
                auto cb = std::move(m.awaiting_sync);
                m.awaiting_sync = nullptr;
                cb(sync_error(error_code::rebalance_in_progress));
            }
        }
    }
    g.sync_deadline_ms.reset();
    bool was_empty = g.state == group_state::empty;
    g.transition(group_state::preparing_rebalance, now_ms);
    int32_t rebalance_timeout = g.rebalance_timeout_ms();
    int32_t delay = std::min(_cfg.initial_rebalance_delay_ms, rebalance_timeout);
    // Even with group.initial.rebalance.delay.ms=0 the first join waits for the timer (as in
    // Kafka): members whose JoinGroup arrives before it fires join the same generation,
    // instead of a generation of one followed by a rebalance the others learn of only at
    // their next heartbeat (seconds).
    if (was_empty) {
        g.initial_delay = true;
        g.new_member_added = false;
        g.initial_delay_remaining_ms = std::max(0, rebalance_timeout - delay);
        g.join_deadline_ms = now_ms + delay;
    } else {
        g.initial_delay = false;
        g.join_deadline_ms = now_ms + rebalance_timeout;
    }
    maybe_complete_join(g, now_ms);
}

void coordinator::maybe_complete_join(classic_group& g, int64_t now_ms) {
    if (g.state != group_state::preparing_rebalance || g.initial_delay) {
        return;
    }
    if (g.all_members_joined()) {
        complete_join(g, now_ms);
    }
}

void coordinator::complete_join(classic_group& g, int64_t now_ms) {
    g.join_deadline_ms.reset();
    g.initial_delay = false;
    // Members that did not rejoin in time are gone (static ones too).
    std::vector<std::string> gone;
    for (const auto& [id, m] : g.members) {
        if (!m.awaiting_join) {
            gone.push_back(id);
        }
    }
    for (const auto& id : gone) {
        LOG_INFO("group",
                 "group {}: member {} removed, it did not rejoin within the rebalance timeout",
                 g.group_id, id);
        // Removing in PreparingRebalance calls maybe_complete_join: avoid recursion by erasing
        // directly (the member has no callbacks waiting).
        auto node = g.members.extract(id);
        if (node.mapped().group_instance_id) {
            g.static_members.erase(*node.mapped().group_instance_id);
        }
        if (g.is_leader(id)) {
            g.leader_id.reset();
        }
    }
    if (!g.leader_id || !g.has(*g.leader_id)) {
        g.leader_id.reset();
        const member* oldest = nullptr;
        for (const auto& [id, m] : g.members) {
            if (!oldest || m.join_order < oldest->join_order) {
                oldest = &m;
            }
        }
        if (oldest) {
            g.leader_id = oldest->member_id;
        }
    }
    g.generation_id += 1;
    if (g.members.empty()) {
        g.protocol_name.reset();
        g.leader_id.reset();
        g.transition(group_state::empty, now_ms);
        write_group_metadata(g, now_ms);
        return;
    }
    g.protocol_name = select_protocol(g);
    INVARIANT(g.protocol_name.has_value(), "group {} members share no protocol", g.group_id);
    g.transition(group_state::completing_rebalance, now_ms);
    g.sync_deadline_ms = now_ms + g.rebalance_timeout_ms();
    for (auto& [id, m] : g.members) {
        m.assignment.clear();
        m.heartbeat_deadline_ms = now_ms + m.session_timeout_ms;
        join_result r = current_join_result(g, m);
        auto cb = std::move(m.awaiting_join);
        m.awaiting_join = nullptr;
        cb(std::move(r));
    }
}

// ------------------------------------------------------------------ SyncGroup

void coordinator::sync(sync_request req, int64_t now_ms, sync_callback done) {
    if (!valid_group_id(req.group_id)) {
        return done(sync_error(error_code::invalid_group_id));
    }
    auto it = _groups.find(req.group_id);
    if (it == _groups.end()) {
        return done(sync_error(error_code::unknown_member_id));
    }
    auto& g = *it->second;
    if (g.state == group_state::dead) {
        return done(sync_error(error_code::coordinator_not_available));
    }
    if (req.group_instance_id) {
        auto known = g.static_members.find(*req.group_instance_id);
        if (known != g.static_members.end() && known->second != req.member_id) {
            return done(sync_error(error_code::fenced_instance_id));
        }
    }
    auto mit = g.members.find(req.member_id);
    if (mit == g.members.end()) {
        return done(sync_error(error_code::unknown_member_id));
    }
    if (req.generation_id != g.generation_id) {
        return done(sync_error(error_code::illegal_generation));
    }
    if ((req.protocol_type && *req.protocol_type != g.protocol_type) ||
        (req.protocol_name && g.protocol_name && *req.protocol_name != *g.protocol_name)) {
        return done(sync_error(error_code::inconsistent_group_protocol));
    }
    member& m = mit->second;
    switch (g.state) {
        case group_state::empty:
            return done(sync_error(error_code::unknown_member_id));
        case group_state::preparing_rebalance:
            return done(sync_error(error_code::rebalance_in_progress));
        case group_state::stable: {
            m.heartbeat_deadline_ms = now_ms + m.session_timeout_ms;
            sync_result r;
            r.protocol_type = g.protocol_type;
            r.protocol_name = g.protocol_name;
            r.assignment = m.assignment;
            return done(std::move(r));
        }
        case group_state::dead:
            return done(sync_error(error_code::coordinator_not_available));
        case group_state::completing_rebalance:
            break;
    }
    m.heartbeat_deadline_ms = now_ms + m.session_timeout_ms;
    if (m.awaiting_sync) {
        auto cb = std::move(m.awaiting_sync);
        m.awaiting_sync = nullptr;
        cb(sync_error(error_code::rebalance_in_progress));
    }
    m.awaiting_sync = std::move(done);
    if (!g.is_leader(req.member_id)) {
        return;
    }
    for (auto& [id, other] : g.members) {
        other.assignment.clear();
    }
    for (auto& [id, bytes] : req.assignments) {
        auto target = g.members.find(id);
        if (target != g.members.end()) {
            target->second.assignment = std::move(bytes);
        }
    }
    g.sync_deadline_ms.reset();
    g.transition(group_state::stable, now_ms);
    write_group_metadata(g, now_ms);
    for (auto& [id, other] : g.members) {
        if (other.awaiting_sync) {
            sync_result r;
            r.protocol_type = g.protocol_type;
            r.protocol_name = g.protocol_name;
            r.assignment = other.assignment;
            auto cb = std::move(other.awaiting_sync);
            other.awaiting_sync = nullptr;
            cb(std::move(r));
        }
    }
}

// ------------------------------------------------------------------ Heartbeat, LeaveGroup

error_code coordinator::heartbeat(const heartbeat_request& req, int64_t now_ms) {
    if (!valid_group_id(req.group_id)) {
        return error_code::invalid_group_id;
    }
    auto it = _groups.find(req.group_id);
    if (it == _groups.end()) {
        return error_code::unknown_member_id;
    }
    auto& g = *it->second;
    if (g.state == group_state::dead) {
        return error_code::coordinator_not_available;
    }
    if (req.group_instance_id) {
        auto known = g.static_members.find(*req.group_instance_id);
        if (known != g.static_members.end() && known->second != req.member_id) {
            return error_code::fenced_instance_id;
        }
    }
    auto mit = g.members.find(req.member_id);
    if (g.state == group_state::empty || mit == g.members.end()) {
        return error_code::unknown_member_id;
    }
    if (req.generation_id != g.generation_id) {
        return error_code::illegal_generation;
    }
    mit->second.heartbeat_deadline_ms = now_ms + mit->second.session_timeout_ms;
    if (g.state == group_state::preparing_rebalance) {
        return error_code::rebalance_in_progress;
    }
    return error_code::none;
}

leave_result coordinator::leave(const std::string& group_id,
                                const std::vector<leave_member>& members,
                                int64_t now_ms) {
    leave_result out;
    if (!valid_group_id(group_id)) {
        out.error = error_code::invalid_group_id;
        return out;
    }
    auto it = _groups.find(group_id);
    if (it == _groups.end()) {
        out.member_errors.assign(members.size(), error_code::unknown_member_id);
        return out;
    }
    auto& g = *it->second;
    if (g.state == group_state::dead) {
        out.error = error_code::coordinator_not_available;
        return out;
    }
    for (const auto& lm : members) {
        if (!lm.member_id.empty() && g.pending_members.erase(lm.member_id) != 0) {
            out.member_errors.push_back(error_code::none);
            maybe_complete_join(g, now_ms);
            continue;
        }
        std::string member_id = lm.member_id;
        if (lm.group_instance_id) {
            auto known = g.static_members.find(*lm.group_instance_id);
            if (known == g.static_members.end()) {
                out.member_errors.push_back(error_code::unknown_member_id);
                continue;
            }
            if (!member_id.empty() && known->second != member_id) {
                out.member_errors.push_back(error_code::fenced_instance_id);
                continue;
            }
            member_id = known->second;
        }
        if (!g.has(member_id)) {
            out.member_errors.push_back(error_code::unknown_member_id);
            continue;
        }
        remove_member(g, member_id, error_code::unknown_member_id, now_ms);
        out.member_errors.push_back(error_code::none);
    }
    return out;
}

// ------------------------------------------------------------------ timers

void coordinator::expire_members(classic_group& g, int64_t now_ms) {
    for (auto p = g.pending_members.begin(); p != g.pending_members.end();) {
        p = p->second <= now_ms ? g.pending_members.erase(p) : std::next(p);
    }
    std::vector<std::string> expired;
    for (const auto& [id, m] : g.members) {
        // A member whose JoinGroup or SyncGroup is parked is alive by definition.
        if (!m.awaiting_join && !m.awaiting_sync && m.heartbeat_deadline_ms <= now_ms) {
            expired.push_back(id);
        }
    }
    for (const auto& id : expired) {
        if (g.has(id)) {
            // Kafka logs the same: the first thing an operator looks for when a consumer
            // "lost its partitions".
            LOG_INFO("group",
                     "group {}: member {} removed, no heartbeat within its session timeout",
                     g.group_id, id);
            remove_member(g, id, error_code::unknown_member_id, now_ms);
        }
    }
}

void coordinator::tick(int64_t now_ms) {
    std::vector<std::string> ids;
    ids.reserve(_groups.size());
    for (const auto& [id, g] : _groups) {
        ids.push_back(id);
    }
    for (const auto& id : ids) {
        auto it = _groups.find(id);
        if (it == _groups.end()) {
            continue;
        }
        auto& g = *it->second;
        if (g.consumer) {
            expire_consumer_members(g, now_ms);
            continue;
        }
        expire_members(g, now_ms);
        if (g.state == group_state::preparing_rebalance && g.join_deadline_ms &&
            *g.join_deadline_ms <= now_ms) {
            if (g.initial_delay && g.new_member_added && g.initial_delay_remaining_ms > 0) {
                int32_t delay = std::min<int64_t>(_cfg.initial_rebalance_delay_ms,
                                                  g.initial_delay_remaining_ms);
                g.initial_delay_remaining_ms =
                    std::max<int64_t>(0, g.initial_delay_remaining_ms - delay);
                g.new_member_added = false;
                g.join_deadline_ms = now_ms + delay;
            } else {
                complete_join(g, now_ms);
            }
        }
        if (g.state == group_state::completing_rebalance && g.sync_deadline_ms &&
            *g.sync_deadline_ms <= now_ms) {
            // The leader never sent the assignment: members that did not sync are gone,
            // and the rest rebalance.
            g.sync_deadline_ms.reset();
            std::vector<std::string> silent;
            for (const auto& [mid, m] : g.members) {
                if (!m.awaiting_sync) {
                    silent.push_back(mid);
                }
            }
            for (const auto& mid : silent) {
                if (g.has(mid)) {
                    LOG_INFO("group",
                             "group {}: member {} removed, no SyncGroup before the leader's "
                             "assignment timed out",
                             g.group_id, mid);
                    remove_member(g, mid, error_code::unknown_member_id, now_ms);
                }
            }
            if (g.state == group_state::completing_rebalance) {
                prepare_rebalance(g, now_ms);
            }
        }
    }
}

std::optional<int64_t> coordinator::next_deadline() const {
    std::optional<int64_t> next;
    auto consider = [&](int64_t t) {
        if (!next || t < *next) {
            next = t;
        }
    };
    for (const auto& [id, g] : _groups) {
        if (g->consumer) {
            for (const auto& [mid, m] : g->consumer->members) {
                consider(m.session_deadline_ms);
                if (m.revocation_deadline_ms) {
                    consider(*m.revocation_deadline_ms);
                }
            }
            continue;
        }
        for (const auto& [mid, deadline] : g->pending_members) {
            consider(deadline);
        }
        for (const auto& [mid, m] : g->members) {
            if (!m.awaiting_join && !m.awaiting_sync) {
                consider(m.heartbeat_deadline_ms);
            }
        }
        if (g->state == group_state::preparing_rebalance && g->join_deadline_ms) {
            consider(*g->join_deadline_ms);
        }
        if (g->state == group_state::completing_rebalance && g->sync_deadline_ms) {
            consider(*g->sync_deadline_ms);
        }
    }
    return next;
}

std::vector<offsets_record> coordinator::take_records() {
    std::vector<offsets_record> out;
    out.swap(_records);
    return out;
}

void coordinator::remove_group(const std::string& group_id) { _groups.erase(group_id); }

}  // namespace riacho::group
