// riacho topic create|list|describe|alter|delete
#include "cli/commands.h"
#include "cli/configs.h"

#include <fmt/format.h>

namespace riacho::cli {

namespace {

using new_topic_ptr = std::unique_ptr<rd_kafka_NewTopic_t, c_deleter<rd_kafka_NewTopic_destroy>>;
using delete_topic_ptr =
    std::unique_ptr<rd_kafka_DeleteTopic_t, c_deleter<rd_kafka_DeleteTopic_destroy>>;
using new_partitions_ptr =
    std::unique_ptr<rd_kafka_NewPartitions_t, c_deleter<rd_kafka_NewPartitions_destroy>>;

std::map<std::string, std::string> parse_configs(const std::vector<std::string>& kvs) {
    std::map<std::string, std::string> out;
    for (const auto& kv : kvs) {
        auto [k, v] = split_key_value(kv, "--config");
        out[k] = v;
    }
    return out;
}

std::string join_ids(const std::vector<int32_t>& ids) {
    return fmt::format("{}", fmt::join(ids, ","));
}

std::string ids_json(const std::vector<int32_t>& ids) {
    return fmt::format("[{}]", fmt::join(ids, ","));
}

// Checks one topic_result of CreateTopics/DeleteTopics/CreatePartitions.
void check_topic_results(const rd_kafka_topic_result_t** results,
                         size_t n,
                         std::string_view verb,
                         rd_kafka_resp_err_t ignore = RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (size_t i = 0; i < n; ++i) {
        auto err = rd_kafka_topic_result_error(results[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == ignore) {
            continue;
        }
        const char* name = rd_kafka_topic_result_name(results[i]);
        const char* msg = rd_kafka_topic_result_error_string(results[i]);
        if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            throw cli_error(exit_failure, fmt::format("cannot {} topic '{}': it does not exist; "
                                                      "list topics with `riacho topic list`",
                                                      verb, name));
        }
        fail_kafka(err, fmt::format("{} topic '{}'", verb, name), msg != nullptr ? msg : "");
    }
}

// ---------------------------------------------------------------- create
struct create_opts {
    common_options common;
    std::string name;
    int partitions = -1;
    int replication_factor = -1;
    std::vector<std::string> configs;
    bool if_not_exists = false;
};

int run_create(create_opts& o) {
    auto configs = parse_configs(o.configs);
    client c(o.common, client::kind::producer);
    char errstr[512];
    new_topic_ptr nt(rd_kafka_NewTopic_new(o.name.c_str(), o.partitions, o.replication_factor,
                                           errstr, sizeof(errstr)));
    if (!nt) {
        throw cli_error(exit_usage, fmt::format("invalid topic '{}': {}", o.name, errstr));
    }
    for (const auto& [k, v] : configs) {
        rd_kafka_NewTopic_set_config(nt.get(), k.c_str(), v.c_str());
    }
    c.metadata();  // fail fast and clearly when no broker answers
    queue_ptr q(rd_kafka_queue_new(c.handle()));
    rd_kafka_NewTopic_t* arr[] = {nt.get()};
    rd_kafka_CreateTopics(c.handle(), arr, 1, c.admin_options(RD_KAFKA_ADMIN_OP_CREATETOPICS),
                          q.get());
    auto ev = c.wait_admin(q.get(), fmt::format("create topic '{}'", o.name));
    size_t n = 0;
    const auto** results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
    check_topic_results(
        results, n, "create",
        o.if_not_exists ? RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS : RD_KAFKA_RESP_ERR_NO_ERROR);
    if (o.common.format() == output_format::json) {
        fmt::print("{}\n",
                   json_object().add("topic", json_quote(o.name)).add("created", "true").str());
    } else {
        fmt::print("Created topic {}.\n", o.name);
    }
    return exit_ok;
}

// ---------------------------------------------------------------- list
struct list_opts {
    common_options common;
    bool all = false;
};

int run_list(list_opts& o) {
    client c(o.common, client::kind::producer);
    auto md = c.metadata();
    table t({"topic", "partitions", "replication_factor"});
    for (const auto& [name, ti] : md.topics) {
        if (!o.all && name.rfind("__", 0) == 0) {
            continue;
        }
        size_t rf = ti.partitions.empty() ? 0 : ti.partitions.front().replicas.size();
        t.add_row({str(name), num(static_cast<int64_t>(ti.partitions.size())),
                   num(static_cast<int64_t>(rf))});
    }
    t.print(o.common.format());
    return exit_ok;
}

// ---------------------------------------------------------------- describe
struct describe_opts {
    common_options common;
    std::vector<std::string> names;
    bool all_configs = false;
};

int run_describe(describe_opts& o) {
    client c(o.common, client::kind::producer);
    std::vector<std::string> json_items;
    bool first = true;
    for (const auto& name : o.names) {
        topic_info ti = c.topic(name);
        auto configs = describe_configs(c, RD_KAFKA_RESOURCE_TOPIC, name);
        table parts({"partition", "leader", "replicas", "isr", "log_start_offset", "high_watermark",
                     "records"});
        std::vector<std::string> parts_json;
        int64_t total = 0;
        for (const auto& p : ti.partitions) {
            auto [low, high] = c.watermarks(name, p.id);
            total += high - low;
            parts.add_row({num(p.id), num(p.leader), str(join_ids(p.replicas)),
                           str(join_ids(p.isr)), num(low), num(high), num(high - low)});
            parts_json.push_back(json_object()
                                     .add("partition", num(p.id))
                                     .add("leader", num(p.leader))
                                     .add("replicas", ids_json(p.replicas))
                                     .add("isr", ids_json(p.isr))
                                     .add("log_start_offset", num(low))
                                     .add("high_watermark", num(high))
                                     .str());
        }
        table cfg({"config", "value", "source"});
        json_object cfg_json;
        for (const auto& e : configs) {
            if (!o.all_configs && e.is_default) {
                continue;
            }
            cfg.add_row({str(e.name), str(e.value.value_or(e.sensitive ? "(sensitive)" : "")),
                         str(e.source)});
            cfg_json.add(e.name, e.value ? json_quote(*e.value) : "null");
        }
        size_t rf = ti.partitions.empty() ? 0 : ti.partitions.front().replicas.size();
        if (o.common.format() == output_format::json) {
            json_items.push_back(
                json_object()
                    .add("topic", json_quote(name))
                    .add("partition_count", num(static_cast<int64_t>(ti.partitions.size())))
                    .add("replication_factor", num(static_cast<int64_t>(rf)))
                    .add("partitions", json_array(parts_json))
                    .add("configs", cfg_json.str())
                    .str());
            continue;
        }
        if (!first) {
            fmt::print("\n");
        }
        first = false;
        fmt::print("Topic: {}  Partitions: {}  Replication factor: {}  Records: {}\n\n", name,
                   ti.partitions.size(), rf, total);
        fmt::print("{}", parts.to_text());
        fmt::print("\n{}:\n",
                   o.all_configs ? "Configs" : "Configs (non-default; --all-configs for all)");
        if (cfg.size() == 0) {
            fmt::print("  (none)\n");
        } else {
            fmt::print("{}", cfg.to_text());
        }
    }
    if (o.common.format() == output_format::json) {
        fmt::print("{}\n", o.names.size() == 1 ? json_items.front() : json_array(json_items));
    }
    return exit_ok;
}

// ---------------------------------------------------------------- alter
struct alter_opts {
    common_options common;
    std::string name;
    int partitions = 0;
    std::vector<std::string> configs;
    std::vector<std::string> delete_configs;
};

int run_alter(alter_opts& o) {
    auto configs = parse_configs(o.configs);
    if (o.partitions == 0 && configs.empty() && o.delete_configs.empty()) {
        throw cli_error(exit_usage,
                        "nothing to alter: pass --partitions N, --config key=value "
                        "or --delete-config key");
    }
    client c(o.common, client::kind::producer);
    topic_info ti = c.topic(o.name);
    if (o.partitions != 0 && static_cast<size_t>(o.partitions) != ti.partitions.size()) {
        char errstr[512];
        new_partitions_ptr np(rd_kafka_NewPartitions_new(
            o.name.c_str(), static_cast<size_t>(o.partitions), errstr, sizeof(errstr)));
        if (!np) {
            throw cli_error(exit_usage, fmt::format("invalid --partitions: {}", errstr));
        }
        queue_ptr q(rd_kafka_queue_new(c.handle()));
        rd_kafka_NewPartitions_t* arr[] = {np.get()};
        rd_kafka_CreatePartitions(c.handle(), arr, 1,
                                  c.admin_options(RD_KAFKA_ADMIN_OP_CREATEPARTITIONS), q.get());
        auto ev = c.wait_admin(q.get(), fmt::format("add partitions to topic '{}'", o.name));
        size_t n = 0;
        const auto** results = rd_kafka_CreatePartitions_result_topics(
            rd_kafka_event_CreatePartitions_result(ev.get()), &n);
        check_topic_results(results, n, "add partitions to");
        fmt::print(stderr, "Topic {} now has {} partitions.\n", o.name, o.partitions);
    }
    if (!configs.empty() || !o.delete_configs.empty()) {
        alter_configs(c, RD_KAFKA_RESOURCE_TOPIC, o.name, configs, o.delete_configs);
        fmt::print(stderr, "Updated configs of topic {}.\n", o.name);
    }
    return exit_ok;
}

// ---------------------------------------------------------------- delete
struct delete_opts {
    common_options common;
    std::vector<std::string> names;
    bool if_exists = false;
};

int run_delete(delete_opts& o) {
    client c(o.common, client::kind::producer);
    c.metadata();
    std::vector<delete_topic_ptr> owned;
    std::vector<rd_kafka_DeleteTopic_t*> arr;
    for (const auto& name : o.names) {
        owned.emplace_back(rd_kafka_DeleteTopic_new(name.c_str()));
        arr.push_back(owned.back().get());
    }
    queue_ptr q(rd_kafka_queue_new(c.handle()));
    rd_kafka_DeleteTopics(c.handle(), arr.data(), arr.size(),
                          c.admin_options(RD_KAFKA_ADMIN_OP_DELETETOPICS), q.get());
    auto ev = c.wait_admin(q.get(), "delete topics");
    size_t n = 0;
    const auto** results =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.get()), &n);
    check_topic_results(
        results, n, "delete",
        o.if_exists ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART : RD_KAFKA_RESP_ERR_NO_ERROR);
    for (const auto& name : o.names) {
        fmt::print(stderr, "Deleted topic {}.\n", name);
    }
    return exit_ok;
}

}  // namespace

void add_topic_commands(CLI::App& app, commands& cmds) {
    auto* topic = app.add_subcommand("topic", "Create, list, describe, alter and delete topics");
    topic->require_subcommand(1);

    auto* create = topic->add_subcommand("create", "Create a topic");
    auto co = add_leaf<create_opts>(create, cmds, &run_create);
    create->add_option("name", co->name, "Topic name")->required();
    create->add_option("-p,--partitions", co->partitions,
                       "Number of partitions (default: the broker's num.partitions)");
    create->add_option("-r,--replication-factor", co->replication_factor,
                       "Replicas per partition (default: the broker's default.replication.factor)");
    create->add_option("-c,--config", co->configs, "Topic config key=value (repeatable)");
    create->add_flag("--if-not-exists", co->if_not_exists, "Succeed when the topic already exists");
    finish_leaf(create, co->common,
                "  riacho topic create orders --partitions 3 --replication-factor 1\n"
                "  riacho topic create audit -c retention.ms=86400000 -c cleanup.policy=compact\n");

    auto* list = topic->add_subcommand("list", "List topics");
    auto lo = add_leaf<list_opts>(list, cmds, &run_list);
    list->add_flag("-a,--all", lo->all, "Include internal topics (__consumer_offsets, ...)");
    finish_leaf(list, lo->common, "  riacho topic list\n  riacho topic list --output json\n");

    auto* describe = topic->add_subcommand(
        "describe", "Show a topic's partitions, leaders, replicas, ISR, offsets and configs");
    auto dop = add_leaf<describe_opts>(describe, cmds, &run_describe);
    describe->add_option("name", dop->names, "Topic name(s)")->required();
    describe->add_flag("--all-configs", dop->all_configs, "Show default configs too");
    finish_leaf(describe, dop->common,
                "  riacho topic describe orders\n  riacho topic describe orders --output json\n");

    auto* alter = topic->add_subcommand("alter", "Add partitions or change a topic's configs");
    auto ao = add_leaf<alter_opts>(alter, cmds, &run_alter);
    alter->add_option("name", ao->name, "Topic name")->required();
    alter
        ->add_option("-p,--partitions", ao->partitions,
                     "New total number of partitions (can only grow)")
        ->check(CLI::PositiveNumber);
    alter->add_option("-c,--config", ao->configs, "Set a topic config key=value (repeatable)");
    alter->add_option("--delete-config", ao->delete_configs,
                      "Remove a topic config override, back to the default (repeatable)");
    finish_leaf(
        alter, ao->common,
        "  riacho topic alter orders --partitions 6\n"
        "  riacho topic alter orders -c retention.ms=3600000 --delete-config cleanup.policy\n");

    auto* del = topic->add_subcommand("delete", "Delete topics and all their records");
    auto xo = add_leaf<delete_opts>(del, cmds, &run_delete);
    del->add_option("name", xo->names, "Topic name(s)")->required();
    del->add_flag("--if-exists", xo->if_exists, "Succeed when a topic does not exist");
    finish_leaf(del, xo->common, "  riacho topic delete orders\n");
}

}  // namespace riacho::cli
