#include "cli/cli.h"

#include "cli/commands.h"

#include <fmt/format.h>

#include <cstdio>

namespace riacho::cli {

std::unique_ptr<commands> add_commands(CLI::App& app) {
    auto cmds = std::make_unique<commands>();
    add_topic_commands(app, *cmds);
    add_produce_command(app, *cmds);
    add_consume_command(app, *cmds);
    add_group_commands(app, *cmds);
    add_cluster_commands(app, *cmds);
    add_bench_commands(app, *cmds);
    add_dump_log_command(app, *cmds);
    add_help_commands(app, *cmds);
    return cmds;
}

std::optional<int> run_selected(const commands& cmds) {
    if (!cmds.selected) {
        return std::nullopt;
    }
    try {
        return cmds.selected();
    } catch (const cli_error& e) {
        std::fflush(stdout);
        fmt::print(stderr, "riacho: {}\n", e.what());
        return e.exit_code();
    } catch (const std::exception& e) {
        std::fflush(stdout);
        fmt::print(stderr, "riacho: unexpected error: {}\n", e.what());
        return exit_failure;
    }
}

}  // namespace riacho::cli
