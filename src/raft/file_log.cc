#include "raft/file_log.h"

#include "base/invariant.h"
#include "base/log.h"
#include "raft/codec.h"
#include "storage/file_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <unistd.h>

namespace riacho::raft {

namespace {

storage::log_config metadata_log_config() {
    // The metadata log is the cluster's state: never deleted by retention nor compacted.
    storage::log_config cfg;
    cfg.retention_ms = -1;
    cfg.retention_bytes = -1;
    cfg.compact = false;
    cfg.segment_bytes = 64u << 20;
    return cfg;
}

constexpr std::string_view snapshot_suffix = ".checkpoint";

// "<20-digit offset>-<10-digit epoch>.checkpoint", as Kafka names snapshot files.
std::optional<snapshot_id> parse_snapshot_name(const std::string& name) {
    constexpr size_t offset_digits = 20;
    constexpr size_t epoch_digits = 10;
    if (name.size() != offset_digits + 1 + epoch_digits + snapshot_suffix.size() ||
        !name.ends_with(snapshot_suffix) || name[offset_digits] != '-') {
        return std::nullopt;
    }
    auto digits = [&](size_t from, size_t count) -> std::optional<int64_t> {
        int64_t v = 0;
        for (size_t i = from; i < from + count; ++i) {
            if (name[i] < '0' || name[i] > '9') {
                return std::nullopt;
            }
            v = v * 10 + (name[i] - '0');
        }
        return v;
    };
    auto offset = digits(0, offset_digits);
    auto epoch = digits(offset_digits + 1, epoch_digits);
    if (!offset || !epoch || *epoch > INT32_MAX) {
        return std::nullopt;
    }
    return snapshot_id{kafka_offset(*offset), leader_epoch(static_cast<int32_t>(*epoch))};
}

// Every snapshot file in `dir`, oldest first; leftovers of an interrupted write are removed.
std::vector<snapshot_id> list_snapshots(const std::filesystem::path& dir) {
    std::vector<snapshot_id> out;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
        std::string name = f.path().filename().string();
        if (name.ends_with(std::string(snapshot_suffix) + ".tmp")) {
            std::filesystem::remove(f.path(), ec);
        } else if (auto id = parse_snapshot_name(name)) {
            out.push_back(*id);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

int64_t wall_clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

file_log::file_log(std::filesystem::path dir, std::unique_ptr<storage::partition_log> log)
    : _dir(std::move(dir)), _log(std::move(log)) {}

file_log::~file_log() { close(); }

result<std::unique_ptr<file_log>, std::string> file_log::open(std::filesystem::path dir) {
    auto opened = storage::partition_log::open(dir, metadata_log_config());
    if (!opened) {
        return unexpected{fmt::format("cannot open the metadata log in '{}': {}", dir.string(),
                                      storage::to_string(opened.error()))};
    }
    std::unique_ptr<file_log> log(new file_log(dir, std::move(*opened)));
    auto snapshots = list_snapshots(dir);
    if (!snapshots.empty()) {
        log->_snapshot = snapshots.back();
        kafka_offset at = log->_snapshot->offset;
        // The log below the snapshot goes (a trim the crash interrupted); a log that ends
        // below it was being replaced by an installed snapshot.
        auto moved = at > log->_log->log_end_offset() ? log->_log->truncate_fully_and_start_at(at)
                                                      : log->_log->advance_log_start_offset(at);
        if (!moved) {
            return unexpected{
                fmt::format("cannot start the metadata log in '{}' at its snapshot {}: {}",
                            dir.string(), at.value(), storage::to_string(moved.error()))};
        }
    }
    log->_start = log->_log->log_start_offset();
    if (log->_start > kafka_offset(0) &&
        (!log->_snapshot || log->_snapshot->offset != log->_start)) {
        return unexpected{fmt::format(
            "the metadata log in '{}' starts at offset {} but no snapshot ends there (was a "
            ".checkpoint file removed?)",
            dir.string(), log->_start.value())};
    }
    std::vector<uint8_t> buffer;
    kafka_offset from = log->_start;
    while (from < log->_log->log_end_offset()) {
        auto slice = log->_log->read(from, 1u << 20, true);
        if (!slice) {
            return unexpected{fmt::format("cannot read the metadata log at offset {}: {}",
                                          from.value(), storage::to_string(slice.error()))};
        }
        if (slice->size_bytes == 0) {
            break;
        }
        buffer.resize(slice->size_bytes);
        ssize_t n = ::pread(slice->file->fd, buffer.data(), buffer.size(),
                            static_cast<off_t>(slice->position));
        if (n != static_cast<ssize_t>(buffer.size())) {
            return unexpected{
                fmt::format("cannot read the metadata log at offset {}", from.value())};
        }
        auto decoded = codec::decode_entries(buffer);
        if (!decoded ||
            decoded->first != log->_start + static_cast<int64_t>(log->_entries.size())) {
            return unexpected{fmt::format(
                "the metadata log in '{}' holds a batch at offset {} that is not a quorum entry "
                "(a data directory written before Riacho's metadata quorum? move it away)",
                dir.string(), from.value())};
        }
        for (auto& e : decoded->second) {
            log->_entries.push_back(std::move(e));
        }
        from = slice->next_offset;
    }
    INVARIANT(
        log->_start + static_cast<int64_t>(log->_entries.size()) == log->_log->log_end_offset(),
        "metadata log entries {} from {} do not reach its end {}", log->_entries.size(),
        log->_start.value(), log->_log->log_end_offset().value());
    return log;
}

void file_log::close() {
    if (_log) {
        (void)_log->close();
        _log.reset();
    }
}

offset_and_epoch file_log::end_offset_and_epoch() const {
    kafka_offset end = _start + static_cast<int64_t>(_entries.size());
    if (_entries.empty()) {
        return {end, _snapshot ? _snapshot->epoch : no_epoch};
    }
    return {end, _entries.back().epoch};
}

void file_log::append(std::span<const log_entry> entries) {
    int64_t now = wall_clock_ms();
    for (const auto& e : entries) {
        kafka_offset offset = _start + static_cast<int64_t>(_entries.size());
        auto batch = codec::encode_entry(offset, e);
        auto appended = _log->append(batch, e.epoch, now);
        // The core has no way to go on with a log it cannot extend; KRaft exits too.
        INVARIANT(appended.has_value(), "metadata log append at {} failed: {}", offset.value(),
                  storage::to_string(appended.error()));
        _entries.push_back(e);
    }
}

void file_log::truncate_to(kafka_offset end) {
    INVARIANT(end >= _start, "truncate_to({}) below the log start {}", end.value(), _start.value());
    auto keep = static_cast<size_t>((end - _start));
    if (keep >= _entries.size()) {
        return;
    }
    auto cut = _log->truncate_to(end);
    INVARIANT(cut.has_value(), "metadata log truncation to {} failed: {}", end.value(),
              storage::to_string(cut.error()));
    _entries.resize(keep);
}

std::vector<log_entry> file_log::read(kafka_offset from, size_t max_entries) const {
    std::vector<log_entry> out;
    auto index = static_cast<size_t>(from - _start);
    for (size_t i = index; i < _entries.size() && out.size() < max_entries; ++i) {
        out.push_back(_entries[i]);
    }
    return out;
}

std::optional<offset_and_epoch> file_log::end_offset_for_epoch(leader_epoch epoch) const {
    // The last entry whose epoch is <= `epoch`: its epoch ends after it.
    for (size_t i = _entries.size(); i-- > 0;) {
        if (_entries[i].epoch <= epoch) {
            return offset_and_epoch{_start + static_cast<int64_t>(i + 1), _entries[i].epoch};
        }
    }
    // Older epochs are in the snapshot, whose last one ends where the log starts.
    if (_snapshot && _snapshot->epoch <= epoch) {
        return offset_and_epoch{_start, _snapshot->epoch};
    }
    return std::nullopt;
}

void file_log::flush() { _log->flush(); }

kafka_offset file_log::data_end_at_or_below(kafka_offset end) const {
    auto count =
        std::min(_entries.size(), static_cast<size_t>(std::max<int64_t>(0, (end - _start))));
    for (size_t i = count; i-- > 0;) {
        if (_entries[i].kind == entry_kind::data) {
            return _start + static_cast<int64_t>(i + 1);
        }
    }
    return _start;
}

std::filesystem::path file_log::snapshot_path(const std::filesystem::path& dir, snapshot_id id) {
    return dir /
           fmt::format("{:020d}-{:010d}{}", id.offset.value(), id.epoch.value(), snapshot_suffix);
}

std::optional<std::string> file_log::read_snapshot(snapshot_id id) const {
    if (!_snapshot || *_snapshot != id) {
        return std::nullopt;
    }
    auto bytes = storage::read_small_file(snapshot_path(_dir, id));
    if (!bytes || !bytes->has_value()) {
        LOG_ERROR("raft", "cannot read the metadata snapshot {} in {}", id.offset.value(),
                  _dir.string());
        return std::nullopt;
    }
    return std::string((*bytes)->begin(), (*bytes)->end());
}

void file_log::store_snapshot(snapshot_id id, const std::string& bytes) {
    auto written = storage::write_file_atomic(
        snapshot_path(_dir, id),
        std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    // The core cannot go on without it (the log below is about to go); KRaft exits too.
    INVARIANT(written.has_value(), "writing the metadata snapshot at {} in {} failed",
              id.offset.value(), _dir.string());
    _snapshot = id;
    for (const auto& old : list_snapshots(_dir)) {
        if (old != id) {
            std::error_code ec;
            std::filesystem::remove(snapshot_path(_dir, old), ec);
        }
    }
}

void file_log::write_snapshot_and_trim(snapshot_id id, std::string bytes) {
    INVARIANT(id.offset > _start && id.offset <= end_offset_and_epoch().offset,
              "snapshot at {} outside the log [{}, {})", id.offset.value(), _start.value(),
              end_offset_and_epoch().offset.value());
    store_snapshot(id, bytes);
    auto trimmed = _log->advance_log_start_offset(id.offset);
    INVARIANT(trimmed.has_value(), "metadata log trim to {} failed: {}", id.offset.value(),
              storage::to_string(trimmed.error()));
    _entries.erase(_entries.begin(), _entries.begin() + (id.offset - _start));
    _start = id.offset;
}

void file_log::install_snapshot(snapshot_id id, std::string bytes) {
    store_snapshot(id, bytes);
    auto reset = _log->truncate_fully_and_start_at(id.offset);
    INVARIANT(reset.has_value(), "metadata log restart at {} failed: {}", id.offset.value(),
              storage::to_string(reset.error()));
    _entries.clear();
    _start = id.offset;
}

}  // namespace riacho::raft
