#include "cluster/controller.h"

#include <fmt/format.h>

#include <chrono>

#include "base/log.h"
#include "cluster/topic_config.h"
#include "protocol/record_batch.h"

namespace riacho::cluster {

namespace {
constexpr int64_t producer_id_block_size = 1000;
constexpr size_t topic_name_max_length = 249;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}
}  // namespace

controller::controller(metadata_log& log, int32_t node_id)
    : _log(log), _node_id(node_id), _image(std::make_shared<metadata_image>()) {}

bool controller::load() {
    auto image = std::make_shared<const metadata_image>();
    std::vector<uint8_t> scratch;
    size_t records = 0;
    bool ok = _log.replay([&](protocol::bytes_view batch) {
        auto decoded = protocol::decode_records(batch, scratch);
        if (!decoded) {
            LOG_ERROR("cluster", "metadata log batch does not decode: {}",
                      protocol::to_string(decoded.error()));
            return;
        }
        for (const auto& rec : *decoded) {
            if (!rec.value) {
                continue;
            }
            auto r = decode_metadata_record(*rec.value);
            if (!r) {
                LOG_ERROR("cluster", "metadata record at offset {} does not decode", rec.offset);
                continue;
            }
            image = image->apply(*r);
            ++records;
        }
    });
    if (!ok) {
        return false;
    }
    auto before = _image;
    _image = image;
    // Ids of the last reserved block are not reused: a restart starts a fresh block.
    _producer_id_next = _image->next_producer_id;
    LOG_INFO("cluster", "metadata image loaded: {} records, {} topics", records,
             _image->topics_by_name.size());
    if (_listener) {
        _listener(*before, *_image);
    }
    return true;
}

std::optional<std::string> controller::validate_topic_name(const std::string& name) {
    if (name.empty()) {
        return "Topic name is illegal, it can't be empty";
    }
    if (name == "." || name == "..") {
        return "Topic name cannot be \".\" or \"..\"";
    }
    if (name.size() > topic_name_max_length) {
        return fmt::format("Topic name is illegal, it can't be longer than {} characters",
                           topic_name_max_length);
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            return fmt::format(
                "Topic name {} is illegal, it contains a character other than ASCII "
                "alphanumerics, '.', '_' and '-'",
                name);
        }
    }
    return std::nullopt;
}

bool controller::commit(std::vector<protocol::msg::metadata_record> records) {
    protocol::batch_builder builder;
    int64_t ts = now_ms();
    for (const auto& r : records) {
        builder.add({ts, std::nullopt, encode_metadata_record(r), {}});
    }
    if (!_log.append_durably(builder.build())) {
        LOG_ERROR("cluster", "metadata log append failed");
        return false;
    }
    auto before = _image;
    auto next = _image;
    for (const auto& r : records) {
        next = next->apply(r);
    }
    _image = next;
    if (_listener) {
        _listener(*before, *_image);
    }
    return true;
}

change_result controller::create_topic(const std::string& name, int32_t num_partitions,
                                       int16_t replication_factor,
                                       const std::map<std::string, std::string>& configs,
                                       bool validate_only) {
    using protocol::error_code;
    if (auto bad = validate_topic_name(name)) {
        return {error_code::invalid_topic_exception, *bad, nullptr};
    }
    if (_image->find_topic(name)) {
        return {error_code::topic_already_exists, fmt::format("Topic '{}' already exists.", name),
                nullptr};
    }
    if (num_partitions <= 0) {
        return {error_code::invalid_partitions,
                fmt::format("Number of partitions was set to an invalid non-positive value."),
                nullptr};
    }
    if (replication_factor <= 0) {
        return {error_code::invalid_replication_factor,
                "Replication factor must be larger than 0.", nullptr};
    }
    if (replication_factor > 1) {
        return {error_code::invalid_replication_factor,
                fmt::format("Unable to replicate the partition {} time(s): The target "
                            "replication factor of {} cannot be reached because only 1 "
                            "broker(s) are registered.",
                            replication_factor, replication_factor),
                nullptr};
    }
    constexpr int32_t partitions_max = 100000;
    if (num_partitions > partitions_max) {
        return {error_code::invalid_partitions,
                fmt::format("Number of partitions {} is above the limit {}", num_partitions,
                            partitions_max),
                nullptr};
    }
    for (const auto& [key, value] : configs) {
        if (auto bad = validate_topic_config(key, value)) {
            return {error_code::invalid_config, *bad, nullptr};
        }
    }
    auto planned = std::make_shared<topic_info>();
    planned->name = name;
    planned->topic_id = protocol::uuid::random();
    planned->configs = configs;
    for (int32_t p = 0; p < num_partitions; ++p) {
        planned->partitions.push_back({p, _node_id, 0, {_node_id}, {_node_id}});
    }
    if (validate_only) {
        return {error_code::none, "", planned};
    }
    std::vector<protocol::msg::metadata_record> records;
    protocol::msg::metadata_record topic;
    topic.topic.name = name;
    topic.topic.topic_id = planned->topic_id;
    records.push_back(topic);
    for (const auto& [key, value] : configs) {
        protocol::msg::metadata_record c;
        c.config.resource_type = static_cast<int8_t>(config_resource::topic);
        c.config.resource_name = name;
        c.config.name = key;
        c.config.value = value;
        records.push_back(c);
    }
    for (const auto& p : planned->partitions) {
        protocol::msg::metadata_record pr;
        pr.partition.topic_id = planned->topic_id;
        pr.partition.partition_id = p.partition;
        pr.partition.leader = p.leader;
        pr.partition.leader_epoch = p.leader_epoch;
        pr.partition.replicas = p.replicas;
        pr.partition.isr = p.isr;
        records.push_back(pr);
    }
    if (!commit(std::move(records))) {
        return {error_code::kafka_storage_error, "metadata log is not writable", nullptr};
    }
    LOG_INFO("cluster", "created topic {} with {} partition(s), id {}", name, num_partitions,
             planned->topic_id.to_base64());
    return {error_code::none, "", _image->find_topic(name)};
}

change_result controller::delete_topic(const std::shared_ptr<const topic_info>& topic) {
    protocol::msg::metadata_record r;
    r.remove_topic_id = topic->topic_id;
    if (!commit({r})) {
        return {protocol::error_code::kafka_storage_error, "metadata log is not writable",
                nullptr};
    }
    LOG_INFO("cluster", "deleted topic {}", topic->name);
    return {protocol::error_code::none, "", topic};
}

change_result controller::create_partitions(const std::string& name, int32_t new_total,
                                            bool validate_only) {
    using protocol::error_code;
    auto topic = _image->find_topic(name);
    if (!topic) {
        return {error_code::unknown_topic_or_partition,
                fmt::format("This server does not host this topic: {}", name), nullptr};
    }
    auto current = static_cast<int32_t>(topic->partitions.size());
    if (new_total < current) {
        return {error_code::invalid_partitions,
                fmt::format("The topic {} currently has {} partition(s); {} would not be an "
                            "increase.",
                            name, current, new_total),
                nullptr};
    }
    if (new_total == current) {
        return {error_code::invalid_partitions,
                fmt::format("Topic already has {} partition(s).", current), nullptr};
    }
    if (new_total > 100000) {
        return {error_code::invalid_partitions, "Too many partitions", nullptr};
    }
    if (validate_only) {
        return {error_code::none, "", topic};
    }
    std::vector<protocol::msg::metadata_record> records;
    for (int32_t p = current; p < new_total; ++p) {
        protocol::msg::metadata_record pr;
        pr.partition.topic_id = topic->topic_id;
        pr.partition.partition_id = p;
        pr.partition.leader = _node_id;
        pr.partition.leader_epoch = 0;
        pr.partition.replicas = {_node_id};
        pr.partition.isr = {_node_id};
        records.push_back(pr);
    }
    if (!commit(std::move(records))) {
        return {error_code::kafka_storage_error, "metadata log is not writable", nullptr};
    }
    return {error_code::none, "", _image->find_topic(name)};
}

namespace {
// One config record per change: a value sets the key, nullopt removes it.
std::vector<protocol::msg::metadata_record> config_records(
    config_resource type, const std::string& resource_name,
    const std::map<std::string, std::optional<std::string>>& changes) {
    std::vector<protocol::msg::metadata_record> records;
    for (const auto& [key, value] : changes) {
        protocol::msg::metadata_record c;
        c.config.resource_type = static_cast<int8_t>(type);
        c.config.resource_name = resource_name;
        c.config.name = key;
        c.config.value = value;
        records.push_back(std::move(c));
    }
    return records;
}
}  // namespace

change_result controller::alter_topic_configs(
    const std::string& name, const std::map<std::string, std::optional<std::string>>& changes,
    bool validate_only) {
    using protocol::error_code;
    auto topic = _image->find_topic(name);
    if (!topic) {
        return {error_code::unknown_topic_or_partition,
                fmt::format("Topic {} does not exist.", name), nullptr};
    }
    for (const auto& [key, value] : changes) {
        if (!find_topic_config_key(key)) {
            return {error_code::invalid_config, fmt::format("Unknown topic config name: {}", key),
                    nullptr};
        }
        if (value) {
            if (auto bad = validate_topic_config(key, *value)) {
                return {error_code::invalid_config, *bad, nullptr};
            }
        }
    }
    if (validate_only || changes.empty()) {
        return {error_code::none, "", topic};
    }
    if (!commit(config_records(config_resource::topic, name, changes))) {
        return {error_code::kafka_storage_error, "metadata log is not writable", nullptr};
    }
    LOG_INFO("cluster", "altered {} config(s) of topic {}", changes.size(), name);
    return {error_code::none, "", _image->find_topic(name)};
}

change_result controller::alter_broker_configs(
    const std::string& resource_name,
    const std::map<std::string, std::optional<std::string>>& changes) {
    using protocol::error_code;
    if (!changes.empty() &&
        !commit(config_records(config_resource::broker, resource_name, changes))) {
        return {error_code::kafka_storage_error, "metadata log is not writable", nullptr};
    }
    LOG_INFO("cluster", "altered {} dynamic config(s) of broker '{}'", changes.size(),
             resource_name);
    return {error_code::none, "", nullptr};
}

int64_t controller::allocate_producer_id() {
    if (_producer_id_next >= _image->next_producer_id) {
        protocol::msg::metadata_record r;
        r.next_producer_id = _producer_id_next + producer_id_block_size;
        if (!commit({r})) {
            return -1;
        }
    }
    return _producer_id_next++;
}

}  // namespace riacho::cluster
