// riacho produce TOPIC: every input line becomes one record.
#include "cli/commands.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

namespace riacho::cli {

namespace {

struct produce_opts {
    common_options common;
    std::string topic;
    std::string key_separator;
    std::vector<std::string> headers;
    int partition = -1;
    std::string acks = "all";
    std::string compression = "none";
    bool idempotence = false;
    std::string file;
    double rate = 0;
    int max_errors_shown = 10;
};

// Delivery outcome, updated by librdkafka's delivery callback on the main thread (inside
// rd_kafka_poll/flush).
struct delivery_state {
    std::string topic;
    int64_t delivered = 0;
    int64_t failed = 0;
    int max_shown = 10;
};

void on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    auto* st = static_cast<delivery_state*>(static_cast<client*>(opaque)->user());
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++st->delivered;
        return;
    }
    ++st->failed;
    if (st->failed <= st->max_shown) {
        auto line = reinterpret_cast<intptr_t>(m->_private);
        fmt::print(stderr, "riacho: record from line {} not delivered to {}: {} ({})\n", line,
                   st->topic, rd_kafka_err2str(m->err), rd_kafka_err2name(m->err));
    }
}

int run_produce(produce_opts& o) {
    std::vector<std::pair<std::string, std::string>> headers;
    for (const auto& h : o.headers) {
        headers.push_back(split_key_value(h, "--header"));
    }
    std::ifstream file_in;
    std::istream* in = &std::cin;
    if (!o.file.empty()) {
        file_in.open(o.file);
        if (!file_in) {
            throw cli_error(exit_usage, fmt::format("cannot open --file '{}': {}", o.file,
                                                    std::strerror(errno)));
        }
        in = &file_in;
    }
    delivery_state st{o.topic, 0, 0, o.max_errors_shown};
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, &on_delivery);
    client c(o.common, client::kind::producer,
             {{"acks", o.acks},
              {"compression.type", o.compression},
              {"enable.idempotence", o.idempotence ? "true" : "false"},
              {"message.timeout.ms", std::to_string(std::max(o.common.timeout_ms, 1000))},
              {"linger.ms", "5"}},
             conf);
    topic_info ti = c.topic(o.topic);
    if (o.partition >= 0 && static_cast<size_t>(o.partition) >= ti.partitions.size()) {
        throw cli_error(exit_usage, fmt::format("topic '{}' has no partition {} (it has {})",
                                                o.topic, o.partition, ti.partitions.size()));
    }
    c.set_user(&st);
    rd_kafka_t* rk = c.handle();
    auto start = std::chrono::steady_clock::now();
    int64_t line_no = 0;
    std::string line;
    while (std::getline(*in, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        std::string_view key;
        std::string_view value = line;
        bool has_key = false;
        if (!o.key_separator.empty()) {
            auto pos = line.find(o.key_separator);
            if (pos != std::string::npos) {
                key = std::string_view(line).substr(0, pos);
                value = std::string_view(line).substr(pos + o.key_separator.size());
                has_key = true;
            }
        }
        // Owned by librdkafka once produced; an empty list encodes like no headers.
        rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
        for (const auto& [hk, hv] : headers) {
            rd_kafka_header_add(hdrs, hk.c_str(), static_cast<ssize_t>(hk.size()), hv.data(),
                                static_cast<ssize_t>(hv.size()));
        }
        if (o.rate > 0) {
            auto due =
                start +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(static_cast<double>(line_no - 1) / o.rate));
            while (std::chrono::steady_clock::now() < due) {
                rd_kafka_poll(rk, 1);
            }
        }
        while (true) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(o.topic.c_str()),
                RD_KAFKA_V_PARTITION(o.partition >= 0 ? o.partition : RD_KAFKA_PARTITION_UA),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                RD_KAFKA_V_KEY(has_key ? key.data() : nullptr, has_key ? key.size() : 0),
                RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<intptr_t>(line_no))),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 50);
                continue;
            }
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                rd_kafka_headers_destroy(hdrs);
                fail_kafka(err, fmt::format("produce line {} to '{}'", line_no, o.topic));
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    // Bounded: librdkafka fails every record still queued after message.timeout.ms.
    while (rd_kafka_outq_len(rk) > 0) {
        rd_kafka_flush(rk, 100);
    }
    if (st.failed > st.max_shown) {
        fmt::print(stderr, "riacho: ... and {} more records not delivered\n",
                   st.failed - st.max_shown);
    }
    if (o.common.format() == output_format::json) {
        fmt::print("{}\n", json_object()
                               .add("topic", json_quote(o.topic))
                               .add("delivered", num(st.delivered))
                               .add("failed", num(st.failed))
                               .str());
    }
    if (st.failed > 0) {
        throw cli_error(exit_failure, fmt::format("{} of {} records were not delivered to '{}'",
                                                  st.failed, st.failed + st.delivered, o.topic));
    }
    return exit_ok;
}

}  // namespace

void add_produce_command(CLI::App& app, commands& cmds) {
    auto* cmd = app.add_subcommand("produce", "Send lines from stdin (or a file) as records");
    auto o = add_leaf<produce_opts>(cmd, cmds, &run_produce);
    cmd->add_option("topic", o->topic, "Topic to write to")->required();
    cmd->add_option("-k,--key-separator", o->key_separator,
                    "Split each line at the first SEP into key and value (lines without it get "
                    "no key)");
    cmd->add_option("-H,--header", o->headers,
                    "Header key=value added to every record (repeatable)");
    cmd->add_option("-p,--partition", o->partition,
                    "Write to this partition (default: by key hash, or sticky without a key)");
    cmd->add_option("--acks", o->acks, "Acknowledgements: all, 1 or 0")
        ->check(CLI::IsMember({"all", "-1", "1", "0"}))
        ->capture_default_str();
    cmd->add_option("--compression", o->compression, "none, gzip, snappy, lz4 or zstd")
        ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}))
        ->capture_default_str();
    cmd->add_flag("--idempotence", o->idempotence, "Idempotent producer (no duplicates on retry)");
    cmd->add_option("-f,--file", o->file, "Read lines from this file instead of stdin");
    cmd->add_option("--rate", o->rate, "At most this many records per second (default: no limit)")
        ->check(CLI::NonNegativeNumber);
    finish_leaf(cmd, o->common,
                "  echo hello | riacho produce orders\n"
                "  riacho produce orders --key-separator : <<< 'user-1:clicked'\n"
                "  riacho produce orders -f events.txt --acks 1 --compression zstd --rate 1000\n"
                "  riacho produce orders -H source=cli -p 0 --idempotence\n");
}

}  // namespace riacho::cli
