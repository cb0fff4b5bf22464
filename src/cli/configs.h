// Topic and broker configs through DescribeConfigs/AlterConfigs, shared by `topic describe`,
// `topic alter` and `config get|set`. Internal to src/cli.
#pragma once

#include "cli/client.h"

#include <librdkafka/rdkafka.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace riacho::cli {

struct config_entry {
    std::string name;
    std::optional<std::string> value;  // nullopt: sensitive or unset
    std::string source;                // e.g. DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG
    bool is_default = false;
    bool read_only = false;
    bool sensitive = false;
};

std::vector<config_entry> describe_configs(client& c,
                                           rd_kafka_ResourceType_t type,
                                           const std::string& name);

// Sets and deletes configs of one resource. librdkafka 2.0 only has the (non-incremental)
// AlterConfigs, which replaces the whole dynamic config, so this reads the current dynamic
// values first and sends them back merged with the change (what kafka-configs.sh did before
// IncrementalAlterConfigs). `validate_only` asks the broker to check without applying.
void alter_configs(client& c,
                   rd_kafka_ResourceType_t type,
                   const std::string& name,
                   const std::map<std::string, std::string>& set,
                   const std::vector<std::string>& remove,
                   bool validate_only = false);

std::string resource_label(rd_kafka_ResourceType_t type, const std::string& name);

}  // namespace riacho::cli
