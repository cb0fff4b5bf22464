// Broker configuration with Kafka's property names. Parsed from a server.properties file and
// `--set key=value` overrides at startup; unknown keys and invalid values stop startup with a
// message naming the key (exceptions are allowed here: startup only, never the request path).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace riacho::broker {

struct listener {
    std::string name;  // e.g. PLAINTEXT
    std::string host;  // empty = all interfaces
    uint16_t port = 9092;
};

enum class config_type { boolean, int_type, long_type, string_type, list_type };

// One known setting: its Kafka name, type, default, bounds and a line of documentation.
struct config_key {
    const char* name;
    config_type type;
    const char* default_value;
    int64_t min_value;
    int64_t max_value;
    const char* doc;
    bool read_only;
};

const std::vector<config_key>& broker_config_keys();
const config_key* find_broker_config_key(const std::string& name);

struct broker_config {
    std::vector<listener> listeners;
    std::vector<listener> advertised_listeners;
    std::vector<std::string> log_dirs;
    int32_t node_id = 1;
    int32_t num_partitions = 1;
    int16_t default_replication_factor = 1;
    bool auto_create_topics_enable = true;
    bool delete_topic_enable = true;
    int64_t log_segment_bytes = 1073741824;
    int64_t log_roll_ms = 7LL * 24 * 3600 * 1000;
    int64_t log_retention_ms = 7LL * 24 * 3600 * 1000;
    int64_t log_retention_bytes = -1;
    int64_t log_retention_check_interval_ms = 300000;
    int64_t log_cleaner_backoff_ms = 15000;
    int32_t log_index_interval_bytes = 4096;
    int32_t log_index_size_max_bytes = 10485760;
    int32_t message_max_bytes = 1048588;
    int32_t socket_request_max_bytes = 104857600;
    int32_t fetch_max_bytes = 57671680;
    int64_t queued_max_request_bytes = 536870912;
    int32_t replica_fetch_max_bytes = 1048576;
    int64_t log_flush_interval_messages = INT64_MAX;
    std::optional<int64_t> log_flush_interval_ms;
    // Riacho's durability default: acks=-1 produces are acknowledged only after fdatasync
    // (group commit). false restores Kafka's page-cache behaviour.
    bool acks_all_fsync = true;
    // The page cache that written log data keeps (storage/writeback.h): -1 an eighth of
    // physical memory, 0 unbounded.
    int64_t log_written_cache_max_bytes = -1;
    // process.roles: a broker serves clients and hosts partitions; a controller is a voter of
    // the metadata quorum. A broker-only node observes the quorum.
    bool broker_role = true;
    bool controller_role = true;
    std::string compression_type = "producer";
    std::string log_message_timestamp_type = "CreateTime";
    std::string log_cleanup_policy = "delete";
    int32_t min_insync_replicas = 1;
    // Replication throttles (bytes per second; INT64_MAX: none), read on every throttled
    // replica fetch.
    int64_t leader_replication_throttled_rate = INT64_MAX;
    int64_t follower_replication_throttled_rate = INT64_MAX;
    std::string log_level = "info";

    // Every key as the operator set it (or its default), for DescribeConfigs.
    std::map<std::string, std::string> values;
    // A numeric key of `values` (validated at load), or `fallback` when unset.
    int64_t number(const std::string& key, int64_t fallback) const {
        auto it = values.find(key);
        return it == values.end() || it->second.empty() ? fallback : std::stoll(it->second);
    }
    std::map<std::string, bool> explicitly_set;     // in the file or --set
    std::map<std::string, std::string> static_set;  // file and --set (dynamic ones go over)
};

// Parses properties text (key=value or key: value lines, # and ! comments).
std::map<std::string, std::string> parse_properties(const std::string& text);

// Builds the config from file values then overrides. Throws std::invalid_argument with a
// message naming the key on any unknown key or invalid value.
broker_config load_broker_config(const std::optional<std::string>& properties_path,
                                 const std::vector<std::string>& overrides);

// Kafka's dynamic broker configs: the topic-level defaults (log.retention.ms,
// log.segment.bytes, message.max.bytes, compression.type, log.cleaner.*, ...), which apply to
// every topic without its own override as soon as they change. Everything else is static.
bool is_dynamic_broker_config(const std::string& name);

// The config with `dynamic` values (from the metadata log) over the static ones
// (static_config.static_set; any dynamic values it had are replaced, not kept). Throws
// std::invalid_argument naming the key for a static key or an invalid value.
broker_config with_dynamic_configs(const broker_config& static_config,
                                   const std::map<std::string, std::string>& dynamic);

std::vector<listener> parse_listeners(const std::string& key, const std::string& value);
std::string default_data_dir();

}  // namespace riacho::broker
