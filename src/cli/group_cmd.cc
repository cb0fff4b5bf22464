// riacho group list|describe|delete|reset-offsets
#include "cli/commands.h"

#include <fmt/format.h>

#include <map>
#include <set>

namespace riacho::cli {

namespace {

using delete_group_ptr =
    std::unique_ptr<rd_kafka_DeleteGroup_t, c_deleter<rd_kafka_DeleteGroup_destroy>>;
using list_offsets_ptr = std::unique_ptr<rd_kafka_ListConsumerGroupOffsets_t,
                                         c_deleter<rd_kafka_ListConsumerGroupOffsets_destroy>>;
using alter_offsets_ptr = std::unique_ptr<rd_kafka_AlterConsumerGroupOffsets_t,
                                          c_deleter<rd_kafka_AlterConsumerGroupOffsets_destroy>>;

[[noreturn]] void fail_group_error(const rd_kafka_error_t* e, std::string_view doing) {
    fail_kafka(rd_kafka_error_code(e), doing, rd_kafka_error_string(e));
}

struct member_row {
    std::string consumer_id, host, client_id;
};

struct group_description {
    std::string group;
    std::string state;
    std::string assignor;
    int32_t coordinator = -1;
    bool simple = false;
    std::vector<member_row> members;
    std::map<std::pair<std::string, int32_t>, size_t> owner;  // partition -> index in members
};

std::vector<group_description> describe_groups(client& c, const std::vector<std::string>& groups) {
    std::vector<const char*> names;
    for (const auto& g : groups) {
        names.push_back(g.c_str());
    }
    queue_ptr q(rd_kafka_queue_new(c.handle()));
    rd_kafka_DescribeConsumerGroups(c.handle(), names.data(), names.size(),
                                    c.admin_options(RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS),
                                    q.get());
    auto ev = c.wait_admin(q.get(), "describe consumer groups");
    size_t n = 0;
    const auto** descs = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(ev.get()), &n);
    std::vector<group_description> out;
    for (size_t i = 0; i < n; ++i) {
        const auto* d = descs[i];
        std::string id = rd_kafka_ConsumerGroupDescription_group_id(d);
        if (const auto* e = rd_kafka_ConsumerGroupDescription_error(d)) {
            fail_group_error(e, fmt::format("describe group '{}'", id));
        }
        group_description g;
        g.group = id;
        g.state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(d));
        if (const char* a = rd_kafka_ConsumerGroupDescription_partition_assignor(d)) {
            g.assignor = a;
        }
        if (const auto* node = rd_kafka_ConsumerGroupDescription_coordinator(d)) {
            g.coordinator = rd_kafka_Node_id(node);
        }
        g.simple = rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d) != 0;
        for (size_t m = 0; m < rd_kafka_ConsumerGroupDescription_member_count(d); ++m) {
            const auto* md = rd_kafka_ConsumerGroupDescription_member(d, m);
            g.members.push_back({rd_kafka_MemberDescription_consumer_id(md),
                                 rd_kafka_MemberDescription_host(md),
                                 rd_kafka_MemberDescription_client_id(md)});
            const auto* parts =
                rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
            for (int p = 0; parts != nullptr && p < parts->cnt; ++p) {
                g.owner[{parts->elems[p].topic, parts->elems[p].partition}] = g.members.size() - 1;
            }
        }
        out.push_back(std::move(g));
    }
    return out;
}

// Committed offsets of one group: (topic, partition) -> offset.
std::map<std::pair<std::string, int32_t>, int64_t> committed_offsets(client& c,
                                                                     const std::string& group) {
    queue_ptr q(rd_kafka_queue_new(c.handle()));
    list_offsets_ptr req(rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), nullptr));
    rd_kafka_ListConsumerGroupOffsets_t* arr[] = {req.get()};
    rd_kafka_ListConsumerGroupOffsets(
        c.handle(), arr, 1, c.admin_options(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS), q.get());
    std::string doing = fmt::format("read committed offsets of group '{}'", group);
    auto ev = c.wait_admin(q.get(), doing);
    size_t n = 0;
    const auto** results = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(ev.get()), &n);
    std::map<std::pair<std::string, int32_t>, int64_t> out;
    for (size_t i = 0; i < n; ++i) {
        if (const auto* e = rd_kafka_group_result_error(results[i])) {
            fail_group_error(e, doing);
        }
        const auto* parts = rd_kafka_group_result_partitions(results[i]);
        for (int p = 0; parts != nullptr && p < parts->cnt; ++p) {
            const auto& tp = parts->elems[p];
            if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                fail_kafka(tp.err, fmt::format("{} ({}-{})", doing, tp.topic, tp.partition));
            }
            if (tp.offset >= 0) {
                out[{tp.topic, tp.partition}] = tp.offset;
            }
        }
    }
    return out;
}

// ---------------------------------------------------------------- list
struct list_opts {
    common_options common;
};

int run_list(list_opts& o) {
    client c(o.common, client::kind::producer);
    c.metadata();
    queue_ptr q(rd_kafka_queue_new(c.handle()));
    rd_kafka_ListConsumerGroups(c.handle(), c.admin_options(RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS),
                                q.get());
    auto ev = c.wait_admin(q.get(), "list consumer groups");
    const auto* result = rd_kafka_event_ListConsumerGroups_result(ev.get());
    size_t nerr = 0;
    const auto** errors = rd_kafka_ListConsumerGroups_result_errors(result, &nerr);
    if (nerr > 0) {
        fail_group_error(errors[0], "list consumer groups");
    }
    size_t n = 0;
    const auto** groups = rd_kafka_ListConsumerGroups_result_valid(result, &n);
    std::vector<std::pair<std::string, std::string>> rows;
    for (size_t i = 0; i < n; ++i) {
        rows.emplace_back(
            rd_kafka_ConsumerGroupListing_group_id(groups[i]),
            rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(groups[i])));
    }
    std::sort(rows.begin(), rows.end());
    table t({"group", "state"});
    for (auto& [g, s] : rows) {
        t.add_row({str(g), str(s)});
    }
    t.print(o.common.format());
    return exit_ok;
}

// ---------------------------------------------------------------- describe
struct describe_opts {
    common_options common;
    std::vector<std::string> groups;
};

int run_describe(describe_opts& o) {
    client c(o.common, client::kind::producer);
    c.metadata();
    auto descs = describe_groups(c, o.groups);
    std::vector<std::string> json_items;
    bool first = true;
    for (const auto& g : descs) {
        auto committed = committed_offsets(c, g.group);
        // Partitions: committed ones plus the assigned ones without a commit yet.
        std::set<std::pair<std::string, int32_t>> parts;
        for (const auto& [tp, off] : committed) {
            parts.insert(tp);
        }
        for (const auto& [tp, idx] : g.owner) {
            parts.insert(tp);
        }
        table t({"topic", "partition", "current_offset", "log_end_offset", "lag", "consumer_id",
                 "host", "client_id"});
        int64_t total_lag = 0;
        for (const auto& tp : parts) {
            auto [low, high] = c.watermarks(tp.first, tp.second);
            (void)low;
            auto it = committed.find(tp);
            cell current = it != committed.end() ? num(it->second) : null_cell();
            cell lag = null_cell();
            if (it != committed.end()) {
                int64_t l = std::max<int64_t>(0, high - it->second);
                total_lag += l;
                lag = num(l);
            }
            auto own = g.owner.find(tp);
            member_row m = own != g.owner.end() ? g.members[own->second] : member_row{};
            if (o.common.format() == output_format::table) {
                if (current.text == "null") current = str("-");
                if (lag.text == "null") lag = str("-");
                if (m.consumer_id.empty()) m = {"-", "-", "-"};
            }
            t.add_row({str(tp.first), num(tp.second), current, num(high), lag, str(m.consumer_id),
                       str(m.host), str(m.client_id)});
        }
        if (o.common.format() == output_format::json) {
            json_items.push_back(json_object()
                                     .add("group", json_quote(g.group))
                                     .add("state", json_quote(g.state))
                                     .add("protocol", json_quote(g.assignor))
                                     .add("coordinator", num(g.coordinator))
                                     .add("members", num(static_cast<int64_t>(g.members.size())))
                                     .add("total_lag", num(total_lag))
                                     .add("offsets", t.to_json())
                                     .str());
            continue;
        }
        if (!first) {
            fmt::print("\n");
        }
        first = false;
        fmt::print("Group: {}  State: {}  Members: {}  Coordinator: {}  Assignor: {}  Lag: {}\n\n",
                   g.group, g.state, g.members.size(), g.coordinator,
                   g.assignor.empty() ? "-" : g.assignor, total_lag);
        if (t.size() == 0) {
            fmt::print("  (no committed offsets and no assigned partitions)\n");
        } else {
            fmt::print("{}", t.to_text());
        }
    }
    if (o.common.format() == output_format::json) {
        fmt::print("{}\n", o.groups.size() == 1 ? json_items.front() : json_array(json_items));
    }
    return exit_ok;
}

// ---------------------------------------------------------------- delete
struct delete_opts {
    common_options common;
    std::vector<std::string> groups;
};

int run_delete(delete_opts& o) {
    client c(o.common, client::kind::producer);
    c.metadata();
    std::vector<delete_group_ptr> owned;
    std::vector<rd_kafka_DeleteGroup_t*> arr;
    for (const auto& g : o.groups) {
        owned.emplace_back(rd_kafka_DeleteGroup_new(g.c_str()));
        arr.push_back(owned.back().get());
    }
    queue_ptr q(rd_kafka_queue_new(c.handle()));
    rd_kafka_DeleteGroups(c.handle(), arr.data(), arr.size(),
                          c.admin_options(RD_KAFKA_ADMIN_OP_DELETEGROUPS), q.get());
    auto ev = c.wait_admin(q.get(), "delete consumer groups");
    size_t n = 0;
    const auto** results =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev.get()), &n);
    for (size_t i = 0; i < n; ++i) {
        if (const auto* e = rd_kafka_group_result_error(results[i])) {
            fail_group_error(
                e, fmt::format("delete group '{}'", rd_kafka_group_result_name(results[i])));
        }
        fmt::print(stderr, "Deleted group {}.\n", rd_kafka_group_result_name(results[i]));
    }
    return exit_ok;
}

// ---------------------------------------------------------------- reset-offsets
struct reset_opts {
    common_options common;
    std::string group;
    std::vector<std::string> topics;
    bool all_topics = false;
    bool to_earliest = false;
    bool to_latest = false;
    std::optional<int64_t> to_offset;
    std::string to_datetime;
    std::optional<int64_t> shift_by;
    bool dry_run = false;
};

int run_reset(reset_opts& o) {
    int modes = int(o.to_earliest) + int(o.to_latest) + int(o.to_offset.has_value()) +
                int(!o.to_datetime.empty()) + int(o.shift_by.has_value());
    if (modes != 1) {
        throw cli_error(exit_usage,
                        "pass exactly one of --to-earliest, --to-latest, --to-offset, "
                        "--to-datetime, --shift-by");
    }
    if (o.topics.empty() == !o.all_topics) {
        throw cli_error(exit_usage, "pass --topic TOPIC[:P,P...] (repeatable) or --all-topics");
    }
    int64_t ts_ms = o.to_datetime.empty() ? -1 : parse_timestamp_ms(o.to_datetime, "--to-datetime");
    client c(o.common, client::kind::producer);
    auto md = c.metadata();
    auto committed = committed_offsets(c, o.group);
    std::vector<std::pair<std::string, int32_t>> targets;
    if (o.all_topics) {
        for (const auto& [tp, off] : committed) {
            targets.push_back(tp);
        }
    }
    for (const auto& spec : o.topics) {
        auto colon = spec.find(':');
        std::string topic = spec.substr(0, colon);
        auto it = md.topics.find(topic);
        if (it == md.topics.end() || it->second.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            throw cli_error(exit_failure, fmt::format("topic '{}' does not exist; list topics "
                                                      "with `riacho topic list`",
                                                      topic));
        }
        if (colon == std::string::npos) {
            for (const auto& p : it->second.partitions) {
                targets.emplace_back(topic, p.id);
            }
            continue;
        }
        std::string list = spec.substr(colon + 1);
        size_t pos = 0;
        while (pos <= list.size()) {
            auto comma = list.find(',', pos);
            std::string one =
                list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
            auto p = static_cast<int32_t>(parse_int(one, "--topic partition"));
            if (p < 0 || static_cast<size_t>(p) >= it->second.partitions.size()) {
                throw cli_error(exit_usage,
                                fmt::format("topic '{}' has no partition {}", topic, p));
            }
            targets.emplace_back(topic, p);
            if (comma == std::string::npos) break;
            pos = comma + 1;
        }
    }
    if (targets.empty()) {
        throw cli_error(exit_failure, fmt::format("group '{}' has no committed offsets; name the "
                                                  "topics with --topic",
                                                  o.group));
    }
    tpl_ptr by_time;
    if (ts_ms >= 0) {
        by_time.reset(rd_kafka_topic_partition_list_new(static_cast<int>(targets.size())));
        for (const auto& [t, p] : targets) {
            rd_kafka_topic_partition_list_add(by_time.get(), t.c_str(), p)->offset = ts_ms;
        }
        if (auto err = rd_kafka_offsets_for_times(c.handle(), by_time.get(), o.common.timeout_ms)) {
            fail_kafka(err, fmt::format("find offsets at {}", o.to_datetime));
        }
    }
    tpl_ptr new_offsets(rd_kafka_topic_partition_list_new(static_cast<int>(targets.size())));
    table t({"group", "topic", "partition", "previous_offset", "new_offset"});
    for (size_t i = 0; i < targets.size(); ++i) {
        const auto& [topic, part] = targets[i];
        auto [low, high] = c.watermarks(topic, part);
        auto it = committed.find(targets[i]);
        int64_t target = 0;
        if (o.to_earliest) {
            target = low;
        } else if (o.to_latest) {
            target = high;
        } else if (o.to_offset) {
            target = *o.to_offset;
        } else if (ts_ms >= 0) {
            int64_t found = by_time->elems[i].offset;
            target = found >= 0 ? found : high;
        } else {
            int64_t base = it != committed.end() ? it->second : low;
            target = base + *o.shift_by;
        }
        target = std::clamp(target, low, high);
        rd_kafka_topic_partition_list_add(new_offsets.get(), topic.c_str(), part)->offset = target;
        t.add_row({str(o.group), str(topic), num(part),
                   it != committed.end()
                       ? num(it->second)
                       : (o.common.format() == output_format::json ? null_cell() : str("-")),
                   num(target)});
    }
    if (!o.dry_run) {
        queue_ptr q(rd_kafka_queue_new(c.handle()));
        alter_offsets_ptr req(
            rd_kafka_AlterConsumerGroupOffsets_new(o.group.c_str(), new_offsets.get()));
        rd_kafka_AlterConsumerGroupOffsets_t* arr[] = {req.get()};
        rd_kafka_AlterConsumerGroupOffsets(
            c.handle(), arr, 1, c.admin_options(RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS),
            q.get());
        std::string doing = fmt::format("reset offsets of group '{}'", o.group);
        auto ev = c.wait_admin(q.get(), doing);
        size_t n = 0;
        const auto** results = rd_kafka_AlterConsumerGroupOffsets_result_groups(
            rd_kafka_event_AlterConsumerGroupOffsets_result(ev.get()), &n);
        for (size_t i = 0; i < n; ++i) {
            if (const auto* e = rd_kafka_group_result_error(results[i])) {
                fail_group_error(e, doing);
            }
            const auto* parts = rd_kafka_group_result_partitions(results[i]);
            for (int p = 0; parts != nullptr && p < parts->cnt; ++p) {
                if (parts->elems[p].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                    fail_kafka(parts->elems[p].err,
                               fmt::format("{} ({}-{})", doing, parts->elems[p].topic,
                                           parts->elems[p].partition));
                }
            }
        }
    }
    t.print(o.common.format());
    if (o.dry_run && o.common.format() == output_format::table) {
        fmt::print(stderr, "Dry run: nothing changed (run again without --dry-run to apply).\n");
    }
    return exit_ok;
}

}  // namespace

void probe_group_support(client& c, const std::string& group) {
    try {
        describe_groups(c, {group});
    } catch (const cli_error& e) {
        if (e.exit_code() == exit_unsupported || e.exit_code() == exit_unreachable) {
            throw cli_error(e.exit_code(),
                            fmt::format("cannot join group '{}': {}", group, e.what()));
        }
        // Anything else (e.g. a coordinator still loading) is for the consumer to retry.
    }
}

void add_group_commands(CLI::App& app, commands& cmds) {
    auto* group = app.add_subcommand("group", "Inspect and manage consumer groups");
    group->require_subcommand(1);

    auto* list = group->add_subcommand("list", "List consumer groups");
    auto lo = add_leaf<list_opts>(list, cmds, &run_list);
    finish_leaf(list, lo->common, "  riacho group list\n");

    auto* describe = group->add_subcommand(
        "describe", "Show a group's state, members, committed offsets and lag per partition");
    auto dop = add_leaf<describe_opts>(describe, cmds, &run_describe);
    describe->add_option("group", dop->groups, "Group id(s)")->required();
    finish_leaf(describe, dop->common, "  riacho group describe billing\n");

    auto* del = group->add_subcommand("delete", "Delete groups (they must have no members)");
    auto xo = add_leaf<delete_opts>(del, cmds, &run_delete);
    del->add_option("group", xo->groups, "Group id(s)")->required();
    finish_leaf(del, xo->common, "  riacho group delete billing\n");

    auto* reset = group->add_subcommand(
        "reset-offsets", "Move a group's committed offsets (the group must have no members)");
    auto ro = add_leaf<reset_opts>(reset, cmds, &run_reset);
    reset->add_option("group", ro->group, "Group id")->required();
    reset->add_option("-t,--topic", ro->topics, "TOPIC or TOPIC:P,P... to reset (repeatable)");
    reset->add_flag("--all-topics", ro->all_topics, "Every topic the group has offsets for");
    reset->add_flag("--to-earliest", ro->to_earliest, "To each partition's log start offset");
    reset->add_flag("--to-latest", ro->to_latest, "To each partition's end (skip everything)");
    reset->add_option("--to-offset", ro->to_offset, "To this offset (clamped to the log)");
    reset->add_option("--to-datetime", ro->to_datetime,
                      "To the first record at or after this time (YYYY-MM-DDTHH:MM:SS UTC or ms)");
    reset->add_option("--shift-by", ro->shift_by, "Move by N records (negative: back)");
    reset->add_flag("--dry-run", ro->dry_run, "Show the new offsets without changing anything");
    finish_leaf(
        reset, ro->common,
        "  riacho group reset-offsets billing --topic orders --to-earliest --dry-run\n"
        "  riacho group reset-offsets billing --topic orders:0,1 --shift-by -100\n"
        "  riacho group reset-offsets billing --all-topics --to-datetime 2024-05-01T00:00:00\n");
}

}  // namespace riacho::cli
