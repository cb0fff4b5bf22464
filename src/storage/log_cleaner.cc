// partition_log::compact: the log cleaner for cleanup.policy=compact, as in Kafka.
//
// 1. The cleanable range is every segment before the active one, cut at the first segment
//    holding a record younger than min.compaction.lag.ms or at or past the last stable
//    offset (an open transaction's records may still be aborted).
// 2. It runs when the dirty part (segments at or after _first_dirty_offset) is at least
//    min.cleanable.dirty.ratio of the range, or its oldest record is past
//    max.compaction.lag.ms.
// 3. A map of every key to its latest offset in the range is built, then each segment is
//    rewritten keeping a record only if it is its key's latest (records without a key go,
//    as in Kafka). Records of aborted transactions are never a key's latest and are removed
//    (a consumer would skip them anyway; kept, they could hide the committed value before
//    them). Control batches are kept as they are. Batches keep their offsets, producer
//    fields and sequence span.
// 4. Tombstones (KIP-534, as Kafka does it): the first cleaning that keeps a tombstone sets
//    its batch's delete horizon = now + delete.retention.ms (the delete-horizon attribute,
//    with the horizon in base_timestamp; record timestamps unchanged), so a consumer that
//    started reading before the tombstone was cleaned has delete.retention.ms to see it. A
//    cleaning at or after the horizon removes it. The horizon is on disk, so it survives
//    restarts; a log whose earliest horizon has passed is cleaned even below the dirty ratio
//    (the earliest horizon is remembered in memory; after a restart every segment is dirty
//    anyway).
//
// Crash safety of one segment's swap: the cleaned bytes go to `<base>.log.cleaned.tmp` and
// are fsynced; the segment's index files are deleted (and the directory synced) before the
// rename over `<base>.log`. A crash before the rename leaves the old log (a .tmp is removed at
// open), after it the new one; either way without indexes, which open rebuilds from the log.
// Readers holding the old file (a fetch being sent) keep its descriptor.
//
// Segments a cleaning leaves empty are deleted, except the first. (Kafka also merges small
// cleaned segments into one; not done here yet.)
//
// Runs on the partition's thread, synchronously: cleaning a large log blocks that thread for
// as long as it reads and rewrites the segments (a dedicated cleaner thread is future work).
#include "base/log.h"
#include "storage/file_io.h"
#include "storage/partition_log.h"

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <limits>
#include <unistd.h>

namespace riacho::storage {

namespace {

std::string key_of(const protocol::record_view& r) {
    return std::string(reinterpret_cast<const char*>(r.key->data()), r.key->size());
}

}  // namespace

partition_log::aborted_ranges partition_log::aborted_ranges_of_log() const {
    aborted_ranges out;
    for (const auto& t : _aborted.entries()) {
        out[t.id.value()].emplace_back(t.first_offset.value(), t.last_offset.value());
    }
    return out;
}

namespace {
// A transactional data batch inside one of its producer's aborted transactions.
bool in_aborted_txn(
    const protocol::batch_header& h,
    const std::unordered_map<int64_t, std::vector<std::pair<int64_t, int64_t>>>& aborted) {
    if (!h.is_transactional() || h.is_control()) {
        return false;
    }
    auto it = aborted.find(h.producer_id);
    if (it == aborted.end()) {
        return false;
    }
    return std::any_of(it->second.begin(), it->second.end(), [&](const auto& range) {
        return h.base_offset >= range.first && h.base_offset <= range.second;
    });
}
}  // namespace

int64_t partition_log::delete_horizon_for(int64_t now_ms) const {
    int64_t retention_ms = std::max<int64_t>(_cfg.delete_retention_ms, 0);
    return now_ms > std::numeric_limits<int64_t>::max() - retention_ms
               ? std::numeric_limits<int64_t>::max()
               : now_ms + retention_ms;
}

status partition_log::index_latest_keys(kafka_offset end,
                                        const aborted_ranges& aborted,
                                        key_map& latest) const {
    std::vector<uint8_t> scratch;
    for (const auto& entry : _segments) {
        // (Not a structured binding: clang 14, the fuzz build, cannot capture one.)
        const kafka_offset base = entry.first;
        const segment* seg = entry.second.get();
        if (base >= end) {
            break;
        }
        std::optional<storage_errc> failed;
        auto st = seg->for_each_batch(base, [&](const protocol::batch_header& h, uint64_t pos) {
            if (h.is_control() || h.records_count == 0 || in_aborted_txn(h, aborted)) {
                return true;
            }
            auto bytes = seg->read_batch_bytes(batch_location{h, pos});
            if (!bytes) {
                failed = bytes.error();
                return false;
            }
            scratch.clear();
            auto records = protocol::decode_records(*bytes, scratch);
            if (!records) {
                // Validated when appended; a batch that no longer decodes is left alone (it
                // keeps its records) rather than guessed at.
                LOG_WARN("storage", "{}: batch at offset {} does not decode ({}), not compacted",
                         _dir.string(), h.base_offset, protocol::to_string(records.error()));
                return true;
            }
            for (const auto& r : *records) {
                if (r.key) {
                    latest[key_of(r)] = r.offset;
                }
            }
            return true;
        });
        if (!st) {
            return st;
        }
        if (failed) {
            return unexpected{*failed};
        }
    }
    return ok_status();
}

result<bool, storage_errc> partition_log::clean_segment(kafka_offset base,
                                                        const key_map& latest,
                                                        const aborted_ranges& aborted,
                                                        int64_t now_ms,
                                                        compaction_result& stats) {
    segment& seg = *_segments.at(base);
    std::vector<uint8_t> cleaned;
    std::vector<uint8_t> scratch;
    std::vector<protocol::record_view> keep;
    int64_t removed = 0;
    int64_t horizons_set = 0;
    std::optional<storage_errc> failed;
    auto st = seg.for_each_batch(base, [&](const protocol::batch_header& h, uint64_t pos) {
        auto bytes = seg.read_batch_bytes(batch_location{h, pos});
        if (!bytes) {
            failed = bytes.error();
            return false;
        }
        if (h.is_control() || h.records_count == 0) {
            cleaned.insert(cleaned.end(), bytes->begin(), bytes->end());
            return true;
        }
        scratch.clear();
        auto records = protocol::decode_records(*bytes, scratch);
        if (!records) {  // see index_latest_keys: kept as it is
            cleaned.insert(cleaned.end(), bytes->begin(), bytes->end());
            return true;
        }
        keep.clear();
        bool kept_tombstone = false;
        bool aborted_batch = in_aborted_txn(h, aborted);
        for (const auto& r : *records) {
            if (aborted_batch) {
                break;  // none of an aborted transaction's records is kept
            }
            // (Every key here was indexed from the same bytes; a miss would mean keep.)
            auto newest = r.key ? latest.find(key_of(r)) : latest.end();
            bool latest_for_key = r.key && (newest == latest.end() || newest->second == r.offset);
            bool horizon_passed = h.has_delete_horizon() && now_ms >= h.base_timestamp;
            if (latest_for_key && (r.value || !horizon_passed)) {
                keep.push_back(r);
                kept_tombstone = kept_tombstone || !r.value;
            }
        }
        removed += static_cast<int64_t>(records->size() - keep.size());
        std::optional<int64_t> new_horizon_ms;
        if (kept_tombstone && !h.has_delete_horizon()) {
            new_horizon_ms = delete_horizon_for(now_ms);
            horizons_set += 1;
        }
        if (kept_tombstone) {
            int64_t horizon = new_horizon_ms.value_or(h.base_timestamp);
            _next_delete_horizon_ms = std::min(_next_delete_horizon_ms.value_or(horizon), horizon);
        }
        if (keep.size() == records->size() && !new_horizon_ms) {
            cleaned.insert(cleaned.end(), bytes->begin(), bytes->end());
        } else if (!keep.empty() || h.has_producer_id()) {
            // An emptied batch of an idempotent producer stays (without records) so its
            // sequence numbers still bound what the producer may send next.
            auto rebuilt = protocol::rebuild_batch(h, keep, std::nullopt, new_horizon_ms);
            cleaned.insert(cleaned.end(), rebuilt.begin(), rebuilt.end());
        }
        return true;
    });
    if (!st) {
        return unexpected{st.error()};
    }
    if (failed) {
        return unexpected{*failed};
    }
    if (removed == 0 && horizons_set == 0) {
        return false;
    }

    auto log_path = _dir / offset_file_name(base, ".log");
    auto tmp_path = _dir / (offset_file_name(base, ".log") + ".cleaned.tmp");
    auto fd = open_file_rw(tmp_path, true);
    if (!fd) {
        return unexpected{fd.error()};
    }
    auto written = truncate_file(*fd, 0);
    if (written) {
        written = pwrite_all(*fd, cleaned.data(), cleaned.size(), 0);
    }
    if (!written) {
        close_fd(*fd);
        std::error_code ignored;
        std::filesystem::remove(tmp_path, ignored);
        return unexpected{written.error()};
    }
    sync_file(*fd, tmp_path);
    close_fd(*fd);

    uint64_t before = seg.size_bytes();
    // Indexes first: from here on a crash leaves a log without indexes, rebuilt at open.
    std::error_code ec;
    for (const char* suffix : {".index", ".timeindex"}) {
        std::filesystem::remove(_dir / offset_file_name(base, suffix), ec);
    }
    sync_dir(_dir);
    _segments.erase(base);  // closes its files; readers keep their descriptor
    std::filesystem::rename(tmp_path, log_path, ec);
    if (ec) {
        LOG_ERROR("storage", "{}: replacing {} failed: {}", _dir.string(), log_path.string(),
                  ec.message());
    }
    sync_dir(_dir);
    // Reopened in either case: the old log if the rename failed, else the cleaned one.
    auto reopened = segment::open(_dir, base, _cfg, /*recover=*/true, /*contiguous_offsets=*/false);
    if (!reopened) {
        return unexpected{reopened.error()};
    }
    _segments.emplace(base, std::move(reopened).value());
    _segments.at(base)->write_indexes(/*sync=*/true);  // not active: no roll will write them
    if (ec) {
        return unexpected{storage_errc::io_error};
    }
    stats.segments_rewritten += 1;
    stats.bytes_before += before;
    stats.bytes_after += _segments.at(base)->size_bytes();
    stats.records_removed += removed;
    return true;
}

result<compaction_result, storage_errc> partition_log::compact(int64_t now_ms, bool force) {
    INVARIANT(!_closed, "compact on closed log {}", _dir.string());
    compaction_result stats;
    if (!_cfg.compact || _segments.size() < 2) {
        return stats;
    }
    // 1. The cleanable range: before the active segment and old enough.
    kafka_offset end = _segments.rbegin()->first;
    uint64_t clean_bytes = 0;
    uint64_t dirty_bytes = 0;
    std::optional<int64_t> oldest_dirty_ms;
    for (const auto& [base, seg] : _segments) {
        if (base == _segments.rbegin()->first) {
            break;
        }
        if ((_cfg.min_compaction_lag_ms > 0 && seg->max_timestamp() >= 0 &&
             seg->max_timestamp() > now_ms - _cfg.min_compaction_lag_ms) ||
            seg->next_offset() > last_stable_offset()) {
            end = base;
            break;
        }
        if (seg->next_offset() <= _first_dirty_offset) {
            clean_bytes += seg->size_bytes();
            continue;
        }
        dirty_bytes += seg->size_bytes();
        auto first = seg->find_batch(base);
        if (first && *first) {
            // Kafka uses the first batch's max timestamp: base_timestamp may be a delete
            // horizon.
            int64_t ts = (*first)->header.max_timestamp;
            oldest_dirty_ms = oldest_dirty_ms ? std::min(*oldest_dirty_ms, ts) : ts;
        }
    }
    // Tombstones whose delete horizon has passed wait for a cleaning to remove them.
    bool horizon_passed = _next_delete_horizon_ms && now_ms >= *_next_delete_horizon_ms;
    if (dirty_bytes == 0 && !force && !horizon_passed) {
        return stats;
    }
    // 2. Worth it?
    double dirty_ratio =
        dirty_bytes == 0 ? 0.0 : double(dirty_bytes) / double(clean_bytes + dirty_bytes);
    bool overdue = oldest_dirty_ms && _cfg.max_compaction_lag_ms < now_ms &&
                   *oldest_dirty_ms < now_ms - _cfg.max_compaction_lag_ms;
    if (!force && !overdue && !horizon_passed && dirty_ratio < _cfg.min_cleanable_dirty_ratio) {
        return stats;
    }
    auto started = std::chrono::steady_clock::now();
    _next_delete_horizon_ms.reset();  // recomputed from the tombstones this pass keeps
    // 3. Latest offset per key, then rewrite each segment of the range.
    key_map latest;
    auto aborted = aborted_ranges_of_log();
    auto indexed = index_latest_keys(end, aborted, latest);
    if (!indexed) {
        return unexpected{indexed.error()};
    }
    std::vector<kafka_offset> bases;
    for (const auto& [base, seg] : _segments) {
        if (base >= end) {
            break;
        }
        bases.push_back(base);
    }
    for (auto base : bases) {
        auto cleaned = clean_segment(base, latest, aborted, now_ms, stats);
        if (!cleaned) {
            return unexpected{cleaned.error()};
        }
    }
    // Segments left empty go (but the first, which holds the log start's place): reads skip
    // the gap to the next segment either way.
    for (auto base : bases) {
        auto it = _segments.find(base);
        if (it != _segments.begin() && it->second->empty()) {
            auto removed = it->second->remove_files();
            if (!removed) {
                return unexpected{removed.error()};
            }
            _segments.erase(it);
        }
    }
    _first_dirty_offset = std::max(_first_dirty_offset, end);
    if (stats.segments_rewritten > 0) {
        // Like Kafka's log-cleaner.log summary: operators (and bench/storage_vs_kafka.py)
        // read the cleaner's throughput from it.
        double elapsed_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        LOG_INFO("storage",
                 "{}: compacted {} segment(s) below offset {}: {} -> {} bytes, {} record(s) "
                 "removed (dirty ratio {:.2f}) in {:.3f} s ({:.1f} MB/s of segments rewritten)",
                 _dir.string(), stats.segments_rewritten, end.value(), stats.bytes_before,
                 stats.bytes_after, stats.records_removed, dirty_ratio, elapsed_s,
                 double(stats.bytes_before) / 1e6 / std::max(elapsed_s, 1e-9));
    }
    return stats;
}

}  // namespace riacho::storage
