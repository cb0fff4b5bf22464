// Topic-level configs with Kafka's names: type, default (from the broker synonym), validation.
// Used by CreateTopics, DescribeConfigs and the log (segment size, roll time, ...).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace riacho::cluster {

struct topic_config_key {
    const char* name;
    const char* broker_synonym;  // the broker setting that provides the default
    const char* type;            // "int", "long", "boolean", "string", "list"
    long long min_value;
    long long max_value;
    std::vector<const char*> allowed;  // for enumerations; empty = any
    const char* doc;
};

const std::vector<topic_config_key>& topic_config_keys();
const topic_config_key* find_topic_config_key(const std::string& name);

// Returns an error message naming the key, or nullopt when the value is valid.
std::optional<std::string> validate_topic_config(const std::string& name, const std::string& value);

// The effective value of a topic config: the topic override, else the broker value.
std::string effective_topic_config(const std::map<std::string, std::string>& topic_overrides,
                                   const std::map<std::string, std::string>& broker_values,
                                   const topic_config_key& key);

}  // namespace riacho::cluster
