// The metadata log on disk and the quorum-state file: what the core relies on survives a
// reopen, truncation cuts the file too, and a damaged quorum-state is never read as "nothing".
#include "raft/file_log.h"

#include "raft/quorum_state_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace riacho::raft {
namespace {

class temp_dir {
public:
    temp_dir() {
        _path =
            std::filesystem::temp_directory_path() /
            ("riacho-raft-log-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
        std::filesystem::create_directories(_path);
    }
    ~temp_dir() { std::filesystem::remove_all(_path); }
    const std::filesystem::path& path() const { return _path; }

private:
    static int& counter() {
        static int n = 0;
        return n;
    }
    std::filesystem::path _path;
};

log_entry data(int32_t epoch, std::string text) {
    return {leader_epoch(epoch), entry_kind::data, std::move(text)};
}

TEST(file_log, entries_survive_a_reopen_and_truncation_cuts_the_file) {
    temp_dir dir;
    auto log_dir = dir.path() / "__cluster_metadata-0";
    {
        auto opened = file_log::open(log_dir);
        ASSERT_TRUE(opened) << opened.error();
        auto& log = **opened;
        std::vector<log_entry> entries{data(1, "a"),
                                       {leader_epoch(2), entry_kind::leader_change, {}},
                                       data(2, "b"),
                                       data(3, "c")};
        log.append(entries);
        log.flush();
        EXPECT_EQ(log.end_offset_and_epoch(), (offset_and_epoch{kafka_offset(4), leader_epoch(3)}));
        EXPECT_EQ(log.end_offset_for_epoch(leader_epoch(2)),
                  (offset_and_epoch{kafka_offset(3), leader_epoch(2)}));
        EXPECT_EQ(log.data_end_at_or_below(kafka_offset(2)), kafka_offset(1));
        log.truncate_to(kafka_offset(3));
        log.flush();
    }
    auto reopened = file_log::open(log_dir);
    ASSERT_TRUE(reopened) << reopened.error();
    auto& log = **reopened;
    EXPECT_EQ(log.end_offset_and_epoch(), (offset_and_epoch{kafka_offset(3), leader_epoch(2)}));
    auto read = log.read(kafka_offset(0), 10);
    ASSERT_EQ(read.size(), 3u);
    EXPECT_EQ(read[0], data(1, "a"));
    EXPECT_EQ(read[1].kind, entry_kind::leader_change);
    EXPECT_EQ(read[2], data(2, "b"));
    EXPECT_EQ(log.data_end_at_or_below(kafka_offset(3)), kafka_offset(3));
    EXPECT_FALSE(log.end_offset_for_epoch(leader_epoch(0)));
}

std::vector<log_entry> numbered(int32_t epoch, int from, int count) {
    std::vector<log_entry> out;
    for (int i = from; i < from + count; ++i) {
        out.push_back(data(epoch, "entry " + std::to_string(i)));
    }
    return out;
}

TEST(file_log, a_snapshot_trims_the_log_and_is_where_it_starts_after_a_reopen) {
    temp_dir dir;
    auto log_dir = dir.path() / "__cluster_metadata-0";
    snapshot_id first{kafka_offset(4), leader_epoch(1)};
    snapshot_id second{kafka_offset(7), leader_epoch(2)};
    {
        auto opened = file_log::open(log_dir);
        ASSERT_TRUE(opened) << opened.error();
        auto& log = **opened;
        log.append(numbered(1, 0, 5));
        log.append(numbered(2, 5, 4));
        log.flush();
        log.write_snapshot_and_trim(first, "image at 4");
        EXPECT_EQ(log.log_start_offset(), kafka_offset(4));
        EXPECT_TRUE(std::filesystem::exists(file_log::snapshot_path(log_dir, first)));
        EXPECT_EQ(file_log::snapshot_path(log_dir, first).filename().string(),
                  "00000000000000000004-0000000001.checkpoint");
        log.write_snapshot_and_trim(second, "image at 7");
        // Only the latest snapshot is kept; the older is gone with the log below it.
        EXPECT_FALSE(std::filesystem::exists(file_log::snapshot_path(log_dir, first)));
        EXPECT_FALSE(log.read_snapshot(first));
        EXPECT_EQ(log.read_snapshot(second), "image at 7");
        EXPECT_EQ(log.read(kafka_offset(7), 10), numbered(2, 7, 2));
        // Epoch 1 ended inside the snapshot: where is no longer known.
        EXPECT_FALSE(log.end_offset_for_epoch(leader_epoch(1)));
        EXPECT_EQ(log.data_end_at_or_below(kafka_offset(7)), kafka_offset(7));
    }
    auto reopened = file_log::open(log_dir);
    ASSERT_TRUE(reopened) << reopened.error();
    auto& log = **reopened;
    EXPECT_EQ(log.latest_snapshot(), second);
    EXPECT_EQ(log.log_start_offset(), kafka_offset(7));
    EXPECT_EQ(log.end_offset_and_epoch(), (offset_and_epoch{kafka_offset(9), leader_epoch(2)}));
    EXPECT_EQ(log.read(kafka_offset(7), 10), numbered(2, 7, 2));
    EXPECT_EQ(log.read_snapshot(second), "image at 7");
}

TEST(file_log, a_log_empty_past_its_snapshot_ends_in_the_snapshots_epoch) {
    temp_dir dir;
    auto log_dir = dir.path() / "__cluster_metadata-0";
    auto opened = file_log::open(log_dir);
    ASSERT_TRUE(opened) << opened.error();
    auto& log = **opened;
    log.append(numbered(3, 0, 3));
    log.write_snapshot_and_trim({kafka_offset(3), leader_epoch(3)}, "all of it");
    EXPECT_EQ(log.end_offset_and_epoch(), (offset_and_epoch{kafka_offset(3), leader_epoch(3)}));
    EXPECT_EQ(log.end_offset_for_epoch(leader_epoch(5)),
              (offset_and_epoch{kafka_offset(3), leader_epoch(3)}));
    EXPECT_FALSE(log.end_offset_for_epoch(leader_epoch(2)));
    log.append(numbered(4, 3, 1));
    EXPECT_EQ(log.end_offset_for_epoch(leader_epoch(3)),
              (offset_and_epoch{kafka_offset(3), leader_epoch(3)}));
}

TEST(file_log, an_installed_snapshot_replaces_the_whole_log) {
    temp_dir dir;
    auto log_dir = dir.path() / "__cluster_metadata-0";
    snapshot_id leaders{kafka_offset(50), leader_epoch(6)};
    {
        auto opened = file_log::open(log_dir);
        ASSERT_TRUE(opened) << opened.error();
        auto& log = **opened;
        log.append(numbered(1, 0, 3));
        log.flush();
        log.install_snapshot(leaders, "the leader's image");
        EXPECT_EQ(log.log_start_offset(), kafka_offset(50));
        EXPECT_EQ(log.end_offset_and_epoch(),
                  (offset_and_epoch{kafka_offset(50), leader_epoch(6)}));
        EXPECT_TRUE(log.read(kafka_offset(50), 10).empty());
        log.append(numbered(6, 50, 2));
        log.flush();
    }
    auto reopened = file_log::open(log_dir);
    ASSERT_TRUE(reopened) << reopened.error();
    EXPECT_EQ((*reopened)->latest_snapshot(), leaders);
    EXPECT_EQ((*reopened)->read(kafka_offset(50), 10), numbered(6, 50, 2));
}

TEST(file_log, a_crash_between_snapshot_and_trim_or_install_is_finished_at_open) {
    temp_dir dir;
    auto log_dir = dir.path() / "__cluster_metadata-0";
    {
        auto opened = file_log::open(log_dir);
        ASSERT_TRUE(opened) << opened.error();
        (*opened)->append(numbered(1, 0, 6));
        (*opened)->flush();
    }
    // The snapshot file was written, the log not trimmed yet; a half-written one is ignored.
    std::ofstream(file_log::snapshot_path(log_dir, {kafka_offset(4), leader_epoch(1)}))
        << "image at 4";
    std::ofstream(file_log::snapshot_path(log_dir, {kafka_offset(5), leader_epoch(1)}).string() +
                  ".tmp")
        << "half";
    {
        auto opened = file_log::open(log_dir);
        ASSERT_TRUE(opened) << opened.error();
        EXPECT_EQ((*opened)->log_start_offset(), kafka_offset(4));
        EXPECT_EQ((*opened)->read(kafka_offset(4), 10), numbered(1, 4, 2));
        EXPECT_EQ((*opened)->read_snapshot({kafka_offset(4), leader_epoch(1)}), "image at 4");
    }
    // An installed snapshot past the log's end: the log restarts empty at it.
    std::ofstream(file_log::snapshot_path(log_dir, {kafka_offset(90), leader_epoch(3)}))
        << "image at 90";
    auto opened = file_log::open(log_dir);
    ASSERT_TRUE(opened) << opened.error();
    EXPECT_EQ((*opened)->log_start_offset(), kafka_offset(90));
    EXPECT_EQ((*opened)->end_offset_and_epoch(),
              (offset_and_epoch{kafka_offset(90), leader_epoch(3)}));
    EXPECT_FALSE(std::filesystem::exists(
        file_log::snapshot_path(log_dir, {kafka_offset(5), leader_epoch(1)}).string() + ".tmp"));
}

TEST(file_log, a_log_that_starts_past_zero_without_its_snapshot_is_refused) {
    temp_dir dir;
    auto log_dir = dir.path() / "__cluster_metadata-0";
    {
        auto opened = file_log::open(log_dir);
        ASSERT_TRUE(opened) << opened.error();
        (*opened)->append(numbered(1, 0, 6));
        (*opened)->write_snapshot_and_trim({kafka_offset(4), leader_epoch(1)}, "image");
    }
    std::filesystem::remove(file_log::snapshot_path(log_dir, {kafka_offset(4), leader_epoch(1)}));
    auto opened = file_log::open(log_dir);
    ASSERT_FALSE(opened);
    EXPECT_NE(opened.error().find("no snapshot ends there"), std::string::npos) << opened.error();
}

TEST(quorum_state_file, a_written_state_is_read_back_and_a_damaged_one_is_refused) {
    temp_dir dir;
    auto path = dir.path() / "quorum-state";
    {
        quorum_state_file file(path);
        EXPECT_FALSE(file.read());
        file.write({leader_epoch(7), node_id(2), node_id(3)});
    }
    quorum_state_file again(path);
    ASSERT_TRUE(again.read());
    EXPECT_EQ(*again.read(), (quorum_state{leader_epoch(7), node_id(2), node_id(3)}));
    EXPECT_EQ(quorum_state_file::parse(quorum_state_file::format({leader_epoch(1), {}, {}})),
              (quorum_state{leader_epoch(1), {}, {}}));
    EXPECT_FALSE(quorum_state_file::parse("{\"leaderId\":1}"));
    EXPECT_FALSE(quorum_state_file::parse("{\"leaderId\":1,\"leaderEpoch\":-4,\"votedId\":-1}"));
    EXPECT_FALSE(quorum_state_file::parse("garbage"));
    // A file that does not parse stops the node rather than forgetting a vote.
    std::ofstream(path) << "{\"leaderId\":";
    EXPECT_DEATH(quorum_state_file broken(path), "quorum-state");
}

}  // namespace
}  // namespace riacho::raft
