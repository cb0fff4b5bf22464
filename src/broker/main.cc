// riacho: the broker binary. `riacho serve` starts a single-node broker; with no options it
// listens on localhost:9092 with data in a default directory.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/config.h"

namespace {

riacho::log::level parse_level(const std::string& s) {
    if (s == "debug") return riacho::log::level::debug;
    if (s == "warn") return riacho::log::level::warn;
    if (s == "error") return riacho::log::level::error;
    return riacho::log::level::info;
}

int serve(const std::optional<std::string>& config_path, const std::vector<std::string>& sets,
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

    CLI11_PARSE(app, argc, argv);
    if (serve_cmd->parsed()) {
        return serve(config_path, sets, ready_file);
    }
    return 0;
}
