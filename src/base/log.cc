#include "base/log.h"

#include <atomic>
#include <chrono>
#include <ctime>
#include <unistd.h>

namespace riacho::log {
namespace {
std::atomic<level> g_level{level::info};

const char* level_name(level l) {
    switch (l) {
        case level::debug:
            return "DEBUG";
        case level::info:
            return "INFO";
        case level::warn:
            return "WARN";
        case level::error:
            return "ERROR";
    }
    return "?";
}
}  // namespace

void set_level(level l) { g_level.store(l, std::memory_order_relaxed); }
level current_level() { return g_level.load(std::memory_order_relaxed); }

void write_line(level l, std::string_view module, std::string_view message) {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm_utc{};
    gmtime_r(&secs, &tm_utc);
    std::string line =
        fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} [{}] {}\n",
                    tm_utc.tm_year + 1900, tm_utc.tm_mon + 1, tm_utc.tm_mday, tm_utc.tm_hour,
                    tm_utc.tm_min, tm_utc.tm_sec, ms % 1000, level_name(l), module, message);
    // One write per line keeps lines whole when several threads log at once.
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
}

}  // namespace riacho::log
