// Compaction (partition_log::compact): the latest record per key survives with its offset,
// older ones, keyless records and expired tombstones go, the active segment is untouched,
// compressed batches are rebuilt with their codec, an emptied idempotent batch keeps its
// offsets and producer fields, and the result survives a clean and an unclean reopen. Without
// new dirty data a second pass does nothing. A seeded random run (keyed appends, tombstones,
// compactions, clean and unclean reopens) checks after every step that each record read back
// is the one appended at that offset and that every key's latest value is still there.
#include "protocol/control_record.h"
#include "storage_test_util.h"

#include <limits>
#include <map>
#include <random>
#include <set>

namespace riacho::storage::test {
namespace {

constexpr int64_t now_ms = 10'000'000;

log_config compacted_config() {
    log_config cfg;
    cfg.segment_bytes = 400;  // a few batches per segment
    cfg.index_interval_bytes = 64;
    cfg.compact = true;
    cfg.delete_retention_ms = 1000;
    return cfg;
}

struct keyed {
    std::optional<std::string> key;
    std::optional<std::string> value;
    int64_t timestamp = now_ms - 5000;
};

std::vector<uint8_t> keyed_batch(
    const std::vector<keyed>& records,
    protocol::compression_codec codec = protocol::compression_codec::none,
    int64_t producer_id = -1,
    int32_t base_sequence = -1) {
    protocol::batch_builder b;
    b.set_codec(codec);
    if (producer_id >= 0) {
        b.set_producer(producer_id, 0, base_sequence);
    }
    for (const auto& k : records) {
        protocol::batch_builder::record r;
        r.timestamp = k.timestamp;
        if (k.key) {
            r.key = std::vector<uint8_t>(k.key->begin(), k.key->end());
        }
        if (k.value) {
            r.value = std::vector<uint8_t>(k.value->begin(), k.value->end());
        }
        b.add(std::move(r));
    }
    return b.build();
}

void append(partition_log& log, std::vector<uint8_t> batch) {
    auto r = log.append(batch, leader_epoch(0), now_ms);
    ASSERT_TRUE(r.has_value()) << to_string(r.error());
}

// Every record readable from the log start: offset -> (key, value).
std::map<int64_t, std::pair<std::optional<std::string>, std::optional<std::string>>> contents(
    const partition_log& log) {
    std::map<int64_t, std::pair<std::optional<std::string>, std::optional<std::string>>> out;
    kafka_offset from = log.log_start_offset();
    while (from < log.log_end_offset()) {
        auto r = log.read(from, 1 << 20, true);
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
            EXPECT_TRUE(records.has_value());
            if (!records) {
                return out;
            }
            for (const auto& rec : *records) {
                auto text = [](const std::optional<protocol::bytes_view>& b) {
                    return b ? std::optional<std::string>(std::string(b->begin(), b->end()))
                             : std::nullopt;
                };
                out[rec.offset] = {text(rec.key), text(rec.value)};
            }
            pos += h.total_size_bytes();
            from = kafka_offset(h.last_offset() + 1);
        }
    }
    return out;
}

TEST(compaction, keeps_the_latest_record_per_key_at_its_offset) {
    temp_dir tmp;
    auto log = partition_log::open(tmp.path() / "c-0", compacted_config()).value();
    // Five rounds over keys a..d, one record per batch: offsets 0..19; plus keyless records.
    for (int round = 0; round < 5; ++round) {
        for (char k : std::string("abcd")) {
            append(*log,
                   keyed_batch({{std::string(1, k), std::string(1, k) + std::to_string(round)}}));
        }
    }
    append(*log, keyed_batch({{std::nullopt, "no key"}}));  // offset 20
    ASSERT_GE(log->segment_count(), 3u);
    // A big "a" (offset 21) fills a segment of its own, so the next append rolls and the
    // newest "a" (offset 22) is alone in the active segment.
    append(*log, keyed_batch({{"a", std::string(300, 'A')}}));
    append(*log, keyed_batch({{"a", "newest"}}));

    auto before = contents(*log);
    auto done = log->compact(now_ms, /*force=*/true);
    ASSERT_TRUE(done.has_value()) << to_string(done.error());
    EXPECT_GT(done->segments_rewritten, 0u);
    EXPECT_LT(done->bytes_after, done->bytes_before);

    auto after = contents(*log);
    // The latest of b, c, d (round 4) and the latest "a" below the active segment remain;
    // older versions and the keyless record are gone; the active segment is as it was.
    std::set<int64_t> offsets;
    for (const auto& [o, kv] : after) {
        offsets.insert(o);
        EXPECT_EQ(before.at(o), kv) << "offset " << o << " changed";
    }
    EXPECT_EQ(offsets, (std::set<int64_t>{17, 18, 19, 21, 22}));
    EXPECT_EQ(log->log_end_offset(), kafka_offset(23));
    EXPECT_EQ(log->log_start_offset(), kafka_offset(0));

    // Reads from an offset that was removed start at the next one kept.
    auto r = log->read(kafka_offset(3), 1 << 20, true);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(parse_batches(slice_bytes(*r)).front().base_offset, 17);

    // Nothing new is dirty: a second pass rewrites nothing.
    auto again = log->compact(now_ms, false);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->segments_rewritten, 0u);

    // A clean reopen and an unclean one (no close) both read the same records.
    ASSERT_TRUE(log->close().has_value());
    log.reset();
    auto reopened = partition_log::open(tmp.path() / "c-0", compacted_config()).value();
    EXPECT_EQ(contents(*reopened), after);
    append(*reopened, keyed_batch({{"e", "e0"}}));
    reopened.reset();  // no close(): the next open recovers, gaps and all
    auto recovered = partition_log::open(tmp.path() / "c-0", compacted_config()).value();
    auto final_contents = contents(*recovered);
    EXPECT_EQ(final_contents.size(), after.size() + 1);
    EXPECT_EQ(recovered->log_end_offset(), kafka_offset(24));
    EXPECT_TRUE(files_with_suffix(tmp.path() / "c-0", ".tmp").empty());
}

TEST(compaction, tombstones_stay_for_delete_retention_then_go) {
    temp_dir tmp;
    auto log = partition_log::open(tmp.path() / "t-0", compacted_config()).value();
    append(*log, keyed_batch({{"k", "v0"}, {"j", "j0"}}));
    append(*log, keyed_batch({{"k", std::nullopt, now_ms - 500}}));  // tombstone, 500 ms old
    append(*log, keyed_batch({{"pad", std::string(300, 'p')}}));     // rolls
    append(*log, keyed_batch({{"pad", "active"}}));

    ASSERT_TRUE(log->compact(now_ms, true).has_value());
    auto c = contents(*log);
    ASSERT_TRUE(c.contains(2));  // the tombstone is younger than delete.retention.ms
    EXPECT_EQ(c.at(2).second, std::nullopt);
    EXPECT_FALSE(c.contains(0));  // k's old value
    EXPECT_TRUE(c.contains(1));

    ASSERT_TRUE(log->compact(now_ms + 1000, true).has_value());
    c = contents(*log);
    EXPECT_FALSE(c.contains(2));  // past delete.retention.ms: removed
    EXPECT_TRUE(c.contains(1));
}

TEST(compaction, compressed_and_idempotent_batches_keep_codec_offsets_and_producer) {
    temp_dir tmp;
    auto log = partition_log::open(tmp.path() / "z-0", compacted_config()).value();
    append(*log, keyed_batch({{"a", "a0"}, {"b", "b0"}, {"a", "a1"}},
                             protocol::compression_codec::gzip));                       // 0..2
    append(*log, keyed_batch({{"c", "c0"}}, protocol::compression_codec::none, 7, 0));  // 3
    append(*log, keyed_batch({{"c", "c1"}, {"pad", std::string(300, 'p')}}));           // 4..5
    append(*log, keyed_batch({{"pad", "active"}}));

    ASSERT_TRUE(log->compact(now_ms, true).has_value());
    auto batches = read_all(*log, kafka_offset(0));
    ASSERT_GE(batches.size(), 3u);
    // The gzip batch: still offsets 0..2 and gzip, now holding b0 (1) and a1 (2).
    EXPECT_EQ(batches[0].base_offset, 0);
    EXPECT_EQ(batches[0].last_offset(), 2);
    EXPECT_EQ(batches[0].codec(), protocol::compression_codec::gzip);
    EXPECT_EQ(batches[0].records_count, 2);
    // The idempotent producer's batch lost its only record but keeps its span and producer.
    EXPECT_EQ(batches[1].base_offset, 3);
    EXPECT_EQ(batches[1].last_offset(), 3);
    EXPECT_EQ(batches[1].records_count, 0);
    EXPECT_EQ(batches[1].producer_id, 7);
    auto c = contents(*log);
    EXPECT_EQ(c.at(1).second, "b0");
    EXPECT_EQ(c.at(2).second, "a1");
    EXPECT_FALSE(c.contains(0));
    EXPECT_FALSE(c.contains(3));
}

TEST(compaction, only_logs_configured_to_compact_are_touched) {
    temp_dir tmp;
    auto cfg = compacted_config();
    cfg.compact = false;
    auto log = partition_log::open(tmp.path() / "d-0", cfg).value();
    for (int i = 0; i < 10; ++i) {
        append(*log, keyed_batch({{"same", std::string(100, 'x')}}));
    }
    auto before = contents(*log);
    auto done = log->compact(now_ms, true);
    ASSERT_TRUE(done.has_value());
    EXPECT_EQ(done->segments_rewritten, 0u);
    EXPECT_EQ(contents(*log), before);
}

TEST(compaction, lag_settings_decide_what_and_when) {
    temp_dir tmp;
    auto cfg = compacted_config();
    cfg.min_cleanable_dirty_ratio = 0.99;  // never reached below: only the lags decide
    cfg.min_compaction_lag_ms = 60'000;
    cfg.max_compaction_lag_ms = 3'600'000;
    auto log = partition_log::open(tmp.path() / "l-0", cfg).value();
    // Old versions (2 hours ago), then recent ones (10 s ago), each filling segments.
    for (int i = 0; i < 6; ++i) {
        append(*log, keyed_batch({{"k", std::string(150, 'o'), now_ms - 7'200'000}}));
    }
    for (int i = 0; i < 6; ++i) {
        append(*log, keyed_batch({{"k", std::string(150, 'r'), now_ms - 10'000}}));
    }
    auto before = contents(*log);
    // max.compaction.lag.ms is exceeded by the old records: it runs without the ratio, but
    // min.compaction.lag.ms keeps the recent segments (and what they shadow stays too,
    // since the map only holds cleanable segments' keys).
    auto done = log->compact(now_ms, false);
    ASSERT_TRUE(done.has_value());
    EXPECT_GT(done->records_removed, 0);
    auto after = contents(*log);
    size_t recent_before = 0;
    size_t recent_after = 0;
    for (const auto& [o, kv] : before) {
        recent_before += kv.second && (*kv.second)[0] == 'r';
    }
    for (const auto& [o, kv] : after) {
        recent_after += kv.second && (*kv.second)[0] == 'r';
    }
    EXPECT_EQ(recent_after, recent_before) << "a segment younger than min.compaction.lag.ms "
                                              "was cleaned";
    EXPECT_LT(after.size(), before.size());

    // Records all younger than min.compaction.lag.ms: nothing is cleanable yet.
    temp_dir tmp2;
    auto young = partition_log::open(tmp2.path() / "y-0", cfg).value();
    for (int i = 0; i < 12; ++i) {
        append(*young, keyed_batch({{"k", std::string(150, 'y'), now_ms - 30'000}}));
    }
    auto idle = young->compact(now_ms, false);
    ASSERT_TRUE(idle.has_value());
    EXPECT_EQ(idle->segments_rewritten, 0u);
}

TEST(compaction, random_appends_compactions_and_reopens_keep_every_latest_value) {
    for (uint64_t seed : {1u, 2u, 3u}) {
        SCOPED_TRACE(::testing::Message() << "seed " << seed);
        std::mt19937_64 rng(seed);
        auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
        temp_dir tmp;
        auto cfg = compacted_config();
        // Tombstones stay (a horizon that never passes): the model need not track time.
        cfg.delete_retention_ms = std::numeric_limits<int64_t>::max();
        auto dir = tmp.path() / "r-0";
        auto log = partition_log::open(dir, cfg).value();
        // Everything appended, by offset; and the latest offset of each key.
        std::map<int64_t, std::pair<std::optional<std::string>, std::optional<std::string>>> all;
        std::map<std::string, int64_t> latest;
        for (int step = 0; step < 300 && !::testing::Test::HasFatalFailure(); ++step) {
            SCOPED_TRACE(::testing::Message() << "step " << step);
            int op = pick(0, 99);
            if (op < 70) {
                std::vector<keyed> batch;
                for (int i = pick(1, 4); i > 0; --i) {
                    std::string key = "k" + std::to_string(pick(0, 9));
                    std::optional<std::string> value;
                    if (pick(0, 9) > 0) {
                        value =
                            std::string(static_cast<size_t>(pick(1, 60)), 'a' + char(pick(0, 25)));
                    }
                    batch.push_back({key, value});
                }
                int64_t base = log->log_end_offset().value();
                append(*log, keyed_batch(batch, pick(0, 1) ? protocol::compression_codec::none
                                                           : protocol::compression_codec::lz4));
                for (size_t i = 0; i < batch.size(); ++i) {
                    all[base + int64_t(i)] = {batch[i].key, batch[i].value};
                    latest[*batch[i].key] = base + int64_t(i);
                }
            } else if (op < 85) {
                ASSERT_TRUE(log->compact(now_ms, pick(0, 1) == 1).has_value());
            } else if (op < 92) {
                ASSERT_TRUE(log->close().has_value());
                log.reset();
                log = partition_log::open(dir, cfg).value();
            } else {
                log.reset();  // crash without close: recovery must accept cleaned segments
                log = partition_log::open(dir, cfg).value();
            }
            auto read = contents(*log);
            for (const auto& [offset, kv] : read) {
                ASSERT_TRUE(all.contains(offset)) << "offset " << offset;
                ASSERT_EQ(all.at(offset), kv) << "offset " << offset;
            }
            for (const auto& [key, offset] : latest) {
                ASSERT_TRUE(read.contains(offset)) << key << " lost its latest value at " << offset;
            }
            ASSERT_EQ(log->log_end_offset().value(), all.empty() ? 0 : all.rbegin()->first + 1);
        }
    }
}

std::vector<uint8_t> txn_keyed_batch(int64_t producer_id,
                                     int32_t base_sequence,
                                     const std::vector<keyed>& records) {
    protocol::batch_builder b;
    b.set_producer(producer_id, 0, base_sequence).set_transactional(true);
    for (const auto& k : records) {
        protocol::batch_builder::record r;
        r.timestamp = k.timestamp;
        r.key = std::vector<uint8_t>(k.key->begin(), k.key->end());
        r.value = std::vector<uint8_t>(k.value->begin(), k.value->end());
        b.add(std::move(r));
    }
    return b.build();
}

void marker(partition_log& log, int64_t producer_id, bool commit) {
    append(log, protocol::build_txn_marker(producer_id, 0, {commit, 0}, now_ms - 5000));
}

TEST(compaction, aborted_transactions_never_win_and_open_ones_are_not_cleaned) {
    temp_dir tmp;
    auto log = partition_log::open(tmp.path() / "c-0", compacted_config()).value();
    append(*log, txn_keyed_batch(7, 0, {{"k", "committed"}}));  // 0
    marker(*log, 7, true);                                      // 1
    append(*log, txn_keyed_batch(8, 0, {{"k", "aborted"}}));    // 2
    marker(*log, 8, false);                                     // 3
    // Filler so those segments are not the active one.
    for (int i = 0; i < 10; ++i) {
        append(*log, keyed_batch({{"f" + std::to_string(i), "x"}}));
    }
    // An open transaction of producer 9 writes k after that: its segment, and everything
    // after it, must wait for the outcome.
    kafka_offset open_at = log->log_end_offset();
    append(*log, txn_keyed_batch(9, 0, {{"k", "open"}}));
    for (int i = 0; i < 10; ++i) {
        append(*log, keyed_batch({{"g" + std::to_string(i), "y"}}));
    }
    ASSERT_GT(log->segment_count(), 3u);
    ASSERT_EQ(log->last_stable_offset(), open_at);
    ASSERT_TRUE(log->compact(now_ms, /*force=*/true).has_value());
    auto after = contents(*log);
    EXPECT_EQ(after.at(0).second, std::optional<std::string>("committed"))
        << "the aborted value must not replace the committed one";
    EXPECT_EQ(after.count(2), 0u) << "aborted records are removed";
    EXPECT_EQ(after.at(open_at.value()).second, std::optional<std::string>("open"));
    // Once producer 9 aborts, its record goes too and k keeps the committed value.
    marker(*log, 9, false);
    for (int i = 0; i < 10; ++i) {
        append(*log, keyed_batch({{"h" + std::to_string(i), "z"}}));
    }
    ASSERT_TRUE(log->compact(now_ms, /*force=*/true).has_value());
    after = contents(*log);
    EXPECT_EQ(after.at(0).second, std::optional<std::string>("committed"));
    EXPECT_EQ(after.count(open_at.value()), 0u);
    // The aborted-transaction index still lists them for fetches that started earlier.
    EXPECT_EQ(log->aborted_transactions(kafka_offset(0), log->log_end_offset()).size(), 2u);
}

}  // namespace
}  // namespace riacho::storage::test
