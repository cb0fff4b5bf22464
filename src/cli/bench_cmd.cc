// riacho bench produce|consume: load generators with a live progress line (stderr, TTY only)
// and a final summary (records/s, MB/s, latency p50/p99/p99.9/max). Used by bench/.
#include "cli/commands.h"
#include "cli/signals.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace riacho::cli {

namespace {

using clock_type = std::chrono::steady_clock;

int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               clock_type::now().time_since_epoch())
        .count();
}

double percentile_ms(const std::vector<int64_t>& sorted_us, double q) {
    if (sorted_us.empty()) {
        return 0;
    }
    auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted_us.size())));
    size_t idx = std::min(sorted_us.size() - 1, rank == 0 ? 0 : rank - 1);
    return static_cast<double>(sorted_us[idx]) / 1000.0;
}

struct summary {
    std::string kind;
    std::string topic;
    int64_t records = 0;
    int64_t failed = 0;
    int64_t bytes = 0;
    double seconds = 0;
    std::vector<int64_t> latency_us;  // sorted by print()
    std::string latency_note;
};

void print_summary(summary& s, output_format f) {
    std::sort(s.latency_us.begin(), s.latency_us.end());
    double secs = std::max(s.seconds, 1e-9);
    double rps = static_cast<double>(s.records) / secs;
    double mbps = static_cast<double>(s.bytes) / secs / (1024.0 * 1024.0);
    double p50 = percentile_ms(s.latency_us, 0.50);
    double p99 = percentile_ms(s.latency_us, 0.99);
    double p999 = percentile_ms(s.latency_us, 0.999);
    double max = s.latency_us.empty() ? 0 : static_cast<double>(s.latency_us.back()) / 1000.0;
    if (f == output_format::json) {
        fmt::print("{}\n", json_object()
                               .add("bench", json_quote(s.kind))
                               .add("topic", json_quote(s.topic))
                               .add("records", num(s.records))
                               .add("failed", num(s.failed))
                               .add("bytes", num(s.bytes))
                               .add("seconds", dbl(s.seconds, 3))
                               .add("records_per_sec", dbl(rps, 1))
                               .add("mb_per_sec", dbl(mbps, 2))
                               .add("latency_ms", json_object()
                                                      .add("p50", dbl(p50, 3))
                                                      .add("p99", dbl(p99, 3))
                                                      .add("p99_9", dbl(p999, 3))
                                                      .add("max", dbl(max, 3))
                                                      .str())
                               .str());
        return;
    }
    fmt::print("{} records ({} failed), {:.1f} MB in {:.2f} s: {:.1f} records/s, {:.2f} MB/s\n",
               s.records, s.failed, static_cast<double>(s.bytes) / (1024.0 * 1024.0), s.seconds,
               rps, mbps);
    fmt::print("latency{} ms: p50 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}\n", s.latency_note,
               p50, p99, p999, max);
}

// One "\r..." line on stderr at most once a second, only on a terminal.
class progress {
public:
    explicit progress(std::string verb) : _verb(std::move(verb)), _tty(stderr_is_tty()) {}
    void update(int64_t records, int64_t bytes, bool force = false) {
        if (!_tty) {
            return;
        }
        auto now = clock_type::now();
        if (!force && now - _last < std::chrono::seconds(1)) {
            return;
        }
        double dt = std::chrono::duration<double>(now - _last).count();
        double rps = dt > 0 ? static_cast<double>(records - _last_records) / dt : 0;
        double mbps = dt > 0 ? static_cast<double>(bytes - _last_bytes) / dt / 1048576.0 : 0;
        fmt::print(stderr, "\r{} {} records, {:.0f} records/s, {:.2f} MB/s   ", _verb, records, rps,
                   mbps);
        std::fflush(stderr);
        _last = now;
        _last_records = records;
        _last_bytes = bytes;
    }
    void done() {
        if (_tty) {
            fmt::print(stderr, "\n");
        }
    }

private:
    std::string _verb;
    bool _tty;
    clock_type::time_point _last = clock_type::now();
    int64_t _last_records = 0;
    int64_t _last_bytes = 0;
};

// ---------------------------------------------------------------- bench produce
struct produce_opts {
    common_options common;
    std::string topic;
    int64_t records = 100000;
    int record_size = 100;
    double rate = 0;
    std::string acks = "all";
    std::string compression = "none";
    int linger_ms = 5;
    int batch_size = 1000000;
};

struct produce_state {
    std::vector<int64_t> sent_us;
    std::vector<int64_t> latency_us;
    int64_t acked = 0;
    int64_t failed = 0;
    rd_kafka_resp_err_t first_err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

void on_bench_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    auto* st = static_cast<produce_state*>(static_cast<client*>(opaque)->user());
    auto seq = static_cast<size_t>(reinterpret_cast<intptr_t>(m->_private));
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++st->failed;
        if (st->first_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            st->first_err = m->err;
        }
        return;
    }
    ++st->acked;
    st->latency_us.push_back(now_us() - st->sent_us[seq]);
}

int run_bench_produce(produce_opts& o) {
    produce_state st;
    st.sent_us.resize(static_cast<size_t>(o.records));
    st.latency_us.reserve(static_cast<size_t>(o.records));
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, &on_bench_delivery);
    client c(o.common, client::kind::producer,
             {{"acks", o.acks},
              {"compression.type", o.compression},
              {"linger.ms", std::to_string(o.linger_ms)},
              {"batch.size", std::to_string(o.batch_size)},
              {"queue.buffering.max.messages", "1000000"},
              {"message.timeout.ms", std::to_string(std::max(o.common.timeout_ms, 30000))}},
             conf);
    c.set_user(&st);
    c.topic(o.topic);
    std::string payload(static_cast<size_t>(o.record_size), 'x');
    for (size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<char>('a' + (i * 7) % 26);
    }
    install_stop_signals();
    progress prog("produced");
    rd_kafka_t* rk = c.handle();
    auto start = clock_type::now();
    int64_t sent = 0;
    for (; sent < o.records && !stop_requested(); ++sent) {
        if (o.rate > 0) {
            auto due =
                start + std::chrono::duration_cast<clock_type::duration>(
                            std::chrono::duration<double>(static_cast<double>(sent) / o.rate));
            while (clock_type::now() < due) {
                rd_kafka_poll(rk, 1);
            }
        }
        while (true) {
            st.sent_us[static_cast<size_t>(sent)] = now_us();
            auto err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(o.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(payload.data(), payload.size()),
                RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<intptr_t>(sent))),
                RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                fail_kafka(err, fmt::format("produce to '{}'", o.topic));
            }
            break;
        }
        rd_kafka_poll(rk, 0);
        prog.update(st.acked, st.acked * o.record_size);
    }
    while (rd_kafka_outq_len(rk) > 0) {
        rd_kafka_poll(rk, 100);
        prog.update(st.acked, st.acked * o.record_size);
    }
    double secs = std::chrono::duration<double>(clock_type::now() - start).count();
    prog.update(st.acked, st.acked * o.record_size, true);
    prog.done();
    summary s{"produce",
              o.topic,
              st.acked,
              st.failed,
              st.acked * o.record_size,
              secs,
              std::move(st.latency_us),
              " (send to acknowledgement)"};
    print_summary(s, o.common.format());
    if (st.failed > 0) {
        throw cli_error(exit_failure, fmt::format("{} records were not delivered: {}", st.failed,
                                                  rd_kafka_err2str(st.first_err)));
    }
    return exit_ok;
}

// ---------------------------------------------------------------- bench consume
struct consume_opts {
    common_options common;
    std::string topic;
    int64_t records = 0;
};

int run_bench_consume(consume_opts& o) {
    topic_info ti;
    {
        client probe(o.common, client::kind::producer);
        ti = probe.topic(o.topic);
    }
    client c(o.common, client::kind::consumer,
             {{"group.id", "riacho-bench-unused"},
              {"enable.auto.commit", "false"},
              {"enable.auto.offset.store", "false"},
              {"enable.partition.eof", "true"},
              {"fetch.max.bytes", "52428800"},
              {"queued.min.messages", "100000"}});
    rd_kafka_t* rk = c.handle();
    tpl_ptr parts(rd_kafka_topic_partition_list_new(static_cast<int>(ti.partitions.size())));
    for (const auto& p : ti.partitions) {
        rd_kafka_topic_partition_list_add(parts.get(), o.topic.c_str(), p.id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    if (auto err = rd_kafka_assign(rk, parts.get())) {
        fail_kafka(err, fmt::format("assign partitions of '{}'", o.topic));
    }
    install_stop_signals();
    progress prog("consumed");
    summary s{"consume", o.topic, 0, 0, 0, 0, {}, " (record timestamp to receipt)"};
    size_t eof = 0;
    auto start = clock_type::now();
    auto idle_since = start;
    while (!stop_requested()) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
        if (m == nullptr) {
            if (c.brokers_down()) {
                c.fail_unreachable();
            }
            if (clock_type::now() - idle_since > std::chrono::milliseconds(o.common.timeout_ms)) {
                fmt::print(stderr, "riacho: no records for {} ms, stopping\n", o.common.timeout_ms);
                break;
            }
            continue;
        }
        std::unique_ptr<rd_kafka_message_t, c_deleter<rd_kafka_message_destroy>> owned(m);
        idle_since = clock_type::now();
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            ++eof;
            if (o.records == 0 && eof >= ti.partitions.size()) {
                break;
            }
            continue;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fail_kafka(m->err, fmt::format("consume from '{}'", o.topic),
                       rd_kafka_message_errstr(m));
        }
        ++s.records;
        s.bytes += static_cast<int64_t>(m->len + m->key_len);
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        if (ts >= 0) {
            auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
            s.latency_us.push_back(std::max<int64_t>(0, wall_ms - ts) * 1000);
        }
        prog.update(s.records, s.bytes);
        if (o.records > 0 && s.records >= o.records) {
            break;
        }
    }
    s.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    prog.update(s.records, s.bytes, true);
    prog.done();
    rd_kafka_consumer_close(rk);
    print_summary(s, o.common.format());
    return exit_ok;
}

}  // namespace

void add_bench_commands(CLI::App& app, commands& cmds) {
    auto* bench =
        app.add_subcommand("bench", "Load generators: produce or consume as fast as asked");
    bench->require_subcommand(1);

    auto* p = bench->add_subcommand("produce", "Produce fixed-size records and measure");
    auto po = add_leaf<produce_opts>(p, cmds, &run_bench_produce);
    p->add_option("topic", po->topic, "Topic to write to (must exist)")->required();
    p->add_option("-n,--records", po->records, "How many records")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    p->add_option("-s,--record-size", po->record_size, "Value size in bytes")
        ->check(CLI::Range(0, 100 << 20))
        ->capture_default_str();
    p->add_option("--rate", po->rate, "At most this many records per second (0: no limit)")
        ->check(CLI::NonNegativeNumber);
    p->add_option("--acks", po->acks, "all, 1 or 0")
        ->check(CLI::IsMember({"all", "-1", "1", "0"}))
        ->capture_default_str();
    p->add_option("--compression", po->compression, "none, gzip, snappy, lz4 or zstd")
        ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}))
        ->capture_default_str();
    p->add_option("--linger-ms", po->linger_ms, "Producer linger.ms")->capture_default_str();
    p->add_option("--batch-size", po->batch_size, "Producer batch.size in bytes")
        ->capture_default_str();
    finish_leaf(p, po->common,
                "  riacho bench produce perf --records 1000000 --record-size 1024\n"
                "  riacho bench produce perf --rate 10000 --acks 1 --output json\n");

    auto* c = bench->add_subcommand("consume", "Read a topic from the beginning and measure");
    auto co = add_leaf<consume_opts>(c, cmds, &run_bench_consume);
    c->add_option("topic", co->topic, "Topic to read")->required();
    c->add_option("-n,--records", co->records,
                  "Stop after this many records (default: at the end of every partition)");
    finish_leaf(c, co->common,
                "  riacho bench consume perf\n  riacho bench consume perf -n 1000000 -o json\n");
}

}  // namespace riacho::cli
