// raft: the durable quorum-state (epoch, vote, known leader) in a small file next to the
// metadata log, `__cluster_metadata-0/quorum-state`, as KRaft keeps it. JSON with KRaft's
// field names so an operator reading it sees the familiar shape:
//   {"leaderId":1,"leaderEpoch":3,"votedId":-1,"data_version":0}
// A write goes to a temporary file, is fsynced, renamed over the old one and the directory
// fsynced: after a crash the file holds the old state or the new one, never a mix.
//
// Thread: the raft node's thread only.
#pragma once

#include "raft/log.h"

#include <filesystem>
#include <optional>
#include <string>

namespace riacho::raft {

class quorum_state_file final : public quorum_state_store {
public:
    explicit quorum_state_file(std::filesystem::path path);

    std::optional<quorum_state> read() const override;
    // Aborts the process when the state cannot be made durable: the core must not vote or
    // lead on a state it could forget (Kafka's KRaft exits the same way).
    void write(const quorum_state& state) override;

    // Text <-> state; nullopt for text that is not a quorum-state. Exposed for tests.
    static std::string format(const quorum_state& state);
    static std::optional<quorum_state> parse(const std::string& text);

private:
    std::filesystem::path _path;
    std::optional<quorum_state> _cached;  // what the file holds (read once, then written)
};

}  // namespace riacho::raft
