#include "raft/file_log.h"

#include "base/invariant.h"
#include "base/log.h"
#include "raft/codec.h"

#include <fmt/format.h>

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
    log->_start = log->_log->log_start_offset();
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
    return {end, _entries.empty() ? no_epoch : _entries.back().epoch};
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

std::optional<std::string> file_log::read_snapshot(snapshot_id) const { return std::nullopt; }

void file_log::write_snapshot_and_trim(snapshot_id id, std::string) {
    INVARIANT(false, "metadata snapshots are not enabled yet (asked for one at {})",
              id.offset.value());
}

void file_log::install_snapshot(snapshot_id id, std::string) {
    INVARIANT(false, "metadata snapshots are not enabled yet (a leader offered one at {})",
              id.offset.value());
}

}  // namespace riacho::raft
