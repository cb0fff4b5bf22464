// Storage op-fuzzer at record level: a real partition_log of a compacted topic (cleanup.policy
// compact, or compact,delete on odd seeds) on the power-loss seam (sync_tracker), driven by
// seeded random steps and compared with a simple model after every step. Steps: append keyed
// batches (values and tombstones, some lz4), flush, time passing (past segment.ms and past
// delete.retention.ms), compact (forced or not), delete_old_segments, advance_log_start_offset,
// truncate_to, clean close + reopen, and power loss: the process dies and every file is cut
// back to its fdatasync'ed bytes, or keeps a torn prefix or a random page subset of the rest.
//
// The model is every record appended (offset -> key, value, timestamp) minus what truncation
// and power loss removed. After every step the log must: end where the model ends; hold only
// model records, unchanged and at their offsets; hold every record at or after the active
// segment's base, and every key's latest value at or after the log start; have dropped a
// record only if it is below the log start, superseded by a later record of its key, or a
// tombstone whose delete horizon (KIP-534, checked to be the time of the cleaning that first
// kept it + delete.retention.ms, and never moved) a later cleaning reached. A power loss must
// keep everything below the recovery point of the moment of the crash, and everything it
// kept must be what was readable before. Power is also cut at a random IO inside an
// operation (append with or without a roll, compaction, retention, truncation, close + open).
//
// Replay a failing seed: RIACHO_FUZZ_SEED=<seed> unit_storage --gtest_filter='log_model_fuzz*'.
// RIACHO_STORAGE_FUZZ_SEEDS=N runs seeds 1..N (default 8) for a longer soak.
#include "storage/sync_tracker.h"
#include "storage_test_util.h"

#include <cstdlib>
#include <map>
#include <random>

namespace riacho::storage::test {
namespace {

struct model_record {
    std::optional<std::string> key;
    std::optional<std::string> value;  // nullopt: a tombstone
    int64_t timestamp = 0;
    bool operator==(const model_record&) const = default;
};

struct read_record {
    model_record r;
    std::optional<int64_t> delete_horizon_ms;
};

constexpr int64_t delete_retention_ms = 30'000;

class model_fuzzer {
public:
    explicit model_fuzzer(uint64_t seed) : _rng(seed), _seed(seed) {
        _cfg.segment_bytes = 1200;
        _cfg.index_interval_bytes = 200;
        _cfg.segment_ms = 60'000;
        _cfg.compact = true;
        _cfg.min_cleanable_dirty_ratio = 0.3;
        _cfg.delete_retention_ms = delete_retention_ms;
        if (seed % 2 == 1) {  // compact,delete
            _cfg.retention_bytes = 8000;
            _cfg.retention_ms = 200'000;
        } else {
            _cfg.retention_bytes = -1;
            _cfg.retention_ms = -1;
        }
        _tracker.install();
        _dir = _tmp.path() / "fuzz-compacted-0";
        reopen();
    }
    ~model_fuzzer() {
        _log.reset();
        _tracker.uninstall();
    }

    void run(int steps) {
        for (_step = 0; _step < steps && !::testing::Test::HasFailure(); ++_step) {
            SCOPED_TRACE(::testing::Message() << "seed " << _seed << " step " << _step);
            int op = static_cast<int>(pick(0, 99));
            _ops.push_back(op);
            if (op < 45) {
                append();
            } else if (op < 50) {
                _log->flush();
            } else if (op < 55) {
                _now += pick(0, 1) ? _cfg.segment_ms + 1 : delete_retention_ms / 2;
            } else if (op < 67) {
                compact();
            } else if (op < 72) {
                retention();
            } else if (op < 75) {
                advance_start();
            } else if (op < 78) {
                truncate();
            } else if (op < 81) {
                ASSERT_TRUE(_log->close().has_value());
                reopen();
            } else if (op < 91) {
                power_loss_inside_an_operation();
            } else {
                power_loss();
            }
            check();
        }
    }

private:
    int64_t pick(int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(_rng);
    }

    void reopen() {
        _log.reset();
        auto log = partition_log::open(_dir, _cfg);
        ASSERT_TRUE(log.has_value());
        _log = std::move(log).value();
    }

    void append() {
        protocol::batch_builder b;
        if (pick(0, 4) == 0) {
            b.set_codec(protocol::compression_codec::lz4);
        }
        std::vector<model_record> recs;
        int64_t ts = _now + pick(-3000, 1000);
        for (int i = static_cast<int>(pick(1, 5)); i > 0; --i) {
            model_record m;
            m.key = "k" + std::to_string(pick(0, 15));
            if (pick(0, 5) > 0) {
                m.value = std::string(static_cast<size_t>(pick(0, 120)),
                                      static_cast<char>('a' + pick(0, 25)));
            }
            m.timestamp = ts + static_cast<int64_t>(recs.size());
            protocol::batch_builder::record r;
            r.timestamp = m.timestamp;
            r.key = std::vector<uint8_t>(m.key->begin(), m.key->end());
            if (m.value) {
                r.value = std::vector<uint8_t>(m.value->begin(), m.value->end());
            }
            b.add(std::move(r));
            recs.push_back(std::move(m));
        }
        auto batch = b.build();
        _now += pick(0, 1500);
        auto r = _log->append(batch, leader_epoch(static_cast<int32_t>(pick(0, 2))), _now);
        ASSERT_TRUE(r.has_value()) << to_string(r.error());
        ASSERT_EQ(r->base_offset.value(), _end);
        for (auto& m : recs) {
            _model[_end++] = std::move(m);
        }
    }

    void compact() {
        bool force = pick(0, 1) == 1;
        auto r = _log->compact(_now, force);
        ASSERT_TRUE(r.has_value()) << to_string(r.error());
        _last_compaction_ms = _now;
        _cleaned_below = std::max(_cleaned_below, active_base());
        // A tombstone the log shows with a horizon for the first time got it from this
        // cleaning: now + delete.retention.ms (checked in check()).
        _horizon_source_ms = _now;
    }

    void retention() {
        int64_t start = _log->log_start_offset().value();
        auto before = contents();
        auto r = _log->delete_old_segments(_now);
        ASSERT_TRUE(r.has_value());
        ASSERT_GE(_log->log_start_offset().value(), start);
        if (_cfg.retention_bytes < 0 && _cfg.retention_ms < 0) {
            // Compact-only: retention deletes no record, only segments compaction emptied
            // (which may move the log start past them).
            auto after = contents();
            ASSERT_EQ(after.size(), before.size());
            for (const auto& [offset, rr] : before) {
                ASSERT_TRUE(after.contains(offset)) << "retention removed offset " << offset;
            }
        }
    }

    void advance_start() {
        int64_t start = _log->log_start_offset().value();
        int64_t to = pick(start, _end);
        ASSERT_TRUE(_log->advance_log_start_offset(kafka_offset(to)).has_value());
        ASSERT_EQ(_log->log_start_offset().value(), to);
    }

    void truncate() {
        // Never below what a cleaning covered: Kafka cleans only below the high watermark and
        // truncates only above it, so a record that superseded (and so removed) an older one
        // is never truncated away.
        int64_t to =
            pick(std::min(_end, std::max(_log->log_start_offset().value(), _cleaned_below)), _end);
        ASSERT_TRUE(_log->truncate_to(kafka_offset(to)).has_value());
        int64_t end = _log->log_end_offset().value();
        ASSERT_LE(end, std::max(to, _log->log_start_offset().value()));
        cut_model(end);
    }

    void cut_model(int64_t end) {
        _model.erase(_model.lower_bound(end), _model.end());
        for (auto it = _horizons.lower_bound(end); it != _horizons.end();) {
            it = _horizons.erase(it);
        }
        _end = end;
    }

    void power_loss() {
        int64_t recovery_point = _log->recovery_point().value();
        int64_t start_before = _log->log_start_offset().value();
        auto before = contents();
        _log.reset();  // the process dies: no close(), no flush
        auto mode = static_cast<crash_mode>(pick(0, 2));
        _tracker.crash(_dir, mode, _seed * 1'000'003 + static_cast<uint64_t>(_step));
        reopen();
        int64_t start = _log->log_start_offset().value();
        int64_t end = _log->log_end_offset().value();
        SCOPED_TRACE(::testing::Message() << "power loss, mode " << int(mode) << ", recovery point "
                                          << recovery_point << ", end " << _end << " -> " << end
                                          << ", start " << start_before << " -> " << start);
        ASSERT_GE(end, recovery_point) << "lost data below the recovery point";
        ASSERT_LE(end, _end);
        ASSERT_GE(start, start_before);
        if (start > start_before) {
            // Only when the log restarted empty at its checkpointed start (the data up to it
            // was not durable).
            ASSERT_EQ(start, end);
        }
        auto after = contents();
        for (const auto& [offset, rec] : before) {
            if (offset >= start && offset < end) {
                ASSERT_TRUE(after.contains(offset)) << "offset " << offset << " lost";
                ASSERT_EQ(after.at(offset).r, rec.r) << "offset " << offset;
            }
        }
        ASSERT_EQ(after.size(), static_cast<size_t>(std::count_if(
                                    before.begin(), before.end(), [&](const auto& kv) {
                                        return kv.first >= start && kv.first < end;
                                    })));
        cut_model(end);
    }

    // The power goes out at a random instant inside one operation (an append that may roll, a
    // compaction swapping segments, retention deleting them, a truncation, a clean close and
    // reopen): the operation completes in the process, then the disk is put back as it was at
    // that instant (sync_tracker::arm_power_loss) and the log reopened. Whatever the instant,
    // the log must hold a state the model allows: nothing below the recovery point from before
    // the operation lost (the truncated part aside), no record changed, and, except for
    // compaction (which may have removed superseded records by then), every record readable
    // before still readable below the new log end.
    void power_loss_inside_an_operation() {
        int64_t recovery_point = _log->recovery_point().value();
        int64_t start_before = _log->log_start_offset().value();
        auto before = contents();
        auto model_before = _model;
        auto mode = static_cast<crash_mode>(pick(0, 2));
        int which = static_cast<int>(pick(0, 5));
        // An append does a few IOs (a roll a dozen); compaction and close + open dozens.
        int64_t ios = which == 0 ? 3 : which == 1 ? 15 : 40;
        _tracker.arm_power_loss(_dir, static_cast<uint64_t>(pick(0, ios)), mode,
                                _seed * 1'000'033 + static_cast<uint64_t>(_step));
        int64_t floor = recovery_point;  // what the log end may not go below
        switch (which) {
            case 0:
                append();
                break;
            case 1:
                _now += _cfg.segment_ms + 1;  // this append rolls the segment
                append();
                break;
            case 2:
                compact();
                break;
            case 3:
                retention();
                break;
            case 4:
                truncate();
                floor = std::min(floor, _end);
                _model = model_before;  // the cut may not have reached the disk
                break;
            default:
                ASSERT_TRUE(_log->close().has_value());
                reopen();
                break;
        }
        if (::testing::Test::HasFatalFailure()) {
            return;
        }
        if (!_tracker.power_loss_captured()) {
            _tracker.disarm();  // the operation did less IO than the chosen instant
            if (which == 4) {
                cut_model(_log->log_end_offset().value());
            }
            return;
        }
        _log.reset();
        _tracker.restore_power_loss();
        reopen();
        int64_t start = _log->log_start_offset().value();
        int64_t end = _log->log_end_offset().value();
        int64_t model_end = _model.empty() ? _end : std::max(_end, _model.rbegin()->first + 1);
        SCOPED_TRACE(::testing::Message()
                     << "power loss inside operation " << which << ", mode " << int(mode)
                     << ", recovery point " << recovery_point << ", end " << end << " (model "
                     << model_end << "), start " << start_before << " -> " << start);
        ASSERT_LE(end, model_end);
        ASSERT_LE(start, end) << "log start past the log end";
        if (which != 4) {
            // (A truncation that cuts the batch holding the log start moves the start down to
            // the new end, as truncate_to does without a power loss.)
            ASSERT_GE(end, start_before) << "log end below the log start of before";
        }
        if (!(start == end && start >= start_before)) {  // not restarted empty at its start
            ASSERT_GE(end, floor) << "lost data below the recovery point " << trace();
        }
        if (which != 2) {
            auto after = contents();
            for (const auto& [offset, rec] : before) {
                if (offset >= start && offset < end) {
                    ASSERT_TRUE(after.contains(offset)) << "offset " << offset << " lost";
                }
            }
        }
        _end = model_end;
        cut_model(end);
    }

    std::map<int64_t, read_record> contents() const {
        std::map<int64_t, read_record> out;
        kafka_offset from = _log->log_start_offset();
        while (from < _log->log_end_offset()) {
            auto r = _log->read(from, 1 << 16, true);
            EXPECT_TRUE(r.has_value());
            if (!r || r->size_bytes == 0) {
                break;
            }
            auto bytes = slice_bytes(*r);
            size_t pos = 0;
            while (pos < bytes.size()) {
                auto h = decode_batch_header(bytes.data() + pos);
                std::span<const uint8_t> one(bytes.data() + pos, h.total_size_bytes());
                std::vector<uint8_t> scratch;
                auto records = protocol::decode_records(one, scratch);
                EXPECT_TRUE(records.has_value()) << "batch at " << h.base_offset;
                for (const auto& rec : records.value()) {
                    if (rec.offset < _log->log_start_offset().value()) {
                        continue;
                    }
                    read_record rr;
                    if (rec.key) {
                        rr.r.key = std::string(rec.key->begin(), rec.key->end());
                    }
                    if (rec.value) {
                        rr.r.value = std::string(rec.value->begin(), rec.value->end());
                    }
                    rr.r.timestamp = rec.timestamp;
                    rr.delete_horizon_ms = h.delete_horizon_ms();
                    EXPECT_FALSE(out.contains(rec.offset)) << "offset " << rec.offset << " twice";
                    out[rec.offset] = rr;
                }
                pos += h.total_size_bytes();
                from = kafka_offset(h.last_offset() + 1);
            }
        }
        return out;
    }

    int64_t active_base() const {
        auto logs = files_with_suffix(_dir, ".log");
        return logs.empty() ? 0 : std::stoll(logs.back().filename().string());
    }

    void check() {
        if (::testing::Test::HasFatalFailure()) {
            return;
        }
        ASSERT_EQ(_log->log_end_offset().value(), _end) << trace();
        int64_t start = _log->log_start_offset().value();
        ASSERT_LE(start, _end);
        ASSERT_LE(_log->recovery_point().value(), _end);
        auto got = contents();
        std::map<std::string, int64_t> latest;
        for (const auto& [offset, m] : _model) {
            latest[*m.key] = offset;
        }
        // Everything read is what was appended there.
        for (const auto& [offset, rr] : got) {
            ASSERT_TRUE(_model.contains(offset)) << "offset " << offset << " never appended";
            ASSERT_EQ(rr.r, _model.at(offset)) << "offset " << offset << " " << trace();
            if (!rr.r.value && rr.delete_horizon_ms) {
                auto [it, fresh] = _horizons.try_emplace(offset, *rr.delete_horizon_ms);
                if (fresh) {
                    ASSERT_EQ(*rr.delete_horizon_ms, _horizon_source_ms + delete_retention_ms)
                        << "tombstone at " << offset << ": horizon not set by this cleaning";
                } else {
                    ASSERT_EQ(*rr.delete_horizon_ms, it->second)
                        << "tombstone at " << offset << ": the horizon moved";
                }
            }
        }
        _horizon_source_ms = std::numeric_limits<int64_t>::min();  // only right after compact()
        // Everything missing had a reason to go.
        int64_t active = active_base();
        for (const auto& [offset, m] : _model) {
            if (offset < start || got.contains(offset)) {
                continue;
            }
            ASSERT_LT(offset, active)
                << "offset " << offset << " of the active segment lost " << trace();
            bool superseded = latest.at(*m.key) != offset;
            auto h = _horizons.find(offset);
            bool tombstone_expired =
                !m.value && h != _horizons.end() && _last_compaction_ms >= h->second;
            ASSERT_TRUE(superseded || tombstone_expired)
                << "offset " << offset << " (key " << *m.key << ", "
                << (m.value ? "value" : "tombstone") << ") lost " << trace();
        }
    }

    std::string trace() const {
        std::string s = "ops:";
        for (size_t i = _ops.size() > 30 ? _ops.size() - 30 : 0; i < _ops.size(); ++i) {
            s += ' ' + std::to_string(_ops[i]);
        }
        return s;
    }

    std::mt19937_64 _rng;
    uint64_t _seed;
    int _step = 0;
    std::vector<int> _ops;
    sync_tracker _tracker;
    temp_dir _tmp;
    std::filesystem::path _dir;
    log_config _cfg;
    std::unique_ptr<partition_log> _log;
    std::map<int64_t, model_record> _model;
    std::map<int64_t, int64_t> _horizons;  // tombstone offset -> its delete horizon, once seen
    int64_t _end = 0;
    int64_t _now = 1'000'000'000;
    int64_t _last_compaction_ms = std::numeric_limits<int64_t>::min();
    int64_t _cleaned_below = 0;  // the active segment's base at the last compaction
    int64_t _horizon_source_ms = std::numeric_limits<int64_t>::min();
};

TEST(log_model_fuzz, compaction_retention_and_power_loss_match_the_model) {
    std::vector<uint64_t> seeds;
    if (const char* one = std::getenv("RIACHO_FUZZ_SEED")) {
        seeds.push_back(std::strtoull(one, nullptr, 10));
    } else {
        uint64_t n = 8;
        if (const char* env = std::getenv("RIACHO_STORAGE_FUZZ_SEEDS")) {
            n = std::strtoull(env, nullptr, 10);
        }
        for (uint64_t s = 1; s <= n; ++s) {
            seeds.push_back(s);
        }
    }
    for (uint64_t seed : seeds) {
        {
            model_fuzzer f(seed);
            f.run(400);
        }
        if (::testing::Test::HasFailure()) {
            ADD_FAILURE() << "replay: RIACHO_FUZZ_SEED=" << seed
                          << " unit_storage --gtest_filter='log_model_fuzz*'";
            return;
        }
    }
}

}  // namespace
}  // namespace riacho::storage::test
