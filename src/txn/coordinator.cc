#include "txn/coordinator.h"

#include "group/records.h"
#include "protocol/messages/transaction_log_key.h"
#include "protocol/messages/transaction_log_value.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace riacho::txn {

namespace {

constexpr std::array state_names = {"Empty",        "Ongoing",          "PrepareCommit",
                                    "PrepareAbort", "CompleteCommit",   "CompleteAbort",
                                    "Dead",         "PrepareEpochFence"};

bool is_prepare(txn_state s) {
    return s == txn_state::prepare_commit || s == txn_state::prepare_abort ||
           s == txn_state::prepare_epoch_fence;
}

std::vector<uint8_t> encode_key(const std::string& transactional_id) {
    protocol::writer w;
    w.write_int16(0);
    protocol::msg::transaction_log_key k;
    k.transactional_id = transactional_id;
    k.encode(w, 0);
    return std::move(w.buffer());
}

std::vector<uint8_t> encode_value(const txn_metadata& m) {
    protocol::msg::transaction_log_value v;
    v.producer_id = m.producer_id;
    v.producer_epoch = m.producer_epoch;
    v.transaction_timeout_ms = m.timeout_ms;
    // PrepareEpochFence is never stored: Kafka writes it as PrepareAbort.
    v.transaction_status = static_cast<int8_t>(
        m.state == txn_state::prepare_epoch_fence ? txn_state::prepare_abort : m.state);
    v.transaction_partitions.emplace();
    for (const auto& tp : m.partitions) {
        if (v.transaction_partitions->empty() ||
            v.transaction_partitions->back().topic != tp.topic) {
            v.transaction_partitions->push_back({tp.topic, {}});
        }
        v.transaction_partitions->back().partition_ids.push_back(tp.partition);
    }
    v.transaction_last_update_timestamp_ms = m.last_update_ms;
    v.transaction_start_timestamp_ms = m.start_ms;
    v.next_producer_id = m.next_producer_id;
    v.client_transaction_version = m.version2 ? 2 : 0;
    // Kafka writes v1 (flexible, tagged fields) once the transaction.version feature is >= 1,
    // which the broker always finalizes (riacho.transaction.version is 1 or 2); checked
    // against Kafka 4.1's bytes for a version 1 client (tag 2 left at its default, 0).
    int16_t version = 1;
    protocol::writer w;
    w.write_int16(version);
    v.encode(w, version);
    return std::move(w.buffer());
}

}  // namespace

const char* state_name(txn_state s) {
    auto i = static_cast<size_t>(s);
    return i < state_names.size() ? state_names[i] : "Unknown";
}

std::optional<txn_state> parse_state(const std::string& name) {
    for (size_t i = 0; i < state_names.size(); ++i) {
        std::string n = state_names[i];
        if (n.size() == name.size() &&
            std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) ==
                       std::tolower(static_cast<unsigned char>(b));
            })) {
            return static_cast<txn_state>(i);
        }
    }
    return std::nullopt;
}

coordinator::coordinator(coordinator_config cfg, std::function<int64_t()> allocate_producer_id)
    : _cfg(cfg), _allocate_producer_id(std::move(allocate_producer_id)) {}

int32_t coordinator::partition_for(const std::string& transactional_id) const {
    return group::partition_for(transactional_id, _cfg.state_partitions);
}

const txn_metadata* coordinator::find(const std::string& transactional_id) const {
    auto it = _txns.find(transactional_id);
    return it == _txns.end() ? nullptr : &it->second;
}

void coordinator::persist(const txn_metadata& m) {
    _records.push_back(
        {partition_for(m.transactional_id), encode_key(m.transactional_id), encode_value(m)});
}

std::vector<state_record> coordinator::take_records() {
    std::vector<state_record> out;
    out.swap(_records);
    return out;
}

marker_job coordinator::job_of(const txn_metadata& m, bool commit) const {
    return {m.transactional_id, m.producer_id, m.producer_epoch, commit,
            std::vector<topic_partition>(m.partitions.begin(), m.partitions.end())};
}

bool coordinator::bump_epoch(txn_metadata& m) {
    if (m.producer_epoch >= INT16_MAX - 1) {
        // Epochs ran out: a new producer id starts again at epoch 0.
        int64_t id = _allocate_producer_id();
        if (id < 0) {
            return false;
        }
        _by_producer_id.erase(m.producer_id);
        m.producer_id = id;
        m.producer_epoch = 0;
        _by_producer_id[id] = m.transactional_id;
        return true;
    }
    ++m.producer_epoch;
    return true;
}

error_code coordinator::validate(const txn_metadata* m,
                                 int64_t producer_id,
                                 int16_t producer_epoch) const {
    if (m == nullptr || m->producer_id != producer_id) {
        return error_code::invalid_producer_id_mapping;
    }
    if (producer_epoch < m->producer_epoch) {
        return error_code::producer_fenced;
    }
    if (producer_epoch > m->producer_epoch) {
        return error_code::invalid_producer_epoch;
    }
    return error_code::none;
}

init_result coordinator::init_producer_id(const std::string& transactional_id,
                                          int32_t timeout_ms,
                                          int64_t producer_id,
                                          int16_t producer_epoch,
                                          int64_t now_ms) {
    init_result out;
    if (transactional_id.empty()) {
        out.error = error_code::invalid_request;
        return out;
    }
    if (timeout_ms <= 0 || timeout_ms > _cfg.max_timeout_ms) {
        out.error = error_code::invalid_transaction_timeout;
        return out;
    }
    auto it = _txns.find(transactional_id);
    if (it == _txns.end() || it->second.state == txn_state::dead) {
        int64_t id = _allocate_producer_id();
        if (id < 0) {
            out.error = error_code::coordinator_not_available;
            return out;
        }
        txn_metadata m;
        m.transactional_id = transactional_id;
        m.producer_id = id;
        m.producer_epoch = 0;
        m.timeout_ms = timeout_ms;
        m.last_update_ms = now_ms;
        it = _txns.insert_or_assign(transactional_id, std::move(m)).first;
        _by_producer_id[id] = transactional_id;
        persist(it->second);
        out.producer_id = id;
        out.producer_epoch = 0;
        return out;
    }
    txn_metadata& m = it->second;
    if (producer_id >= 0) {
        // KIP-360: a producer re-initialising after an error names its current id and epoch;
        // it may also name the epoch a timeout abort fenced.
        bool current = producer_id == m.producer_id &&
                       (producer_epoch == m.producer_epoch ||
                        (m.last_producer_epoch >= 0 && producer_epoch == m.last_producer_epoch));
        if (!current) {
            out.error = producer_id == m.producer_id && producer_epoch < m.producer_epoch
                            ? error_code::producer_fenced
                            : error_code::invalid_producer_id_mapping;
            return out;
        }
    }
    if (is_prepare(m.state)) {
        out.error = error_code::concurrent_transactions;
        return out;
    }
    if (m.state == txn_state::ongoing) {
        // Fence the previous incarnation and abort what it left open; the caller writes the
        // markers and asks again.
        m.last_producer_epoch = m.producer_epoch;
        if (!bump_epoch(m)) {
            out.error = error_code::coordinator_not_available;
            return out;
        }
        out.abort_first = prepare(m, false, now_ms);
        out.error = error_code::concurrent_transactions;
        return out;
    }
    if (!bump_epoch(m)) {
        out.error = error_code::coordinator_not_available;
        return out;
    }
    m.last_producer_epoch = -1;
    m.timeout_ms = timeout_ms;
    m.state = txn_state::empty;
    m.partitions.clear();
    m.start_ms = -1;
    m.last_update_ms = now_ms;
    persist(m);
    out.producer_id = m.producer_id;
    out.producer_epoch = m.producer_epoch;
    return out;
}

add_partitions_result coordinator::add_partitions(
    const std::string& transactional_id,
    int64_t producer_id,
    int16_t producer_epoch,
    const std::vector<topic_partition>& partitions,
    const std::function<bool(const topic_partition&)>& known,
    bool verify_only,
    int64_t now_ms) {
    add_partitions_result out;
    auto it = _txns.find(transactional_id);
    txn_metadata* m = it == _txns.end() ? nullptr : &it->second;
    out.error = validate(m, producer_id, producer_epoch);
    if (out.error == error_code::none && is_prepare(m->state)) {
        out.error = error_code::concurrent_transactions;
    }
    if (out.error != error_code::none) {
        return out;
    }
    if (verify_only) {
        for (const auto& tp : partitions) {
            bool in = m->state == txn_state::ongoing && m->partitions.count(tp) > 0;
            out.partition_errors[tp] = in ? error_code::none : error_code::invalid_txn_state;
        }
        return out;
    }
    bool any_unknown = false;
    for (const auto& tp : partitions) {
        if (!known(tp)) {
            any_unknown = true;
            out.partition_errors[tp] = error_code::unknown_topic_or_partition;
        }
    }
    if (any_unknown) {
        // Nothing is added when one partition cannot be (Kafka answers the rest with
        // OPERATION_NOT_ATTEMPTED).
        for (const auto& tp : partitions) {
            out.partition_errors.try_emplace(tp, error_code::operation_not_attempted);
        }
        return out;
    }
    bool changed = m->state != txn_state::ongoing;
    if (m->state != txn_state::ongoing) {
        m->partitions.clear();
        m->state = txn_state::ongoing;
        m->start_ms = now_ms;
    }
    for (const auto& tp : partitions) {
        changed = m->partitions.insert(tp).second || changed;
        out.partition_errors[tp] = error_code::none;
    }
    if (changed) {
        m->last_update_ms = now_ms;
        persist(*m);
    }
    return out;
}

error_code coordinator::add_offsets(const std::string& transactional_id,
                                    int64_t producer_id,
                                    int16_t producer_epoch,
                                    const std::string& group_id,
                                    int64_t now_ms) {
    topic_partition tp{group::offsets_topic,
                       group::partition_for(group_id, _cfg.offsets_partitions)};
    auto r = add_partitions(
        transactional_id, producer_id, producer_epoch, {tp},
        [](const topic_partition&) { return true; }, false, now_ms);
    return r.error;
}

marker_job coordinator::prepare(txn_metadata& m, bool commit, int64_t now_ms) {
    m.state = commit ? txn_state::prepare_commit : txn_state::prepare_abort;
    m.last_update_ms = now_ms;
    persist(m);
    return job_of(m, commit);
}

end_result coordinator::end_txn(const std::string& transactional_id,
                                int64_t producer_id,
                                int16_t producer_epoch,
                                bool commit,
                                bool version2,
                                int64_t now_ms) {
    end_result out;
    auto it = _txns.find(transactional_id);
    txn_metadata* m = it == _txns.end() ? nullptr : &it->second;
    if (version2 && m != nullptr && m->last_producer_epoch >= 0 &&
        producer_epoch == m->last_producer_epoch && m->state != txn_state::ongoing &&
        m->producer_id == producer_id) {
        // Version 2 moves the epoch on at every end, so an EndTxn naming the previous epoch is
        // a retry of the one that ended the transaction (or one a timeout abort overtook):
        // the same outcome is answered as done, the other is an invalid state (as Kafka).
        // Version 1 clients are simply fenced (below).
        bool same_outcome = (commit && m->state == txn_state::complete_commit) ||
                            (!commit && m->state == txn_state::complete_abort);
        out.error = same_outcome           ? error_code::none
                    : is_prepare(m->state) ? error_code::concurrent_transactions
                                           : error_code::invalid_txn_state;
        return out;
    }
    out.error = validate(m, producer_id, producer_epoch);
    if (out.error != error_code::none) {
        return out;
    }
    switch (m->state) {
        case txn_state::ongoing:
            if (version2) {
                // Every transaction ends under a new epoch: markers fence the old one.
                m->version2 = true;
                m->last_producer_epoch = m->producer_epoch;
                ++m->producer_epoch;
                if (m->producer_epoch >= INT16_MAX - 1) {
                    int64_t next = _allocate_producer_id();
                    if (next < 0) {
                        --m->producer_epoch;
                        m->last_producer_epoch = -1;
                        out.error = error_code::coordinator_not_available;
                        return out;
                    }
                    m->next_producer_id = next;
                }
            }
            out.markers = prepare(*m, commit, now_ms);
            return out;
        case txn_state::complete_commit:
            out.error = commit ? error_code::none : error_code::invalid_txn_state;
            return out;
        case txn_state::complete_abort:
            out.error = commit ? error_code::invalid_txn_state : error_code::none;
            return out;
        case txn_state::prepare_commit:
            out.error =
                commit ? error_code::concurrent_transactions : error_code::invalid_txn_state;
            return out;
        case txn_state::prepare_abort:
        case txn_state::prepare_epoch_fence:
            out.error =
                commit ? error_code::invalid_txn_state : error_code::concurrent_transactions;
            return out;
        case txn_state::empty:
        case txn_state::dead:
            out.error = error_code::invalid_txn_state;
            return out;
    }
    return out;
}

void coordinator::unload_partition(int32_t partition) {
    for (auto it = _txns.begin(); it != _txns.end();) {
        if (partition_for(it->first) != partition) {
            ++it;
            continue;
        }
        _by_producer_id.erase(it->second.producer_id);
        it = _txns.erase(it);
    }
    std::erase_if(_records, [&](const state_record& r) { return r.partition == partition; });
}

void coordinator::markers_written(const marker_job& job, int64_t now_ms) {
    auto it = _txns.find(job.transactional_id);
    if (it == _txns.end()) {
        return;
    }
    txn_metadata& m = it->second;
    txn_state expected = job.commit ? txn_state::prepare_commit : txn_state::prepare_abort;
    if (m.producer_id != job.producer_id || m.producer_epoch != job.producer_epoch ||
        (m.state != expected && !(m.state == txn_state::prepare_epoch_fence && !job.commit))) {
        return;  // a stale job (e.g. replayed after a later transition): nothing to complete
    }
    m.state = job.commit ? txn_state::complete_commit : txn_state::complete_abort;
    m.partitions.clear();
    m.last_update_ms = now_ms;  // the start time stays: DescribeTransactions shows it, as Kafka
    if (m.next_producer_id >= 0) {
        // Version 2 ran out of epochs: the next transaction uses a new producer id.
        _by_producer_id.erase(m.producer_id);
        m.producer_id = m.next_producer_id;
        m.producer_epoch = 0;
        m.next_producer_id = -1;
        _by_producer_id[m.producer_id] = m.transactional_id;
    }
    persist(m);
}

error_code coordinator::check_produce(int64_t producer_id,
                                      int16_t producer_epoch,
                                      const topic_partition& tp) const {
    auto id = _by_producer_id.find(producer_id);
    if (id == _by_producer_id.end()) {
        return error_code::invalid_txn_state;
    }
    const txn_metadata& m = _txns.at(id->second);
    if (producer_epoch < m.producer_epoch) {
        return error_code::invalid_producer_epoch;
    }
    if (producer_epoch != m.producer_epoch || m.state != txn_state::ongoing ||
        m.partitions.count(tp) == 0) {
        return error_code::invalid_txn_state;
    }
    return error_code::none;
}

error_code coordinator::check_offset_commit(const std::string& transactional_id,
                                            int64_t producer_id,
                                            int16_t producer_epoch,
                                            const std::string& group_id) const {
    const txn_metadata* m = find(transactional_id);
    auto e = validate(m, producer_id, producer_epoch);
    if (e != error_code::none) {
        return e;
    }
    topic_partition tp{group::offsets_topic,
                       group::partition_for(group_id, _cfg.offsets_partitions)};
    if (m->state != txn_state::ongoing || m->partitions.count(tp) == 0) {
        return error_code::invalid_txn_state;
    }
    return error_code::none;
}

std::vector<marker_job> coordinator::tick(int64_t now_ms) {
    std::vector<marker_job> out;
    for (auto& [id, m] : _txns) {
        if (m.state != txn_state::ongoing || m.start_ms < 0 ||
            now_ms - m.start_ms <= int64_t{m.timeout_ms}) {
            continue;
        }
        // Fence the producer (its next request fails) and abort under the new epoch.
        int16_t previous = m.producer_epoch;
        if (!bump_epoch(m)) {
            continue;
        }
        m.last_producer_epoch = previous;
        out.push_back(prepare(m, false, now_ms));
    }
    return out;
}

std::vector<marker_job> coordinator::pending_markers() const {
    std::vector<marker_job> out;
    for (const auto& [id, m] : _txns) {
        if (m.state == txn_state::prepare_commit || m.state == txn_state::prepare_abort) {
            out.push_back(job_of(m, m.state == txn_state::prepare_commit));
        }
    }
    return out;
}

void coordinator::load_record(protocol::bytes_view key, std::optional<protocol::bytes_view> value) {
    protocol::reader kr(key);
    if (kr.read_int16() != 0) {
        return;  // not a TransactionLogKey
    }
    protocol::msg::transaction_log_key k;
    k.decode(kr, 0);
    if (!kr.ok()) {
        return;
    }
    if (!value) {
        if (auto it = _txns.find(k.transactional_id); it != _txns.end()) {
            _by_producer_id.erase(it->second.producer_id);
            _txns.erase(it);
        }
        return;
    }
    protocol::reader vr(*value);
    int16_t version = vr.read_int16();
    if (!vr.ok() || version < 0 || version > 1) {
        return;
    }
    protocol::msg::transaction_log_value v;
    v.decode(vr, version);
    if (!vr.ok() || v.transaction_status < 0 ||
        v.transaction_status > static_cast<int8_t>(txn_state::prepare_epoch_fence)) {
        return;
    }
    txn_metadata m;
    m.transactional_id = k.transactional_id;
    m.producer_id = v.producer_id;
    m.producer_epoch = v.producer_epoch;
    m.timeout_ms = v.transaction_timeout_ms;
    m.state = static_cast<txn_state>(v.transaction_status);
    if (v.transaction_partitions) {
        for (const auto& t : *v.transaction_partitions) {
            for (int32_t p : t.partition_ids) {
                m.partitions.insert({t.topic, p});
            }
        }
    }
    m.last_update_ms = v.transaction_last_update_timestamp_ms;
    m.start_ms = v.transaction_start_timestamp_ms;
    m.version2 = v.client_transaction_version >= 2;
    m.next_producer_id = v.next_producer_id;
    if (auto old = _txns.find(m.transactional_id); old != _txns.end()) {
        _by_producer_id.erase(old->second.producer_id);
    }
    _by_producer_id[m.producer_id] = m.transactional_id;
    _txns.insert_or_assign(m.transactional_id, std::move(m));
}

}  // namespace riacho::txn
