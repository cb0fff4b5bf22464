#include "storage/partition_log.h"

#include "base/invariant.h"
#include "base/log.h"
#include "protocol/control_record.h"
#include "storage/checkpoint.h"
#include "storage/file_io.h"

#include <algorithm>
#include <system_error>

namespace riacho::storage {

partition_log::partition_log(std::filesystem::path dir, log_config cfg)
    : _dir(std::move(dir)), _cfg(cfg) {}

partition_log::~partition_log() = default;  // without close(): the next open recovers

result<std::unique_ptr<partition_log>, storage_errc> partition_log::open(std::filesystem::path dir,
                                                                         log_config cfg) {
    INVARIANT(cfg.is_valid(), "invalid log config for {}", dir.string());
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        LOG_ERROR("storage", "create {} failed: {}", dir.string(), ec.message());
        return unexpected{storage_errc::io_error};
    }
    std::unique_ptr<partition_log> log(new partition_log(dir, cfg));
    bool fresh = std::filesystem::is_empty(dir, ec);
    auto clean_marker = read_offset_checkpoint(dir / clean_shutdown_file);
    auto start_ckpt = read_offset_checkpoint(dir / log_start_offset_file);
    auto recovery_ckpt = read_offset_checkpoint(dir / recovery_point_file);
    // The marker goes before anything else can change, so a crash from here on is detected.
    // (No marker, nothing to make durable: skipping that fsync matters with 10,000 logs.)
    if (clean_marker) {
        std::filesystem::remove(dir / clean_shutdown_file, ec);
        sync_dir(dir);
    }

    std::optional<kafka_offset> recover_from;
    if (!clean_marker) {
        recover_from = recovery_ckpt.value_or(kafka_offset(std::numeric_limits<int64_t>::max()));
    }
    auto segments = load_segments(dir, cfg, recover_from);
    if (!segments) {
        return unexpected{segments.error()};
    }
    log->_segments = std::move(segments).value();
    if (clean_marker && !log->_segments.empty() && log->active().next_offset() != *clean_marker) {
        LOG_WARN("storage", "{}: log end {} differs from the clean-shutdown marker {}, recovering",
                 dir.string(), log->active().next_offset().value(), clean_marker->value());
        log->_segments.clear();
        auto again = load_segments(dir, cfg, recovery_ckpt.value_or(kafka_offset(0)));
        if (!again) {
            return unexpected{again.error()};
        }
        log->_segments = std::move(again).value();
        clean_marker.reset();
    }
    for (const auto& [base, seg] : log->_segments) {
        log->_recovered_truncated_bytes += seg->truncated_bytes();
    }

    kafka_offset start = start_ckpt.value_or(kafka_offset(0));
    if (log->_segments.empty()) {
        auto st = log->reset_to(start);
        if (!st) {
            return unexpected{st.error()};
        }
    }
    log->_log_end_offset = log->active().next_offset();
    log->_log_start_offset = std::max(start, log->_segments.begin()->first);
    if (log->_log_start_offset > log->_log_end_offset) {
        // The data up to the checkpointed log start was lost in a crash: start empty there.
        LOG_WARN("storage", "{}: log start {} beyond log end {}, restarting the log", dir.string(),
                 log->_log_start_offset.value(), log->_log_end_offset.value());
        auto st = log->reset_to(log->_log_start_offset);
        if (!st) {
            return unexpected{st.error()};
        }
    }
    auto ps = log->reload_producer_state();
    if (!ps) {
        return unexpected{ps.error()};
    }
    // After a crash the recovered tail may still be only in the page cache: the recovery point
    // stays where it was (the next crash validates that tail again) instead of an fdatasync and
    // a checkpoint write per log, which made a restart with 10,000 partitions take seconds.
    log->_recovery_point = clean_marker ? log->_log_end_offset
                                        : std::min(recovery_ckpt.value_or(log->_log_start_offset),
                                                   log->_log_end_offset);
    if (recovery_ckpt != log->_recovery_point) {
        auto rp = write_offset_checkpoint(dir / recovery_point_file, log->_recovery_point);
        if (!rp) {
            return unexpected{rp.error()};
        }
    }
    LOG_INFO("storage", "{}: opened ({}), {} segments, log start {}, log end {}", dir.string(),
             fresh          ? "new"
             : clean_marker ? "clean"
                            : "recovered",
             log->_segments.size(), log->_log_start_offset.value(), log->_log_end_offset.value());
    return log;
}

status partition_log::reload_producer_state() {
    auto ps = rebuild_producer_state(_dir, _segments, _log_end_offset);
    if (!ps) {
        return unexpected{ps.error()};
    }
    _producers = std::move(ps->state);
    auto st = _aborted.open(_dir, _log_start_offset, ps->replayed_from);
    for (size_t i = 0; st && i < ps->aborted.size(); ++i) {
        st = _aborted.append(ps->aborted[i]);
    }
    if (st) {
        _aborted.sync();
    }
    return st;
}

status partition_log::reset_to(kafka_offset offset) {
    for (auto& [base, seg] : _segments) {
        auto st = seg->remove_files();
        if (!st) {
            return st;
        }
    }
    _segments.clear();
    producer_state::remove_snapshots_above(_dir, kafka_offset(-1));
    _producers.clear();
    auto aborted = _aborted.open(_dir, offset, offset);  // drops every entry
    if (!aborted) {
        return aborted;
    }
    auto seg = segment::create(_dir, offset, _cfg);
    if (!seg) {
        return unexpected{seg.error()};
    }
    _segments.emplace(offset, std::move(seg).value());
    sync_dir(_dir);
    _log_start_offset = offset;
    _log_end_offset = offset;
    _recovery_point = offset;
    return write_offset_checkpoint(_dir / log_start_offset_file, offset);
}

result<protocol::batch_header, storage_errc> partition_log::checked_header(
    std::span<uint8_t> batch) const {
    INVARIANT(!_closed, "append to closed log {}", _dir.string());
    INVARIANT(batch.size() >= protocol::batch_header_size, "batch of {} bytes", batch.size());
    protocol::batch_header h = decode_batch_header(batch.data());
    INVARIANT(h.total_size_bytes() == batch.size(), "append REQUIRES one validated batch");
    if (h.last_offset_delta < 0) {
        return unexpected{storage_errc::invalid_batch};  // validation lets empty batches through
    }
    if (batch.size() > _cfg.segment_bytes) {
        return unexpected{storage_errc::batch_too_large};
    }
    return h;
}

result<append_result, storage_errc> partition_log::append(std::span<uint8_t> batch,
                                                          leader_epoch epoch,
                                                          int64_t now_ms) {
    auto h = checked_header(batch);
    if (!h) {
        return unexpected{h.error()};
    }
    auto check = _producers.check(*h);
    if (!check) {
        return unexpected{check.error()};
    }
    if (*check) {
        const producer_batch& dup = **check;
        return append_result{dup.first_offset, dup.last_offset, -1, _log_start_offset, true};
    }
    return write_batch(batch, *h, epoch, now_ms);
}

result<append_result, storage_errc> partition_log::append_replica(std::span<uint8_t> batch,
                                                                  int64_t now_ms) {
    auto h = checked_header(batch);
    if (!h) {
        return unexpected{h.error()};
    }
    if (h->base_offset != _log_end_offset.value()) {
        return unexpected{storage_errc::invalid_batch};
    }
    return write_batch(batch, *h, std::nullopt, now_ms);
}

result<append_result, storage_errc> partition_log::write_batch(std::span<uint8_t> batch,
                                                               protocol::batch_header h,
                                                               std::optional<leader_epoch> epoch,
                                                               int64_t now_ms) {
    std::optional<protocol::txn_marker> marker;
    if (h.is_control() && h.is_transactional()) {
        marker = protocol::parse_txn_marker(batch);
    }

    kafka_offset base = _log_end_offset;
    kafka_offset last = base + h.last_offset_delta;
    if (active().should_roll(batch.size(), last, now_ms)) {
        auto st = roll(now_ms);
        if (!st) {
            return unexpected{st.error()};
        }
    }
    int64_t append_time_ms = -1;
    if (epoch) {  // a leader's append stamps the batch; a replica's keeps the leader's stamps
        protocol::set_base_offset(batch, base.value());
        protocol::set_partition_leader_epoch(batch, epoch->value());
        h.base_offset = base.value();
        h.partition_leader_epoch = epoch->value();
        if (_cfg.message_timestamp_type == timestamp_type::log_append_time) {
            protocol::set_log_append_time(batch, now_ms);
            h.attributes =
                static_cast<int16_t>(h.attributes | protocol::batch_attributes::log_append_time);
            h.max_timestamp = now_ms;
            append_time_ms = now_ms;
        }
    }
    auto st = active().append(batch, h, now_ms);
    if (!st) {
        return unexpected{st.error()};
    }
    if (marker) {
        auto done = _producers.end_txn(h, marker->coordinator_epoch);
        if (done && !marker->commit) {
            // The marker is in the log but its index entry is not (full disk): report the
            // failure; the next open's replay re-adds the entry (it is past the snapshot).
            auto indexed = _aborted.append(*done);
            if (!indexed) {
                return unexpected{indexed.error()};
            }
        }
    } else {
        _producers.update(h);
    }
    _log_end_offset = last + 1;

    _unflushed_records += std::max(h.records_count, 1);
    if (!_last_flush_ms) {
        _last_flush_ms = now_ms;
    }
    if (_unflushed_records >= _cfg.flush_messages || now_ms - *_last_flush_ms >= _cfg.flush_ms) {
        flush();
        _last_flush_ms = now_ms;
    }
    return append_result{base, last, append_time_ms, _log_start_offset, false};
}

status partition_log::roll(int64_t now_ms) {
    (void)now_ms;
    active().on_roll();  // final time index entry + fsync of the old segment
    _aborted.sync();     // entries below the snapshot are not replayed at open
    auto snap = _producers.write_snapshot(_dir, _log_end_offset);
    if (!snap) {
        return snap;
    }
    producer_state::retain_snapshots(_dir, _cfg.producer_snapshots_retained);
    auto seg = segment::create(_dir, _log_end_offset, _cfg);
    if (!seg) {
        return unexpected{seg.error()};
    }
    _segments.emplace(_log_end_offset, std::move(seg).value());
    sync_dir(_dir);
    _recovery_point = _log_end_offset;
    _unflushed_records = 0;
    LOG_DEBUG("storage", "{}: rolled new segment at {}", _dir.string(), _log_end_offset.value());
    return write_offset_checkpoint(_dir / recovery_point_file, _recovery_point);
}

result<read_slice, storage_errc> partition_log::read(kafka_offset from,
                                                     size_t max_bytes,
                                                     bool min_one_batch,
                                                     std::optional<kafka_offset> max_offset) const {
    INVARIANT(!_closed, "read from closed log {}", _dir.string());
    if (from < _log_start_offset || from > _log_end_offset) {
        return unexpected{storage_errc::offset_out_of_range};
    }
    kafka_offset limit = std::min(max_offset.value_or(_log_end_offset), _log_end_offset);
    read_slice empty;
    empty.first_offset = from;
    empty.next_offset = from;
    if (from >= limit) {
        return empty;
    }
    auto it = _segments.upper_bound(from);
    INVARIANT(it != _segments.begin(), "no segment holds offset {}", from.value());
    for (--it; it != _segments.end(); ++it) {
        auto r = it->second->read(from, limit, max_bytes, min_one_batch);
        if (!r) {
            return r;
        }
        if (r->size_bytes > 0 || (!it->second->empty() && it->second->next_offset() > from)) {
            // Either data, or the next batch here did not fit: do not skip to a later segment.
            // (A segment compaction emptied holds nothing: the next one may.)
            if (r->size_bytes == 0) {
                return empty;
            }
            return r;
        }
    }
    return empty;
}

result<std::optional<timestamp_and_offset>, storage_errc> partition_log::exact_record(
    const segment& seg, const batch_location& loc, int64_t ts, bool equal) const {
    kafka_offset first = std::max(kafka_offset(loc.header.base_offset), _log_start_offset);
    timestamp_and_offset fallback{loc.header.max_timestamp, first};
    if (loc.header.is_log_append_time()) {
        return std::optional<timestamp_and_offset>{fallback};
    }
    auto bytes = seg.read_batch_bytes(loc);
    if (!bytes) {
        return unexpected{bytes.error()};
    }
    std::vector<uint8_t> scratch;
    auto records = protocol::decode_records(*bytes, scratch);
    if (!records) {
        return std::optional<timestamp_and_offset>{fallback};
    }
    for (const auto& r : *records) {
        if (r.offset >= first.value() && (equal ? r.timestamp == ts : r.timestamp >= ts)) {
            return std::optional<timestamp_and_offset>{
                timestamp_and_offset{r.timestamp, kafka_offset(r.offset)}};
        }
    }
    return std::optional<timestamp_and_offset>{fallback};
}

result<std::optional<timestamp_and_offset>, storage_errc> partition_log::offset_for_timestamp(
    int64_t ts) const {
    for (const auto& [base, seg] : _segments) {
        if (seg->max_timestamp() < ts || seg->next_offset() <= _log_start_offset) {
            continue;
        }
        auto loc = seg->find_batch_by_timestamp(ts, _log_start_offset);
        if (!loc) {
            return unexpected{loc.error()};
        }
        if (*loc) {
            return exact_record(*seg, **loc, ts, false);
        }
    }
    return std::optional<timestamp_and_offset>{};
}

result<std::optional<timestamp_and_offset>, storage_errc> partition_log::max_timestamp_offset()
    const {
    const segment* best = nullptr;
    for (const auto& [base, seg] : _segments) {
        if (seg->next_offset() > _log_start_offset && seg->max_timestamp() >= 0 &&
            (best == nullptr || seg->max_timestamp() > best->max_timestamp())) {
            best = seg.get();
        }
    }
    if (best == nullptr) {
        return std::optional<timestamp_and_offset>{};
    }
    auto loc = best->find_batch(std::max(best->offset_of_max_timestamp(), _log_start_offset));
    if (!loc) {
        return unexpected{loc.error()};
    }
    if (!*loc) {
        return std::optional<timestamp_and_offset>{};
    }
    return exact_record(*best, **loc, best->max_timestamp(), true);
}

void partition_log::flush() {
    INVARIANT(!_closed, "flush of closed log {}", _dir.string());
    active().flush();
    _aborted.sync();
    INVARIANT(_recovery_point <= _log_end_offset, "recovery point past log end");
    _recovery_point = _log_end_offset;
    _unflushed_records = 0;
}

partition_log::flush_ticket partition_log::prepare_flush() {
    INVARIANT(!_closed, "flush of closed log {}", _dir.string());
    return {active().log_file(), active().log_path(), _log_end_offset};
}

void partition_log::flushed(const flush_ticket& ticket) {
    if (_closed) {
        return;
    }
    // Only a ticket of this log counts (not one of a log deleted and made again meanwhile).
    bool ours = std::any_of(_segments.rbegin(), _segments.rend(), [&](const auto& entry) {
        return entry.second->log_file() == ticket.file;
    });
    if (!ours) {
        return;
    }
    // Aborted-transaction entries are rare and small: synced here, on the owning thread.
    _aborted.sync();
    kafka_offset end = std::min(ticket.end, _log_end_offset);
    if (end > _recovery_point) {
        _recovery_point = end;
    }
    if (end == _log_end_offset) {
        _unflushed_records = 0;
    }
}

status partition_log::truncate_fully_and_start_at(kafka_offset offset) {
    INVARIANT(!_closed, "truncate of closed log {}", _dir.string());
    return reset_to(offset);
}

status partition_log::truncate_to(kafka_offset offset) {
    INVARIANT(!_closed, "truncate of closed log {}", _dir.string());
    if (offset >= _log_end_offset) {
        return ok_status();
    }
    if (offset < _log_start_offset) {
        return reset_to(offset);
    }
    while (_segments.size() > 1 && _segments.rbegin()->first > offset) {
        auto st = active().remove_files();
        if (!st) {
            return st;
        }
        _segments.erase(std::prev(_segments.end()));
    }
    auto st = active().truncate_to(offset);
    if (!st) {
        return st;
    }
    _log_end_offset = active().next_offset();
    _recovery_point = std::min(_recovery_point, _log_end_offset);
    if (_log_start_offset > _log_end_offset) {
        // The batch holding the log start was cut: the log is now empty at its end.
        _log_start_offset = _log_end_offset;
        auto ck = write_offset_checkpoint(_dir / log_start_offset_file, _log_start_offset);
        if (!ck) {
            return ck;
        }
    }
    auto rp = write_offset_checkpoint(_dir / recovery_point_file, _recovery_point);
    if (!rp) {
        return rp;
    }
    return reload_producer_state();
}

status partition_log::advance_log_start_offset(kafka_offset offset) {
    INVARIANT(!_closed, "advance_log_start_offset on closed log {}", _dir.string());
    INVARIANT(offset <= _log_end_offset, "log start {} past log end {}", offset.value(),
              _log_end_offset.value());
    if (offset <= _log_start_offset) {
        return ok_status();
    }
    _log_start_offset = offset;
    auto ck = write_offset_checkpoint(_dir / log_start_offset_file, offset);
    if (!ck) {
        return ck;
    }
    while (_segments.size() > 1 && std::next(_segments.begin())->first <= offset) {
        auto st = _segments.begin()->second->remove_files();
        if (!st) {
            return st;
        }
        _segments.erase(_segments.begin());
    }
    return _aborted.prune_below(_log_start_offset);
}

result<size_t, storage_errc> partition_log::delete_old_segments(int64_t now_ms) {
    INVARIANT(!_closed, "retention on closed log {}", _dir.string());
    uint64_t total = size_bytes();
    size_t deleted = 0;
    while (_segments.size() > 1) {
        const segment& oldest = *_segments.begin()->second;
        bool by_time = _cfg.retention_ms >= 0 && oldest.max_timestamp() >= 0 &&
                       now_ms - oldest.max_timestamp() > _cfg.retention_ms;
        bool by_size = _cfg.retention_bytes >= 0 &&
                       total - oldest.size_bytes() >= uint64_t(_cfg.retention_bytes);
        // A segment compaction emptied has no timestamp; it must not hold retention up.
        if (!by_time && !by_size && !oldest.empty()) {
            break;
        }
        total -= oldest.size_bytes();
        auto st = _segments.begin()->second->remove_files();
        if (!st) {
            return unexpected{st.error()};
        }
        _segments.erase(_segments.begin());
        ++deleted;
    }
    if (deleted > 0 && _segments.begin()->first > _log_start_offset) {
        _log_start_offset = _segments.begin()->first;
        auto ck = write_offset_checkpoint(_dir / log_start_offset_file, _log_start_offset);
        if (!ck) {
            return unexpected{ck.error()};
        }
        auto pruned = _aborted.prune_below(_log_start_offset);
        if (!pruned) {
            return unexpected{pruned.error()};
        }
    }
    return deleted;
}

status partition_log::close() {
    INVARIANT(!_closed, "double close of {}", _dir.string());
    active().on_roll();  // final time index entry and fsync, as on a roll
    _aborted.close();
    _recovery_point = _log_end_offset;
    auto snap = _producers.write_snapshot(_dir, _log_end_offset);
    if (!snap) {
        return snap;
    }
    producer_state::retain_snapshots(_dir, _cfg.producer_snapshots_retained);
    for (auto [file, value] : {std::pair{recovery_point_file, _recovery_point},
                               std::pair{log_start_offset_file, _log_start_offset},
                               std::pair{clean_shutdown_file, _log_end_offset}}) {
        auto st = write_offset_checkpoint(_dir / file, value);
        if (!st) {
            return st;
        }
    }
    _closed = true;
    _segments.clear();
    return ok_status();
}

status partition_log::remove() {
    _closed = true;
    _segments.clear();
    std::error_code ec;
    std::filesystem::remove_all(_dir, ec);
    if (ec) {
        LOG_ERROR("storage", "removing {} failed: {}", _dir.string(), ec.message());
        return unexpected{storage_errc::io_error};
    }
    return ok_status();
}

uint64_t partition_log::size_bytes() const {
    uint64_t total = 0;
    for (const auto& [base, seg] : _segments) {
        total += seg->size_bytes();
    }
    return total;
}

}  // namespace riacho::storage
