// Randomized operation test of partition_log against a simple in-memory model (the storage
// op-fuzzer of STYLE.md, seeded and deterministic). Each step picks one of: append a batch
// (random size and timestamps), an idempotent append or a retry of one of the producer's last
// five batches (must be a duplicate with the original offsets), a time jump past segment.ms
// (time-based roll), read from a random offset with random limits, offset_for_timestamp,
// truncate_to, advance_log_start_offset, clean close + reopen, and crash + reopen where the
// crash may also cut a random number of bytes off the newest segment or flip a byte near its
// end. After a crash the log must be a prefix of the model that lost only the damaged batches;
// the model is then cut to match. A third of the crashes are power losses through the
// sync_tracker seam instead (drop unsynced, torn prefix, torn pages): nothing below the
// recovery point may be lost. After every reopen the whole log is read back and compared
// batch by batch (offsets, CRC, leader epoch). A failure prints the seed and step, and how to
// replay it. Compaction, retention and power loss are fuzzed in log_model_fuzz_test.cc.
#include "storage/partition_log.h"
#include "storage/sync_tracker.h"
#include "storage_test_util.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <unistd.h>

namespace riacho::storage {
namespace {

using test::batch_spec;
using test::make_batch;
using test::temp_dir;

struct model_batch {
    int64_t base = 0;
    int64_t last = 0;
    size_t size = 0;
    uint32_t crc = 0;
    int32_t epoch = 0;
    int64_t first_timestamp = 0;  // record i has first_timestamp + i
    int32_t first_seq = -1;       // producer batches only
    int32_t last_seq = -1;
};

class log_fuzzer {
public:
    explicit log_fuzzer(uint64_t seed) : _rng(seed), _seed(seed) {
        _tracker.install();
        _cfg.segment_bytes = 3000;
        _cfg.index_interval_bytes = 300;
        _cfg.segment_ms = 60'000;
        _dir = _tmp.path() / "fuzz-topic.a-0";
        reopen();
    }

    void run(int steps) {
        for (_step = 0; _step < steps && !::testing::Test::HasFatalFailure(); ++_step) {
            SCOPED_TRACE(::testing::Message() << "seed " << _seed << " step " << _step);
            int op = pick(0, 99);
            _ops.push_back(op);
            if (op < 40) {
                append_plain();
            } else if (op < 55) {
                append_idempotent();
            } else if (op < 60) {
                retry_idempotent();
            } else if (op < 63) {
                _now += _cfg.segment_ms + 1;
            } else if (op < 78) {
                check_read();
            } else if (op < 83) {
                check_timestamp();
            } else if (op < 86) {
                truncate();
            } else if (op < 89) {
                advance_start();
            } else if (op < 93) {
                ASSERT_TRUE(_log->close().has_value());
                reopen();
            } else {
                crash();
            }
        }
        check_all();
    }

private:
    int64_t pick(int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(_rng);
    }
    int64_t leo() const { return _batches.empty() ? _empty_end : _batches.back().last + 1; }

    void reopen() {
        _log.reset();
        auto log = partition_log::open(_dir, _cfg);
        ASSERT_TRUE(log.has_value());
        _log = std::move(log).value();
    }

    void do_append(std::vector<uint8_t> b, int32_t first_seq, int64_t ts) {
        int32_t epoch = static_cast<int32_t>(pick(0, 3));
        auto h = decode_batch_header(b.data());
        _now += pick(0, 2000);
        auto r = _log->append(b, leader_epoch(epoch), _now);
        ASSERT_TRUE(r.has_value()) << to_string(r.error()) << " " << trace();
        ASSERT_FALSE(r->duplicate);
        ASSERT_EQ(r->base_offset, kafka_offset(leo()));
        model_batch m{leo(),     leo() + h.last_offset_delta,
                      b.size(),  decode_batch_header(b.data()).crc,
                      epoch,     ts,
                      first_seq, first_seq < 0 ? -1 : first_seq + h.last_offset_delta};
        _batches.push_back(m);
        ASSERT_EQ(_log->log_end_offset(), kafka_offset(leo()));
    }

    void append_plain() {
        int64_t ts = _now + pick(-5000, 5000);
        auto b = make_batch(batch_spec{.records = static_cast<int>(pick(1, 6)),
                                       .timestamp = ts,
                                       .value_bytes = static_cast<size_t>(pick(0, 400)),
                                       .fill = static_cast<uint8_t>(pick(0, 255))});
        do_append(std::move(b), -1, ts);
    }

    std::vector<const model_batch*> producer_batches() const {
        std::vector<const model_batch*> out;
        for (const auto& m : _batches) {
            if (m.first_seq >= 0) {
                out.push_back(&m);
            }
        }
        return out;
    }

    void append_idempotent() {
        auto pb = producer_batches();
        int32_t seq = pb.empty() ? 0 : pb.back()->last_seq + 1;
        if (const producer_entry* e = _log->producers().find(producer_id(7));
            pb.empty() && e != nullptr && !e->batches.empty()) {
            // Its batches are all gone from the log (truncated, or below the log start) but the
            // producer state kept from a snapshot still expects the next sequence, as Kafka's.
            seq = e->batches.back().last_sequence + 1;
        }
        int64_t ts = _now + pick(-5000, 5000);
        int records = static_cast<int>(pick(1, 4));
        auto b = make_batch(batch_spec{.records = records,
                                       .timestamp = ts,
                                       .value_bytes = 30,
                                       .producer_id = 7,
                                       .producer_epoch = 0,
                                       .base_sequence = seq});
        do_append(std::move(b), seq, ts);
    }

    void retry_idempotent() {
        auto pb = producer_batches();
        if (pb.empty()) {
            return;
        }
        // Only the last five batches in the log are remembered.
        size_t window = std::min<size_t>(5, pb.size());
        const model_batch& m =
            *pb[pb.size() - 1 - static_cast<size_t>(pick(0, int64_t(window) - 1))];
        if (m.last < _log->log_start_offset().value()) {
            // Its segment may be deleted: after a restart only the snapshot would remember it
            // (Kafka also forgets producer batches below the log start).
            return;
        }
        auto b = make_batch(batch_spec{.records = static_cast<int>(m.last - m.base + 1),
                                       .timestamp = m.first_timestamp,
                                       .value_bytes = 30,
                                       .producer_id = 7,
                                       .producer_epoch = 0,
                                       .base_sequence = m.first_seq});
        auto r = _log->append(b, leader_epoch(0), _now);
        ASSERT_TRUE(r.has_value()) << to_string(r.error()) << " retrying seq " << m.first_seq
                                   << " at offset " << m.base << " " << trace();
        EXPECT_TRUE(r->duplicate);
        EXPECT_EQ(r->base_offset, kafka_offset(m.base));
        EXPECT_EQ(r->last_offset, kafka_offset(m.last));
        ASSERT_EQ(_log->log_end_offset(), kafka_offset(leo()));
    }

    // Model batches at or after the one containing `from`.
    size_t first_index_for(int64_t from) const {
        size_t i = 0;
        while (i < _batches.size() && _batches[i].last < from) {
            ++i;
        }
        return i;
    }

    void check_read() {
        int64_t start = _log->log_start_offset().value();
        int64_t from = pick(start, leo());
        size_t max_bytes = static_cast<size_t>(pick(1, pick(0, 1) ? 3000 : 20000));
        bool min_one = pick(0, 1) == 1;
        std::optional<kafka_offset> bound;
        if (pick(0, 2) == 0) {
            bound = kafka_offset(pick(from, leo()));
        }
        int64_t limit = bound ? bound->value() : leo();
        auto r = _log->read(kafka_offset(from), max_bytes, min_one, bound);
        ASSERT_TRUE(r.has_value());
        auto got = test::parse_batches(test::slice_bytes(*r));
        size_t i = first_index_for(from);
        if (i == _batches.size() || _batches[i].last >= limit ||
            (_batches[i].size > max_bytes && !min_one)) {
            EXPECT_TRUE(got.empty());
            return;
        }
        ASSERT_FALSE(got.empty()) << "from " << from;
        EXPECT_LE(r->size_bytes, std::max(max_bytes, _batches[i].size));
        size_t total = 0;
        for (size_t k = 0; k < got.size(); ++k) {
            ASSERT_LT(i + k, _batches.size());
            const auto& m = _batches[i + k];
            EXPECT_EQ(got[k].base_offset, m.base);
            EXPECT_EQ(got[k].last_offset(), m.last);
            EXPECT_EQ(got[k].crc, m.crc);
            EXPECT_LT(m.last, limit);
            total += m.size;
        }
        EXPECT_EQ(r->next_offset.value(), got.back().last_offset() + 1);
        // As much as allowed: the next batch does not fit, reaches the bound, or starts the
        // next segment (a read never spans segments).
        size_t n = i + got.size();
        if (n < _batches.size()) {
            const auto& next = _batches[n];
            bool segment_start =
                std::filesystem::exists(_dir / offset_file_name(kafka_offset(next.base), ".log"));
            EXPECT_TRUE(total + next.size > max_bytes || next.last >= limit || segment_start)
                << "read stopped early at " << next.base;
        }
    }

    void check_timestamp() {
        int64_t target = _now + pick(-8000, 3000);
        int64_t start = _log->log_start_offset().value();
        std::optional<timestamp_and_offset> expect;
        for (const auto& m : _batches) {
            for (int64_t o = std::max(m.base, start); o <= m.last; ++o) {
                int64_t ts = m.first_timestamp + (o - m.base);
                if (ts >= target) {
                    expect = timestamp_and_offset{ts, kafka_offset(o)};
                    break;
                }
            }
            if (expect) {
                break;
            }
        }
        auto r = _log->offset_for_timestamp(target);
        ASSERT_TRUE(r.has_value());
        EXPECT_EQ(*r, expect) << "target " << target;
    }

    void truncate() {
        int64_t start = _log->log_start_offset().value();
        int64_t to = pick(start, leo());
        ASSERT_TRUE(_log->truncate_to(kafka_offset(to)).has_value());
        if (to < leo()) {
            cut_model_to(first_index_for(to));
        }
        ASSERT_EQ(_log->log_end_offset(), kafka_offset(leo()));
        EXPECT_LE(_log->log_start_offset(), _log->log_end_offset());
    }

    void cut_model_to(size_t keep) {
        if (keep < _batches.size()) {
            int64_t end = _batches[keep].base;
            _batches.resize(keep);
            if (_batches.empty()) {
                _empty_end = std::min(end, _empty_end_floor());
            }
        }
    }
    // An empty log's end is its segment's base: where the first segment starts.
    int64_t _empty_end_floor() const { return _log ? _log->log_end_offset().value() : 0; }

    void advance_start() {
        int64_t start = _log->log_start_offset().value();
        int64_t to = pick(start, leo());
        ASSERT_TRUE(_log->advance_log_start_offset(kafka_offset(to)).has_value());
        EXPECT_EQ(_log->log_start_offset(), kafka_offset(to));
    }

    void crash() {
        if (pick(0, 2) == 0) {
            power_loss();
            return;
        }
        _log.reset();  // no close(): no clean-shutdown marker
        auto logs = test::files_with_suffix(_dir, ".log");
        ASSERT_FALSE(logs.empty());
        auto last = logs.back();
        uint64_t size = std::filesystem::file_size(last);
        uint64_t damaged_from = size;  // bytes at or after this position may be lost
        int kind = static_cast<int>(pick(0, 2));
        if (size > 0 && kind == 1) {
            uint64_t cut = static_cast<uint64_t>(pick(1, static_cast<int64_t>(size)));
            std::filesystem::resize_file(last, size - cut);
            damaged_from = size - cut;
        } else if (size > 0 && kind == 2) {
            // A byte of the last batch, except the partition leader epoch: the one field that
            // neither the CRC nor recovery's checks cover (as in Kafka).
            uint64_t last_batch = last_batch_position(last);
            uint64_t at = 0;
            do {
                at = static_cast<uint64_t>(
                    pick(static_cast<int64_t>(last_batch), static_cast<int64_t>(size) - 1));
            } while (at - last_batch >= 12 && at - last_batch < 16);
            int fd = ::open(last.c_str(), O_RDWR);
            ASSERT_GE(fd, 0);
            uint8_t b = 0;
            ASSERT_EQ(::pread(fd, &b, 1, static_cast<off_t>(at)), 1);
            b ^= static_cast<uint8_t>(1 << pick(0, 7));
            ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(at)), 1);
            ::close(fd);
            damaged_from = at;
        }
        int64_t start_before = _log_start_checkpoint();
        reopen();
        int64_t end = _log->log_end_offset().value();
        // The log is a prefix of the model; what was lost lies in the damaged range.
        size_t keep = 0;
        while (keep < _batches.size() && _batches[keep].last < end) {
            ++keep;
        }
        bool boundary = keep == _batches.size() || _batches[keep].base == end;
        EXPECT_GE(end, start_before);
        if (end <= start_before && !boundary) {
            // Data up to the log start was lost: the log restarted empty there. (At a batch
            // boundary a restart is indistinguishable from keeping the batches below the
            // start, which reads never see, so the model keeps them.)
            _batches.clear();
            _empty_end = end;
        } else {
            ASSERT_TRUE(keep == _batches.size() || _batches[keep].base == end)
                << "log end " << end << " is not a batch boundary; keep " << keep << " of "
                << _batches.size() << " start " << start_before << " kind " << kind << " "
                << trace();
            uint64_t lost = 0;
            for (size_t i = keep; i < _batches.size(); ++i) {
                lost += _batches[i].size;
            }
            size_t max_batch = 0;
            for (const auto& m : _batches) {
                max_batch = std::max(max_batch, m.size);
            }
            EXPECT_LE(lost, size - std::min(size, damaged_from) + max_batch)
                << "lost more than the damaged batch";
            if (kind == 0) {
                EXPECT_EQ(lost, 0u);
            }
            if (keep < _batches.size()) {
                _batches.resize(keep);
                if (_batches.empty()) {
                    _empty_end = end;
                }
            }
        }
        ASSERT_EQ(_log->log_end_offset(), kafka_offset(leo()));
        check_all();
    }

    // The process dies and the machine loses power: every file goes back to its fdatasync'ed
    // bytes (or a torn prefix / page subset of the rest, sync_tracker.h). Everything below the
    // recovery point of that moment survives, with its producer state (retries are still
    // recognised as duplicates afterwards, see retry_idempotent).
    void power_loss() {
        int64_t recovery_point = _log->recovery_point().value();
        int64_t start_before = _log_start_checkpoint();
        _log.reset();
        auto mode = static_cast<crash_mode>(pick(0, 2));
        _tracker.crash(_dir, mode, _seed * 7919 + static_cast<uint64_t>(_step));
        reopen();
        int64_t end = _log->log_end_offset().value();
        SCOPED_TRACE(::testing::Message() << "power loss mode " << int(mode) << " recovery point "
                                          << recovery_point << " end " << leo() << " -> " << end);
        ASSERT_LE(end, leo());
        if (end == leo()) {
            check_all();  // nothing was lost
            return;
        }
        if (end < start_before) {
            FAIL() << "log end below the checkpointed log start";
        }
        size_t keep = first_index_for(end);
        if (end > start_before || (keep < _batches.size() && _batches[keep].base == end)) {
            ASSERT_GE(end, recovery_point) << "lost data below the recovery point " << trace();
            ASSERT_TRUE(keep == _batches.size() || _batches[keep].base == end)
                << "log end " << end << " is not a batch boundary " << trace();
            if (keep < _batches.size()) {
                _batches.resize(keep);
                if (_batches.empty()) {
                    _empty_end = end;
                }
            }
        } else {
            // The data up to the log start was not durable: the log restarted empty there.
            _batches.clear();
            _empty_end = end;
        }
        ASSERT_EQ(_log->log_end_offset(), kafka_offset(leo()));
        check_all();
    }

    static uint64_t last_batch_position(const std::filesystem::path& file) {
        std::ifstream f(file, std::ios::binary);
        std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(f), {}};
        uint64_t pos = 0;
        uint64_t last = 0;
        while (pos + protocol::batch_header_size <= bytes.size()) {
            last = pos;
            pos += decode_batch_header(bytes.data() + pos).total_size_bytes();
        }
        return last;
    }

    int64_t _log_start_checkpoint() const {
        std::ifstream f(_dir / "log-start-offset");
        int64_t v = 0, version = 0;
        if (f >> version >> v) {
            return v;
        }
        return 0;
    }

    void check_all() {
        if (::testing::Test::HasFatalFailure()) {
            return;
        }
        ASSERT_EQ(_log->log_end_offset(), kafka_offset(leo()));
        int64_t start = _log->log_start_offset().value();
        auto got = test::read_all(*_log, kafka_offset(start));
        size_t i = first_index_for(start);
        ASSERT_EQ(got.size(), _batches.size() - i);
        for (size_t k = 0; k < got.size(); ++k) {
            const auto& m = _batches[i + k];
            ASSERT_EQ(got[k].base_offset, m.base);
            ASSERT_EQ(got[k].last_offset(), m.last);
            ASSERT_EQ(got[k].crc, m.crc);
            ASSERT_EQ(got[k].partition_leader_epoch, m.epoch);
        }
    }

    std::string trace() const {
        std::string s = "ops:";
        for (size_t i = _ops.size() > 30 ? _ops.size() - 30 : 0; i < _ops.size(); ++i) {
            s += ' ';
            s += std::to_string(_ops[i]);
        }
        return s;
    }

    std::vector<int> _ops;
    std::mt19937_64 _rng;
    uint64_t _seed;
    int _step = 0;
    sync_tracker _tracker;  // installed for the fuzzer's life (see the constructor)
    temp_dir _tmp;
    std::filesystem::path _dir;
    log_config _cfg;
    std::unique_ptr<partition_log> _log;
    std::vector<model_batch> _batches;
    int64_t _empty_end = 0;  // log end when the model holds no batches
    int64_t _now = 1'000'000;
};

TEST(log_fuzz, random_operations_match_the_model) {
    // RIACHO_STORAGE_FUZZ_SEEDS=N runs seeds 1..N (default 8) for a longer local soak;
    // RIACHO_FUZZ_SEED=S replays seed S alone.
    uint64_t first = 1;
    uint64_t last = 8;
    if (const char* env = std::getenv("RIACHO_STORAGE_FUZZ_SEEDS")) {
        last = std::strtoull(env, nullptr, 10);
    }
    if (const char* one = std::getenv("RIACHO_FUZZ_SEED")) {
        first = last = std::strtoull(one, nullptr, 10);
    }
    for (uint64_t seed = first; seed <= last; ++seed) {
        {
            log_fuzzer f(seed);
            f.run(300);
        }
        if (::testing::Test::HasFailure()) {
            ADD_FAILURE() << "replay: RIACHO_FUZZ_SEED=" << seed
                          << " unit_storage --gtest_filter='log_fuzz.*'";
            return;
        }
    }
}

}  // namespace
}  // namespace riacho::storage
