// group (internal): one classic group's state as the coordinator keeps it: members, static
// member ids, pending (MEMBER_ID_REQUIRED) members, the rebalance timers and the committed
// offsets. Owned by the coordinator (same thread); no logic beyond small queries.
#pragma once

#include "group/consumer_group.h"
#include "group/coordinator.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace riacho::group {

struct member {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    std::string client_id;
    std::string client_host;
    int32_t session_timeout_ms = 0;
    int32_t rebalance_timeout_ms = 0;
    std::vector<protocol_entry> protocols;
    std::vector<uint8_t> assignment;
    uint64_t join_order = 0;  // insertion order: the oldest member becomes leader
    int64_t heartbeat_deadline_ms = 0;
    bool supports_skip_assignment = false;
    coordinator::join_callback awaiting_join;  // set while a JoinGroup waits
    coordinator::sync_callback awaiting_sync;  // set while a SyncGroup waits

    const std::vector<uint8_t>* metadata_for(const std::string& protocol) const {
        for (const auto& p : protocols) {
            if (p.name == protocol) {
                return &p.metadata;
            }
        }
        return nullptr;
    }
};

// A group and its committed offsets. The members, states and timers below are the classic
// protocol's; a group of the consumer protocol (KIP-848) has `consumer` set instead (its state
// here is Empty or Stable, so the offset rules of both apply alike).
struct classic_group {
    std::string group_id;
    std::optional<consumer_group_state> consumer;
    group_state state = group_state::empty;
    int32_t generation_id = 0;
    std::string protocol_type;                 // set by the first member; "" for simple groups
    std::optional<std::string> protocol_name;  // selected at the end of a join phase
    std::optional<std::string> leader_id;
    std::map<std::string, member> members;
    std::map<std::string, std::string> static_members;  // group.instance.id -> member id
    std::map<std::string, int64_t> pending_members;     // member id -> join deadline
    std::map<partition_key, committed_offset> offsets;
    // Transactional offsets by producer id, until the transaction commits or aborts.
    std::map<int64_t, std::map<partition_key, committed_offset>> pending_txn_offsets;
    int64_t current_state_timestamp_ms = -1;
    uint64_t next_join_order = 0;

    // The join phase: a deadline while PreparingRebalance; the initial delay extends itself
    // while new members keep arriving, up to the rebalance timeout.
    std::optional<int64_t> join_deadline_ms;
    bool initial_delay = false;
    bool new_member_added = false;
    int64_t initial_delay_remaining_ms = 0;
    // CompletingRebalance: members must SyncGroup before this deadline.
    std::optional<int64_t> sync_deadline_ms;

    bool has(const std::string& member_id) const { return members.count(member_id) != 0; }
    bool is_leader(const std::string& member_id) const {
        return leader_id && *leader_id == member_id;
    }
    int32_t rebalance_timeout_ms() const {
        int32_t t = 0;
        for (const auto& [id, m] : members) {
            t = std::max(t, m.rebalance_timeout_ms);
        }
        return t;
    }
    bool all_members_joined() const {
        if (!pending_members.empty()) {
            return false;
        }
        for (const auto& [id, m] : members) {
            if (!m.awaiting_join) {
                return false;
            }
        }
        return true;
    }
    void transition(group_state s, int64_t now_ms) {
        state = s;
        current_state_timestamp_ms = now_ms;
    }
};

}  // namespace riacho::group
