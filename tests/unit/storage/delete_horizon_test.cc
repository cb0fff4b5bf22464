// KIP-534 delete horizons: a tombstone is removed only delete.retention.ms after the first
// cleaning that kept it, not by its own timestamp. Checks the on-disk form Kafka uses (batch
// attribute bit 6, base_timestamp = the horizon, record timestamps unchanged as deltas from
// it, a valid CRC), that a later cleaning neither moves the horizon nor removes the tombstone
// before it, that it is removed at the horizon, also after a restart (the horizon is on disk)
// and without new dirty data (a passed horizon makes the log cleanable), and that fetch reads
// and validation accept such batches.
#include "storage_test_util.h"

#include <limits>

namespace riacho::storage::test {
namespace {

constexpr int64_t now_ms = 50'000'000;
constexpr int64_t retention_ms = 10'000;

log_config compacted() {
    log_config cfg;
    cfg.segment_bytes = 300;
    cfg.index_interval_bytes = 64;
    cfg.compact = true;
    cfg.delete_retention_ms = retention_ms;
    return cfg;
}

std::vector<uint8_t> record(const std::string& key,
                            std::optional<std::string> value,
                            int64_t timestamp) {
    protocol::batch_builder b;
    protocol::batch_builder::record r;
    r.timestamp = timestamp;
    r.key = std::vector<uint8_t>(key.begin(), key.end());
    if (value) {
        r.value = std::vector<uint8_t>(value->begin(), value->end());
    }
    b.add(std::move(r));
    return b.build();
}

void append(partition_log& log, std::vector<uint8_t> b) {
    ASSERT_TRUE(log.append(b, leader_epoch(0), now_ms).has_value());
}

// The batch holding `offset`, with its bytes, or nullopt when compaction removed it.
struct found_batch {
    protocol::batch_header header;
    std::vector<uint8_t> bytes;
};
std::optional<found_batch> batch_at(const partition_log& log, int64_t offset) {
    for (kafka_offset from = log.log_start_offset(); from < log.log_end_offset();) {
        auto r = log.read(from, 1, true);
        EXPECT_TRUE(r.has_value());
        if (!r || r->size_bytes == 0) {
            break;
        }
        auto bytes = slice_bytes(*r);
        auto h = decode_batch_header(bytes.data());
        if (h.base_offset <= offset && offset <= h.last_offset()) {
            std::vector<uint8_t> scratch;
            auto records = protocol::decode_records(bytes, scratch);
            EXPECT_TRUE(records.has_value());
            if (!records) {
                return std::nullopt;
            }
            for (const auto& rec : *records) {
                if (rec.offset == offset) {
                    return found_batch{h, bytes};
                }
            }
            return std::nullopt;
        }
        from = kafka_offset(h.last_offset() + 1);
    }
    return std::nullopt;
}

// k=v0 (0), a tombstone for k written long ago (1), padding that rolls (2), active (3).
std::unique_ptr<partition_log> log_with_old_tombstone(const std::filesystem::path& dir) {
    auto log = partition_log::open(dir, compacted()).value();
    append(*log, record("k", "v0", now_ms - 100'000));
    append(*log, record("k", std::nullopt, now_ms - 100'000));  // older than retention_ms
    append(*log, record("pad", std::string(200, 'p'), now_ms - 100'000));
    append(*log, record("pad", "active", now_ms));
    return log;
}

TEST(delete_horizon, first_cleaning_sets_it_the_way_kafka_writes_it) {
    temp_dir tmp;
    auto log = log_with_old_tombstone(tmp.path() / "h-0");
    ASSERT_TRUE(log->compact(now_ms, true).has_value());
    auto b = batch_at(*log, 1);
    ASSERT_TRUE(b.has_value()) << "the tombstone must stay until its horizon";
    EXPECT_FALSE(batch_at(*log, 0).has_value());  // k's older value went
    const auto& h = b->header;
    EXPECT_TRUE(h.attributes & protocol::batch_attributes::delete_horizon);
    EXPECT_EQ(h.delete_horizon_ms(), now_ms + retention_ms);
    EXPECT_EQ(h.base_timestamp, now_ms + retention_ms);
    EXPECT_EQ(h.max_timestamp, now_ms - 100'000);  // kept: retention still sees the data's age
    // The record's own timestamp is unchanged (a negative delta from the horizon), and the
    // batch passes full validation with a valid CRC, as a fetching client checks it.
    std::vector<uint8_t> scratch;
    auto records = protocol::decode_records(b->bytes, scratch);
    ASSERT_TRUE(records.has_value());
    ASSERT_EQ(records->size(), 1u);
    EXPECT_EQ((*records)[0].timestamp, now_ms - 100'000);
    EXPECT_FALSE((*records)[0].value.has_value());
    protocol::validation_options opts;
    opts.require_contiguous_offsets = false;
    EXPECT_TRUE(protocol::validate_batch(b->bytes, opts).has_value());
}

TEST(delete_horizon, tombstone_goes_at_the_horizon_not_before_and_the_horizon_does_not_move) {
    temp_dir tmp;
    auto log = log_with_old_tombstone(tmp.path() / "h-0");
    ASSERT_TRUE(log->compact(now_ms, true).has_value());
    ASSERT_TRUE(log->compact(now_ms + retention_ms - 1, true).has_value());
    auto b = batch_at(*log, 1);
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->header.delete_horizon_ms(), now_ms + retention_ms);
    ASSERT_TRUE(log->compact(now_ms + retention_ms, true).has_value());
    EXPECT_FALSE(batch_at(*log, 1).has_value());
    EXPECT_TRUE(batch_at(*log, 2).has_value());
}

TEST(delete_horizon, survives_a_restart_and_a_passed_horizon_triggers_a_cleaning) {
    temp_dir tmp;
    auto dir = tmp.path() / "h-0";
    {
        auto log = log_with_old_tombstone(dir);
        ASSERT_TRUE(log->compact(now_ms, true).has_value());
        ASSERT_TRUE(log->close().has_value());
    }
    {
        auto log = partition_log::open(dir, compacted()).value();
        ASSERT_TRUE(batch_at(*log, 1).has_value());
        // A restarted log treats everything as dirty: this pass rewrites nothing it must not.
        ASSERT_TRUE(log->compact(now_ms + 1, false).has_value());
        auto b = batch_at(*log, 1);
        ASSERT_TRUE(b.has_value());
        EXPECT_EQ(b->header.delete_horizon_ms(), now_ms + retention_ms);
        // Nothing new was written, so the dirty ratio is 0: only the horizon can trigger this.
        auto done = log->compact(now_ms + retention_ms, false);
        ASSERT_TRUE(done.has_value());
        EXPECT_GE(done->records_removed, 1);
        EXPECT_FALSE(batch_at(*log, 1).has_value());
    }
}

TEST(delete_horizon, saturates_instead_of_overflowing) {
    temp_dir tmp;
    auto cfg = compacted();
    cfg.delete_retention_ms = std::numeric_limits<int64_t>::max();
    auto log = partition_log::open(tmp.path() / "h-0", cfg).value();
    append(*log, record("k", std::nullopt, now_ms));
    append(*log, record("pad", std::string(200, 'p'), now_ms));
    append(*log, record("pad", "active", now_ms));
    ASSERT_TRUE(log->compact(now_ms, true).has_value());
    auto b = batch_at(*log, 0);
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->header.delete_horizon_ms(), std::numeric_limits<int64_t>::max());
    ASSERT_TRUE(log->compact(std::numeric_limits<int64_t>::max() - 1, true).has_value());
    EXPECT_TRUE(batch_at(*log, 0).has_value());
}

TEST(delete_horizon, rebuild_keeps_record_timestamps_relative_to_the_horizon) {
    protocol::batch_builder bb;
    for (int i = 0; i < 3; ++i) {
        protocol::batch_builder::record r;
        r.timestamp = 1000 + i;
        r.key = std::vector<uint8_t>{uint8_t('a' + i)};
        bb.add(std::move(r));
    }
    auto original = bb.build();
    auto h = decode_batch_header(original.data());
    std::vector<uint8_t> scratch;
    auto records = protocol::decode_records(original, scratch).value();
    std::vector<protocol::record_view> keep{records[0], records[2]};
    auto rebuilt = protocol::rebuild_batch(h, keep, std::nullopt, int64_t{5000});
    auto rh = decode_batch_header(rebuilt.data());
    EXPECT_EQ(rh.attributes, h.attributes | protocol::batch_attributes::delete_horizon);
    EXPECT_EQ(rh.base_timestamp, 5000);
    EXPECT_EQ(rh.last_offset_delta, 2);
    std::vector<uint8_t> scratch2;
    auto back = protocol::decode_records(rebuilt, scratch2).value();
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[0].timestamp, 1000);
    EXPECT_EQ(back[1].timestamp, 1002);
    EXPECT_EQ(back[1].offset, 2);
    // Rebuilding it again without a new horizon keeps the first one.
    auto again = protocol::rebuild_batch(rh, std::vector<protocol::record_view>{back[1]});
    EXPECT_EQ(decode_batch_header(again.data()).delete_horizon_ms(), 5000);
    std::vector<uint8_t> scratch3;
    EXPECT_EQ(protocol::decode_records(again, scratch3).value()[0].timestamp, 1002);
}

}  // namespace
}  // namespace riacho::storage::test
