// riacho::cli: the `riacho` subcommands for people and scripts (topic, produce, consume, group,
// cluster, config, bench, help, completion). Every command talks to any Kafka-compatible
// cluster through librdkafka; see docs/cli.md.
//
// Usage from main(): `auto cmds = add_commands(app);` before parsing, then after parsing
// `if (auto rc = run_selected(*cmds)) return *rc;`. The returned object owns the parsed
// option values and must outlive the parse. Single-threaded: main thread only.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <optional>

namespace riacho::cli {

// Exit codes, documented in docs/cli.md so scripts can branch on them.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;      // the operation failed (broker said no, not delivered)
inline constexpr int exit_usage = 2;        // bad flag or argument
inline constexpr int exit_unreachable = 3;  // no broker answered at the bootstrap address
inline constexpr int exit_unsupported = 4;  // the broker does not implement the needed API

// Which leaf command was parsed; set by the command's CLI11 callback.
struct commands {
    std::function<int()> selected;
};

[[nodiscard]] std::unique_ptr<commands> add_commands(CLI::App& app);

// Runs the parsed command; nullopt when no cli command was selected. Errors are printed as
// one line on stderr ("riacho: ...") and turned into the exit codes above.
[[nodiscard]] std::optional<int> run_selected(const commands& cmds);

}  // namespace riacho::cli
