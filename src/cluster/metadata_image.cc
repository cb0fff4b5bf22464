#include "cluster/metadata_image.h"

#include "base/log.h"

namespace riacho::cluster {

std::shared_ptr<const topic_info> metadata_image::find_topic(const std::string& name) const {
    auto it = topics_by_name.find(name);
    return it == topics_by_name.end() ? nullptr : it->second;
}

std::shared_ptr<const topic_info> metadata_image::find_topic(const protocol::uuid& id) const {
    auto it = topics_by_id.find(id);
    return it == topics_by_id.end() ? nullptr : it->second;
}

std::set<int32_t> metadata_image::unfenced_brokers() const {
    std::set<int32_t> out;
    for (const auto& [id, b] : brokers) {
        if (fenced_brokers.count(id) == 0) {
            out.insert(id);
        }
    }
    return out;
}

std::shared_ptr<const metadata_image> metadata_image::apply(
    const protocol::msg::metadata_record& r) const {
    auto next = std::make_shared<metadata_image>(*this);
    auto put = [&](std::shared_ptr<const topic_info> t) {
        next->topics_by_name[t->name] = t;
        next->topics_by_id[t->topic_id] = t;
    };
    if (!r.topic.topic_id.is_zero()) {
        if (find_topic(r.topic.name) || find_topic(r.topic.topic_id)) {
            LOG_WARN("cluster", "metadata: topic {} recorded twice; keeping the first",
                     r.topic.name);
        } else {
            auto t = std::make_shared<topic_info>();
            t->name = r.topic.name;
            t->topic_id = r.topic.topic_id;
            put(std::move(t));
        }
    }
    if (!r.partition.topic_id.is_zero()) {
        auto existing = next->find_topic(r.partition.topic_id);
        if (!existing) {
            LOG_WARN("cluster", "metadata: partition {} of unknown topic id {}",
                     r.partition.partition_id, r.partition.topic_id.to_base64());
        } else {
            auto t = std::make_shared<topic_info>(*existing);
            auto pid = static_cast<size_t>(r.partition.partition_id);
            if (pid > t->partitions.size()) {
                LOG_WARN("cluster", "metadata: partition {} of {} skips ids", pid, t->name);
            } else {
                partition_info p = partition_of_record(r);
                if (pid == t->partitions.size()) {
                    t->partitions.push_back(std::move(p));
                } else {
                    t->partitions[pid] = std::move(p);
                }
                put(std::move(t));
            }
        }
    }
    if (!r.remove_topic_id.is_zero()) {
        if (auto t = next->find_topic(r.remove_topic_id)) {
            next->topics_by_name.erase(t->name);
            next->topics_by_id.erase(t->topic_id);
        }
    }
    if (!r.config.name.empty() &&
        static_cast<config_resource>(r.config.resource_type) != config_resource::broker) {
        if (auto existing = next->find_topic(r.config.resource_name)) {
            auto t = std::make_shared<topic_info>(*existing);
            if (r.config.value) {
                t->configs[r.config.name] = *r.config.value;
            } else {
                t->configs.erase(r.config.name);
            }
            put(std::move(t));
        }
    }
    next->apply_cluster_parts(r);
    return next;
}

void metadata_image::apply_cluster_parts(const protocol::msg::metadata_record& r) {
    if (!r.config.name.empty() &&
        static_cast<config_resource>(r.config.resource_type) == config_resource::broker) {
        auto& configs = broker_configs[r.config.resource_name];
        if (r.config.value) {
            configs[r.config.name] = *r.config.value;
        } else {
            configs.erase(r.config.name);
        }
    }
    if (r.broker.broker_id >= 0) {
        brokers[r.broker.broker_id] =
            broker_info{r.broker.broker_id, r.broker.host, r.broker.port, r.broker.rack};
        shut_down_brokers.erase(r.broker.broker_id);  // registered again: started again
    }
    if (r.shut_down_broker >= 0) {
        fenced_brokers.insert(r.shut_down_broker);
        shut_down_brokers.insert(r.shut_down_broker);
    }
    if (r.fence_broker >= 0) {
        fenced_brokers.insert(r.fence_broker);
    }
    if (r.unfence_broker >= 0) {
        fenced_brokers.erase(r.unfence_broker);
    }
    if (r.unregister_broker >= 0) {
        brokers.erase(r.unregister_broker);
        fenced_brokers.erase(r.unregister_broker);
        shut_down_brokers.erase(r.unregister_broker);
    }
    if (r.next_producer_id >= 0) {
        next_producer_id = std::max(next_producer_id, r.next_producer_id);
    }
}

protocol::msg::metadata_record partition_record(const protocol::uuid& topic_id,
                                                const partition_info& p) {
    protocol::msg::metadata_record r;
    r.partition.topic_id = topic_id;
    r.partition.partition_id = p.partition;
    r.partition.leader = p.leader;
    r.partition.leader_epoch = p.leader_epoch;
    r.partition.replicas = p.replicas;
    r.partition.isr = p.isr;
    r.partition.adding_replicas = p.adding_replicas;
    r.partition.removing_replicas = p.removing_replicas;
    r.partition.eligible_leader_replicas = p.elr;
    return r;
}

partition_info partition_of_record(const protocol::msg::metadata_record& r) {
    return {r.partition.partition_id,
            r.partition.leader,
            r.partition.leader_epoch,
            r.partition.replicas,
            r.partition.isr,
            r.partition.adding_replicas,
            r.partition.removing_replicas,
            r.partition.eligible_leader_replicas};
}

std::vector<uint8_t> encode_metadata_record(const protocol::msg::metadata_record& r) {
    protocol::writer w;
    w.write_int16(0);
    r.encode(w, 0);
    return std::move(w.buffer());
}

std::optional<protocol::msg::metadata_record> decode_metadata_record(protocol::bytes_view value) {
    protocol::reader rd(value);
    int16_t version = rd.read_int16();
    if (!rd.ok() || version != 0) {
        return std::nullopt;
    }
    protocol::msg::metadata_record r;
    r.decode(rd, version);
    if (!rd.ok()) {
        return std::nullopt;
    }
    return r;
}

}  // namespace riacho::cluster
