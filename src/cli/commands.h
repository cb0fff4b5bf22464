// How each command group registers itself with CLI11. Internal to src/cli.
#pragma once

#include "cli/cli.h"
#include "cli/client.h"

#include <CLI/CLI.hpp>

#include <memory>

namespace riacho::cli {

// Registers a leaf command: its options live in a shared Opts (owned by the CLI11 callback,
// shared so the option bindings into it stay valid as long as the app), and when CLI11 selects
// the command, `run(opts)` becomes cmds.selected. Opts must have `common_options common`.
template <typename Opts>
std::shared_ptr<Opts> add_leaf(CLI::App* cmd, commands& cmds, int (*run)(Opts&)) {
    auto o = std::make_shared<Opts>();
    cmd->callback([&cmds, o, run] { cmds.selected = [o, run] { return run(*o); }; });
    return o;
}

// Call after adding a leaf's own options, so the common ones come last in --help.
inline void finish_leaf(CLI::App* cmd, common_options& common, const char* examples) {
    add_common_options(cmd, common);
    cmd->footer(std::string("Examples:\n") + examples);
}

// Fails with exit_unsupported when the cluster cannot run consumer groups (asks the group's
// coordinator to describe it). Used before joining a group.
void probe_group_support(client& c, const std::string& group);

void add_topic_commands(CLI::App& app, commands& cmds);
void add_produce_command(CLI::App& app, commands& cmds);
void add_consume_command(CLI::App& app, commands& cmds);
void add_group_commands(CLI::App& app, commands& cmds);
void add_cluster_commands(CLI::App& app, commands& cmds);
void add_bench_commands(CLI::App& app, commands& cmds);
void add_help_commands(CLI::App& app, commands& cmds);
void add_dump_log_command(CLI::App& app, commands& cmds);

}  // namespace riacho::cli
