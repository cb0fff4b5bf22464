#include "cli/client.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <future>
#include <thread>
#include <unistd.h>

namespace riacho::cli {

namespace {

std::string env_brokers() {
    const char* v = std::getenv("RIACHO_BROKERS");
    return v != nullptr && *v != '\0' ? std::string(v) : std::string("localhost:9092");
}

void conf_set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw cli_error(exit_usage, fmt::format("invalid client setting {}={}: {}", k, v, errstr));
    }
}

std::string hint_for(rd_kafka_resp_err_t err) {
    switch (err) {
        case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
            return "; use `riacho topic alter` to change it, or --if-not-exists";
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
            return "; list topics with `riacho topic list`";
        case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
            return "; check the key and value (see `riacho help configs`)";
        case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
            return "; partitions must be at least 1 and can only grow";
        case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
            return "; the replication factor cannot exceed the number of brokers";
        case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP:
            return "; stop the group's consumers first";
        case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
            return "; list groups with `riacho group list`";
        case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
        case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
            return "; the group has active members: stop its consumers first";
        default:
            return "";
    }
}

}  // namespace

void add_common_options(CLI::App* cmd, common_options& o) {
    o.bootstrap = env_brokers();
    cmd->add_option("-b,--bootstrap-server", o.bootstrap,
                    "Brokers to contact first, host:port[,host:port] (default $RIACHO_BROKERS, "
                    "then localhost:9092)")
        ->capture_default_str();
    cmd->add_option("-o,--output", o.output, "Output format: table (for people) or json")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();
    cmd->add_option("--timeout-ms", o.timeout_ms,
                    "Give up on a broker request after this many milliseconds")
        ->check(CLI::Range(1, 3600 * 1000))
        ->capture_default_str();
    cmd->add_option(
        "-X", o.properties,
        "librdkafka client setting key=value (repeatable), e.g. -X security.protocol=SSL");
    cmd->add_flag("-v,--verbose", o.verbose, "Show librdkafka's log on stderr");
}

std::pair<std::string, std::string> split_key_value(const std::string& kv, std::string_view flag) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
        throw cli_error(exit_usage, fmt::format("invalid {} '{}': expected key=value", flag, kv));
    }
    return {kv.substr(0, eq), kv.substr(eq + 1)};
}

void fail_kafka(rd_kafka_resp_err_t err, std::string_view doing, std::string_view detail) {
    std::string what = detail.empty() ? std::string(rd_kafka_err2str(err)) : std::string(detail);
    switch (err) {
        case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
            throw cli_error(exit_unsupported,
                            fmt::format("cannot {}: the broker does not support it ({}); this "
                                        "needs a broker that implements the API",
                                        doing, what));
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__RESOLVE:
            throw cli_error(exit_unreachable,
                            fmt::format("cannot {}: no broker reachable ({}); check the broker "
                                        "is running and -b/--bootstrap-server",
                                        doing, what));
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            throw cli_error(exit_failure,
                            fmt::format("cannot {}: timed out ({}); retry, or raise --timeout-ms",
                                        doing, what));
        default:
            throw cli_error(exit_failure, fmt::format("cannot {}: {} ({}){}", doing, what,
                                                      rd_kafka_err2name(err), hint_for(err)));
    }
}

client::client(const common_options& opts,
               kind k,
               const std::vector<std::pair<std::string, std::string>>& conf,
               rd_kafka_conf_t* prepared)
    : _opts(opts), _kind(k) {
    rd_kafka_conf_t* c = prepared != nullptr ? prepared : rd_kafka_conf_new();
    conf_set(c, "bootstrap.servers", opts.bootstrap);
    conf_set(c, "client.id", "riacho-cli");
    conf_set(c, "socket.connection.setup.timeout.ms",
             std::to_string(std::max(1000, opts.timeout_ms)));
    conf_set(c, "reconnect.backoff.max.ms", "1000");
    if (opts.verbose) {
        conf_set(c, "log_level", "7");
    }
    for (const auto& [key, value] : conf) {
        conf_set(c, key, value);
    }
    for (const auto& kv : opts.properties) {
        auto [key, value] = split_key_value(kv, "-X");
        conf_set(c, key, value);
    }
    rd_kafka_conf_set_opaque(c, this);
    rd_kafka_conf_set_error_cb(c, &client::on_error);
    rd_kafka_conf_set_log_cb(c, &client::on_log);
    char errstr[512];
    _rk = rd_kafka_new(k == kind::producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, c, errstr,
                       sizeof(errstr));
    if (_rk == nullptr) {
        rd_kafka_conf_destroy(c);
        throw cli_error(exit_usage, fmt::format("cannot create a Kafka client: {}", errstr));
    }
    if (k == kind::consumer) {
        rd_kafka_poll_set_consumer(_rk);
    }
}

client::~client() {
    for (auto* o : _admin_options) {
        rd_kafka_AdminOptions_destroy(o);
    }
    if (_rk == nullptr) {
        return;
    }
    // librdkafka 2.0.2 can deadlock in rd_kafka_destroy after some failed admin requests
    // (DescribeConsumerGroups against a broker without DescribeGroups). Destroy on a helper
    // thread and give up waiting after a bound: then the process exits with the handle alive.
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    std::thread destroyer([rk = _rk, done] {
        rd_kafka_destroy(rk);
        done->set_value();
    });
    if (finished.wait_for(std::chrono::seconds(3)) == std::future_status::ready) {
        destroyer.join();
    } else {
        destroyer.detach();
    }
}

void client::on_error(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
    auto* self = static_cast<client*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        self->_all_down.store(true);
    } else {
        std::lock_guard lock(self->_mu);
        self->_last_error = reason;
    }
    if (self->_opts.verbose) {
        std::fprintf(stderr, "riacho: librdkafka: %s: %s\n",
                     rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
    }
}

void client::on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
    auto* self = static_cast<client*>(rd_kafka_opaque(rk));
    if (self == nullptr) {
        return;
    }
    if (self->_opts.verbose) {
        std::fprintf(stderr, "riacho: librdkafka %d %s: %s\n", level, fac, buf);
    }
}

std::string client::last_error() const {
    std::lock_guard lock(_mu);
    return _last_error;
}

void client::fail_unreachable(std::string_view detail) {
    std::string why = last_error();
    if (why.empty()) {
        why = detail.empty() ? "no answer" : std::string(detail);
    }
    throw cli_error(exit_unreachable,
                    fmt::format("cannot reach a broker at {} ({}); check that it is running, "
                                "or pass -b/--bootstrap-server or set RIACHO_BROKERS",
                                _opts.bootstrap, why));
}

cluster_metadata client::metadata() {
    using clock = std::chrono::steady_clock;
    auto deadline = clock::now() + std::chrono::milliseconds(_opts.timeout_ms);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err;
    // Short attempts so that "all brokers down" (refused, unresolvable) fails in well under a
    // second instead of after the whole timeout.
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        int attempt_ms = static_cast<int>(std::clamp<int64_t>(left.count(), 1, 1000));
        err = rd_kafka_metadata(_rk, 1, nullptr, &md, attempt_ms);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            break;
        }
        if (_kind == kind::producer) {
            rd_kafka_poll(_rk, 0);
        }
        if (_all_down.load() || clock::now() >= deadline) {
            fail_unreachable(rd_kafka_err2str(err));
        }
    }
    metadata_ptr owned(md);
    cluster_metadata out;
    for (int i = 0; i < md->broker_cnt; ++i) {
        out.brokers.push_back({md->brokers[i].id, md->brokers[i].host, md->brokers[i].port});
    }
    for (int i = 0; i < md->topic_cnt; ++i) {
        const auto& t = md->topics[i];
        topic_info ti{t.topic, {}, t.err};
        for (int p = 0; p < t.partition_cnt; ++p) {
            const auto& pm = t.partitions[p];
            partition_info pi{pm.id, pm.leader, {}, {}, pm.err};
            pi.replicas.assign(pm.replicas, pm.replicas + pm.replica_cnt);
            pi.isr.assign(pm.isrs, pm.isrs + pm.isr_cnt);
            ti.partitions.push_back(std::move(pi));
        }
        std::sort(ti.partitions.begin(), ti.partitions.end(),
                  [](const auto& a, const auto& b) { return a.id < b.id; });
        out.topics.emplace(ti.name, std::move(ti));
    }
    out.controller_id = rd_kafka_controllerid(_rk, 0);
    if (char* id = rd_kafka_clusterid(_rk, 0)) {
        out.cluster_id = id;
        rd_kafka_mem_free(_rk, id);
    }
    return out;
}

topic_info client::topic(const std::string& name) {
    auto md = metadata();
    auto it = md.topics.find(name);
    if (it == md.topics.end() || it->second.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        throw cli_error(exit_failure,
                        fmt::format("topic '{}' does not exist; create it with `riacho topic "
                                    "create {}` or list topics with `riacho topic list`",
                                    name, name));
    }
    if (it->second.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail_kafka(it->second.err, fmt::format("read metadata of topic '{}'", name));
    }
    return it->second;
}

rd_kafka_AdminOptions_t* client::admin_options(rd_kafka_admin_op_t op) {
    rd_kafka_AdminOptions_t* o = rd_kafka_AdminOptions_new(_rk, op);
    _admin_options.push_back(o);
    char errstr[256];
    rd_kafka_AdminOptions_set_request_timeout(o, _opts.timeout_ms, errstr, sizeof(errstr));
    return o;
}

event_ptr client::wait_admin(rd_kafka_queue_t* q, std::string_view doing) {
    using clock = std::chrono::steady_clock;
    // The request itself times out after --timeout-ms; the margin covers librdkafka's own
    // bookkeeping so that its (more precise) timeout error wins.
    auto deadline = clock::now() + std::chrono::milliseconds(_opts.timeout_ms + 5000);
    while (true) {
        event_ptr ev(rd_kafka_queue_poll(q, 100));
        if (ev) {
            rd_kafka_resp_err_t err = rd_kafka_event_error(ev.get());
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                fail_kafka(err, doing, rd_kafka_event_error_string(ev.get()));
            }
            return ev;
        }
        rd_kafka_poll(_rk, 0);
        if (_all_down.load()) {
            fail_unreachable();
        }
        if (clock::now() >= deadline) {
            fail_kafka(RD_KAFKA_RESP_ERR__TIMED_OUT, doing, "no answer from the broker");
        }
    }
}

std::pair<int64_t, int64_t> client::watermarks(const std::string& topic, int32_t partition) {
    int64_t low = -1;
    int64_t high = -1;
    auto err = rd_kafka_query_watermark_offsets(_rk, topic.c_str(), partition, &low, &high,
                                                _opts.timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail_kafka(err, fmt::format("read offsets of {}-{}", topic, partition));
    }
    return {low, high};
}

int64_t parse_int(const std::string& s, std::string_view what) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || end == nullptr || *end != '\0' || errno != 0) {
        throw cli_error(exit_usage, fmt::format("invalid {} '{}': expected an integer", what, s));
    }
    return v;
}

int64_t parse_timestamp_ms(const std::string& s, std::string_view flag) {
    if (!s.empty() &&
        std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return parse_int(s, flag);
    }
    std::tm tm{};
    int ms = 0;
    const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == nullptr) {
        rest = strptime(s.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
    }
    if (rest == nullptr) {
        rest = strptime(s.c_str(), "%Y-%m-%d", &tm);
    }
    if (rest != nullptr && *rest == '.') {
        char* end = nullptr;
        double frac = std::strtod(rest, &end);
        ms = static_cast<int>(frac * 1000);
        rest = end;
    }
    if (rest != nullptr && (*rest == 'Z' || *rest == 'z')) {
        ++rest;
    }
    if (rest == nullptr || *rest != '\0') {
        throw cli_error(exit_usage,
                        fmt::format("invalid {} '{}': expected milliseconds since the epoch or "
                                    "YYYY-MM-DDTHH:MM:SS[.mmm] (UTC)",
                                    flag, s));
    }
    return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

std::string format_timestamp_ms(int64_t ms) {
    if (ms < 0) {
        return "-";
    }
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

bool stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }

}  // namespace riacho::cli
