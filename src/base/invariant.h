// Assertions for broken invariants (bugs). Always on, even in release builds: a bug must stop
// the process loudly rather than corrupt a log. Input from the network or disk is never an
// invariant: validate it and return an error instead.
#pragma once

#include <fmt/format.h>

#include <string>

namespace riacho {

// The location comes from compiler builtins rather than std::source_location, which clang 14
// with libstdc++ 12 (Debian 12) does not provide.
[[noreturn]] void invariant_failed(
    const char* expr, const std::string& message, const char* file, int line, const char* function);

}  // namespace riacho

#define INVARIANT(cond, ...)                                                                     \
    do {                                                                                         \
        if (!(cond)) [[unlikely]] {                                                              \
            ::riacho::invariant_failed(#cond, ::fmt::format("" __VA_ARGS__), __FILE__, __LINE__, \
                                       __func__);                                                \
        }                                                                                        \
    } while (0)

#ifndef NDEBUG
#define DEBUG_INVARIANT(cond, ...) INVARIANT(cond, __VA_ARGS__)
#else
#define DEBUG_INVARIANT(cond, ...) \
    do {                           \
    } while (0)
#endif
