#include "cluster/controller.h"

#include "base/invariant.h"
#include "base/log.h"
#include "cluster/eligible_leaders.h"
#include "cluster/metadata_snapshot.h"
#include "cluster/reassignment.h"
#include "cluster/replica_ids.h"
#include "cluster/replica_placement.h"
#include "cluster/topic_config.h"
#include "protocol/record_batch.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <utility>

namespace riacho::cluster {

namespace {
constexpr int64_t producer_id_block_size = 1000;
// Kafka's defaults of metadata.log.max.record.bytes.between.snapshots and
// metadata.log.max.snapshot.interval.ms.
constexpr int64_t default_snapshot_bytes = 20 << 20;
constexpr int64_t default_snapshot_interval_ms = 3600 * 1000;
constexpr size_t topic_name_max_length = 249;

// The records that empty the ELR of each partition of `topic` that has one.
void add_elr_clearing(const topic_info& topic,
                      std::vector<protocol::msg::metadata_record>& records) {
    for (auto p : topic.partitions) {
        if (!p.elr.empty()) {
            p.elr.clear();
            records.push_back(partition_record(topic.topic_id, p));
        }
    }
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}
}  // namespace

controller::controller(metadata_log& log, int32_t node_id)
    : _log(log),
      _node_id(node_id),
      _image(std::make_shared<metadata_image>()),
      _last_snapshot_ms(now_ms()) {
    set_broker_config({});  // the snapshot thresholds at their defaults
}

void controller::catch_up() {
    auto entries = _log.take_committed();
    if (entries.empty()) {
        return;
    }
    auto before = _image;
    auto image = _image;
    std::vector<uint8_t> scratch;
    size_t records = 0;
    for (const auto& entry : entries) {
        if (entry.snapshot) {
            auto loaded = decode_snapshot(entry.bytes);
            // The snapshot is the only copy of the state below it: going on without it would
            // serve a cluster with topics missing.
            INVARIANT(loaded.has_value(), "the metadata snapshot at offset {} is unusable: {}",
                      entry.offset, loaded.error());
            image = std::move(*loaded);
            _applied_end = entry.offset;
            _bytes_since_snapshot = 0;
            _last_snapshot_ms = now_ms();
            LOG_INFO("cluster", "metadata image loaded from the snapshot at offset {}: {} topics",
                     entry.offset, image->topics_by_name.size());
            continue;
        }
        auto decoded = protocol::decode_records(entry.bytes, scratch);
        if (!decoded) {
            LOG_ERROR("cluster", "metadata entry at offset {} does not decode: {}", entry.offset,
                      protocol::to_string(decoded.error()));
        } else {
            for (const auto& rec : *decoded) {
                if (!rec.value) {
                    continue;
                }
                auto r = decode_metadata_record(*rec.value);
                if (!r) {
                    LOG_ERROR("cluster", "metadata record in entry {} does not decode",
                              entry.offset);
                    continue;
                }
                image = image->apply(*r);
                ++records;
            }
        }
        _applied_end = entry.offset + 1;
        _bytes_since_snapshot += static_cast<int64_t>(entry.bytes.size());
    }
    _image = image;
    LOG_DEBUG("cluster", "applied {} metadata entries ({} records) up to offset {}", entries.size(),
              records, _applied_end);
    if (_listener) {
        _listener(*before, *_image);
    }
    maybe_snapshot();
}

void controller::set_broker_config(std::map<std::string, std::string> values) {
    _broker_config = std::move(values);
    auto setting = [&](const char* key, int64_t fallback) -> int64_t {
        auto it = _broker_config.find(key);
        if (it == _broker_config.end()) {
            return fallback;
        }
        try {
            return std::stoll(it->second);
        } catch (const std::exception&) {
            return fallback;  // validated when the config was read
        }
    };
    _snapshot_max_bytes =
        setting("metadata.log.max.record.bytes.between.snapshots", default_snapshot_bytes);
    _snapshot_interval_ms =
        setting("metadata.log.max.snapshot.interval.ms", default_snapshot_interval_ms);
}

void controller::maybe_snapshot() {
    if (_bytes_since_snapshot == 0) {
        return;
    }
    int64_t now = now_ms();
    bool by_size = _bytes_since_snapshot >= _snapshot_max_bytes;
    bool by_time = _snapshot_interval_ms > 0 && now - _last_snapshot_ms >= _snapshot_interval_ms;
    if (!by_size && !by_time) {
        return;
    }
    _log.store_snapshot(_applied_end, encode_snapshot(*_image));
    _bytes_since_snapshot = 0;
    _last_snapshot_ms = now;
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

controller::commit_status controller::commit(std::vector<protocol::msg::metadata_record> records,
                                             bool leader_only) {
    protocol::batch_builder builder;
    int64_t ts = now_ms();
    for (const auto& r : records) {
        builder.add({ts, std::nullopt, encode_metadata_record(r), {}});
    }
    auto written = _log.write(builder.build(), _applied_end, leader_only);
    switch (written.status) {
        case metadata_log::write_status::ok:
            catch_up();  // applies the entry (and any committed before it) from the log
            return commit_status::ok;
        case metadata_log::write_status::stale:
            if (!_log.wait_committed(written.catch_up_to)) {
                LOG_WARN("cluster", "metadata log: not caught up to {} in time",
                         written.catch_up_to);
            }
            catch_up();
            return commit_status::stale;
        case metadata_log::write_status::unavailable:
            break;
    }
    LOG_WARN("cluster", "metadata change not recorded: {}", written.message);
    return commit_status::unavailable;
}

change_result controller::failure(commit_status status) const {
    if (status == commit_status::stale) {
        return {protocol::error_code::not_controller,
                "The metadata changed while this change was validated; retry.", nullptr, true};
    }
    return {protocol::error_code::request_timed_out,
            "The metadata quorum did not record the change (no active controller answered in "
            "time).",
            nullptr};
}

template <typename Attempt>
change_result controller::retry_stale(Attempt attempt) {
    constexpr int attempts_max = 5;
    change_result result;
    for (int i = 0; i < attempts_max; ++i) {
        catch_up();
        result = attempt();
        if (!result.stale) {
            break;
        }
    }
    return result;
}

namespace {
bool unclean_election_enabled(const topic_info& topic,
                              const std::map<std::string, std::string>& broker_configs) {
    return effective_topic_config(topic.configs, broker_configs,
                                  *find_topic_config_key("unclean.leader.election.enable")) ==
           "true";
}

}  // namespace

int32_t controller::min_isr(const topic_info& topic, const partition_info& p) const {
    return effective_min_isr(topic, _broker_config, p.replicas.size());
}

std::vector<placement_broker> controller::assignable_brokers() const {
    std::vector<placement_broker> out;
    for (const auto& [id, broker] : _image->brokers) {
        if (_image->fenced_brokers.count(id) == 0) {
            out.push_back({id, broker.rack.value_or("")});
        }
    }
    if (out.empty()) {
        out.push_back({_node_id, ""});
    }
    return out;
}

change_result controller::create_topic(const std::string& name,
                                       int32_t num_partitions,
                                       int16_t replication_factor,
                                       const std::map<std::string, std::string>& configs,
                                       bool validate_only,
                                       const std::vector<std::vector<int32_t>>& assignment) {
    return retry_stale([&] {
        return create_topic_once(name, num_partitions, replication_factor, configs, validate_only,
                                 assignment);
    });
}

change_result controller::create_partitions(const std::string& name,
                                            int32_t new_total,
                                            bool validate_only) {
    return retry_stale([&] { return create_partitions_once(name, new_total, validate_only); });
}

change_result controller::alter_topic_configs(
    const std::string& name,
    const std::map<std::string, std::optional<std::string>>& changes,
    bool validate_only) {
    return retry_stale([&] { return alter_topic_configs_once(name, changes, validate_only); });
}

change_result controller::create_topic_once(const std::string& name,
                                            int32_t num_partitions,
                                            int16_t replication_factor,
                                            const std::map<std::string, std::string>& configs,
                                            bool validate_only,
                                            const std::vector<std::vector<int32_t>>& assignment) {
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
        return {error_code::invalid_replication_factor, "Replication factor must be larger than 0.",
                nullptr};
    }
    if (!assignment.empty()) {
        // Kafka's checks of a manual assignment, with its messages.
        for (const auto& replicas : assignment) {
            if (replicas.size() != assignment.front().size() || replicas.empty()) {
                return {error_code::invalid_replica_assignment,
                        fmt::format("The manual partition assignment includes a partition with {} "
                                    "replica(s), but this is not consistent with previous "
                                    "partitions, which have {} replica(s).",
                                    replicas.size(), assignment.front().size()),
                        nullptr};
            }
            std::set<int32_t> seen;
            for (int32_t id : replicas) {
                if (!seen.insert(id).second) {
                    return {error_code::invalid_replica_assignment,
                            fmt::format("The manual partition assignment includes the broker {} "
                                        "more than once.",
                                        id),
                            nullptr};
                }
                if (_image->brokers.count(id) == 0) {
                    return {error_code::invalid_replica_assignment,
                            fmt::format("The manual partition assignment includes broker {}, but "
                                        "no such broker is registered.",
                                        id),
                            nullptr};
                }
            }
        }
        num_partitions = static_cast<int32_t>(assignment.size());
        replication_factor = static_cast<int16_t>(assignment.front().size());
    }
    auto brokers = assignable_brokers();
    if (assignment.empty() && static_cast<size_t>(replication_factor) > brokers.size()) {
        return {error_code::invalid_replication_factor,
                fmt::format("Unable to replicate the partition {} time(s): The target "
                            "replication factor of {} cannot be reached because only {} "
                            "broker(s) are registered.",
                            replication_factor, replication_factor, brokers.size()),
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
        auto replicas = assignment.empty() ? place_replicas(brokers, name, p, replication_factor)
                                           : assignment[static_cast<size_t>(p)];
        planned->partitions.push_back({p, replicas.front(), 0, replicas, replicas});
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
        records.push_back(partition_record(planned->topic_id, p));
    }
    if (auto status = commit(std::move(records)); status != commit_status::ok) {
        return failure(status);
    }
    LOG_INFO("cluster", "created topic {} with {} partition(s), id {}", name, num_partitions,
             planned->topic_id.to_base64());
    return {error_code::none, "", _image->find_topic(name)};
}

change_result controller::delete_topic(const std::shared_ptr<const topic_info>& topic) {
    protocol::msg::metadata_record r;
    r.remove_topic_id = topic->topic_id;
    catch_up();
    if (!_image->find_topic(topic->topic_id)) {
        return {protocol::error_code::unknown_topic_or_partition,
                fmt::format("Topic {} does not exist.", topic->name), nullptr};
    }
    auto status = commit({r});
    if (status == commit_status::stale && _image->find_topic(topic->topic_id)) {
        status = commit({r});  // a removal by id holds on any newer image that still has it
    }
    if (status != commit_status::ok) {
        return failure(status);
    }
    LOG_INFO("cluster", "deleted topic {}", topic->name);
    return {protocol::error_code::none, "", topic};
}

change_result controller::create_partitions_once(const std::string& name,
                                                 int32_t new_total,
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
    auto brokers = assignable_brokers();
    auto replication_factor = static_cast<int16_t>(topic->partitions.front().replicas.size());
    if (static_cast<size_t>(replication_factor) > brokers.size()) {
        return {error_code::invalid_replication_factor,
                fmt::format("The topic's replication factor {} is above the {} registered "
                            "broker(s).",
                            replication_factor, brokers.size()),
                nullptr};
    }
    std::vector<protocol::msg::metadata_record> records;
    for (int32_t p = current; p < new_total; ++p) {
        auto replicas = place_replicas(brokers, name, p, replication_factor);
        records.push_back(
            partition_record(topic->topic_id, {p, replicas.front(), 0, replicas, replicas}));
    }
    if (auto status = commit(std::move(records)); status != commit_status::ok) {
        return failure(status);
    }
    return {error_code::none, "", _image->find_topic(name)};
}

namespace {
// One config record per change: a value sets the key, nullopt removes it.
std::vector<protocol::msg::metadata_record> config_records(
    config_resource type,
    const std::string& resource_name,
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

change_result controller::alter_topic_configs_once(
    const std::string& name,
    const std::map<std::string, std::optional<std::string>>& changes,
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
    auto records = config_records(config_resource::topic, name, changes);
    if (changes.count("min.insync.replicas") != 0) {
        // KIP-966: eligibility was judged against the old minimum; Kafka clears it.
        add_elr_clearing(*topic, records);
    }
    if (auto status = commit(std::move(records)); status != commit_status::ok) {
        return failure(status);
    }
    LOG_INFO("cluster", "altered {} config(s) of topic {}", changes.size(), name);
    return {error_code::none, "", _image->find_topic(name)};
}

change_result controller::alter_broker_configs(
    const std::string& resource_name,
    const std::map<std::string, std::optional<std::string>>& changes) {
    using protocol::error_code;
    if (!changes.empty()) {
        // Setting values is the same change on any newer image: retry a stale one as is.
        auto status = commit_status::stale;
        for (int i = 0; i < 5 && status == commit_status::stale; ++i) {
            auto records = config_records(config_resource::broker, resource_name, changes);
            if (changes.count("min.insync.replicas") != 0) {
                // KIP-966, as for a topic's own value: eligibility was judged against the old
                // minimum wherever the broker value applies (topics without an override).
                for (const auto& [name, topic] : _image->topics_by_name) {
                    if (topic->configs.count("min.insync.replicas") == 0) {
                        add_elr_clearing(*topic, records);
                    }
                }
            }
            status = commit(std::move(records));
        }
        if (status != commit_status::ok) {
            return failure(status);
        }
    }
    LOG_INFO("cluster", "altered {} dynamic config(s) of broker '{}'", changes.size(),
             resource_name);
    return {error_code::none, "", nullptr};
}

change_result controller::change_isr(const std::string& topic_name,
                                     int32_t partition,
                                     int32_t leader_epoch,
                                     std::vector<int32_t> isr) {
    return retry_stale([&]() -> change_result {
        auto topic = _image->find_topic(topic_name);
        if (!topic || !topic->has_partition(partition)) {
            return {protocol::error_code::unknown_topic_or_partition, "no such partition", nullptr};
        }
        auto p = topic->partitions[static_cast<size_t>(partition)];
        if (p.leader_epoch != leader_epoch || p.leader != _node_id) {
            // The leader changed since the caller looked: its view of the ISR is stale.
            return {protocol::error_code::fenced_leader_epoch,
                    fmt::format("leader epoch {} is not the partition's {}", leader_epoch,
                                p.leader_epoch),
                    nullptr};
        }
        if (p.isr == isr) {
            return {protocol::error_code::none, "", topic};
        }
        for (int32_t id : isr) {
            bool joins = !contains(p.isr, id);
            if (joins && (_image->fenced_brokers.count(id) != 0 || !contains(p.replicas, id))) {
                // KIP-841: a fenced broker (or one that is not a replica) may not rejoin.
                return {protocol::error_code::ineligible_replica,
                        fmt::format("broker {} may not join the ISR of {}-{}", id, topic_name,
                                    partition),
                        nullptr};
            }
        }
        LOG_INFO("cluster", "ISR of {}-{} changes from [{}] to [{}]", topic_name, partition,
                 fmt::join(p.isr, ","), fmt::join(isr, ","));
        auto old_isr = std::exchange(p.isr, std::move(isr));
        if (complete_reassignment_if_ready(p, _image->unfenced_brokers())) {
            p.leader_epoch += 1;
            LOG_INFO("cluster", "reassignment of {}-{} completes: replicas [{}], leader {}",
                     topic_name, partition, fmt::join(p.replicas, ","), p.leader);
        }
        update_eligible_leaders(p, old_isr, min_isr(*topic, p));
        if (auto status = commit({partition_record(topic->topic_id, p)});
            status != commit_status::ok) {
            return failure(status);
        }
        return {protocol::error_code::none, "", _image->find_topic(topic_name)};
    });
}

size_t controller::elect_leaders(const std::set<int32_t>& alive,
                                 const std::map<std::string, std::string>& broker_configs,
                                 bool liveness) {
    return elect_and_record(alive, broker_configs, liveness, std::nullopt);
}

size_t controller::shut_down_broker(int32_t broker_id, const std::set<int32_t>& others) {
    protocol::msg::metadata_record r;
    r.shut_down_broker = broker_id;
    return elect_and_record(others, {}, /*liveness=*/false, r);
}

size_t controller::elect_and_record(const std::set<int32_t>& alive,
                                    const std::map<std::string, std::string>& broker_configs,
                                    bool liveness,
                                    std::optional<protocol::msg::metadata_record> first) {
    constexpr int attempts_max = 5;
    for (int attempt = 0; attempt < attempts_max; ++attempt) {
        catch_up();
        std::vector<protocol::msg::metadata_record> records;
        std::vector<std::string> moved;
        if (first && _image->shut_down_brokers.count(first->shut_down_broker) == 0) {
            records.push_back(*first);
            moved.push_back(fmt::format("broker {} shut down", first->shut_down_broker));
        }
        plan_elections(alive, broker_configs, liveness, records, moved);
        if (records.empty()) {
            return 0;
        }
        auto status = commit(std::move(records), liveness);
        if (status == commit_status::stale) {
            continue;  // planned on an old image: plan again on the new one
        }
        if (status != commit_status::ok) {
            return 0;
        }
        for (const auto& m : moved) {
            LOG_INFO("cluster", "{}", m);
        }
        return moved.size();
    }
    return 0;
}

void controller::plan_elections(const std::set<int32_t>& alive_heard,
                                const std::map<std::string, std::string>& broker_configs,
                                bool allow_unclean,
                                std::vector<protocol::msg::metadata_record>& records,
                                std::vector<std::string>& moved) const {
    std::set<int32_t> alive;
    std::set_difference(alive_heard.begin(), alive_heard.end(), _image->shut_down_brokers.begin(),
                        _image->shut_down_brokers.end(), std::inserter(alive, alive.end()));
    for (const auto& [id, broker] : _image->brokers) {
        bool fenced = _image->fenced_brokers.count(id) != 0;
        if (fenced == (alive.count(id) != 0)) {
            protocol::msg::metadata_record r;
            (fenced ? r.unfence_broker : r.fence_broker) = id;
            records.push_back(r);
            moved.push_back(fmt::format("broker {} {}", id, fenced ? "unfenced" : "fenced"));
        }
    }
    for (const auto& [name, topic] : _image->topics_by_name) {
        for (const auto& p : topic->partitions) {
            bool leader_alive = p.leader >= 0 && alive.count(p.leader) != 0;
            std::vector<int32_t> isr;
            for (int32_t id : p.isr) {
                if (alive.count(id) != 0) {
                    isr.push_back(id);
                }
            }
            if (leader_alive && isr == p.isr) {
                continue;
            }
            partition_info next = p;
            bool unclean = false;
            if (!leader_alive) {
                // Kafka's clean election: the first live replica (in assignment order) that is
                // in the ISR, else (KIP-966) the first live eligible leader replica. None: the
                // partition stays offline; its ISR members join the ELR, so that the first of
                // them back leads again.
                next.leader = -1;
                for (int32_t id : p.replicas) {
                    if (contains(isr, id)) {
                        next.leader = id;
                        break;
                    }
                }
                if (next.leader < 0) {
                    next.leader = eligible_leader(p, alive);
                    if (next.leader >= 0) {
                        isr = {next.leader};
                    }
                }
                if (next.leader < 0 && allow_unclean &&
                    unclean_election_enabled(*topic, broker_configs)) {
                    for (int32_t id : p.replicas) {
                        if (alive.count(id) != 0) {
                            next.leader = id;
                            unclean = true;
                            break;
                        }
                    }
                }
                if (next.leader != p.leader) {
                    next.leader_epoch = p.leader_epoch + 1;
                }
                if (unclean) {
                    LOG_WARN("cluster",
                             "unclean election: {}-{} is led by out-of-sync replica {}; records "
                             "only the ISR [{}] or the eligible replicas [{}] had are lost",
                             name, p.partition, next.leader, fmt::join(p.isr, ","),
                             fmt::join(p.elr, ","));
                    isr = {next.leader};
                }
            }
            next.isr = isr;
            update_eligible_leaders(next, p.isr, min_isr(*topic, p));
            if (unclean) {
                next.elr.clear();  // nobody else is known to hold what the new leader has
            }
            if (next.leader == p.leader && next.isr == p.isr && next.elr == p.elr) {
                continue;  // offline already
            }
            moved.push_back(fmt::format("partition {}-{} leader {} -> {}, ISR [{}], ELR [{}]", name,
                                        p.partition, p.leader, next.leader,
                                        fmt::join(next.isr, ","), fmt::join(next.elr, ",")));
            records.push_back(partition_record(topic->topic_id, next));
        }
    }
}

std::vector<controller::election_result> controller::elect(
    election_type type,
    const std::optional<std::vector<std::pair<std::string, int32_t>>>& partitions) {
    using protocol::error_code;
    constexpr int attempts_max = 5;
    std::vector<election_result> results;
    for (int attempt = 0; attempt < attempts_max; ++attempt) {
        catch_up();
        auto alive = _image->unfenced_brokers();
        std::vector<std::pair<std::string, int32_t>> asked;
        if (partitions) {
            asked = *partitions;
        } else {
            for (const auto& [name, topic] : _image->topics_by_name) {
                for (const auto& p : topic->partitions) {
                    asked.emplace_back(name, p.partition);
                }
            }
        }
        results.clear();
        std::vector<protocol::msg::metadata_record> records;
        std::vector<size_t> elected;  // indexes into results
        for (const auto& [name, index] : asked) {
            election_result r{name, index, error_code::none, ""};
            auto topic = _image->find_topic(name);
            if (!topic || !topic->has_partition(index)) {
                r.error = error_code::unknown_topic_or_partition;
                r.message = "This server does not host this topic-partition.";
                results.push_back(std::move(r));
                continue;
            }
            const auto& p = topic->partitions[static_cast<size_t>(index)];
            auto live = [&](int32_t id) { return alive.count(id) != 0; };
            auto in_isr = [&](int32_t id) { return contains(p.isr, id); };
            partition_info next = p;
            if (type == election_type::preferred) {
                int32_t want = p.replicas.empty() ? -1 : p.replicas.front();
                if (p.leader == want) {
                    r.error = error_code::election_not_needed;
                    r.message = "The preferred replica already leads.";
                } else if (want < 0 || !live(want) || !in_isr(want)) {
                    r.error = error_code::preferred_leader_not_available;
                    r.message = fmt::format("Preferred replica {} is not alive and in sync.", want);
                } else {
                    next.leader = want;
                }
            } else if (p.leader >= 0 && live(p.leader)) {
                r.error = error_code::election_not_needed;
                r.message = "The partition has a live leader.";
            } else {
                auto clean = std::find_if(p.replicas.begin(), p.replicas.end(),
                                          [&](int32_t id) { return live(id) && in_isr(id); });
                auto any = std::find_if(p.replicas.begin(), p.replicas.end(), live);
                if (clean != p.replicas.end()) {
                    next.leader = *clean;
                } else if (int32_t eligible = eligible_leader(p, alive); eligible >= 0) {
                    next.leader = eligible;
                    next.isr = {eligible};
                    update_eligible_leaders(next, p.isr, min_isr(*topic, p));
                } else if (any != p.replicas.end()) {
                    next.leader = *any;
                    next.isr = {*any};
                    next.elr.clear();
                } else {
                    r.error = error_code::eligible_leaders_not_available;
                    r.message = "No replica of the partition is alive.";
                }
            }
            if (r.error == error_code::none) {
                next.leader_epoch = p.leader_epoch + 1;
                std::erase_if(next.isr, [&](int32_t id) { return !live(id); });
                records.push_back(partition_record(topic->topic_id, next));
                elected.push_back(results.size());
                LOG_INFO("cluster", "{} election: {}-{} leader {} -> {}, ISR [{}]",
                         type == election_type::preferred ? "preferred" : "unclean", name, index,
                         p.leader, next.leader, fmt::join(next.isr, ","));
            }
            results.push_back(std::move(r));
        }
        auto status = records.empty() ? commit_status::ok : commit(std::move(records));
        if (status == commit_status::stale && attempt + 1 < attempts_max) {
            continue;  // planned on an old image: plan again on the new one
        }
        if (status != commit_status::ok) {
            auto why = failure(status);
            for (size_t i : elected) {
                results[i].error = why.error;
                results[i].message = why.message;
            }
        }
        break;
    }
    if (!partitions) {
        std::erase_if(results, [](const election_result& r) {
            return r.error == protocol::error_code::election_not_needed;
        });
    }
    return results;
}

size_t controller::restore_preferred_leaders(const std::set<int32_t>& alive, double imbalance_max) {
    constexpr int attempts_max = 5;
    for (int attempt = 0; attempt < attempts_max; ++attempt) {
        catch_up();
        // Kafka's auto.leader.rebalance: per broker, the share of the partitions it is the
        // preferred (first) replica of that another broker leads; above the threshold its
        // partitions go back to it, where it is alive and in sync.
        std::map<int32_t, std::pair<int, int>> preferred;  // broker -> (preferred, not leading)
        for (const auto& [name, topic] : _image->topics_by_name) {
            for (const auto& p : topic->partitions) {
                if (p.replicas.empty()) {
                    continue;
                }
                auto& counts = preferred[p.replicas.front()];
                ++counts.first;
                counts.second += p.leader != p.replicas.front() ? 1 : 0;
            }
        }
        std::vector<protocol::msg::metadata_record> records;
        std::vector<std::string> moved;
        for (const auto& [name, topic] : _image->topics_by_name) {
            for (const auto& p : topic->partitions) {
                if (p.replicas.empty()) {
                    continue;
                }
                int32_t want = p.replicas.front();
                auto [count, off] = preferred[want];
                bool in_sync = contains(p.isr, want);
                if (p.leader == want || !in_sync || alive.count(want) == 0 ||
                    _image->fenced_brokers.count(want) != 0 ||
                    static_cast<double>(off) / count <= imbalance_max) {
                    continue;
                }
                partition_info next = p;
                next.leader = want;
                next.leader_epoch = p.leader_epoch + 1;
                moved.push_back(
                    fmt::format("partition {}-{} back to its preferred leader {} "
                                "(from {})",
                                name, p.partition, want, p.leader));
                records.push_back(partition_record(topic->topic_id, next));
            }
        }
        if (records.empty()) {
            return 0;
        }
        auto status = commit(std::move(records), /*leader_only=*/true);
        if (status == commit_status::stale) {
            continue;
        }
        if (status != commit_status::ok) {
            return 0;
        }
        for (const auto& m : moved) {
            LOG_INFO("cluster", "{}", m);
        }
        return moved.size();
    }
    return 0;
}

change_result controller::alter_reassignment(const std::string& topic_name,
                                             int32_t partition,
                                             const std::optional<std::vector<int32_t>>& target) {
    return retry_stale([&]() -> change_result {
        auto topic = _image->find_topic(topic_name);
        if (!topic || !topic->has_partition(partition)) {
            return {protocol::error_code::unknown_topic_or_partition,
                    "This server does not host this topic-partition.", nullptr};
        }
        const auto& p = topic->partitions[static_cast<size_t>(partition)];
        std::set<int32_t> registered;
        for (const auto& [id, b] : _image->brokers) {
            registered.insert(id);
        }
        auto alive = _image->unfenced_brokers();
        auto step = target ? start_reassignment(p, *target, registered, alive)
                           : cancel_reassignment(p, alive);
        if (step.error != protocol::error_code::none || !step.next) {
            return {step.error, step.message, topic};
        }
        const auto& next = *step.next;
        if (auto status = commit({partition_record(topic->topic_id, next)});
            status != commit_status::ok) {
            return failure(status);
        }
        LOG_INFO("cluster",
                 "{} of {}-{}: replicas [{}] -> [{}] (adding [{}], removing [{}]), leader {}",
                 target ? "reassignment" : "cancelled reassignment", topic_name, partition,
                 fmt::join(p.replicas, ","), fmt::join(next.replicas, ","),
                 fmt::join(next.adding_replicas, ","), fmt::join(next.removing_replicas, ","),
                 next.leader);
        return {protocol::error_code::none, "", _image->find_topic(topic_name)};
    });
}

change_result controller::register_broker(const broker_info& broker) {
    protocol::msg::metadata_record r;
    r.broker.broker_id = broker.id;
    r.broker.host = broker.host;
    r.broker.port = broker.port;
    r.broker.rack = broker.rack;
    auto status = commit_status::stale;
    for (int i = 0; i < 5 && status == commit_status::stale; ++i) {
        catch_up();
        // Recorded again only when it changed, or to end a controlled shutdown.
        if (auto it = _image->brokers.find(broker.id);
            it != _image->brokers.end() && it->second == broker &&
            _image->shut_down_brokers.count(broker.id) == 0) {
            return {protocol::error_code::none, "", nullptr};
        }
        status = commit({r});
    }
    if (status != commit_status::ok) {
        return failure(status);
    }
    LOG_INFO("cluster", "registered broker {} at {}:{}", broker.id, broker.host, broker.port);
    return {protocol::error_code::none, "", nullptr};
}

change_result controller::unregister_broker(int32_t broker_id) {
    return retry_stale([&]() -> change_result {
        using protocol::error_code;
        if (_image->brokers.count(broker_id) == 0) {
            return {error_code::broker_id_not_registered,
                    fmt::format("Broker ID {} is not currently registered", broker_id), nullptr};
        }
        if (_image->fenced_brokers.count(broker_id) == 0) {
            return {error_code::invalid_request,
                    fmt::format("Broker {} is alive (not fenced); stop it before unregistering it",
                                broker_id),
                    nullptr};
        }
        protocol::msg::metadata_record r;
        r.unregister_broker = broker_id;
        if (auto status = commit({r}); status != commit_status::ok) {
            return failure(status);
        }
        LOG_INFO("cluster", "unregistered broker {}", broker_id);
        return {error_code::none, "", nullptr};
    });
}

int64_t controller::allocate_producer_id() {
    if (_producer_id_next >= _producer_id_block_end) {
        // Reserve the next block for this node; a stale image means another node reserved
        // one first, so take the one after it.
        auto status = commit_status::stale;
        for (int i = 0; i < 5 && status == commit_status::stale; ++i) {
            catch_up();
            protocol::msg::metadata_record r;
            int64_t start = _image->next_producer_id;
            r.next_producer_id = start + producer_id_block_size;
            status = commit({r});
            if (status == commit_status::ok) {
                _producer_id_next = start;
                _producer_id_block_end = start + producer_id_block_size;
            }
        }
        if (status != commit_status::ok) {
            return -1;
        }
    }
    return _producer_id_next++;
}

}  // namespace riacho::cluster
