// An in-memory raft_log and quorum_state_store for the tests, with a simulated disk: the log
// keeps what was flushed apart from what was written, and crash() throws away everything not
// flushed, as a power loss would. Snapshot writes and quorum-state writes are durable at once.
#pragma once

#include "base/invariant.h"
#include "raft/log.h"

#include <algorithm>
#include <map>
#include <utility>

namespace riacho::raft::test {

class memory_log final : public raft_log {
public:
    kafka_offset log_start_offset() const override { return _start; }

    offset_and_epoch end_offset_and_epoch() const override {
        if (_entries.empty()) {
            return {_start, _snapshot ? _snapshot->first.epoch : no_epoch};
        }
        return {end(), _entries.back().epoch};
    }

    void append(std::span<const log_entry> entries) override {
        for (const auto& e : entries) {
            INVARIANT(e.epoch >= end_offset_and_epoch().epoch, "epoch going back in the log");
            _entries.push_back(e);
        }
    }

    void truncate_to(kafka_offset to) override {
        INVARIANT(to >= _start, "truncate to {} below the log start {}", to.value(),
                  _start.value());
        if (to >= end()) {
            return;
        }
        _entries.resize(static_cast<size_t>(to - _start));
        ++truncations;
        _dirty_from = std::min(_dirty_from, to);
        _lowest_truncation = std::min(_lowest_truncation, to);
    }

    std::vector<log_entry> read(kafka_offset from, size_t max_entries) const override {
        INVARIANT(from >= _start && from <= end(), "read at {} outside [{}, {}]", from.value(),
                  _start.value(), end().value());
        auto first = _entries.begin() + (from - _start);
        auto count = std::min(max_entries, static_cast<size_t>(_entries.end() - first));
        return {first, first + static_cast<std::ptrdiff_t>(count)};
    }

    std::optional<offset_and_epoch> end_offset_for_epoch(leader_epoch epoch) const override {
        // Epochs never decrease along the log: the last entry of epoch <= `epoch` ends it.
        for (size_t i = _entries.size(); i > 0; --i) {
            if (_entries[i - 1].epoch <= epoch) {
                return offset_and_epoch{_start + static_cast<int64_t>(i), _entries[i - 1].epoch};
            }
        }
        leader_epoch base = _snapshot ? _snapshot->first.epoch : no_epoch;
        if (base <= epoch) {
            return offset_and_epoch{_start, base};
        }
        return std::nullopt;
    }

    void flush() override {
        auto durable_end = _durable_start + static_cast<int64_t>(_durable.size());
        if (_dirty_from < durable_end) {
            _durable.resize(
                static_cast<size_t>(std::max<int64_t>(_dirty_from - _durable_start, 0)));
        }
        durable_end = _durable_start + static_cast<int64_t>(_durable.size());
        for (auto o = durable_end; o < end(); o += 1) {
            _durable.push_back(_entries[static_cast<size_t>(o - _start)]);
        }
        _dirty_from = end();
        ++flushes;
    }

    std::optional<snapshot_id> latest_snapshot() const override {
        if (!_snapshot) {
            return std::nullopt;
        }
        return _snapshot->first;
    }

    std::optional<std::string> read_snapshot(snapshot_id id) const override {
        if (!_snapshot || _snapshot->first != id) {
            return std::nullopt;
        }
        return _snapshot->second;
    }

    void write_snapshot_and_trim(snapshot_id id, std::string bytes) override {
        INVARIANT(id.offset > _start && id.offset <= end(), "snapshot outside the log");
        _snapshot = std::pair(id, std::move(bytes));
        _entries.erase(_entries.begin(), _entries.begin() + (id.offset - _start));
        _start = id.offset;
        // The trim is durable with the snapshot; unflushed entries above it stay unflushed.
        auto drop =
            std::min<int64_t>(id.offset - _durable_start, static_cast<int64_t>(_durable.size()));
        _durable.erase(_durable.begin(), _durable.begin() + std::max<int64_t>(drop, 0));
        _durable_start = id.offset;
        _dirty_from = std::max(_dirty_from, _start);
    }

    void install_snapshot(snapshot_id id, std::string bytes) override {
        _snapshot = std::pair(id, std::move(bytes));
        _entries.clear();
        _durable.clear();
        _start = _durable_start = _dirty_from = id.offset;
        _lowest_truncation = std::min(_lowest_truncation, id.offset);
        ++installs;
    }

    // ---- the simulated disk
    // A crash: everything not flushed is gone.
    void crash() {
        _entries = _durable;
        _start = _durable_start;
        _dirty_from = end();
        _lowest_truncation = std::min(_lowest_truncation, end());
    }
    // The lowest offset truncated (or lost in a crash) since the last call; the checker
    // uses it to find committed entries that disappeared.
    kafka_offset take_lowest_truncation() {
        return std::exchange(_lowest_truncation, kafka_offset(INT64_MAX));
    }
    const log_entry& at(kafka_offset o) const { return _entries[static_cast<size_t>(o - _start)]; }
    kafka_offset end() const { return _start + static_cast<int64_t>(_entries.size()); }

    int flushes = 0;
    int installs = 0;
    int truncations = 0;

private:
    kafka_offset _start{0};
    std::vector<log_entry> _entries;
    std::optional<std::pair<snapshot_id, std::string>> _snapshot;
    kafka_offset _durable_start{0};
    std::vector<log_entry> _durable;
    kafka_offset _dirty_from{0};
    kafka_offset _lowest_truncation{INT64_MAX};
};

class memory_quorum_store final : public quorum_state_store {
public:
    std::optional<quorum_state> read() const override { return _state; }
    void write(const quorum_state& s) override {
        _state = s;
        ++writes;
    }
    int writes = 0;

private:
    std::optional<quorum_state> _state;
};

}  // namespace riacho::raft::test
