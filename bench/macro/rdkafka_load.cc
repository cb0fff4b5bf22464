// rdkafka_load: the librdkafka-based load generator of bench/run.sh.
//
// One process, one mode, one JSON line on stdout:
//   produce  sends --records records of --size bytes to --topic (partition 0) with
//            --acks, librdkafka's default linger/batching, and measures throughput
//            (first send to last delivery report) and per-record latency (delivery
//            report time - send time, so queueing inside librdkafka is included:
//            this is an open-throttle producer, not a fixed-rate one).
//   consume  reads --records records of partition 0 from the beginning with the
//            legacy (group-less) consumer and measures throughput (consume start
//            to the last record).
//   create   creates --topic with 1 partition, replication factor 1, through the
//            admin API (CreateTopics), so both brokers get the same topic settings.
//   e2e      end-to-end latency at a fixed rate: a producer sends --rate records/s of
//            --size bytes to partition 0 for --seconds, each record carrying its intended
//            send time (start + i / rate, so a producer that falls behind shows up as
//            latency: no coordinated omission) and its sequence number; a legacy consumer
//            in a second thread of the same process reads partition 0 from offset 0.
//            Latency = consume time - intended send time (one steady clock). The first
//            --warmup-seconds are left out of the percentiles. --acks as for produce.
// Matrix options (bench/matrix.py):
//   produce  --producers N   N producer instances (one rd_kafka_t and one thread each), the
//                            records split between them, timed from the first send to the
//                            last delivery report of any of them;
//            --keys          each record gets a key "key-<record number % 10000>";
//            --any-partition the record's partition is left to librdkafka's partitioner
//                            (sticky for keyless records, key hash otherwise) instead of 0;
//            --payload text  values cut from a 1 MiB pool of pseudo-random words (compresses
//                            like text, ~3x) instead of the repeating a..z pattern;
//            --mock          produce to librdkafka's own in-memory mock cluster
//                            (test.mock.num.brokers=1, topic created with --partitions), not
//                            to --brokers; one producer only.
//   consume  --partitions N  reads partitions 0..N-1 (one queue) instead of partition 0.
//   create   --partitions N, --config key=value (topic config, repeatable).
//   e2e      --interval-seconds S  also reports p50/p99/p99.9/max of each S-second slice of
//                            the schedule ("intervals", warm-up left out), for the soak run.
// Extra librdkafka properties: --set key=value (repeatable).
// Exit status 0 only if every record was delivered/read without error; on failure the
// JSON line still comes out, with "ok":false and the first error in "error".
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
        .count();
}

struct options {
    std::string mode;
    std::string brokers = "127.0.0.1:9092";
    std::string topic = "bench";
    int64_t records = 200000;
    size_t size_bytes = 1024;
    std::string acks = "1";
    int timeout_s = 120;
    int64_t rate = 0;             // e2e: records per second
    double seconds = 20;          // e2e: how long to send
    double warmup_seconds = 2;    // e2e: left out of the percentiles
    double interval_seconds = 0;  // e2e: per-slice percentiles when > 0
    int producers = 1;
    int partitions = 1;
    bool keys = false;
    bool any_partition = false;
    bool mock = false;
    std::string payload = "pattern";
    std::vector<std::pair<std::string, std::string>> props;
    std::vector<std::pair<std::string, std::string>> topic_config;
};

[[noreturn]] void usage(const char* msg) {
    std::fprintf(stderr,
                 "rdkafka_load: %s\n"
                 "usage: rdkafka_load produce|consume|create|e2e --brokers host:port --topic T\n"
                 "         [--records N] [--size BYTES] [--acks 0|1|-1] [--timeout S]\n"
                 "         [--rate N --seconds S --warmup-seconds S]  (e2e)\n"
                 "         [--producers N] [--keys] [--any-partition] [--payload pattern|text]\n"
                 "         [--mock] [--partitions N] [--config key=value]...\n"
                 "         [--interval-seconds S]  (e2e)\n"
                 "         [--set key=value]...\n",
                 msg);
    std::exit(2);
}

options parse(int argc, char** argv) {
    options o;
    if (argc < 2) {
        usage("missing mode");
    }
    o.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage(("missing value for " + a).c_str());
            }
            return argv[++i];
        };
        if (a == "--brokers") {
            o.brokers = value();
        } else if (a == "--topic") {
            o.topic = value();
        } else if (a == "--records") {
            o.records = std::stoll(value());
        } else if (a == "--size") {
            o.size_bytes = std::stoull(value());
        } else if (a == "--acks") {
            o.acks = value();
        } else if (a == "--timeout") {
            o.timeout_s = std::stoi(value());
        } else if (a == "--rate") {
            o.rate = std::stoll(value());
        } else if (a == "--seconds") {
            o.seconds = std::stod(value());
        } else if (a == "--warmup-seconds") {
            o.warmup_seconds = std::stod(value());
        } else if (a == "--interval-seconds") {
            o.interval_seconds = std::stod(value());
        } else if (a == "--producers") {
            o.producers = std::stoi(value());
        } else if (a == "--partitions") {
            o.partitions = std::stoi(value());
        } else if (a == "--keys") {
            o.keys = true;
        } else if (a == "--any-partition") {
            o.any_partition = true;
        } else if (a == "--mock") {
            o.mock = true;
        } else if (a == "--payload") {
            o.payload = value();
            if (o.payload != "pattern" && o.payload != "text") {
                usage("--payload is pattern or text");
            }
        } else if (a == "--set" || a == "--config") {
            std::string kv = value();
            auto eq = kv.find('=');
            if (eq == std::string::npos) {
                usage((a + " needs key=value").c_str());
            }
            (a == "--set" ? o.props : o.topic_config)
                .emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        } else {
            usage(("unknown argument " + a).c_str());
        }
    }
    if (o.records <= 0) {
        usage("--records must be > 0");
    }
    if (o.producers < 1 || o.partitions < 1) {
        usage("--producers and --partitions must be >= 1");
    }
    if (o.mock && o.producers != 1) {
        usage("--mock takes one producer (each producer instance would get its own cluster)");
    }
    if (o.mode == "e2e" && (o.rate <= 0 || o.seconds <= 0 || o.size_bytes < 16)) {
        usage("e2e needs --rate > 0, --seconds > 0 and --size >= 16");
    }
    return o;
}

rd_kafka_conf_t* make_conf(const options& o) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    auto set = [&](const std::string& k, const std::string& v) {
        if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
            std::fprintf(stderr, "rdkafka_load: %s\n", err);
            std::exit(2);
        }
    };
    set("bootstrap.servers", o.brokers);
    set("client.id", "riacho-bench");
    for (const auto& [k, v] : o.props) {
        set(k, v);
    }
    return conf;
}

// JSON string escaping for error messages.
std::string json_str(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// ---------------------------------------------------------------------------- produce

struct produce_state {
    std::vector<int64_t> sent_ns;     // indexed by record number within this producer
    std::vector<int64_t> latency_ns;  // filled by delivery reports
    int64_t delivered = 0;
    int64_t failed = 0;
    int64_t last_dr_ns = 0;
    std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* st = static_cast<produce_state*>(opaque);
    int64_t t = now_ns();
    st->last_dr_ns = t;
    auto idx = reinterpret_cast<uintptr_t>(m->_private);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (st->failed++ == 0) {
            st->first_error = rd_kafka_err2str(m->err);
        }
        return;
    }
    st->delivered++;
    st->latency_ns.push_back(t - st->sent_ns[idx]);
}

double pct_ms(std::vector<int64_t>& v, double p) {
    if (v.empty()) {
        return 0;
    }
    size_t k = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return static_cast<double>(v[std::min(k, v.size() - 1)]) / 1e6;
}

// The values records are cut from: the a..z pattern (all bytes alike, compresses to almost
// nothing) or a pool of pseudo-random words and numbers (a fixed seed, so every run and
// both brokers get the same bytes), which compresses about like log lines.
std::vector<char> make_pool(const options& o) {
    if (o.payload == "pattern") {
        std::vector<char> pool(o.size_bytes);
        for (size_t i = 0; i < pool.size(); ++i) {
            pool[i] = static_cast<char>('a' + i % 26);
        }
        return pool;
    }
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    std::vector<std::string> words;
    for (int w = 0; w < 512; ++w) {
        std::string word;
        const int len = 3 + static_cast<int>(next() % 8);
        for (int c = 0; c < len; ++c) {
            word += static_cast<char>('a' + next() % 26);
        }
        words.push_back(word);
    }
    std::vector<char> pool;
    const size_t want = std::max<size_t>(size_t{1} << 20, 2 * o.size_bytes);
    while (pool.size() < want) {
        std::string token =
            next() % 5 == 0 ? std::to_string(next() % 100000) : words[next() % words.size()];
        token += next() % 9 == 0 ? ", " : " ";
        pool.insert(pool.end(), token.begin(), token.end());
    }
    return pool;
}

struct producer_run {
    rd_kafka_t* rk = nullptr;
    produce_state st;
    int64_t first = 0;  // first record number of this producer
    int64_t count = 0;
    int64_t start_ns = 0;
    int64_t sent = 0;
    std::string produce_error;
};

void produce_loop(const options& o,
                  producer_run& p,
                  const std::vector<char>& pool,
                  int64_t deadline) {
    const size_t span = pool.size() - o.size_bytes + 1;
    char key[32];
    p.start_ns = now_ns();
    int64_t i = 0;
    for (; i < p.count && now_ns() < deadline; ++i) {
        const int64_t n = p.first + i;
        const char* value = pool.data() + (static_cast<size_t>(n) * 7919) % span;
        const int key_len = o.keys ? std::snprintf(key, sizeof key, "key-%" PRId64, n % 10000) : 0;
        for (;;) {
            p.st.sent_ns[static_cast<size_t>(i)] = now_ns();
            rd_kafka_resp_err_t e = rd_kafka_producev(
                p.rk, RD_KAFKA_V_TOPIC(o.topic.c_str()),
                RD_KAFKA_V_PARTITION(o.any_partition ? RD_KAFKA_PARTITION_UA : 0),
                RD_KAFKA_V_VALUE(const_cast<char*>(value), o.size_bytes),
                RD_KAFKA_V_KEY(o.keys ? key : nullptr, static_cast<size_t>(key_len)),
                RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(i))),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                break;
            }
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && now_ns() < deadline) {
                rd_kafka_poll(p.rk, 1);  // serve delivery reports to make room
                continue;
            }
            p.produce_error = rd_kafka_err2str(e);
            break;
        }
        if (!p.produce_error.empty()) {
            break;
        }
        rd_kafka_poll(p.rk, 0);
    }
    p.sent = i;
    while (p.st.delivered + p.st.failed < i && now_ns() < deadline) {
        rd_kafka_poll(p.rk, 10);
    }
}

int run_produce(const options& o) {
    char err[512];
    std::vector<producer_run> runs(static_cast<size_t>(o.producers));
    const std::vector<char> pool = make_pool(o);
    for (int k = 0; k < o.producers; ++k) {
        producer_run& p = runs[static_cast<size_t>(k)];
        p.count = o.records / o.producers + (k < o.records % o.producers ? 1 : 0);
        p.first = k == 0 ? 0
                         : runs[static_cast<size_t>(k - 1)].first +
                               runs[static_cast<size_t>(k - 1)].count;
        p.st.sent_ns.resize(static_cast<size_t>(p.count));
        p.st.latency_ns.reserve(static_cast<size_t>(p.count));
        rd_kafka_conf_t* conf = make_conf(o);
        rd_kafka_conf_set(conf, "acks", o.acks.c_str(), err, sizeof err);
        if (o.mock) {
            rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err);
        }
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, &p.st);
        p.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (p.rk == nullptr) {
            std::fprintf(stderr, "rdkafka_load: %s\n", err);
            return 2;
        }
        if (o.mock) {
            rd_kafka_mock_cluster_t* mc = rd_kafka_handle_mock_cluster(p.rk);
            if (mc == nullptr || rd_kafka_mock_topic_create(mc, o.topic.c_str(), o.partitions, 1) !=
                                     RD_KAFKA_RESP_ERR_NO_ERROR) {
                std::fprintf(stderr, "rdkafka_load: mock cluster/topic creation failed\n");
                return 2;
            }
        }
        // Metadata and connection before the clock starts, as for the e2e producer.
        const rd_kafka_metadata_t* md = nullptr;
        rd_kafka_topic_t* rkt = rd_kafka_topic_new(p.rk, o.topic.c_str(), nullptr);
        rd_kafka_metadata(p.rk, 0, rkt, &md, 10000);
        if (md != nullptr) {
            rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
    }
    const int64_t deadline = now_ns() + int64_t{o.timeout_s} * 1'000'000'000;
    if (o.producers == 1) {
        produce_loop(o, runs[0], pool, deadline);
    } else {
        std::atomic<int> ready{0};
        std::vector<std::thread> threads;
        for (auto& p : runs) {
            threads.emplace_back([&, pp = &p] {
                ready++;
                while (ready.load() < o.producers) {
                    std::this_thread::yield();
                }
                produce_loop(o, *pp, pool, deadline);
            });
        }
        for (auto& t : threads) {
            t.join();
        }
    }
    int64_t start = INT64_MAX;
    int64_t end = 0;
    int64_t delivered = 0;
    int64_t failed = 0;
    int64_t sent = 0;
    std::string produce_error;
    std::string first_error;
    std::vector<int64_t> latency;
    for (auto& p : runs) {
        start = std::min(start, p.start_ns);
        end = std::max(end, p.st.last_dr_ns);
        delivered += p.st.delivered;
        failed += p.st.failed;
        sent += p.sent;
        if (produce_error.empty()) {
            produce_error = p.produce_error;
        }
        if (first_error.empty()) {
            first_error = p.st.first_error;
        }
        latency.insert(latency.end(), p.st.latency_ns.begin(), p.st.latency_ns.end());
        rd_kafka_destroy(p.rk);
    }
    if (end == 0) {
        end = now_ns();
    }
    const bool timed_out = delivered + failed < o.records;

    std::sort(latency.begin(), latency.end());
    const double secs = static_cast<double>(end - start) / 1e9;
    const double rps = secs > 0 ? static_cast<double>(delivered) / secs : 0;
    const double mbps = rps * static_cast<double>(o.size_bytes) / 1e6;
    std::string error = !produce_error.empty() ? "produce: " + produce_error
                        : failed > 0           ? "delivery: " + first_error
                        : timed_out            ? "timed out waiting for delivery reports"
                                               : "";
    const bool ok = error.empty() && delivered == o.records;
    std::printf("{\"mode\":\"produce\",\"ok\":%s,\"topic\":%s,\"acks\":%s,\"records\":%" PRId64
                ",\"size\":%zu,\"producers\":%d,\"keys\":%s,\"mock\":%s,\"sent\":%" PRId64
                ",\"delivered\":%" PRId64 ",\"failed\":%" PRId64
                ",\"seconds\":%.3f,\"records_per_s\":%.0f,\"mb_per_s\":%.2f,\"p50_ms\":%.3f,"
                "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"error\":%s}\n",
                ok ? "true" : "false", json_str(o.topic).c_str(), json_str(o.acks).c_str(),
                o.records, o.size_bytes, o.producers, o.keys ? "true" : "false",
                o.mock ? "true" : "false", sent, delivered, failed, secs, rps, mbps,
                pct_ms(latency, 0.50), pct_ms(latency, 0.99), pct_ms(latency, 0.999),
                latency.empty() ? 0.0 : static_cast<double>(latency.back()) / 1e6,
                json_str(error).c_str());
    return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------- consume

int run_consume(const options& o) {
    rd_kafka_conf_t* conf = make_conf(o);
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == nullptr) {
        std::fprintf(stderr, "rdkafka_load: %s\n", err);
        return 2;
    }
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
    rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
    const int64_t deadline = now_ns() + int64_t{o.timeout_s} * 1'000'000'000;
    const int64_t start = now_ns();
    int64_t got = 0;
    int64_t bytes = 0;
    std::vector<int64_t> last_offset(static_cast<size_t>(o.partitions), -1);
    int64_t end = start;
    int64_t first_ns = 0;  // the first record's arrival
    int64_t first_bytes = 0;
    std::string error;
    for (int32_t part = 0; part < o.partitions && error.empty(); ++part) {
        if (rd_kafka_consume_start_queue(rkt, part, RD_KAFKA_OFFSET_BEGINNING, queue) != 0) {
            error = std::string("consume_start: ") + rd_kafka_err2str(rd_kafka_last_error());
        }
    }
    std::vector<rd_kafka_message_t*> batch(10000);
    while (error.empty() && got < o.records && now_ns() < deadline) {
        // A 1 ms timeout: the call waits its whole timeout unless the batch fills, so a
        // longer one would shift the first and last record's times by up to that much.
        ssize_t n = rd_kafka_consume_batch_queue(queue, 1, batch.data(), batch.size());
        if (n < 0) {
            error = std::string("consume_batch: ") + rd_kafka_err2str(rd_kafka_last_error());
            break;
        }
        for (ssize_t k = 0; k < n; ++k) {
            rd_kafka_message_t* m = batch[static_cast<size_t>(k)];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                // Reached the end before N records: keep polling until the deadline.
            } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (error.empty()) {
                    error = std::string("fetch: ") + rd_kafka_err2str(m->err);
                }
            } else if (m->partition < 0 || m->partition >= o.partitions) {
                if (error.empty()) {
                    error = "record from partition " + std::to_string(m->partition);
                }
            } else {
                int64_t& last = last_offset[static_cast<size_t>(m->partition)];
                if (m->offset != last + 1 && error.empty()) {
                    error = "offset gap in partition " + std::to_string(m->partition) +
                            ": expected " + std::to_string(last + 1) + ", got " +
                            std::to_string(m->offset);
                }
                last = m->offset;
                got++;
                bytes += static_cast<int64_t>(m->len);
                end = now_ns();
                if (first_ns == 0) {
                    first_ns = end;
                    first_bytes = static_cast<int64_t>(m->len);
                }
            }
            rd_kafka_message_destroy(m);
        }
    }
    if (error.empty() && got < o.records) {
        error = "timed out after " + std::to_string(got) + " records";
    }
    for (int32_t part = 0; part < o.partitions; ++part) {
        rd_kafka_consume_stop(rkt, part);
    }
    rd_kafka_queue_destroy(queue);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    const double secs = static_cast<double>(end - start) / 1e9;
    const double rps = secs > 0 ? static_cast<double>(got) / secs : 0;
    const double mbps = secs > 0 ? static_cast<double>(bytes) / secs / 1e6 : 0;
    // Streaming rate: first record -> last, without the start-up (connect, metadata,
    // ListOffsets, first fetch round trip).
    const double stream_secs = first_ns > 0 ? static_cast<double>(end - first_ns) / 1e9 : 0;
    const double stream_mbps =
        stream_secs > 0 ? static_cast<double>(bytes - first_bytes) / stream_secs / 1e6 : 0;
    const bool ok = error.empty();
    std::printf("{\"mode\":\"consume\",\"ok\":%s,\"topic\":%s,\"records\":%" PRId64
                ",\"consumed\":%" PRId64 ",\"bytes\":%" PRId64
                ",\"seconds\":%.3f,\"records_per_s\":%.0f,\"mb_per_s\":%.2f"
                ",\"first_record_s\":%.3f,\"stream_seconds\":%.3f,\"stream_mb_per_s\":%.2f"
                ",\"error\":%s}\n",
                ok ? "true" : "false", json_str(o.topic).c_str(), o.records, got, bytes, secs, rps,
                mbps, first_ns > 0 ? static_cast<double>(first_ns - start) / 1e9 : 0.0, stream_secs,
                stream_mbps, json_str(error).c_str());
    return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------- create

int run_create(const options& o) {
    rd_kafka_conf_t* conf = make_conf(o);
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == nullptr) {
        std::fprintf(stderr, "rdkafka_load: %s\n", err);
        return 2;
    }
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(o.topic.c_str(), o.partitions, 1, err, sizeof err);
    if (nt == nullptr) {
        std::fprintf(stderr, "rdkafka_load: %s\n", err);
        return 2;
    }
    for (const auto& [k, v] : o.topic_config) {
        if (rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            std::fprintf(stderr, "rdkafka_load: bad topic config %s\n", k.c_str());
            return 2;
        }
    }
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t* ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 30000, err, sizeof err);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    std::string error;
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, o.timeout_s * 1000);
    if (ev == nullptr) {
        error = "CreateTopics timed out";
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error = rd_kafka_event_error_string(ev);
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t** res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t k = 0; k < n; ++k) {
            if (rd_kafka_topic_result_error(res[k]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                error = std::string(rd_kafka_err2name(rd_kafka_topic_result_error(res[k]))) + ": " +
                        (rd_kafka_topic_result_error_string(res[k])
                             ? rd_kafka_topic_result_error_string(res[k])
                             : "");
            }
        }
    }
    if (ev != nullptr) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    std::printf("{\"mode\":\"create\",\"ok\":%s,\"topic\":%s,\"error\":%s}\n",
                error.empty() ? "true" : "false", json_str(o.topic).c_str(),
                json_str(error).c_str());
    return error.empty() ? 0 : 1;
}

// ---------------------------------------------------------------------------- e2e

struct e2e_delivery {
    std::atomic<int64_t> delivered{0};
    std::atomic<int64_t> failed{0};
    std::string first_error;
};

void on_e2e_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* st = static_cast<e2e_delivery*>(opaque);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (st->failed++ == 0) {
            st->first_error = rd_kafka_err2str(m->err);
        }
        return;
    }
    st->delivered++;
}

int run_e2e(const options& o) {
    const auto total = static_cast<int64_t>(static_cast<double>(o.rate) * o.seconds);
    const auto warmup = static_cast<int64_t>(static_cast<double>(o.rate) * o.warmup_seconds);
    char err[512];

    // Consumer first, from offset 0 of the (fresh) topic: nothing is missed however long
    // the offset lookup takes.
    rd_kafka_t* ck = rd_kafka_new(RD_KAFKA_CONSUMER, make_conf(o), err, sizeof err);
    if (ck == nullptr) {
        std::fprintf(stderr, "rdkafka_load: %s\n", err);
        return 2;
    }
    rd_kafka_topic_t* ckt = rd_kafka_topic_new(ck, o.topic.c_str(), nullptr);
    if (rd_kafka_consume_start(ckt, 0, RD_KAFKA_OFFSET_BEGINNING) != 0) {
        std::fprintf(stderr, "rdkafka_load: consume_start: %s\n",
                     rd_kafka_err2str(rd_kafka_last_error()));
        return 2;
    }
    std::vector<int64_t> latency(static_cast<size_t>(total), -1);
    std::atomic<int64_t> consumed{0};
    std::atomic<bool> stop{false};
    std::atomic<bool> consume_failed{false};  // consume_error is read after join()
    int64_t duplicates = 0;
    int64_t last_consume_ns = 0;
    std::string consume_error;
    // One message per call: rd_kafka_consume_batch() would hold messages back until its
    // batch is full or its timeout passes, which would show up as latency.
    std::thread consumer([&] {
        while (!stop.load() && consumed.load() < total) {
            rd_kafka_message_t* m = rd_kafka_consume(ckt, 0, 100);
            const int64_t t = now_ns();
            if (m == nullptr) {
                continue;  // timeout
            }
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->len >= 16) {
                int64_t sched = 0;
                int64_t seq = -1;
                std::memcpy(&sched, m->payload, 8);
                std::memcpy(&seq, static_cast<const char*>(m->payload) + 8, 8);
                if (seq >= 0 && seq < total && latency[static_cast<size_t>(seq)] < 0) {
                    latency[static_cast<size_t>(seq)] = t - sched;
                    consumed++;
                    last_consume_ns = t;
                } else {
                    duplicates++;
                }
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
                       m->err != RD_KAFKA_RESP_ERR_NO_ERROR && consume_error.empty()) {
                consume_error = std::string("fetch: ") + rd_kafka_err2str(m->err);
                consume_failed = true;
            }
            rd_kafka_message_destroy(m);
        }
    });

    e2e_delivery dr;
    rd_kafka_conf_t* pconf = make_conf(o);
    rd_kafka_conf_set(pconf, "acks", o.acks.c_str(), err, sizeof err);
    rd_kafka_conf_set_dr_msg_cb(pconf, on_e2e_delivery);
    rd_kafka_conf_set_opaque(pconf, &dr);
    rd_kafka_t* pk = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
    if (pk == nullptr) {
        std::fprintf(stderr, "rdkafka_load: %s\n", err);
        stop = true;
        consumer.join();
        return 2;
    }
    std::vector<char> payload(o.size_bytes);
    for (size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<char>('a' + i % 26);
    }
    // The producer's metadata and connection first, so the schedule starts on a warm client.
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_topic_t* pkt = rd_kafka_topic_new(pk, o.topic.c_str(), nullptr);
    rd_kafka_metadata(pk, 0, pkt, &md, 10000);
    if (md != nullptr) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(pkt);

    const double ns_per_record = 1e9 / static_cast<double>(o.rate);
    const int64_t deadline = now_ns() + int64_t{o.timeout_s} * 1'000'000'000;
    const int64_t start = now_ns() + 50'000'000;
    int64_t i = 0;
    int64_t max_behind_ns = 0;
    std::string produce_error;
    while (i < total && produce_error.empty() && now_ns() < deadline) {
        const int64_t now = now_ns();
        int64_t due =
            now < start
                ? 0
                : std::min<int64_t>(
                      total,
                      static_cast<int64_t>(static_cast<double>(now - start) / ns_per_record) + 1);
        for (; i < due; ++i) {
            const int64_t sched =
                start + static_cast<int64_t>(static_cast<double>(i) * ns_per_record);
            std::memcpy(payload.data(), &sched, 8);
            std::memcpy(payload.data() + 8, &i, 8);
            for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                    pk, RD_KAFKA_V_TOPIC(o.topic.c_str()), RD_KAFKA_V_PARTITION(0),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_VALUE(payload.data(), payload.size()), RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    break;
                }
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && now_ns() < deadline) {
                    rd_kafka_poll(pk, 1);
                    continue;
                }
                produce_error = rd_kafka_err2str(e);
                break;
            }
            if (!produce_error.empty()) {
                break;
            }
            max_behind_ns = std::max(max_behind_ns, now_ns() - sched);
        }
        rd_kafka_poll(pk, 0);
        if (i < total) {
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    }
    const int64_t send_end = now_ns();
    const int64_t sent = i;
    while (dr.delivered.load() + dr.failed.load() < sent && now_ns() < deadline) {
        rd_kafka_poll(pk, 10);
    }
    while (consumed.load() < sent && !consume_failed.load() && now_ns() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop = true;
    consumer.join();
    rd_kafka_destroy(pk);
    rd_kafka_consume_stop(ckt, 0);
    rd_kafka_topic_destroy(ckt);
    rd_kafka_destroy(ck);

    std::vector<int64_t> measured;
    measured.reserve(static_cast<size_t>(total));
    int64_t missing = 0;
    for (int64_t k = 0; k < total; ++k) {
        const int64_t l = latency[static_cast<size_t>(k)];
        if (l < 0) {
            missing++;
        } else if (k >= warmup) {
            measured.push_back(l);
        }
    }
    std::sort(measured.begin(), measured.end());
    // The worst latency of the records due in each second: where in the run a tail comes from.
    std::string per_second = "[";
    for (int64_t from = 0; from < total; from += o.rate) {
        int64_t worst = -1;
        for (int64_t k = from; k < std::min(total, from + o.rate); ++k) {
            worst = std::max(worst, latency[static_cast<size_t>(k)]);
        }
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%.1f", from == 0 ? "" : ",",
                      static_cast<double>(worst) / 1e6);
        per_second += buf;
    }
    per_second += "]";
    // Percentiles of each --interval-seconds slice of the schedule (by due time), the
    // --warmup-seconds left out as above.
    std::string intervals = "[";
    if (o.interval_seconds > 0) {
        const auto step = std::max<int64_t>(
            1, static_cast<int64_t>(static_cast<double>(o.rate) * o.interval_seconds));
        for (int64_t from = 0; from < total; from += step) {
            std::vector<int64_t> slice;
            int64_t lost = 0;
            for (int64_t k = std::max(from, warmup); k < std::min(total, from + step); ++k) {
                const int64_t l = latency[static_cast<size_t>(k)];
                if (l < 0) {
                    lost++;
                } else {
                    slice.push_back(l);
                }
            }
            std::sort(slice.begin(), slice.end());
            char buf[256];
            std::snprintf(buf, sizeof buf,
                          "%s{\"from_s\":%.1f,\"records\":%zu,\"missing\":%" PRId64
                          ",\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}",
                          from == 0 ? "" : ",",
                          static_cast<double>(from) / static_cast<double>(o.rate), slice.size(),
                          lost, pct_ms(slice, 0.50), pct_ms(slice, 0.99), pct_ms(slice, 0.999),
                          slice.empty() ? 0.0 : static_cast<double>(slice.back()) / 1e6);
            intervals += buf;
        }
    }
    intervals += "]";
    const double send_secs = static_cast<double>(send_end - start) / 1e9;
    const double consume_secs =
        last_consume_ns > 0 ? static_cast<double>(last_consume_ns - start) / 1e9 : 0;
    std::string error = !produce_error.empty()   ? "produce: " + produce_error
                        : dr.failed.load() > 0   ? "delivery: " + dr.first_error
                        : !consume_error.empty() ? consume_error
                        : sent < total           ? "timed out sending"
                        : missing > 0 ? std::to_string(missing) + " records never consumed"
                                      : "";
    const bool ok = error.empty();
    std::printf("{\"mode\":\"e2e\",\"ok\":%s,\"topic\":%s,\"acks\":%s,\"rate\":%" PRId64
                ",\"seconds\":%.1f,\"size\":%zu,\"records\":%" PRId64 ",\"sent\":%" PRId64
                ",\"delivered\":%" PRId64 ",\"failed\":%" PRId64 ",\"consumed\":%" PRId64
                ",\"duplicates\":%" PRId64 ",\"warmup_records\":%" PRId64
                ",\"measured\":%zu"
                ",\"send_seconds\":%.3f,\"send_rate\":%.0f,\"last_consume_s\":%.3f"
                ",\"max_behind_ms\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f"
                ",\"max_ms\":%.3f,\"max_ms_per_second\":%s,\"intervals\":%s,\"error\":%s}\n",
                ok ? "true" : "false", json_str(o.topic).c_str(), json_str(o.acks).c_str(), o.rate,
                o.seconds, o.size_bytes, total, sent, dr.delivered.load(), dr.failed.load(),
                consumed.load(), duplicates, warmup, measured.size(), send_secs,
                send_secs > 0 ? static_cast<double>(sent) / send_secs : 0.0, consume_secs,
                static_cast<double>(max_behind_ns) / 1e6, pct_ms(measured, 0.50),
                pct_ms(measured, 0.99), pct_ms(measured, 0.999),
                measured.empty() ? 0.0 : static_cast<double>(measured.back()) / 1e6,
                per_second.c_str(), intervals.c_str(), json_str(error).c_str());
    return ok ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    if (o.mode == "produce") {
        return run_produce(o);
    }
    if (o.mode == "consume") {
        return run_consume(o);
    }
    if (o.mode == "create") {
        return run_create(o);
    }
    if (o.mode == "e2e") {
        return run_e2e(o);
    }
    usage(("unknown mode " + o.mode).c_str());
}
