#include "broker/broker.h"

#include "base/log.h"
#include "cluster/topic_config.h"
#include "protocol/record_batch.h"
#include "storage/writeback.h"

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <signal.h>
#include <sstream>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

namespace riacho::broker {

namespace {
const storage::topic_partition metadata_partition{"__cluster_metadata", partition_id(0)};
constexpr const char* partition_metadata_file = "partition.metadata";
constexpr const char* controller_listener_name = "CONTROLLER";

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string topic_id_on_disk(const std::filesystem::path& dir) {
    auto props = parse_properties(read_file(dir / partition_metadata_file));
    return props.count("topic_id") ? props["topic_id"] : std::string();
}

// A stable uuid from text (two FNV-1a-style 64-bit hashes), with the version-4 bits set.
protocol::uuid uuid_of_text(const std::string& text) {
    protocol::uuid u;
    uint64_t h1 = 1469598103934665603ULL;
    uint64_t h2 = 1099511628211ULL * 31;
    for (char c : text) {
        h1 = (h1 ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
        h2 = (h2 ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL + 7;
    }
    for (size_t i = 0; i < 8; ++i) {
        u.bytes[i] = static_cast<uint8_t>(h1 >> (8 * i));
        u.bytes[8 + i] = static_cast<uint8_t>(h2 >> (8 * i));
    }
    u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0f) | 0x40);
    u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3f) | 0x80);
    return u;
}

bool write_file_durably(const std::filesystem::path& p, const std::string& content) {
    auto tmp = p;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return false;
    }
    bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    ok = ok && ::fsync(fd) == 0;
    ::close(fd);
    std::error_code ec;
    std::filesystem::rename(tmp, p, ec);
    return ok && !ec;
}
}  // namespace

// The controller's metadata log is the quorum's: writes go through raft::node (forwarded to
// the active controller when that is another node) and block until committed.
class broker::metadata_log_on_quorum final : public cluster::metadata_log {
public:
    explicit metadata_log_on_quorum(raft::node& node) : _node(node) {}

    write_result write(std::vector<uint8_t> batch, int64_t base, bool leader_only) override {
        auto outcome = _node.write(std::string(batch.begin(), batch.end()), kafka_offset(base),
                                   write_timeout, leader_only);
        switch (outcome.error) {
            case raft::write_errc::none:
                return {write_status::ok, -1, {}};
            case raft::write_errc::stale:
                return {write_status::stale, outcome.leader_data_end.value(), outcome.message};
            default:
                return {write_status::unavailable, -1, outcome.message};
        }
    }

    std::vector<committed_batch> take_committed() override {
        std::vector<committed_batch> out;
        for (auto& e : _node.take_committed()) {
            out.push_back(
                {e.offset.value(), std::vector<uint8_t>(e.data.begin(), e.data.end()), e.snapshot});
        }
        return out;
    }

    void store_snapshot(int64_t end, std::vector<uint8_t> bytes) override {
        _node.take_snapshot(kafka_offset(end), std::string(bytes.begin(), bytes.end()));
    }

    bool wait_committed(int64_t end) override {
        auto deadline = std::chrono::steady_clock::now() + write_timeout;
        while (_node.current().high_watermark.value() < end) {
            if (std::chrono::steady_clock::now() >= deadline) {
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        return true;
    }

private:
    static constexpr std::chrono::milliseconds write_timeout{5000};
    raft::node& _node;
};

namespace {

// riacho.log.written.cache.max.bytes in bytes: -1 is an eighth of physical memory.
uint64_t written_cache_limit_bytes(int64_t configured) {
    if (configured >= 0) {
        return static_cast<uint64_t>(configured);
    }
    long pages = ::sysconf(_SC_PHYS_PAGES);
    long page_size = ::sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) {
        return 0;  // unknown: leave the page cache to the kernel
    }
    return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) / 8;
}

}  // namespace

broker::broker(broker_config config) : _config(std::move(config)) {}

broker::~broker() {
    shutdown();
    _io.stop();
    close_logs();
    if (_quorum) {
        _quorum->stop(std::chrono::milliseconds(0));
    }
}

namespace {
// compression.type as a codec; nullopt for "producer" (store what was sent).
std::optional<protocol::compression_codec> codec_of_compression_type(const std::string& type) {
    using protocol::compression_codec;
    if (type == "uncompressed") return compression_codec::none;
    if (type == "gzip") return compression_codec::gzip;
    if (type == "snappy") return compression_codec::snappy;
    if (type == "lz4") return compression_codec::lz4;
    if (type == "zstd") return compression_codec::zstd;
    return std::nullopt;
}
}  // namespace

storage::log_config broker::log_config_for(const cluster::topic_info* topic) const {
    std::map<std::string, std::string> none;
    const auto& overrides = topic ? topic->configs : none;
    auto value = [&](const char* name) {
        return cluster::effective_topic_config(overrides, _config.values,
                                               *cluster::find_topic_config_key(name));
    };
    storage::log_config cfg;
    cfg.segment_bytes = std::stoull(value("segment.bytes"));
    cfg.segment_ms = std::stoll(value("segment.ms"));
    cfg.index_interval_bytes =
        static_cast<uint32_t>(std::max(1LL, std::stoll(value("index.interval.bytes"))));
    cfg.segment_index_bytes = static_cast<uint32_t>(std::stoll(value("segment.index.bytes")));
    cfg.flush_messages = std::stoll(value("flush.messages"));
    if (auto ms = value("flush.ms"); !ms.empty()) {
        cfg.flush_ms = std::max<int64_t>(1, std::stoll(ms));
    }
    cfg.message_timestamp_type = value("message.timestamp.type") == "LogAppendTime"
                                     ? storage::timestamp_type::log_append_time
                                     : storage::timestamp_type::create_time;
    cfg.max_message_bytes = std::stoll(value("max.message.bytes"));
    cfg.message_timestamp_before_max_ms = std::stoll(value("message.timestamp.before.max.ms"));
    cfg.message_timestamp_after_max_ms = std::stoll(value("message.timestamp.after.max.ms"));
    cfg.compression = codec_of_compression_type(value("compression.type"));
    // Retention applies where cleanup.policy includes "delete"; a compacted-only topic keeps
    // every segment (the cleaner, not retention, shrinks it).
    std::string policy = value("cleanup.policy");
    if (policy.empty() || policy.find("delete") != std::string::npos) {
        // The broker's own value already folds log.retention.{ms,minutes,hours} together.
        auto ms = overrides.find("retention.ms");
        cfg.retention_ms =
            ms != overrides.end() ? std::stoll(ms->second) : _config.log_retention_ms;
        auto bytes = overrides.find("retention.bytes");
        cfg.retention_bytes =
            bytes != overrides.end() ? std::stoll(bytes->second) : _config.log_retention_bytes;
    } else {
        cfg.retention_ms = -1;
        cfg.retention_bytes = -1;
    }
    cfg.compact = policy.find("compact") != std::string::npos;
    cfg.min_cleanable_dirty_ratio = std::stod(value("min.cleanable.dirty.ratio"));
    cfg.min_compaction_lag_ms = std::stoll(value("min.compaction.lag.ms"));
    cfg.max_compaction_lag_ms = std::stoll(value("max.compaction.lag.ms"));
    cfg.delete_retention_ms = std::stoll(value("delete.retention.ms"));
    return cfg;
}

std::optional<std::string> broker::start_quorum(const std::filesystem::path& dir) {
    raft::node_config qc;
    qc.id = node_id(_config.node_id);
    qc.metadata_dir = dir / storage::partition_dir_name(metadata_partition);
    qc.cluster_id = _cluster_id;
    const std::string& voters_text = _config.values["controller.quorum.voters"];
    if (voters_text.empty()) {
        if (!_config.controller_role) {
            return std::string(
                "process.roles=broker: controller.quorum.voters must name the "
                "controllers this broker follows");
        }
        // A single node is a quorum of one; nobody dials its controller listener.
        qc.voters = {{qc.id, "127.0.0.1", 0}};
        qc.listen_host = "127.0.0.1";
        qc.listen_port = 0;
    } else {
        auto voters = raft::parse_voters(voters_text);
        if (!voters) {
            return fmt::format("controller.quorum.voters: {}", voters.error());
        }
        qc.voters = std::move(*voters);
        auto self = std::find_if(qc.voters.begin(), qc.voters.end(),
                                 [&](const auto& v) { return v.id == qc.id; });
        if (!_config.controller_role) {
            // A broker-only node observes the quorum (Kafka: it must not be a voter).
            if (self != qc.voters.end()) {
                return fmt::format(
                    "controller.quorum.voters: node.id {} is listed, but process.roles has no "
                    "controller (a broker-only node must not be a voter)",
                    _config.node_id);
            }
            qc.listen_host = "127.0.0.1";  // its own controller listener: nobody dials it
            qc.listen_port = 0;
        } else if (self == qc.voters.end()) {
            return fmt::format("controller.quorum.voters: node.id {} is not listed",
                               _config.node_id);
        } else {
            // The CONTROLLER listener when there is one, else the endpoint the voters list
            // gives.
            qc.listen_host = self->host;
            qc.listen_port = self->port;
        }
        for (const auto& l : _config.listeners) {
            if (l.name == controller_listener_name) {
                qc.listen_host = l.host;
                qc.listen_port = l.port;
            }
        }
    }
    _quorum_listen_host = qc.listen_host;
    auto started = raft::node::start(std::move(qc));
    if (!started) {
        return fmt::format("metadata quorum: {}", started.error());
    }
    _quorum = std::move(*started);
    // Serve nothing before the image is current, as a Kafka broker stays fenced until it
    // caught up with the metadata log.
    auto waiting_since = std::chrono::steady_clock::now();
    auto next_log = waiting_since + std::chrono::seconds(5);
    while (!_quorum->current().caught_up) {
        if (std::chrono::steady_clock::now() >= next_log) {
            auto status = _quorum->current();
            LOG_INFO("broker", "waiting for the metadata quorum (epoch {}, {}, leader {})",
                     status.epoch.value(), raft::role_name(status.current_role),
                     status.leader ? std::to_string(status.leader->value()) : "unknown");
            next_log += std::chrono::seconds(5);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::nullopt;
}

std::optional<std::string> broker::open_data_dir() {
    std::filesystem::path dir = _config.log_dirs.front();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        return fmt::format("log.dirs: cannot create '{}': {}", dir.string(), ec.message());
    }
    // meta.properties: who this directory belongs to. A directory of another node is refused.
    auto meta = dir / "meta.properties";
    if (std::filesystem::exists(meta)) {
        auto props = parse_properties(read_file(meta));
        _cluster_id = props["cluster.id"];
        if (props.count("node.id") && props["node.id"] != std::to_string(_config.node_id)) {
            return fmt::format("log.dirs: '{}' belongs to node.id {} but node.id is {}",
                               dir.string(), props["node.id"], _config.node_id);
        }
    }
    if (_cluster_id.empty()) {
        // Nodes of one cluster must agree on its id without talking first: derive it from the
        // voter set they share (a lone node picks a random one).
        const std::string& voters = _config.values["controller.quorum.voters"];
        _cluster_id = voters.empty() ? protocol::uuid::random().to_base64()
                                     : uuid_of_text(voters).to_base64();
        std::string content =
            fmt::format("#Written by riacho\nversion=1\ncluster.id={}\nnode.id={}\n", _cluster_id,
                        _config.node_id);
        if (!write_file_durably(meta, content)) {
            return fmt::format("log.dirs: cannot write '{}'", meta.string());
        }
    }

    // Join the metadata quorum and catch up with it first, so the other logs open with their
    // topics' configs.
    if (auto error = start_quorum(dir)) {
        return error;
    }
    _metadata_log = std::make_unique<metadata_log_on_quorum>(*_quorum);
    _controller = std::make_unique<cluster::controller>(*_metadata_log, _config.node_id);
    _controller->set_broker_config(_config.values);
    _controller->catch_up();
    LOG_INFO("broker", "metadata image at offset {}: {} topics, {} brokers",
             _controller->applied_end(), _controller->image()->topics_by_name.size(),
             _controller->image()->brokers.size());
    auto image = _controller->image();
    storage::set_written_cache_limit(
        written_cache_limit_bytes(_config.log_written_cache_max_bytes));
    auto logs = storage::log_manager::open(dir, [&](const storage::topic_partition& tp) {
        auto topic = image->find_topic(tp.topic);
        return log_config_for(topic.get());
    });
    if (!logs) {
        return fmt::format("cannot open the logs in '{}': {}", dir.string(),
                           storage::to_string(logs.error()));
    }
    _logs = std::move(*logs);
    reconcile(*image);
    _controller->set_listener([this](const cluster::metadata_image&,
                                     const cluster::metadata_image& after) { reconcile(after); });
    // Changes committed through other nodes (or the leader-change of a new epoch) are applied
    // on this loop, like everything else that touches the image.
    _quorum->set_commit_listener([this] {
        asio::post(_io, [this] {
            if (!_shut_down) {
                _controller->catch_up();
            }
        });
    });
    return std::nullopt;
}

bool broker::apply_dynamic_configs(const cluster::metadata_image& image) {
    std::map<std::string, std::string> dynamic;
    // The cluster-wide default first, then this node's own values over it.
    for (const auto& resource : {std::string(), std::to_string(_config.node_id)}) {
        if (auto it = image.broker_configs.find(resource); it != image.broker_configs.end()) {
            for (const auto& [key, value] : it->second) {
                dynamic[key] = value;
            }
        }
    }
    if (dynamic == _applied_dynamic_configs) {
        return false;
    }
    try {
        _config = with_dynamic_configs(_config, dynamic);
        _controller->set_broker_config(_config.values);
        _applied_dynamic_configs = std::move(dynamic);
        return true;
    } catch (const std::invalid_argument& e) {
        // Validated before it was recorded; a record from a newer version may not be.
        LOG_ERROR("broker", "dynamic broker config not applied: {}", e.what());
        return false;
    }
}

// Makes the local logs match the image: a log for every partition, none for deleted topics
// or for partitions whose replicas do not name this node, and a fresh log where a topic of the
// same name was deleted and created again; every log gets its topic's current configs.
// At start the image is the caught-up one, so a log whose partition was reassigned away while
// this node was down is found stray here and removed, as Kafka does (KAFKA-14616).
void broker::reconcile(const cluster::metadata_image& image) {
    bool defaults_changed = apply_dynamic_configs(image);
    // The image is copy-on-write: a topic whose topic_info is the one reconciled last time is
    // unchanged, so its logs need neither the topic-id check on disk nor new configs. That
    // keeps a metadata change O(changed partitions) instead of O(all partitions).
    auto unchanged = [&](const std::string& name,
                         const std::shared_ptr<const cluster::topic_info>& topic) {
        auto it = _reconciled_topics.find(name);
        return it != _reconciled_topics.end() && it->second == topic;
    };
    auto names_self = [&](const cluster::partition_info& p) {
        return std::find(p.replicas.begin(), p.replicas.end(), _config.node_id) != p.replicas.end();
    };
    for (const auto& tp : _logs->partitions()) {
        auto topic = image.find_topic(tp.topic);
        bool keep = topic && static_cast<size_t>(tp.partition.value()) < topic->partitions.size();
        if (keep && !unchanged(tp.topic, topic)) {
            auto* log = _logs->get(tp);
            std::string on_disk = topic_id_on_disk(log->dir());
            keep = (on_disk.empty() || on_disk == topic->topic_id.to_base64()) &&
                   names_self(topic->partitions[static_cast<size_t>(tp.partition.value())]);
        }
        if (!keep) {
            LOG_INFO("broker", "removing log {}-{}{}", tp.topic, tp.partition.value(),
                     _reconciled_topics.empty() ? " (found stray at start)" : "");
            auto removed = _logs->remove(tp);
            if (!removed) {
                LOG_ERROR("broker", "cannot remove log {}-{}: {}", tp.topic, tp.partition.value(),
                          storage::to_string(removed.error()));
            }
        }
    }
    std::map<std::string, std::shared_ptr<const cluster::topic_info>> reconciled;
    for (const auto& [name, topic] : image.topics_by_name) {
        reconciled.emplace(name, topic);
        bool configs_current = !defaults_changed && unchanged(name, topic);
        std::optional<storage::log_config> cfg;  // computed once per topic, when needed
        auto config = [&]() -> const storage::log_config& {
            if (!cfg) {
                cfg = log_config_for(topic.get());
            }
            return *cfg;
        };
        for (const auto& p : topic->partitions) {
            if (!names_self(p)) {
                continue;  // another broker's partition
            }
            storage::topic_partition tp{name, partition_id(p.partition)};
            if (auto* existing = _logs->get(tp); existing != nullptr) {
                if (!configs_current) {
                    existing->set_config(config());
                }
                continue;
            }
            auto created = _logs->create(tp, config());
            if (!created) {
                LOG_ERROR("broker", "cannot create log {}-{}: {}", name, p.partition,
                          storage::to_string(created.error()));
                continue;
            }
            write_file_durably(
                (*created)->dir() / partition_metadata_file,
                fmt::format("version: 0\ntopic_id: {}\n", topic->topic_id.to_base64()));
        }
    }
    _reconciled_topics = std::move(reconciled);
    if (_replicas) {
        _replicas->reconcile(image);
        _groups->reconcile(image);  // coordinators follow their partitions' leadership
        _txns->reconcile(image);
    }
}

void broker::controlled_shutdown() {
    if (!_controller || !_quorum) {
        return;
    }
    // Kafka's controlled shutdown: before it stops serving, the broker has its partitions
    // led elsewhere (the first live in-sync replica each), so producers move on at once
    // instead of after the session timeout. It is fenced until it comes back.
    auto image = _controller->image();
    std::set<int32_t> others;
    for (const auto& [id, b] : image->brokers) {
        if (id != _config.node_id && image->fenced_brokers.count(id) == 0) {
            others.insert(id);
        }
    }
    if (others.empty()) {
        return;  // alone: nobody to hand anything to
    }
    size_t moved = _controller->shut_down_broker(_config.node_id, others);
    LOG_INFO("broker", "controlled shutdown: {} leadership and fencing change(s) recorded", moved);
}

void broker::check_liveness() {
    _liveness_timer->expires_after(std::chrono::milliseconds(500));
    _liveness_timer->async_wait([this](const std::error_code& ec) {
        if (ec || _shut_down) {
            return;
        }
        // The active controller fences brokers it has not heard from for
        // broker.session.timeout.ms and moves their partitions to live ISR replicas. A
        // broker's fetches of the metadata log (as a voter, or as an observer when it is
        // broker-only) are its heartbeats.
        auto status = _quorum->current();
        auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now().time_since_epoch());
        if (status.current_role != raft::role::leader || status.epoch != _leading_epoch) {
            _leading_epoch = status.epoch;
            _leading_since = now;  // observers are known from their first fetch on
        }
        if (status.current_role == raft::role::leader && status.quorum) {
            auto session =
                std::chrono::milliseconds(_config.number("broker.session.timeout.ms", 9000));
            auto image = _controller->image();
            // (A broker in controlled shutdown still fetches for a moment after it is fenced;
            // the controller keeps it fenced until it registers again: shut_down_broker.)
            auto heard_within_session = [&](const auto& replicas, int32_t id) {
                for (const auto& r : replicas) {
                    if (r.id.value() == id) {
                        return r.last_fetch && now - *r.last_fetch <= session;
                    }
                }
                return false;
            };
            // A broker whose fetch connection closed and that has not fetched again within
            // this is gone (a crashed process closes its sockets at once), without waiting
            // out the session; a frozen or unreachable one still gets the whole session.
            constexpr std::chrono::milliseconds disconnected_max{500};
            auto disconnected = [&](int32_t id) {
                auto it = status.disconnected_since.find(raft::node_id(id));
                return it != status.disconnected_since.end() &&
                       now - it->second >= disconnected_max;
            };
            std::set<int32_t> alive;
            for (const auto& [id, b] : image->brokers) {
                bool voter = std::any_of(status.quorum->voters.begin(), status.quorum->voters.end(),
                                         [&](const auto& v) { return v.id.value() == id; });
                bool fenced = image->fenced_brokers.count(id) != 0;
                if (id == _config.node_id ||
                    (!disconnected(id) &&
                     (heard_within_session(voter ? status.quorum->voters : status.quorum->observers,
                                           id) ||
                      (!voter && !fenced && now - _leading_since <= session)))) {
                    alive.insert(id);  // (an observer gets a session to fetch from a new leader)
                }
            }
            _controller->elect_leaders(alive, _config.values, /*liveness=*/true);
            auto now_ms = broker_context::now_ms();
            if (_config.values["auto.leader.rebalance.enable"] != "false" &&
                now_ms - _last_rebalance_check_ms >=
                    _config.number("leader.imbalance.check.interval.seconds", 300) * 1000) {
                _last_rebalance_check_ms = now_ms;
                _controller->restore_preferred_leaders(
                    alive, static_cast<double>(
                               _config.number("leader.imbalance.per.broker.percentage", 10)) /
                               100.0);
            }
        }
        check_liveness();
    });
}

std::optional<std::string> broker::start(const std::optional<std::string>& ready_file) {
    // Every partition keeps its segment and two index files open: use all the descriptors the
    // system allows this process (the soft limit is often 1024), as Kafka's docs ask of
    // operators.
    if (rlimit files{};
        ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &files) == 0) {
            LOG_INFO("broker", "open files limit raised to {}", files.rlim_max);
        }
    }
    if (auto error = open_data_dir()) {
        return error;
    }
    // sendfile() to a socket the client already closed raises SIGPIPE (it has no
    // MSG_NOSIGNAL); the default action would kill the broker silently. EPIPE is handled.
    ::signal(SIGPIPE, SIG_IGN);
    _appends = std::make_unique<append_signal>(_io);
    _flusher = std::make_unique<flush_scheduler>(_io, *_logs);
    _sessions = std::make_unique<fetch_sessions>(*_controller);
    _context = std::make_unique<broker_context>(broker_context{
        _io, _config, *_controller, *_logs, *_appends, *_flusher, *_sessions, _cluster_id, {}});
    _groups = std::make_unique<group_runtime>(*_context);
    _groups->start();
    _context->groups = _groups.get();
    _txns = std::make_unique<txn_runtime>(*_context);
    _context->txns = _txns.get();
    _context->quorum = _quorum.get();
    _replicas = std::make_unique<replica_manager>(*_context);
    _context->replicas = _replicas.get();
    _replicas->start();
    _replicas->reconcile(*_controller->image());
    _groups->reconcile(*_controller->image());
    _liveness_timer = std::make_unique<asio::steady_timer>(_io);
    _last_rebalance_check_ms = broker_context::now_ms();
    check_liveness();
    if (auto error = _txns->start()) {
        return error;
    }
    _txns->reconcile(*_controller->image());
    _maintenance = std::make_unique<log_maintenance>(
        _io, *_logs, _config.log_retention_check_interval_ms, _config.log_cleaner_backoff_ms);
    _maintenance->start();
    _router = std::make_unique<request_router>(*_context);
    net::server_limits limits;
    limits.request_max_bytes = static_cast<size_t>(_config.socket_request_max_bytes);
    limits.in_flight_max_bytes = static_cast<size_t>(_config.queued_max_request_bytes);
    _server = std::make_unique<net::server>(_io, *_router, limits);

    std::string ready_address;
    if (!_config.broker_role) {
        // A dedicated controller (process.roles=controller): it votes, applies the metadata
        // log and, while active, fences brokers and elects leaders; it serves no clients and
        // hosts no partitions (it never registers as a broker).
        ready_address = fmt::format("{}:{}", _quorum_listen_host, _quorum->listen_port());
        LOG_INFO("broker", "node {} of cluster {}: controller only, on {}", _config.node_id,
                 _cluster_id, ready_address);
        return finish_start(ready_file, ready_address);
    }
    for (size_t i = 0; i < _config.listeners.size(); ++i) {
        const auto& l = _config.listeners[i];
        if (l.name == controller_listener_name) {
            continue;  // the metadata quorum's, bound by raft::node
        }
        auto bound = _server->listen(l.host, l.port);
        if (!bound) {
            return fmt::format("listeners: {}", bound.error());
        }
        // The first advertised listener is what clients see; port 0 means "the bound port".
        if (i == 0) {
            const auto& adv = _config.advertised_listeners.front();
            bool same_listener = adv.name == l.name;
            _context->endpoint.host = adv.host.empty() || adv.host == "0.0.0.0" || adv.host == "::"
                                          ? "localhost"
                                          : adv.host;
            _context->endpoint.port = same_listener && adv.port == 0 ? *bound : adv.port;
            ready_address = fmt::format("{}:{}", l.host.empty() ? "127.0.0.1" : l.host, *bound);
        }
        LOG_INFO("broker", "listening on {}://{}:{}", l.name, l.host.empty() ? "0.0.0.0" : l.host,
                 *bound);
    }
    // Tell the cluster where clients reach this broker (Kafka's BrokerRegistration).
    auto registered = _controller->register_broker(cluster::broker_info{
        _config.node_id, _context->endpoint.host, _context->endpoint.port, broker_rack()});
    if (registered.error != protocol::error_code::none) {
        return fmt::format("cannot register with the metadata quorum: {}", registered.message);
    }
    LOG_INFO("broker", "node {} of cluster {} serving, data in {}, advertised as {}:{}",
             _config.node_id, _cluster_id, _config.log_dirs.front(), _context->endpoint.host,
             _context->endpoint.port);
    return finish_start(ready_file, ready_address);
}

std::optional<std::string> broker::finish_start(const std::optional<std::string>& ready_file,
                                                const std::string& ready_address) {
    if (ready_file) {
        if (!write_file_durably(*ready_file, ready_address + "\n")) {
            return fmt::format("--ready-file: cannot write '{}'", *ready_file);
        }
    }
    _signals.add(SIGTERM);
    _signals.add(SIGINT);
    _signals.async_wait([this](const asio::error_code& ec, int signal_number) {
        if (!ec) {
            LOG_INFO("broker", "signal {} received: shutting down", signal_number);
            shutdown();
        }
    });
    return std::nullopt;
}

int broker::run() {
    while (!_shut_down && !_io.stopped()) {
        _io.run_one();
    }
    // Connections were closed by shutdown(): let their coroutines finish (a long-polling
    // fetch wakes within its max_wait_ms) before the logs they use are closed.
    _io.run_for(std::chrono::seconds(2));
    _io.stop();
    close_logs();
    return 0;
}

void broker::close_logs() {
    if (_logs && !_logs_closed) {
        _logs_closed = true;
        auto closed = _logs->close_all();
        if (!closed) {
            LOG_ERROR("broker", "closing logs failed: {}", storage::to_string(closed.error()));
        }
    }
}

void broker::shutdown() {
    if (_shut_down) {
        return;
    }
    _shut_down = true;
    controlled_shutdown();
    if (_server) {
        _server->stop();
    }
    if (_quorum) {
        // Controlled shutdown of a controller: hand leadership over before going.
        _quorum->stop(std::chrono::milliseconds(1000));
    }
    if (_liveness_timer) {
        _liveness_timer->cancel();
    }
    if (_replicas) {
        _replicas->stop();
    }
    if (_groups) {
        _groups->stop();
    }
    if (_txns) {
        _txns->stop();
    }
    if (_maintenance) {
        _maintenance->stop();
    }
    asio::error_code ignored;
    _signals.cancel(ignored);
}

}  // namespace riacho::broker
