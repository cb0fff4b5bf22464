#include "raft/quorum_state_file.h"

#include "base/invariant.h"
#include "base/log.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace riacho::raft {

namespace {

// The integer after `"key":` in `text`, if present.
std::optional<int64_t> json_int(const std::string& text, const std::string& key) {
    auto at = text.find("\"" + key + "\"");
    if (at == std::string::npos) {
        return std::nullopt;
    }
    auto colon = text.find(':', at);
    if (colon == std::string::npos) {
        return std::nullopt;
    }
    size_t pos = colon + 1;
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) {
        ++pos;
    }
    size_t end = pos;
    if (end < text.size() && text[end] == '-') {
        ++end;
    }
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
        ++end;
    }
    if (end == pos || (end == pos + 1 && text[pos] == '-')) {
        return std::nullopt;
    }
    try {
        return std::stoll(text.substr(pos, end - pos));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool fsync_path(const std::filesystem::path& p, int flags) {
    int fd = ::open(p.c_str(), flags | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

quorum_state_file::quorum_state_file(std::filesystem::path path) : _path(std::move(path)) {
    std::ifstream in(_path);
    if (!in) {
        return;
    }
    std::stringstream text;
    text << in.rdbuf();
    _cached = parse(text.str());
    // An unreadable state is not silently replaced by "nothing known": that could grant a
    // second vote in an epoch. Stop and let the operator look.
    INVARIANT(_cached.has_value(), "quorum-state file '{}' is not readable: '{}'", _path.string(),
              text.str());
}

std::optional<quorum_state> quorum_state_file::read() const { return _cached; }

std::string quorum_state_file::format(const quorum_state& state) {
    return fmt::format("{{\"leaderId\":{},\"leaderEpoch\":{},\"votedId\":{},\"data_version\":0}}\n",
                       state.leader_id ? state.leader_id->value() : -1, state.epoch.value(),
                       state.voted_for ? state.voted_for->value() : -1);
}

std::optional<quorum_state> quorum_state_file::parse(const std::string& text) {
    auto leader = json_int(text, "leaderId");
    auto epoch = json_int(text, "leaderEpoch");
    auto voted = json_int(text, "votedId");
    if (!leader || !epoch || !voted || *epoch < 0 || *epoch > INT32_MAX || *leader < -1 ||
        *leader > INT32_MAX || *voted < -1 || *voted > INT32_MAX) {
        return std::nullopt;
    }
    quorum_state state;
    state.epoch = leader_epoch(static_cast<int32_t>(*epoch));
    if (*leader >= 0) {
        state.leader_id = node_id(static_cast<int32_t>(*leader));
    }
    if (*voted >= 0) {
        state.voted_for = node_id(static_cast<int32_t>(*voted));
    }
    return state;
}

void quorum_state_file::write(const quorum_state& state) {
    auto tmp = _path;
    tmp += ".tmp";
    std::string text = format(state);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    if (ok) {
        ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
        ok = ok && ::fsync(fd) == 0;
        ::close(fd);
    }
    std::error_code ec;
    if (ok) {
        std::filesystem::rename(tmp, _path, ec);
        ok = !ec && fsync_path(_path.parent_path(), O_RDONLY | O_DIRECTORY);
    }
    INVARIANT(ok, "cannot write the quorum-state file '{}': {}", _path.string(),
              ec ? ec.message() : std::string(std::strerror(errno)));
    _cached = state;
}

}  // namespace riacho::raft
