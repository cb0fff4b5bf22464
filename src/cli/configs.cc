#include "cli/configs.h"

#include <fmt/format.h>

namespace riacho::cli {

namespace {

using resource_ptr =
    std::unique_ptr<rd_kafka_ConfigResource_t, c_deleter<rd_kafka_ConfigResource_destroy>>;

// The dynamic source that AlterConfigs on this resource replaces.
bool is_dynamic_for(rd_kafka_ResourceType_t type,
                    const std::string& name,
                    rd_kafka_ConfigSource_t source) {
    if (type == RD_KAFKA_RESOURCE_TOPIC) {
        return source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
    }
    return name.empty() ? source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG
                        : source == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG;
}

void check_resource(const rd_kafka_ConfigResource_t* r,
                    rd_kafka_ResourceType_t type,
                    const std::string& name,
                    std::string_view verb) {
    auto err = rd_kafka_ConfigResource_error(r);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        return;
    }
    const char* msg = rd_kafka_ConfigResource_error_string(r);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && type == RD_KAFKA_RESOURCE_TOPIC) {
        throw cli_error(exit_failure, fmt::format("topic '{}' does not exist; list topics with "
                                                  "`riacho topic list`",
                                                  name));
    }
    fail_kafka(err, fmt::format("{} configs of {}", verb, resource_label(type, name)),
               msg != nullptr ? msg : "");
}

}  // namespace

namespace {
// librdkafka 2.0 cannot name a resource with an empty name (the cluster-wide broker
// defaults): it returns null, which its admin calls would dereference.
resource_ptr new_resource(rd_kafka_ResourceType_t type, const std::string& name) {
    resource_ptr res(rd_kafka_ConfigResource_new(type, name.c_str()));
    if (!res) {
        throw cli_error(exit_unsupported,
                        name.empty() ? std::string("librdkafka cannot address the cluster-wide "
                                                   "broker defaults; use --broker ID, or Kafka's "
                                                   "kafka-configs --entity-default")
                                     : fmt::format("librdkafka refused resource '{}'", name));
    }
    return res;
}
}  // namespace

std::string resource_label(rd_kafka_ResourceType_t type, const std::string& name) {
    if (type == RD_KAFKA_RESOURCE_TOPIC) {
        return fmt::format("topic '{}'", name);
    }
    return name.empty() ? std::string("the broker defaults") : fmt::format("broker {}", name);
}

std::vector<config_entry> describe_configs(client& c,
                                           rd_kafka_ResourceType_t type,
                                           const std::string& name) {
    queue_ptr q(rd_kafka_queue_new(c.handle()));
    resource_ptr res = new_resource(type, name);
    rd_kafka_ConfigResource_t* arr[] = {res.get()};
    rd_kafka_DescribeConfigs(c.handle(), arr, 1, c.admin_options(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS),
                             q.get());
    std::string doing = fmt::format("describe configs of {}", resource_label(type, name));
    auto ev = c.wait_admin(q.get(), doing);
    const auto* result = rd_kafka_event_DescribeConfigs_result(ev.get());
    size_t n = 0;
    const rd_kafka_ConfigResource_t** resources =
        rd_kafka_DescribeConfigs_result_resources(result, &n);
    std::vector<config_entry> out;
    for (size_t i = 0; i < n; ++i) {
        check_resource(resources[i], type, name, "describe");
        size_t cnt = 0;
        const rd_kafka_ConfigEntry_t** entries =
            rd_kafka_ConfigResource_configs(resources[i], &cnt);
        for (size_t j = 0; j < cnt; ++j) {
            const auto* e = entries[j];
            config_entry ce;
            ce.name = rd_kafka_ConfigEntry_name(e);
            if (const char* v = rd_kafka_ConfigEntry_value(e)) {
                ce.value = v;
            }
            ce.source = rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(e));
            ce.is_default = rd_kafka_ConfigEntry_is_default(e) != 0;
            ce.read_only = rd_kafka_ConfigEntry_is_read_only(e) != 0;
            ce.sensitive = rd_kafka_ConfigEntry_is_sensitive(e) != 0;
            out.push_back(std::move(ce));
        }
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

void alter_configs(client& c,
                   rd_kafka_ResourceType_t type,
                   const std::string& name,
                   const std::map<std::string, std::string>& set,
                   const std::vector<std::string>& remove,
                   bool validate_only) {
    // Read the dynamic configs this resource already has, so that AlterConfigs keeps them.
    std::map<std::string, std::string> merged;
    {
        queue_ptr q(rd_kafka_queue_new(c.handle()));
        resource_ptr res = new_resource(type, name);
        rd_kafka_ConfigResource_t* arr[] = {res.get()};
        rd_kafka_DescribeConfigs(c.handle(), arr, 1,
                                 c.admin_options(RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS), q.get());
        auto ev = c.wait_admin(q.get(),
                               fmt::format("describe configs of {}", resource_label(type, name)));
        size_t n = 0;
        const auto** resources = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
        for (size_t i = 0; i < n; ++i) {
            check_resource(resources[i], type, name, "describe");
            size_t cnt = 0;
            const auto** entries = rd_kafka_ConfigResource_configs(resources[i], &cnt);
            for (size_t j = 0; j < cnt; ++j) {
                const char* v = rd_kafka_ConfigEntry_value(entries[j]);
                if (v != nullptr &&
                    is_dynamic_for(type, name, rd_kafka_ConfigEntry_source(entries[j]))) {
                    merged[rd_kafka_ConfigEntry_name(entries[j])] = v;
                }
            }
        }
    }
    for (const auto& key : remove) {
        merged.erase(key);
    }
    for (const auto& [key, value] : set) {
        merged[key] = value;
    }
    queue_ptr q(rd_kafka_queue_new(c.handle()));
    resource_ptr res = new_resource(type, name);
    for (const auto& [key, value] : merged) {
        if (rd_kafka_ConfigResource_set_config(res.get(), key.c_str(), value.c_str()) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            throw cli_error(exit_usage, fmt::format("invalid config {}={}", key, value));
        }
    }
    rd_kafka_AdminOptions_t* opts = c.admin_options(RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
    if (validate_only) {
        char errstr[256];
        rd_kafka_AdminOptions_set_validate_only(opts, 1, errstr, sizeof(errstr));
    }
    rd_kafka_ConfigResource_t* arr[] = {res.get()};
    rd_kafka_AlterConfigs(c.handle(), arr, 1, opts, q.get());
    auto ev = c.wait_admin(q.get(), fmt::format("alter configs of {}", resource_label(type, name)));
    size_t n = 0;
    const auto** resources =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev.get()), &n);
    for (size_t i = 0; i < n; ++i) {
        check_resource(resources[i], type, name, "alter");
    }
}

}  // namespace riacho::cli
