// riacho consume TOPIC: print records as they arrive, from any offset, alone or in a group.
#include "cli/commands.h"
#include "cli/signals.h"

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <set>

namespace riacho::cli {

namespace {

struct consume_opts {
    common_options common;
    std::string topic;
    bool from_beginning = false;
    std::string offset;
    std::vector<int> partitions;
    std::string group;
    int64_t max_messages = 0;
    std::string timestamp;
    std::string isolation_level = "read_uncommitted";
    std::string format = "{value}";
    bool exit_at_end = false;
};

std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            char n = s[++i];
            out += n == 'n' ? '\n' : n == 't' ? '\t' : n == 'r' ? '\r' : n == '0' ? '\0' : n;
        } else {
            out += s[i];
        }
    }
    return out;
}

struct record_view {
    const rd_kafka_message_t* m;
    std::string_view key() const {
        return m->key != nullptr ? std::string_view(static_cast<const char*>(m->key), m->key_len)
                                 : std::string_view();
    }
    std::string_view value() const {
        return m->payload != nullptr
                   ? std::string_view(static_cast<const char*>(m->payload), m->len)
                   : std::string_view();
    }
    int64_t timestamp() const {
        rd_kafka_timestamp_type_t type;
        return rd_kafka_message_timestamp(m, &type);
    }
    std::vector<std::pair<std::string, std::string>> headers() const {
        std::vector<std::pair<std::string, std::string>> out;
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            return out;
        }
        const char* name;
        const void* val;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
            out.emplace_back(name, val != nullptr ? std::string(static_cast<const char*>(val), size)
                                                  : std::string());
        }
        return out;
    }
};

// Expands {topic} {partition} {offset} {timestamp} {key} {value} {headers} in `fmt_str`.
std::string render(const std::string& tmpl, const record_view& r) {
    std::string out;
    for (size_t i = 0; i < tmpl.size();) {
        if (tmpl[i] == '{') {
            auto close = tmpl.find('}', i);
            if (close != std::string::npos) {
                std::string_view name(tmpl.data() + i + 1, close - i - 1);
                bool known = true;
                if (name == "value") {
                    out += r.value();
                } else if (name == "key") {
                    out += r.key();
                } else if (name == "topic") {
                    out += rd_kafka_topic_name(r.m->rkt);
                } else if (name == "partition") {
                    out += std::to_string(r.m->partition);
                } else if (name == "offset") {
                    out += std::to_string(r.m->offset);
                } else if (name == "timestamp") {
                    out += std::to_string(r.timestamp());
                } else if (name == "time") {
                    out += format_timestamp_ms(r.timestamp());
                } else if (name == "headers") {
                    bool first = true;
                    for (const auto& [k, v] : r.headers()) {
                        out += first ? "" : ",";
                        out += k + "=" + v;
                        first = false;
                    }
                } else {
                    known = false;
                }
                if (known) {
                    i = close + 1;
                    continue;
                }
            }
        }
        out += tmpl[i++];
    }
    return out;
}

std::string render_json(const record_view& r) {
    json_object hdrs;
    for (const auto& [k, v] : r.headers()) {
        hdrs.add(k, json_quote(v));
    }
    return json_object()
        .add("topic", json_quote(rd_kafka_topic_name(r.m->rkt)))
        .add("partition", num(r.m->partition))
        .add("offset", num(r.m->offset))
        .add("timestamp", num(r.timestamp()))
        .add("key", r.m->key != nullptr ? json_quote(r.key()) : "null")
        .add("value", r.m->payload != nullptr ? json_quote(r.value()) : "null")
        .add("headers", hdrs.str())
        .str();
}

// Start offset for one partition from --offset/--from-beginning (default: the end).
int64_t start_offset(const consume_opts& o) {
    if (o.from_beginning) {
        return RD_KAFKA_OFFSET_BEGINNING;
    }
    if (o.offset.empty() || o.offset == "latest") {
        return RD_KAFKA_OFFSET_END;
    }
    if (o.offset == "earliest") {
        return RD_KAFKA_OFFSET_BEGINNING;
    }
    int64_t v = parse_int(o.offset, "--offset");
    return v >= 0 ? v : RD_KAFKA_OFFSET_TAIL(-v);
}

int run_consume(consume_opts& o) {
    const bool in_group = !o.group.empty();
    if (in_group && (!o.offset.empty() || !o.timestamp.empty() || !o.partitions.empty())) {
        throw cli_error(exit_usage,
                        "--offset, --timestamp and --partition choose positions by "
                        "hand and cannot be used with --group (use `riacho group "
                        "reset-offsets` to move a group)");
    }
    if (!o.offset.empty() && o.offset != "earliest" && o.offset != "latest") {
        parse_int(o.offset, "--offset");
    }
    std::string tmpl = unescape(o.format);
    int64_t ts_ms = o.timestamp.empty() ? -1 : parse_timestamp_ms(o.timestamp, "--timestamp");

    // Check the topic and reachability with an admin-type handle first: it fails fast.
    topic_info ti;
    {
        client probe(o.common, client::kind::producer);
        ti = probe.topic(o.topic);
        if (in_group) {
            probe_group_support(probe, o.group);
        }
    }
    for (int p : o.partitions) {
        if (p < 0 || static_cast<size_t>(p) >= ti.partitions.size()) {
            throw cli_error(exit_usage, fmt::format("topic '{}' has no partition {} (it has {})",
                                                    o.topic, p, ti.partitions.size()));
        }
    }
    std::vector<std::pair<std::string, std::string>> conf = {
        {"isolation.level", o.isolation_level},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", o.from_beginning ? "earliest" : "latest"},
    };
    if (in_group) {
        conf.push_back({"group.id", o.group});
        conf.push_back({"enable.auto.commit", "true"});
    } else {
        conf.push_back({"group.id", "riacho-cli-unused"});
        conf.push_back({"enable.auto.commit", "false"});
        conf.push_back({"enable.auto.offset.store", "false"});
    }
    client c(o.common, client::kind::consumer, conf);
    rd_kafka_t* rk = c.handle();
    size_t assigned = 0;
    if (in_group) {
        tpl_ptr sub(rd_kafka_topic_partition_list_new(1));
        rd_kafka_topic_partition_list_add(sub.get(), o.topic.c_str(), RD_KAFKA_PARTITION_UA);
        if (auto err = rd_kafka_subscribe(rk, sub.get())) {
            fail_kafka(err, fmt::format("subscribe to '{}'", o.topic));
        }
    } else {
        tpl_ptr parts(rd_kafka_topic_partition_list_new(static_cast<int>(ti.partitions.size())));
        int64_t off = start_offset(o);
        for (const auto& p : ti.partitions) {
            if (!o.partitions.empty() &&
                std::find(o.partitions.begin(), o.partitions.end(), p.id) == o.partitions.end()) {
                continue;
            }
            rd_kafka_topic_partition_list_add(parts.get(), o.topic.c_str(), p.id)->offset =
                ts_ms >= 0 ? ts_ms : off;
        }
        if (ts_ms >= 0) {
            if (auto err = rd_kafka_offsets_for_times(rk, parts.get(), o.common.timeout_ms)) {
                fail_kafka(err, fmt::format("find offsets of '{}' at {}", o.topic, o.timestamp));
            }
            for (int i = 0; i < parts->cnt; ++i) {
                if (parts->elems[i].offset < 0) {
                    parts->elems[i].offset = RD_KAFKA_OFFSET_END;  // nothing at or after it
                }
            }
        }
        assigned = static_cast<size_t>(parts->cnt);
        if (auto err = rd_kafka_assign(rk, parts.get())) {
            fail_kafka(err, fmt::format("assign partitions of '{}'", o.topic));
        }
    }

    install_stop_signals();
    int64_t count = 0;
    std::set<int32_t> at_end;
    int rc = exit_ok;
    while (!stop_requested()) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
        if (m == nullptr) {
            if (c.brokers_down()) {
                rd_kafka_consumer_close(rk);
                c.fail_unreachable();
            }
            continue;
        }
        std::unique_ptr<rd_kafka_message_t, c_deleter<rd_kafka_message_destroy>> owned(m);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            at_end.insert(m->partition);
            if (o.exit_at_end) {
                size_t want = assigned;
                if (in_group) {
                    rd_kafka_topic_partition_list_t* cur = nullptr;
                    if (rd_kafka_assignment(rk, &cur) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        want = static_cast<size_t>(cur->cnt);
                        rd_kafka_topic_partition_list_destroy(cur);
                    }
                }
                if (want > 0 && at_end.size() >= want) {
                    break;
                }
            }
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            std::string detail = rd_kafka_message_errstr(m);
            if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                m->err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
                m->err == RD_KAFKA_RESP_ERR__FATAL) {
                rd_kafka_consumer_close(rk);
                fail_kafka(m->err, fmt::format("consume from '{}'", o.topic), detail);
            }
            fmt::print(stderr, "riacho: warning: {} ({})\n", detail, rd_kafka_err2name(m->err));
            continue;
        }
        at_end.erase(m->partition);
        record_view r{m};
        std::string line =
            o.common.format() == output_format::json ? render_json(r) : render(tmpl, r);
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stdout);
        if (in_group) {
            rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        }
        ++count;
        if (o.max_messages > 0 && count >= o.max_messages) {
            break;
        }
    }
    std::fflush(stdout);
    if (in_group) {
        // Commit what was printed; an empty commit (nothing consumed) is not an error.
        auto err = rd_kafka_commit(rk, nullptr, 0);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            fmt::print(stderr, "riacho: could not commit offsets of group '{}': {}\n", o.group,
                       rd_kafka_err2str(err));
            rc = exit_failure;
        }
    }
    rd_kafka_consumer_close(rk);
    if (stderr_is_tty()) {
        fmt::print(stderr, "Processed {} records.\n", count);
    }
    return rc;
}

}  // namespace

void add_consume_command(CLI::App& app, commands& cmds) {
    auto* cmd = app.add_subcommand("consume", "Print a topic's records");
    auto o = add_leaf<consume_opts>(cmd, cmds, &run_consume);
    cmd->add_option("topic", o->topic, "Topic to read")->required();
    cmd->add_flag("--from-beginning", o->from_beginning,
                  "Start at the earliest record (in a group: when it has no committed offset)");
    cmd->add_option("--offset", o->offset,
                    "Start at earliest, latest (default), N (an offset) or -N (N records before "
                    "the end of each partition)");
    cmd->add_option("-p,--partition", o->partitions, "Read only these partitions (repeatable)");
    cmd->add_option("-g,--group", o->group,
                    "Join this consumer group: partitions are shared with its other members and "
                    "offsets are committed");
    cmd->add_option("-n,--max-messages", o->max_messages, "Exit after this many records")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--timestamp", o->timestamp,
                    "Start at the first record at or after this time (ms since epoch or "
                    "YYYY-MM-DDTHH:MM:SS UTC)");
    cmd->add_option("--isolation-level", o->isolation_level, "read_uncommitted or read_committed")
        ->check(CLI::IsMember({"read_uncommitted", "read_committed"}))
        ->capture_default_str();
    cmd->add_option("-F,--format", o->format,
                    "Line template: {topic} {partition} {offset} {timestamp} {time} {key} "
                    "{value} {headers}, \\t and \\n")
        ->capture_default_str();
    cmd->add_flag("-e,--exit-at-end", o->exit_at_end,
                  "Exit once every partition is read to its end");
    finish_leaf(cmd, o->common,
                "  riacho consume orders --from-beginning\n"
                "  riacho consume orders --offset -10 -e\n"
                "  riacho consume orders --group billing --max-messages 100\n"
                "  riacho consume orders -F '{partition}:{offset} {key}={value} [{headers}]'\n"
                "  riacho consume orders --timestamp 2024-05-01T00:00:00 --output json\n");
}

}  // namespace riacho::cli
