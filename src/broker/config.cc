#include "broker/config.h"

#include "cluster/topic_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace riacho::broker {

namespace {
constexpr int64_t int_max = INT32_MAX;
constexpr int64_t long_max = INT64_MAX;

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) {
        return "";
    }
    size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}
}  // namespace

const std::vector<config_key>& broker_config_keys() {
    using t = config_type;
    static const std::vector<config_key> keys = {
        {"listeners", t::list_type, "PLAINTEXT://:9092", 0, 0,
         "Listeners to bind: NAME://host:port, comma separated.", true},
        {"advertised.listeners", t::list_type, "", 0, 0,
         "Listeners given to clients in metadata; defaults to listeners.", true},
        {"log.dirs", t::list_type, "", 0, 0, "Data directories (the first one is used).", true},
        {"log.dir", t::string_type, "", 0, 0, "Data directory, used when log.dirs is not set.",
         true},
        {"node.id", t::int_type, "1", 0, int_max, "This node's id.", true},
        {"broker.id", t::int_type, "1", 0, int_max, "Alias of node.id.", true},
        {"num.partitions", t::int_type, "1", 1, int_max,
         "Partitions of auto-created topics and of CreateTopics without a count.", false},
        {"default.replication.factor", t::int_type, "1", 1, 32767,
         "Replication factor of auto-created topics.", false},
        {"auto.create.topics.enable", t::boolean, "true", 0, 0,
         "Create topics on metadata requests for unknown topics.", false},
        {"delete.topic.enable", t::boolean, "true", 0, 0, "Allow DeleteTopics.", false},
        {"log.segment.bytes", t::int_type, "1073741824", 64, int_max, "Segment size before a roll.",
         false},
        {"log.roll.ms", t::long_type, "604800000", 1, long_max, "Segment age before a roll.",
         false},
        {"log.roll.hours", t::int_type, "168", 1, int_max,
         "Segment age before a roll, in hours (log.roll.ms wins).", false},
        {"log.retention.ms", t::long_type, "604800000", -1, long_max,
         "Retention by time: whole segments older than this are deleted.", false},
        {"log.retention.minutes", t::int_type, "10080", -1, int_max,
         "Retention by time in minutes.", false},
        {"log.retention.hours", t::int_type, "168", -1, int_max, "Retention by time in hours.",
         false},
        {"log.retention.bytes", t::long_type, "-1", -1, long_max,
         "Retention by size per partition.", false},
        {"log.retention.check.interval.ms", t::long_type, "300000", 1, long_max,
         "How often retention runs.", false},
        {"log.index.interval.bytes", t::int_type, "4096", 0, int_max,
         "Bytes between offset index entries.", false},
        {"log.index.size.max.bytes", t::int_type, "10485760", 4, int_max,
         "Maximum index file size.", false},
        {"log.flush.interval.messages", t::long_type, "9223372036854775807", 1, long_max,
         "Messages before a forced flush.", false},
        {"log.flush.interval.ms", t::long_type, "", 0, long_max, "Time before a forced flush.",
         false},
        {"riacho.acks.all.fsync", t::boolean, "true", 0, 0,
         "Acknowledge acks=-1 produces only after fdatasync (group commit).", false},
        {"riacho.log.written.cache.max.bytes", t::long_type, "-1", -1, long_max,
         "Newest written log bytes kept in the page cache; older ones are dropped once written "
         "back. -1: an eighth of physical memory; 0: no limit (the kernel decides).",
         true},
        {"log.cleanup.policy", t::list_type, "delete", 0, 0, "delete, compact or both.", false},
        {"log.cleaner.backoff.ms", t::long_type, "15000", 0, long_max,
         "How often compacted logs are checked for cleaning.", false},
        {"log.cleaner.delete.retention.ms", t::long_type, "86400000", 0, long_max,
         "How long tombstones are kept on compacted topics.", false},
        {"log.cleaner.min.cleanable.ratio", t::string_type, "0.5", 0, 0,
         "Dirty ratio (0 to 1) before a log is compacted.", false},
        {"log.cleaner.min.compaction.lag.ms", t::long_type, "0", 0, long_max,
         "Shortest a record stays uncompacted.", false},
        {"log.cleaner.max.compaction.lag.ms", t::long_type, "9223372036854775807", 1, long_max,
         "Longest a record stays uncompacted.", false},
        {"log.message.timestamp.after.max.ms", t::long_type, "3600000", 0, long_max,
         "How far in the future a CreateTime timestamp may be.", false},
        {"log.message.timestamp.before.max.ms", t::long_type, "9223372036854775807", 0, long_max,
         "How far in the past a CreateTime timestamp may be.", false},
        {"log.message.timestamp.type", t::string_type, "CreateTime", 0, 0,
         "CreateTime or LogAppendTime.", false},
        {"compression.type", t::string_type, "producer", 0, 0,
         "producer, uncompressed, gzip, snappy, lz4, zstd.", false},
        {"message.max.bytes", t::int_type, "1048588", 0, int_max, "Largest record batch accepted.",
         false},
        {"socket.request.max.bytes", t::int_type, "104857600", 1, int_max,
         "Largest request frame; larger frames close the connection.", true},
        {"queued.max.request.bytes", t::long_type, "536870912", 1, long_max,
         "Request bytes all connections may hold at once; readers wait beyond it.", true},
        {"fetch.max.bytes", t::int_type, "57671680", 1024, int_max, "Largest fetch response.",
         false},
        {"replica.fetch.max.bytes", t::int_type, "1048576", 0, int_max,
         "Per-partition fetch size for replicas.", false},
        {"min.insync.replicas", t::int_type, "1", 1, int_max, "Minimum ISR for acks=-1.", false},
        {"unclean.leader.election.enable", t::boolean, "false", 0, 0,
         "Elect an out-of-sync replica when no in-sync one is alive (acknowledged records may be "
         "lost).",
         false},
        {"leader.replication.throttled.rate", t::long_type, "9223372036854775807", 0, long_max,
         "Bytes per second this broker serves, as leader, to out-of-sync followers of the "
         "replicas listed in leader.replication.throttled.replicas.",
         false},
        {"follower.replication.throttled.rate", t::long_type, "9223372036854775807", 0, long_max,
         "Bytes per second this broker fetches, as an out-of-sync follower, for the replicas "
         "listed in follower.replication.throttled.replicas.",
         false},
        {"replica.alter.log.dirs.io.max.bytes.per.second", t::long_type, "9223372036854775807", 0,
         long_max,
         "Kafka's throttle for moves between log directories; accepted and kept (one log "
         "directory here, so nothing moves between them).",
         false},
        {"replica.lag.time.max.ms", t::long_type, "30000", 1, long_max,
         "A follower that has not caught up for this long leaves the ISR.", true},
        {"auto.leader.rebalance.enable", t::boolean, "true", 0, 0,
         "Move leadership back to preferred replicas when they are in sync again.", true},
        {"leader.imbalance.check.interval.seconds", t::long_type, "300", 1, long_max,
         "How often the controller checks for leaders away from their preferred replica.", true},
        {"leader.imbalance.per.broker.percentage", t::int_type, "10", 0, 100,
         "Share of a broker's preferred partitions led elsewhere that triggers a rebalance.", true},
        {"broker.session.timeout.ms", t::long_type, "9000", 1, long_max,
         "A broker not heard from for this long is fenced: its partitions get new leaders.", true},
        {"metadata.log.max.record.bytes.between.snapshots", t::long_type, "20971520", 1, long_max,
         "Metadata bytes applied since the latest snapshot after which this node takes a new "
         "one (and the metadata log below it is trimmed).",
         true},
        {"metadata.log.max.snapshot.interval.ms", t::long_type, "3600000", 0, long_max,
         "Time since the latest snapshot after which this node takes a new one once new "
         "metadata is applied (0: only by size).",
         true},
        {"process.roles", t::list_type, "broker,controller", 0, 0,
         "KRaft roles: broker (serves clients, hosts partitions; alone it observes the quorum), "
         "controller (a voter of controller.quorum.voters), or both; a single node is a "
         "quorum of one.",
         true},
        {"controller.quorum.voters", t::list_type, "", 0, 0,
         "Metadata quorum voters: id@host:port,... (empty: this node alone).", true},
        {"broker.rack", t::string_type, "", 0, 0,
         "This broker's rack, for rack-aware replica placement.", true},
        {"controller.quorum.bootstrap.servers", t::list_type, "", 0, 0,
         "Metadata quorum bootstrap (single node: ignored).", true},
        {"controller.listener.names", t::list_type, "", 0, 0,
         "Controller listener names (single node: ignored).", true},
        {"inter.broker.listener.name", t::string_type, "", 0, 0,
         "Inter-broker listener (single node: ignored).", true},
        {"listener.security.protocol.map", t::list_type, "", 0, 0,
         "Listener name to protocol (PLAINTEXT only for now).", true},
        {"num.network.threads", t::int_type, "3", 1, int_max,
         "Accepted for compatibility; Riacho runs one event loop per shard.", true},
        {"num.io.threads", t::int_type, "8", 1, int_max,
         "Accepted for compatibility; Riacho runs one event loop per shard.", true},
        {"num.recovery.threads.per.data.dir", t::int_type, "1", 1, int_max,
         "Threads for log recovery.", true},
        {"socket.send.buffer.bytes", t::int_type, "102400", -1, int_max, "Socket send buffer.",
         true},
        {"socket.receive.buffer.bytes", t::int_type, "102400", -1, int_max,
         "Socket receive buffer.", true},
        {"offsets.topic.replication.factor", t::int_type, "3", 1, 32767,
         "Replication of __consumer_offsets (at most the live brokers when it is created, so a "
         "single node needs no setting).",
         true},
        {"offsets.commit.timeout.ms", t::int_type, "5000", 1, int_max,
         "How long an offset commit waits for the offsets topic's in-sync replicas.", true},
        {"offsets.topic.num.partitions", t::int_type, "50", 1, int_max,
         "Partitions of __consumer_offsets.", true},
        {"transaction.state.log.replication.factor", t::int_type, "3", 1, 32767,
         "Replication of __transaction_state.", true},
        {"transaction.state.log.min.isr", t::int_type, "2", 1, int_max,
         "Min ISR of __transaction_state.", true},
        {"riacho.transaction.version", t::int_type, "2", 1, 2,
         "The transaction.version feature level clients see: 2 = KIP-890 part 2 (epoch bump per "
         "transaction), 1 = AddPartitionsToTxn.",
         false},
        {"transaction.state.log.num.partitions", t::int_type, "50", 1, int_max,
         "Partitions of __transaction_state.", true},
        {"transaction.max.timeout.ms", t::int_type, "900000", 1, int_max,
         "Largest transaction.timeout.ms a producer may ask for.", true},
        {"transaction.abort.timed.out.transaction.cleanup.interval.ms", t::int_type, "10000", 1,
         int_max, "How often transactions open past their timeout are aborted.", true},
        {"group.initial.rebalance.delay.ms", t::int_type, "3000", 0, int_max,
         "Delay of the first rebalance.", true},
        {"group.min.session.timeout.ms", t::int_type, "6000", 0, int_max,
         "Smallest session timeout a member may ask for.", true},
        {"group.max.session.timeout.ms", t::int_type, "1800000", 0, int_max,
         "Largest session timeout a member may ask for.", true},
        {"group.max.size", t::int_type, "2147483647", 1, int_max, "Members per consumer group.",
         true},
        {"group.consumer.session.timeout.ms", t::int_type, "45000", 1, int_max,
         "Consumer-protocol (KIP-848) members silent this long leave the group.", true},
        {"group.consumer.heartbeat.interval.ms", t::int_type, "5000", 1, int_max,
         "Heartbeat interval given to consumer-protocol members.", true},
        {"group.consumer.max.size", t::int_type, "2147483647", 1, int_max,
         "Members per consumer-protocol group.", true},
        {"offsets.retention.minutes", t::int_type, "10080", 1, int_max,
         "Committed offsets of an empty group are kept this long.", true},
        {"offsets.retention.check.interval.ms", t::long_type, "600000", 1, long_max,
         "How often expired offsets are removed.", true},
        {"offset.metadata.max.bytes", t::int_type, "4096", 0, int_max,
         "Largest metadata string of a committed offset.", true},
        {"riacho.log.level", t::string_type, "info", 0, 0, "debug, info, warn or error.", false},
    };
    return keys;
}

const config_key* find_broker_config_key(const std::string& name) {
    for (const auto& k : broker_config_keys()) {
        if (name == k.name) {
            return &k;
        }
    }
    return nullptr;
}

std::map<std::string, std::string> parse_properties(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        std::string t = trim(line);
        if (t.empty() || t[0] == '#' || t[0] == '!') {
            continue;
        }
        size_t sep = t.find_first_of("=:");
        if (sep == std::string::npos) {
            throw std::invalid_argument(
                fmt::format("line {}: expected key=value, got '{}'", number, t));
        }
        out[trim(t.substr(0, sep))] = trim(t.substr(sep + 1));
    }
    return out;
}

std::vector<listener> parse_listeners(const std::string& key, const std::string& value) {
    std::vector<listener> out;
    std::istringstream in(value);
    std::string item;
    while (std::getline(in, item, ',')) {
        item = trim(item);
        if (item.empty()) {
            continue;
        }
        auto scheme = item.find("://");
        if (scheme == std::string::npos) {
            throw std::invalid_argument(fmt::format(
                "{}: '{}' is not NAME://host:port (e.g. PLAINTEXT://localhost:9092)", key, item));
        }
        listener l;
        l.name = item.substr(0, scheme);
        std::string hostport = item.substr(scheme + 3);
        auto colon = hostport.rfind(':');
        if (colon == std::string::npos) {
            throw std::invalid_argument(fmt::format("{}: '{}' has no port", key, item));
        }
        l.host = hostport.substr(0, colon);
        if (l.host.size() >= 2 && l.host.front() == '[' && l.host.back() == ']') {
            l.host = l.host.substr(1, l.host.size() - 2);
        }
        std::string port = hostport.substr(colon + 1);
        char* end = nullptr;
        long p = std::strtol(port.c_str(), &end, 10);
        if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
            throw std::invalid_argument(
                fmt::format("{}: invalid port '{}' in '{}'", key, port, item));
        }
        l.port = static_cast<uint16_t>(p);
        for (const auto& existing : out) {
            if (existing.name == l.name) {
                throw std::invalid_argument(
                    fmt::format("{}: listener name {} appears twice", key, l.name));
            }
        }
        out.push_back(l);
    }
    if (out.empty() && key == "listeners") {
        throw std::invalid_argument("listeners: at least one listener is required");
    }
    return out;
}

std::string default_data_dir() {
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
        return std::string(xdg) + "/riacho";
    }
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        return std::string(home) + "/.local/share/riacho";
    }
    return "/var/lib/riacho";
}

namespace {

int64_t parse_number(const config_key& k, const std::string& value) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno == ERANGE) {
        throw std::invalid_argument(fmt::format("{}: '{}' is not a number", k.name, value));
    }
    if (v < k.min_value || v > k.max_value) {
        throw std::invalid_argument(fmt::format("{}: {} is outside the allowed range [{}, {}]",
                                                k.name, v, k.min_value, k.max_value));
    }
    return v;
}

void validate_value(const config_key& k, const std::string& value) {
    switch (k.type) {
        case config_type::boolean:
            if (value != "true" && value != "false") {
                throw std::invalid_argument(
                    fmt::format("{}: '{}' is not true or false", k.name, value));
            }
            break;
        case config_type::int_type:
        case config_type::long_type:
            if (!(value.empty() && std::string(k.default_value).empty())) {
                parse_number(k, value);
            }
            break;
        case config_type::string_type:
        case config_type::list_type:
            break;
    }
}

void check_enum(const std::string& key,
                const std::string& value,
                std::initializer_list<const char*> allowed) {
    for (const char* a : allowed) {
        if (value == a) {
            return;
        }
    }
    std::string list;
    for (const char* a : allowed) {
        list += list.empty() ? a : std::string(", ") + a;
    }
    throw std::invalid_argument(fmt::format("{}: '{}' is not one of {}", key, value, list));
}

}  // namespace

namespace {
// Derives every field from the given key/value settings (defaults for the rest); throws
// std::invalid_argument naming the key on an unknown key or invalid value.
broker_config build_broker_config(const std::map<std::string, std::string>& set);
}  // namespace

broker_config load_broker_config(const std::optional<std::string>& properties_path,
                                 const std::vector<std::string>& overrides) {
    std::map<std::string, std::string> set;
    if (properties_path) {
        std::ifstream in(*properties_path);
        if (!in) {
            throw std::invalid_argument(
                fmt::format("cannot read config file '{}'", *properties_path));
        }
        std::stringstream ss;
        ss << in.rdbuf();
        try {
            set = parse_properties(ss.str());
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(fmt::format("{}: {}", *properties_path, e.what()));
        }
    }
    for (const auto& o : overrides) {
        auto eq = o.find('=');
        if (eq == std::string::npos || eq == 0) {
            throw std::invalid_argument(fmt::format("--set '{}': expected key=value", o));
        }
        set[trim(o.substr(0, eq))] = trim(o.substr(eq + 1));
    }
    auto cfg = build_broker_config(set);
    cfg.static_set = set;
    return cfg;
}

bool is_dynamic_broker_config(const std::string& name) {
    if (name == "log.cleaner.min.cleanable.ratio" || name == "leader.replication.throttled.rate" ||
        name == "follower.replication.throttled.rate" ||
        name == "replica.alter.log.dirs.io.max.bytes.per.second") {
        return true;
    }
    for (const auto& k : cluster::topic_config_keys()) {
        if (name == k.broker_synonym) {
            return true;
        }
    }
    return false;
}

broker_config with_dynamic_configs(const broker_config& static_config,
                                   const std::map<std::string, std::string>& dynamic) {
    auto set = static_config.static_set;
    for (const auto& [key, value] : dynamic) {
        if (!is_dynamic_broker_config(key)) {
            throw std::invalid_argument(
                fmt::format("{}: cannot be changed while the broker runs (static setting)", key));
        }
        set[key] = value;
    }
    auto cfg = build_broker_config(set);
    cfg.static_set = static_config.static_set;
    cfg.explicitly_set.clear();
    for (const auto& [key, value] : static_config.static_set) {
        cfg.explicitly_set[key] = true;
    }
    return cfg;
}

namespace {

broker_config build_broker_config(const std::map<std::string, std::string>& set) {
    broker_config cfg;
    for (const auto& [key, value] : set) {
        const config_key* k = find_broker_config_key(key);
        if (k == nullptr) {
            throw std::invalid_argument(fmt::format("unknown setting '{}'", key));
        }
        validate_value(*k, value);
        cfg.explicitly_set[key] = true;
    }
    for (const auto& k : broker_config_keys()) {
        auto it = set.find(k.name);
        cfg.values[k.name] = it != set.end() ? it->second : k.default_value;
    }
    auto get = [&](const char* key) -> const std::string& { return cfg.values[key]; };
    auto num = [&](const char* key) {
        return parse_number(*find_broker_config_key(key), get(key));
    };
    auto is_set = [&](const char* key) { return set.count(key) != 0; };

    cfg.listeners = parse_listeners("listeners", get("listeners"));
    cfg.advertised_listeners =
        is_set("advertised.listeners")
            ? parse_listeners("advertised.listeners", get("advertised.listeners"))
            : cfg.listeners;
    for (const auto& a : cfg.advertised_listeners) {
        bool found = false;
        for (const auto& l : cfg.listeners) {
            found = found || l.name == a.name;
        }
        if (!found) {
            throw std::invalid_argument(
                fmt::format("advertised.listeners: listener {} is not in listeners", a.name));
        }
    }
    if (is_set("log.dirs")) {
        std::istringstream in(get("log.dirs"));
        std::string d;
        while (std::getline(in, d, ',')) {
            if (!trim(d).empty()) {
                cfg.log_dirs.push_back(trim(d));
            }
        }
    } else if (is_set("log.dir")) {
        cfg.log_dirs.push_back(get("log.dir"));
    }
    if (cfg.log_dirs.empty()) {
        if (is_set("log.dirs") || is_set("log.dir")) {
            throw std::invalid_argument("log.dirs: no directory given");
        }
        cfg.log_dirs.push_back(default_data_dir());
    }
    cfg.values["log.dirs"] = cfg.log_dirs.front();
    cfg.node_id = static_cast<int32_t>(is_set("node.id")     ? num("node.id")
                                       : is_set("broker.id") ? num("broker.id")
                                                             : 1);
    cfg.num_partitions = static_cast<int32_t>(num("num.partitions"));
    cfg.default_replication_factor = static_cast<int16_t>(num("default.replication.factor"));
    cfg.auto_create_topics_enable = get("auto.create.topics.enable") == "true";
    cfg.delete_topic_enable = get("delete.topic.enable") == "true";
    cfg.log_segment_bytes = num("log.segment.bytes");
    cfg.log_roll_ms =
        is_set("log.roll.ms") ? num("log.roll.ms") : num("log.roll.hours") * 3600 * 1000;
    cfg.log_retention_ms = is_set("log.retention.ms")        ? num("log.retention.ms")
                           : is_set("log.retention.minutes") ? num("log.retention.minutes") * 60000
                                                             : num("log.retention.hours") * 3600000;
    cfg.log_retention_bytes = num("log.retention.bytes");
    cfg.log_retention_check_interval_ms = num("log.retention.check.interval.ms");
    cfg.log_index_interval_bytes = static_cast<int32_t>(num("log.index.interval.bytes"));
    cfg.log_index_size_max_bytes = static_cast<int32_t>(num("log.index.size.max.bytes"));
    cfg.message_max_bytes = static_cast<int32_t>(num("message.max.bytes"));
    cfg.socket_request_max_bytes = static_cast<int32_t>(num("socket.request.max.bytes"));
    cfg.fetch_max_bytes = static_cast<int32_t>(num("fetch.max.bytes"));
    cfg.queued_max_request_bytes = num("queued.max.request.bytes");
    if (cfg.queued_max_request_bytes < cfg.socket_request_max_bytes) {
        throw std::invalid_argument(
            fmt::format("queued.max.request.bytes: {} is smaller than socket.request.max.bytes {}",
                        cfg.queued_max_request_bytes, cfg.socket_request_max_bytes));
    }
    cfg.replica_fetch_max_bytes = static_cast<int32_t>(num("replica.fetch.max.bytes"));
    cfg.log_flush_interval_messages = num("log.flush.interval.messages");
    if (is_set("log.flush.interval.ms")) {
        cfg.log_flush_interval_ms = num("log.flush.interval.ms");
    }
    cfg.acks_all_fsync = get("riacho.acks.all.fsync") == "true";
    cfg.log_written_cache_max_bytes = num("riacho.log.written.cache.max.bytes");
    cfg.compression_type = get("compression.type");
    check_enum("compression.type", cfg.compression_type,
               {"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"});
    cfg.log_message_timestamp_type = get("log.message.timestamp.type");
    check_enum("log.message.timestamp.type", cfg.log_message_timestamp_type,
               {"CreateTime", "LogAppendTime"});
    cfg.log_cleanup_policy = get("log.cleanup.policy");
    check_enum("log.cleanup.policy", cfg.log_cleanup_policy,
               {"delete", "compact", "compact,delete", "delete,compact"});
    if (auto bad = cluster::validate_topic_config("min.cleanable.dirty.ratio",
                                                  get("log.cleaner.min.cleanable.ratio"))) {
        throw std::invalid_argument(
            fmt::format("log.cleaner.min.cleanable.ratio: {} is not a "
                        "number from 0 to 1",
                        get("log.cleaner.min.cleanable.ratio")));
    }
    cfg.log_cleaner_backoff_ms = num("log.cleaner.backoff.ms");
    cfg.min_insync_replicas = static_cast<int32_t>(num("min.insync.replicas"));
    cfg.leader_replication_throttled_rate = num("leader.replication.throttled.rate");
    cfg.follower_replication_throttled_rate = num("follower.replication.throttled.rate");
    cfg.log_level = get("riacho.log.level");
    check_enum("riacho.log.level", cfg.log_level, {"debug", "info", "warn", "error"});
    if (cfg.message_max_bytes > cfg.socket_request_max_bytes) {
        throw std::invalid_argument(
            fmt::format("message.max.bytes: {} is larger than socket.request.max.bytes {}",
                        cfg.message_max_bytes, cfg.socket_request_max_bytes));
    }
    cfg.broker_role = cfg.controller_role = false;
    std::stringstream roles(get("process.roles"));
    for (std::string role; std::getline(roles, role, ',');) {
        role = trim(role);
        bool& flag = role == "broker" ? cfg.broker_role : cfg.controller_role;
        if ((role != "broker" && role != "controller") || flag) {
            throw std::invalid_argument(fmt::format(
                "process.roles: '{}' is not a list of distinct roles (broker, controller)",
                get("process.roles")));
        }
        flag = true;
    }
    if (!cfg.broker_role && !cfg.controller_role) {
        throw std::invalid_argument("process.roles: empty; give broker, controller or both");
    }
    return cfg;
}

}  // namespace

}  // namespace riacho::broker
