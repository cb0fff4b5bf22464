#include "cluster/topic_config.h"

#include "replication/replication_throttle.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>

namespace riacho::cluster {

const std::vector<topic_config_key>& topic_config_keys() {
    // One key per line reads as a table.
    // clang-format off
    static const std::vector<topic_config_key> keys = {
        {"cleanup.policy", "log.cleanup.policy", "list", 0, 0, {"delete", "compact", "compact,delete", "delete,compact"}, "delete or compact old segments."},
        {"compression.type", "compression.type", "string", 0, 0, {"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}, "Final compression of the topic."},
        {"delete.retention.ms", "log.cleaner.delete.retention.ms", "long", 0, INT64_MAX, {}, "How long tombstones are kept on compacted topics."},
        {"follower.replication.throttled.replicas", "", "list", 0, 0, {}, "Replicas (partition:broker, or *) whose fetching as followers is throttled to follower.replication.throttled.rate while out of sync."},
        {"flush.messages", "log.flush.interval.messages", "long", 1, INT64_MAX, {}, "Messages between forced flushes."},
        {"flush.ms", "log.flush.interval.ms", "long", 0, INT64_MAX, {}, "Time between forced flushes."},
        {"index.interval.bytes", "log.index.interval.bytes", "int", 0, INT32_MAX, {}, "Bytes between offset index entries."},
        {"leader.replication.throttled.replicas", "", "list", 0, 0, {}, "Replicas (partition:broker, or *) whose serving as leaders to out-of-sync followers is throttled to leader.replication.throttled.rate."},
        {"max.message.bytes", "message.max.bytes", "int", 0, INT32_MAX, {}, "Largest record batch."},
        {"message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", "long", 0, INT64_MAX, {}, "How far in the future a CreateTime timestamp may be."},
        {"message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", "long", 0, INT64_MAX, {}, "How far in the past a CreateTime timestamp may be."},
        {"message.timestamp.type", "log.message.timestamp.type", "string", 0, 0, {"CreateTime", "LogAppendTime"}, "Which timestamp is stored."},
        {"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", "long", 1, INT64_MAX, {}, "Longest a record stays uncompacted."},
        {"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", "double", 0, 1, {}, "Dirty ratio before compaction."},
        {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", "long", 0, INT64_MAX, {}, "Shortest a record stays uncompacted."},
        {"min.insync.replicas", "min.insync.replicas", "int", 1, INT32_MAX, {}, "Minimum ISR for acks=-1."},
        {"retention.bytes", "log.retention.bytes", "long", -1, INT64_MAX, {}, "Size retention per partition."},
        {"retention.ms", "log.retention.ms", "long", -1, INT64_MAX, {}, "Time retention."},
        {"segment.bytes", "log.segment.bytes", "int", 64, INT32_MAX, {}, "Segment size before a roll."},
        {"segment.index.bytes", "log.index.size.max.bytes", "int", 4, INT32_MAX, {}, "Index size limit."},
        {"segment.ms", "log.roll.ms", "long", 1, INT64_MAX, {}, "Segment age before a roll."},
        {"unclean.leader.election.enable", "unclean.leader.election.enable", "boolean", 0, 0, {"true", "false"}, "Elect an out-of-sync replica when no in-sync one is alive (acknowledged records may be lost)."},
    };
    // clang-format on
    return keys;
}

const topic_config_key* find_topic_config_key(const std::string& name) {
    for (const auto& k : topic_config_keys()) {
        if (name == k.name) {
            return &k;
        }
    }
    return nullptr;
}

std::optional<std::string> validate_topic_config(const std::string& name,
                                                 const std::string& value) {
    const topic_config_key* k = find_topic_config_key(name);
    if (k == nullptr) {
        return fmt::format("Unknown topic config name: {}", name);
    }
    if (name == "leader.replication.throttled.replicas" ||
        name == "follower.replication.throttled.replicas") {
        return replication::validate_throttled_replicas(name, value);
    }
    std::string type = k->type;
    if (type == "int" || type == "long") {
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || errno == ERANGE) {
            return fmt::format("Invalid value {} for configuration {}: Not a number of type {}",
                               value, name, type == "int" ? "INT" : "LONG");
        }
        if (v < k->min_value || v > k->max_value) {
            return fmt::format("Invalid value {} for configuration {}: Value must be at least {}",
                               value, name, k->min_value);
        }
    }
    if (type == "double") {
        char* end = nullptr;
        double v = std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0' || !(v >= double(k->min_value)) ||
            !(v <= double(k->max_value))) {
            return fmt::format(
                "Invalid value {} for configuration {}: Value must be a number in "
                "[{}, {}]",
                value, name, k->min_value, k->max_value);
        }
    }
    if (!k->allowed.empty()) {
        bool ok = false;
        for (const char* a : k->allowed) {
            ok = ok || value == a;
        }
        if (!ok) {
            return fmt::format("Invalid value {} for configuration {}", value, name);
        }
    }
    return std::nullopt;
}

std::string effective_topic_config(const std::map<std::string, std::string>& topic_overrides,
                                   const std::map<std::string, std::string>& broker_values,
                                   const topic_config_key& key) {
    if (auto it = topic_overrides.find(key.name); it != topic_overrides.end()) {
        return it->second;
    }
    if (*key.broker_synonym != '\0') {
        if (auto it = broker_values.find(key.broker_synonym); it != broker_values.end()) {
            return it->second;
        }
    }
    return "";
}

}  // namespace riacho::cluster
