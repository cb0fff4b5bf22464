// riacho: the one binary. `riacho serve` starts a single-node broker; with no options it
// listens on localhost:9092 with data in a default directory. The other subcommands (topic,
// produce, consume, group, cluster, config, bench, help, completion) come from src/cli.
#include "base/log.h"
#include "broker/broker.h"
#include "broker/config.h"
#include "cli/cli.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

namespace {

riacho::log::level parse_level(const std::string& s) {
    if (s == "debug") return riacho::log::level::debug;
    if (s == "warn") return riacho::log::level::warn;
    if (s == "error") return riacho::log::level::error;
    return riacho::log::level::info;
}

int serve(const std::optional<std::string>& config_path,
          const std::vector<std::string>& sets,
          const std::optional<std::string>& ready_file) {
    riacho::broker::broker_config config;
    try {
        config = riacho::broker::load_broker_config(config_path, sets);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "riacho: invalid configuration: %s\n", e.what());
        return 2;
    }
    riacho::log::set_level(parse_level(config.log_level));
    riacho::broker::broker b(std::move(config));
    if (auto error = b.start(ready_file)) {
        std::fprintf(stderr, "riacho: cannot start: %s\n", error->c_str());
        return 1;
    }
    return b.run();
}

// One line for any usage error, naming the command whose --help explains it.
std::string usage_error(const CLI::App* app, const CLI::Error& e) {
    std::string path = "riacho";
    const CLI::App* cur = app;
    while (cur != nullptr) {
        auto parsed = cur->get_subcommands();
        cur = parsed.empty() ? nullptr : parsed.front();
        if (cur != nullptr) {
            path += " " + cur->get_name();
        }
    }
    std::string what = e.what();
    for (auto& ch : what) {
        if (ch == '\n') ch = ' ';
    }
    return "riacho: " + what + "; see `" + path + " --help`\n";
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Riacho: an event streaming platform that speaks the Apache Kafka protocol"};
    app.require_subcommand(1);

    auto* serve_cmd = app.add_subcommand("serve", "Run a broker");
    std::optional<std::string> config_path;
    std::vector<std::string> sets;
    std::optional<std::string> ready_file;
    serve_cmd->add_option("-c,--config", config_path,
                          "server.properties file with Kafka's setting names");
    serve_cmd->add_option("--set", sets, "Override one setting: --set key=value (repeatable)");
    serve_cmd->add_option("--ready-file", ready_file,
                          "Write host:port here once the broker serves (for scripts and tests)");
    serve_cmd->footer(
        "Examples:\n"
        "  riacho serve\n"
        "  riacho serve --config server.properties\n"
        "  riacho serve --set listeners=PLAINTEXT://127.0.0.1:9093 --set log.dirs=/tmp/riacho\n");

    app.add_subcommand("version", "Print the version")->callback([] {
        std::cout << "riacho 0.1.0\n";
    });

    auto cli_commands = riacho::cli::add_commands(app);
    app.failure_message(usage_error);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : riacho::cli::exit_usage;
    }
    if (serve_cmd->parsed()) {
        return serve(config_path, sets, ready_file);
    }
    if (auto rc = riacho::cli::run_selected(*cli_commands)) {
        return *rc;
    }
    return 0;
}
