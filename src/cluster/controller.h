// cluster: the controller, a state machine on the metadata log. It validates admin changes
// against the current image, appends them as metadata records (durably, before answering),
// applies them to a new image, and tells the broker so it can reconcile local logs.
// A single node is a quorum of one: the metadata log is local and every append commits.
// Raft (issue 7) replaces the metadata_log implementation, not this class's users.
//
// Threading: one shard (the broker's event loop) owns the controller.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/metadata_image.h"
#include "protocol/error_code.h"

namespace riacho::cluster {

// Where metadata records live. The broker implements it on a storage partition log.
class metadata_log {
public:
    virtual ~metadata_log() = default;
    // Appends one record batch and makes it durable. false on an IO failure.
    virtual bool append_durably(std::vector<uint8_t> batch) = 0;
    // Calls `fn` with every stored batch in offset order. false on an IO failure.
    virtual bool replay(const std::function<void(protocol::bytes_view batch)>& fn) = 0;
};

struct change_result {
    protocol::error_code error = protocol::error_code::none;
    std::string message;  // for error_message fields and logs
    std::shared_ptr<const topic_info> topic;
};

class controller {
public:
    using image_listener =
        std::function<void(const metadata_image& before, const metadata_image& after)>;

    controller(metadata_log& log, int32_t node_id);

    // Replays the metadata log into the image. false if the log could not be read.
    bool load();
    std::shared_ptr<const metadata_image> image() const { return _image; }
    void set_listener(image_listener l) { _listener = std::move(l); }

    change_result create_topic(const std::string& name, int32_t num_partitions,
                               int16_t replication_factor,
                               const std::map<std::string, std::string>& configs,
                               bool validate_only);
    change_result delete_topic(const std::shared_ptr<const topic_info>& topic);
    change_result create_partitions(const std::string& name, int32_t new_total,
                                    bool validate_only);
    // Changes a topic's dynamic configs: a value sets the key, nullopt removes the override.
    // All keys are validated before anything is recorded.
    change_result alter_topic_configs(
        const std::string& name, const std::map<std::string, std::optional<std::string>>& changes,
        bool validate_only);
    // Records dynamic broker configs of `resource_name` (a node id, or "" for the cluster
    // default): a value sets the key, nullopt removes it. The broker validates them (the keys
    // and their rules are the broker's), so this only records.
    change_result alter_broker_configs(
        const std::string& resource_name,
        const std::map<std::string, std::optional<std::string>>& changes);
    // Hands out a fresh producer id; reserves blocks in the metadata log. -1 on IO failure.
    int64_t allocate_producer_id();

    static std::optional<std::string> validate_topic_name(const std::string& name);

private:
    bool commit(std::vector<protocol::msg::metadata_record> records);

    metadata_log& _log;
    int32_t _node_id;
    std::shared_ptr<const metadata_image> _image;
    image_listener _listener;
    int64_t _producer_id_next = 0;  // next id to hand out; block end is in the image
};

}  // namespace riacho::cluster
