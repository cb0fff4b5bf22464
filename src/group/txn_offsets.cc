// Transactional offset commits (TxnOffsetCommit) in the coordinator: the storage path that
// transactions use. Offsets are validated like OffsetCommit's, kept pending per producer, and
// written to __consumer_offsets in the producer's transactional batch; the transaction's
// COMMIT marker makes them the group's committed offsets, ABORT drops them. Loading replays
// the same: transactional records are pending until their marker.
#include "group/classic_group.h"
#include "group/coordinator.h"

namespace riacho::group {

commit_result coordinator::txn_commit(const txn_commit_request& req, int64_t now_ms) {
    const commit_request& c = req.commit;
    commit_result out;
    auto fail = [&](error_code e) {
        out.error = e;
        out.partition_errors.assign(c.partitions.size(), e);
        return out;
    };
    if (!valid_group_id(c.group_id)) {
        return fail(error_code::invalid_group_id);
    }
    if (req.producer_id < 0 || req.producer_epoch < 0) {
        return fail(error_code::invalid_producer_epoch);
    }
    auto& g = get_or_create(c.group_id, now_ms);
    if (g.state == group_state::dead) {
        return fail(error_code::coordinator_not_available);
    }
    if (auto e = check_committer(g, c, now_ms); e != error_code::none) {
        return fail(e);
    }
    for (const auto& p : c.partitions) {
        const std::string metadata = p.metadata.value_or("");
        if (metadata.size() > static_cast<size_t>(_cfg.offset_metadata_max_bytes)) {
            out.partition_errors.push_back(error_code::offset_metadata_too_large);
            continue;
        }
        committed_offset value;
        value.offset = p.offset;
        value.leader_epoch = p.leader_epoch;
        value.metadata = metadata;
        value.commit_timestamp_ms = now_ms;
        g.pending_txn_offsets[req.producer_id][p.key] = value;
        write_offset(g, p.key, &value);
        _records.back().producer_id = req.producer_id;
        _records.back().producer_epoch = req.producer_epoch;
        out.partition_errors.push_back(error_code::none);
    }
    return out;
}

void coordinator::complete_txn(int64_t producer_id, bool commit) {
    for (auto& [id, g] : _groups) {
        auto pending = g->pending_txn_offsets.find(producer_id);
        if (pending == g->pending_txn_offsets.end()) {
            continue;
        }
        if (commit) {
            for (auto& [key, value] : pending->second) {
                g->offsets[key] = std::move(value);
            }
        }
        g->pending_txn_offsets.erase(pending);
    }
}

bool coordinator::has_pending_txn_offset(const std::string& group_id,
                                         const partition_key& key) const {
    const auto* g = find(group_id);
    if (g == nullptr) {
        return false;
    }
    for (const auto& [producer, offsets] : g->pending_txn_offsets) {
        if (offsets.count(key) != 0) {
            return true;
        }
    }
    return false;
}

void coordinator::load_txn_record(int64_t producer_id,
                                  protocol::bytes_view key,
                                  std::optional<protocol::bytes_view> value) {
    auto decoded = decode_record(key, value);
    auto* oc = std::get_if<decoded_offset_commit>(&decoded);
    if (oc == nullptr || !oc->value) {
        return;  // only offset commits are transactional
    }
    committed_offset c;
    c.offset = oc->value->offset;
    c.leader_epoch = oc->value->leader_epoch;
    c.metadata = oc->value->metadata;
    c.commit_timestamp_ms = oc->value->commit_timestamp;
    auto& g = get_or_create(oc->key.group, -1);
    g.pending_txn_offsets[producer_id][{oc->key.topic, oc->key.partition}] = std::move(c);
}

}  // namespace riacho::group
