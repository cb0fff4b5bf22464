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
