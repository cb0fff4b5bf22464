// A metadata log in memory for controller tests: every controller built on it is a node
// with its own read position over the same committed entries, and a write is refused as
// stale unless its base is the log's end, as the active controller refuses it.
#pragma once

#include "cluster/controller.h"

#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace riacho::cluster::test {

struct shared_entries {
    std::vector<std::vector<uint8_t>> batches;
    bool fail_writes = false;
    // The latest snapshot any node stored, and where it ends (the batches stay).
    std::optional<std::vector<uint8_t>> snapshot;
    int64_t snapshot_end = 0;
};

class memory_metadata_log final : public metadata_log {
public:
    explicit memory_metadata_log(
        std::shared_ptr<shared_entries> entries = std::make_shared<shared_entries>())
        : _entries(std::move(entries)) {}
    // Another node's view of the same log, starting at its beginning.
    memory_metadata_log other_node() const { return memory_metadata_log(_entries); }

    write_result write(std::vector<uint8_t> batch, int64_t base, bool /*leader_only*/) override {
        if (auto race = std::exchange(before_next_write, nullptr)) {
            race();  // another node's change lands between validation and this write
        }
        if (_entries->fail_writes) {
            return {write_status::unavailable, -1, "no controller"};
        }
        auto end = static_cast<int64_t>(_entries->batches.size());
        if (base != end) {
            ++stale_writes;
            return {write_status::stale, end, "stale"};
        }
        _entries->batches.push_back(std::move(batch));
        return {write_status::ok, -1, {}};
    }
    std::vector<committed_batch> take_committed() override {
        std::vector<committed_batch> out;
        if (static_cast<int64_t>(_taken) < _entries->snapshot_end && _entries->snapshot) {
            // Behind the shared snapshot (a node that starts late): start from it.
            out.push_back({_entries->snapshot_end, *_entries->snapshot, true});
            _taken = static_cast<size_t>(_entries->snapshot_end);
        }
        for (; _taken < _entries->batches.size(); ++_taken) {
            out.push_back({static_cast<int64_t>(_taken), _entries->batches[_taken], false});
        }
        return out;
    }
    void store_snapshot(int64_t end, std::vector<uint8_t> bytes) override {
        ++snapshots_stored;
        _entries->snapshot_end = end;
        _entries->snapshot = std::move(bytes);
    }
    bool wait_committed(int64_t end) override {
        return end <= static_cast<int64_t>(_entries->batches.size());
    }
    void fail_writes(bool fail) { _entries->fail_writes = fail; }
    size_t entries() const { return _entries->batches.size(); }
    int stale_writes = 0;
    int snapshots_stored = 0;
    std::function<void()> before_next_write;

private:
    std::shared_ptr<shared_entries> _entries;
    size_t _taken = 0;
};

}  // namespace riacho::cluster::test
