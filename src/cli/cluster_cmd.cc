// riacho cluster info; riacho config get|set (topic and broker configs)
#include "cli/commands.h"
#include "cli/configs.h"

#include <fmt/format.h>

namespace riacho::cli {

namespace {

// ---------------------------------------------------------------- cluster info
struct info_opts {
    common_options common;
};

int run_info(info_opts& o) {
    client c(o.common, client::kind::producer);
    auto md = c.metadata();
    size_t partitions = 0;
    size_t topics = 0;
    for (const auto& [name, ti] : md.topics) {
        if (ti.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ++topics;
            partitions += ti.partitions.size();
        }
    }
    table brokers({"id", "host", "port", "controller"});
    for (const auto& b : md.brokers) {
        brokers.add_row({num(b.id), str(b.host), num(b.port), boolean(b.id == md.controller_id)});
    }
    if (o.common.format() == output_format::json) {
        fmt::print("{}\n", json_object()
                               .add("cluster_id",
                                    md.cluster_id.empty() ? "null" : json_quote(md.cluster_id))
                               .add("controller_id", num(md.controller_id))
                               .add("topics", num(static_cast<int64_t>(topics)))
                               .add("partitions", num(static_cast<int64_t>(partitions)))
                               .add("brokers", brokers.to_json())
                               .str());
        return exit_ok;
    }
    fmt::print("Cluster id: {}\nController: {}\nTopics: {}  Partitions: {}\n\n",
               md.cluster_id.empty() ? "-" : md.cluster_id, md.controller_id, topics, partitions);
    fmt::print("{}", brokers.to_text());
    return exit_ok;
}

// ---------------------------------------------------------------- config get|set
struct resource_opts {
    std::string topic;
    std::optional<int32_t> broker;
    bool broker_defaults = false;
};

void add_resource_options(CLI::App* cmd, resource_opts& r) {
    auto* t = cmd->add_option("-t,--topic", r.topic, "A topic's configs");
    auto* b = cmd->add_option("--broker", r.broker, "A broker's configs (by node id)");
    auto* d = cmd->add_flag("--broker-defaults", r.broker_defaults,
                            "The cluster-wide dynamic broker defaults");
    t->excludes(b)->excludes(d);
    b->excludes(d);
}

std::pair<rd_kafka_ResourceType_t, std::string> resource_of(const resource_opts& r) {
    if (!r.topic.empty()) {
        return {RD_KAFKA_RESOURCE_TOPIC, r.topic};
    }
    if (r.broker) {
        return {RD_KAFKA_RESOURCE_BROKER, std::to_string(*r.broker)};
    }
    if (r.broker_defaults) {
        return {RD_KAFKA_RESOURCE_BROKER, ""};
    }
    throw cli_error(exit_usage,
                    "say whose configs: --topic NAME, --broker ID or --broker-defaults");
}

struct get_opts {
    common_options common;
    resource_opts resource;
    std::vector<std::string> keys;
    bool all = false;
};

int run_get(get_opts& o) {
    auto [type, name] = resource_of(o.resource);
    client c(o.common, client::kind::producer);
    c.metadata();
    auto entries = describe_configs(c, type, name);
    table t({"config", "value", "source", "read_only"});
    for (const auto& key : o.keys) {
        if (std::none_of(entries.begin(), entries.end(),
                         [&](const auto& e) { return e.name == key; })) {
            throw cli_error(exit_failure, fmt::format("{} has no config '{}'; see `riacho config "
                                                      "get` for the valid names",
                                                      resource_label(type, name), key));
        }
    }
    for (const auto& e : entries) {
        bool wanted = o.keys.empty()
                          ? (o.all || !e.is_default)
                          : std::find(o.keys.begin(), o.keys.end(), e.name) != o.keys.end();
        if (!wanted) {
            continue;
        }
        cell value = e.value ? str(*e.value)
                             : (o.common.format() == output_format::json
                                    ? null_cell()
                                    : str(e.sensitive ? "(sensitive)" : ""));
        t.add_row({str(e.name), value, str(e.source), boolean(e.read_only)});
    }
    t.print(o.common.format());
    return exit_ok;
}

struct set_opts {
    common_options common;
    resource_opts resource;
    std::vector<std::string> pairs;
    std::vector<std::string> deletes;
    bool validate_only = false;
};

int run_set(set_opts& o) {
    std::map<std::string, std::string> set;
    for (const auto& kv : o.pairs) {
        auto [k, v] = split_key_value(kv, "config");
        set[k] = v;
    }
    if (set.empty() && o.deletes.empty()) {
        throw cli_error(exit_usage, "nothing to set: pass key=value arguments or --delete KEY");
    }
    auto [type, name] = resource_of(o.resource);
    client c(o.common, client::kind::producer);
    c.metadata();
    alter_configs(c, type, name, set, o.deletes, o.validate_only);
    if (o.common.format() == output_format::json) {
        fmt::print("{}\n", json_object()
                               .add("resource", json_quote(resource_label(type, name)))
                               .add("validate_only", boolean(o.validate_only))
                               .add("updated", boolean(true))
                               .str());
    } else {
        fmt::print(stderr, "{} configs of {}.\n", o.validate_only ? "Validated" : "Updated",
                   resource_label(type, name));
    }
    return exit_ok;
}

}  // namespace

void add_cluster_commands(CLI::App& app, commands& cmds) {
    auto* cluster = app.add_subcommand("cluster", "Inspect the cluster");
    cluster->require_subcommand(1);
    auto* info = cluster->add_subcommand("info", "Show the cluster id, controller and brokers");
    auto io = add_leaf<info_opts>(info, cmds, &run_info);
    finish_leaf(info, io->common,
                "  riacho cluster info\n  riacho cluster info -b kafka1:9092 -o json\n");

    auto* config = app.add_subcommand("config", "Read and change topic and broker configs");
    config->require_subcommand(1);
    auto* get =
        config->add_subcommand("get", "Show configs (non-default ones unless --all or keys)");
    auto go = add_leaf<get_opts>(get, cmds, &run_get);
    add_resource_options(get, go->resource);
    get->add_option("key", go->keys, "Only these configs");
    get->add_flag("-a,--all", go->all, "Include configs at their default");
    finish_leaf(get, go->common,
                "  riacho config get --topic orders\n"
                "  riacho config get --topic orders retention.ms cleanup.policy\n"
                "  riacho config get --broker 1 --all\n");

    auto* set = config->add_subcommand("set", "Change configs (others keep their values)");
    auto so = add_leaf<set_opts>(set, cmds, &run_set);
    add_resource_options(set, so->resource);
    set->add_option("key=value", so->pairs, "Configs to set");
    set->add_option("--delete", so->deletes,
                    "Remove an override, back to the default (repeatable)");
    set->add_flag("--validate-only", so->validate_only, "Ask the broker to check, change nothing");
    finish_leaf(set, so->common,
                "  riacho config set --topic orders retention.ms=86400000\n"
                "  riacho config set --topic orders --delete retention.ms\n"
                "  riacho config set --broker 1 log.cleaner.threads=2\n");
}

}  // namespace riacho::cli
