#include "storage/recovery.h"

#include "base/log.h"
#include "protocol/control_record.h"
#include "storage/file_io.h"

#include <algorithm>
#include <string>
#include <system_error>
#include <vector>

namespace riacho::storage {

namespace {

std::optional<kafka_offset> parse_offset_name(const std::string& name, std::string_view suffix) {
    if (name.size() != 20 + suffix.size() || !name.ends_with(suffix)) {
        return std::nullopt;
    }
    for (size_t i = 0; i < 20; ++i) {
        if (name[i] < '0' || name[i] > '9') {
            return std::nullopt;
        }
    }
    return kafka_offset(std::stoll(name.substr(0, 20)));
}

}  // namespace

result<segment_map, storage_errc> load_segments(const std::filesystem::path& dir,
                                                const log_config& cfg,
                                                std::optional<kafka_offset> recover_from) {
    std::vector<kafka_offset> bases;
    std::vector<std::filesystem::path> orphans;
    std::error_code ec;
    for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
        auto name = de.path().filename().string();
        if (name.ends_with(".tmp")) {
            orphans.push_back(de.path());
        } else if (auto b = parse_offset_name(name, ".log")) {
            bases.push_back(*b);
        }
    }
    if (ec) {
        LOG_ERROR("storage", "listing {} failed: {}", dir.string(), ec.message());
        return unexpected{storage_errc::io_error};
    }
    std::sort(bases.begin(), bases.end());
    for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
        auto name = de.path().filename().string();
        auto b = parse_offset_name(name, ".index");
        if (!b) {
            b = parse_offset_name(name, ".timeindex");
        }
        if (b && !std::binary_search(bases.begin(), bases.end(), *b)) {
            orphans.push_back(de.path());
        }
    }
    for (const auto& p : orphans) {
        LOG_INFO("storage", "removing leftover {}", p.string());
        std::filesystem::remove(p, ec);
    }

    // Validate from the segment holding the recovery point (the last one if it is unknown).
    std::optional<kafka_offset> first_to_recover;
    if (recover_from && !bases.empty()) {
        auto it = std::upper_bound(bases.begin(), bases.end(), *recover_from);
        first_to_recover = it == bases.begin() ? bases.front() : *std::prev(it);
    }

    segment_map segments;
    for (size_t i = 0; i < bases.size(); ++i) {
        bool recover = first_to_recover && bases[i] >= *first_to_recover;
        // Only the last segment is surely uncompacted (the cleaner never touches the active
        // one), so only there a gap between batches means a corrupt base offset.
        bool last = i + 1 == bases.size();
        auto seg = segment::open(dir, bases[i], cfg, recover, /*contiguous_offsets=*/last);
        if (!seg) {
            return unexpected{seg.error()};
        }
        bool cut = (*seg)->truncated_bytes() > 0;
        segments.emplace(bases[i], std::move(seg).value());
        if (cut && i + 1 < bases.size()) {
            // Data after a torn batch was written after it, so it is not durable either.
            for (size_t j = i + 1; j < bases.size(); ++j) {
                LOG_WARN("storage", "{}: removing segment {} after a torn batch", dir.string(),
                         bases[j].value());
                for (const char* suffix : {".log", ".index", ".timeindex"}) {
                    std::filesystem::remove(dir / offset_file_name(bases[j], suffix), ec);
                }
            }
            sync_dir(dir);  // they must not come back after a power loss
            break;
        }
    }
    // A segment rebuilt here that is not the active one gets no roll to write its indexes.
    for (auto& [base, seg] : segments) {
        if (base != segments.rbegin()->first) {
            seg->write_indexes(/*sync=*/false);
        }
    }
    return segments;
}

result<rebuilt_producer_state, storage_errc> rebuild_producer_state(
    const std::filesystem::path& dir, const segment_map& segments, kafka_offset log_end_offset) {
    producer_state::remove_snapshots_above(dir, log_end_offset);
    rebuilt_producer_state out;
    kafka_offset from = segments.empty() ? log_end_offset : segments.begin()->first;
    if (auto snap = producer_state::load_latest_snapshot(dir, log_end_offset)) {
        from = snap->first;
        out.state = std::move(snap->second);
    }
    out.replayed_from = from;
    auto it = segments.upper_bound(from);
    if (it != segments.begin()) {
        --it;
    }
    for (; it != segments.end(); ++it) {
        const segment& seg = *it->second;
        status marker_error = ok_status();
        auto st = seg.for_each_batch(from, [&](const protocol::batch_header& h, uint64_t pos) {
            if (h.base_offset < from.value()) {
                return true;
            }
            if (!h.is_control() || !h.is_transactional()) {
                out.state.update(h);
                return true;
            }
            auto bytes = seg.read_batch_bytes({h, pos});
            if (!bytes) {
                marker_error = unexpected{bytes.error()};
                return false;
            }
            auto marker = protocol::parse_txn_marker(*bytes);
            if (!marker) {
                out.state.update(h);  // not a transaction marker (no record, or another type)
                return true;
            }
            auto done = out.state.end_txn(h, marker->coordinator_epoch);
            if (done && !marker->commit) {
                out.aborted.push_back(*done);
            }
            return true;
        });
        if (!st) {
            return unexpected{st.error()};
        }
        if (!marker_error) {
            return unexpected{marker_error.error()};
        }
    }
    return out;
}

}  // namespace riacho::storage
