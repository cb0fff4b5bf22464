#include "cluster/metadata_snapshot.h"

#include "protocol/record_batch.h"

#include <fmt/format.h>

namespace riacho::cluster {

namespace {

protocol::msg::metadata_record config_record(config_resource type,
                                             const std::string& resource,
                                             const std::string& name,
                                             const std::string& value) {
    protocol::msg::metadata_record r;
    r.config.resource_type = static_cast<int8_t>(type);
    r.config.resource_name = resource;
    r.config.name = name;
    r.config.value = value;
    return r;
}
}  // namespace

std::vector<protocol::msg::metadata_record> records_of_image(const metadata_image& image) {
    std::vector<protocol::msg::metadata_record> out;
    for (const auto& [id, b] : image.brokers) {
        auto& r = out.emplace_back();
        r.broker.broker_id = b.id;
        r.broker.host = b.host;
        r.broker.port = b.port;
        r.broker.rack = b.rack;
    }
    for (int32_t id : image.fenced_brokers) {
        out.emplace_back().fence_broker = id;
    }
    for (int32_t id : image.shut_down_brokers) {  // after the registrations, which clear it
        out.emplace_back().shut_down_broker = id;
    }
    for (const auto& [resource, configs] : image.broker_configs) {
        for (const auto& [name, value] : configs) {
            out.push_back(config_record(config_resource::broker, resource, name, value));
        }
    }
    if (image.next_producer_id > 0) {
        out.emplace_back().next_producer_id = image.next_producer_id;
    }
    for (const auto& [name, topic] : image.topics_by_name) {
        auto& r = out.emplace_back();
        r.topic.name = topic->name;
        r.topic.topic_id = topic->topic_id;
        for (const auto& p : topic->partitions) {
            out.push_back(partition_record(topic->topic_id, p));
        }
        for (const auto& [key, value] : topic->configs) {
            out.push_back(config_record(config_resource::topic, topic->name, key, value));
        }
    }
    return out;
}

std::vector<uint8_t> encode_snapshot(const metadata_image& image) {
    protocol::batch_builder builder;
    builder.set_codec(protocol::compression_codec::zstd);
    for (const auto& r : records_of_image(image)) {
        builder.add({-1, std::nullopt, encode_metadata_record(r), {}});
    }
    return builder.build();
}

result<std::shared_ptr<const metadata_image>, std::string> decode_snapshot(
    protocol::bytes_view bytes) {
    std::vector<uint8_t> scratch;
    auto records = protocol::decode_records(bytes, scratch);
    if (!records) {
        return unexpected{fmt::format("the snapshot's record batch does not decode: {}",
                                      protocol::to_string(records.error()))};
    }
    auto image = std::make_shared<metadata_image>();
    // Topics are built in place here (each record of a log entry copies what it changes).
    std::unordered_map<protocol::uuid, std::shared_ptr<topic_info>, uuid_hash> topics;
    std::map<std::string, std::shared_ptr<topic_info>> topics_by_name;
    size_t index = 0;
    for (const auto& rec : *records) {
        ++index;
        if (!rec.value) {
            continue;
        }
        auto r = decode_metadata_record(*rec.value);
        if (!r) {
            return unexpected{fmt::format("snapshot record {} does not decode", index)};
        }
        if (!r->topic.topic_id.is_zero()) {
            auto t = std::make_shared<topic_info>();
            t->name = r->topic.name;
            t->topic_id = r->topic.topic_id;
            if (!topics.emplace(t->topic_id, t).second ||
                !topics_by_name.emplace(t->name, t).second) {
                return unexpected{fmt::format("snapshot names topic {} twice", r->topic.name)};
            }
        } else if (!r->partition.topic_id.is_zero()) {
            auto it = topics.find(r->partition.topic_id);
            if (it == topics.end() ||
                r->partition.partition_id != static_cast<int32_t>(it->second->partitions.size())) {
                return unexpected{fmt::format("snapshot record {}: partition {} out of order",
                                              index, r->partition.partition_id)};
            }
            it->second->partitions.push_back(partition_of_record(*r));
        } else if (!r->config.name.empty() &&
                   static_cast<config_resource>(r->config.resource_type) ==
                       config_resource::topic) {
            auto it = topics_by_name.find(r->config.resource_name);
            if (it == topics_by_name.end() || !r->config.value) {
                return unexpected{fmt::format("snapshot record {}: config of unknown topic {}",
                                              index, r->config.resource_name)};
            }
            it->second->configs[r->config.name] = *r->config.value;
        } else {
            image->apply_cluster_parts(*r);
        }
    }
    for (auto& [id, t] : topics) {
        image->topics_by_id.emplace(id, t);
        image->topics_by_name.emplace(t->name, t);
    }
    return std::shared_ptr<const metadata_image>(std::move(image));
}

}  // namespace riacho::cluster
