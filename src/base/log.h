// Minimal structured logging to stderr: one line per event, with level, time and module.
// Thread-safe (one write(2) per line). The level is set once at startup.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace riacho::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(level l);
level current_level();
void write_line(level l, std::string_view module, std::string_view message);

template <typename... Args>
void emit(level l, std::string_view module, fmt::format_string<Args...> f, Args&&... args) {
    if (l < current_level()) {
        return;
    }
    write_line(l, module, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace riacho::log

#define LOG_DEBUG(module, ...) ::riacho::log::emit(::riacho::log::level::debug, module, __VA_ARGS__)
#define LOG_INFO(module, ...) ::riacho::log::emit(::riacho::log::level::info, module, __VA_ARGS__)
#define LOG_WARN(module, ...) ::riacho::log::emit(::riacho::log::level::warn, module, __VA_ARGS__)
#define LOG_ERROR(module, ...) ::riacho::log::emit(::riacho::log::level::error, module, __VA_ARGS__)
