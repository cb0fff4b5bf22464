#include "raft/codec.h"

#include "base/invariant.h"
#include "protocol/control_record.h"
#include "protocol/error_code.h"
#include "protocol/messages/begin_quorum_epoch.h"
#include "protocol/messages/describe_quorum.h"
#include "protocol/messages/end_quorum_epoch.h"
#include "protocol/messages/fetch.h"
#include "protocol/messages/fetch_snapshot.h"
#include "protocol/messages/vote.h"
#include "protocol/record_batch.h"

#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>

namespace riacho::raft::codec {

namespace msg = protocol::msg;
using protocol::bytes_view;

namespace {

// The core's entries carry no time (Kafka's RecordBatch.NO_TIMESTAMP).
constexpr int64_t no_timestamp_ms = -1;
// A Riacho leader bounds a fetch response by entries (replica_config::fetch_max_entries); the
// byte limits only tell the leader that this follower takes what KRaft's own fetches take.
constexpr int32_t fetch_max_bytes = 8 << 20;

int16_t to_wire(raft_error e) { return static_cast<int16_t>(e); }

// Only the codes the core acts on; any other makes the response unusable.
std::optional<raft_error> raft_error_from_wire(int16_t code) {
    auto e = static_cast<raft_error>(code);
    switch (e) {
        case raft_error::none:
        case raft_error::not_leader_or_follower:
        case raft_error::fenced_leader_epoch:
        case raft_error::unknown_leader_epoch:
        case raft_error::inconsistent_voter_set:
        case raft_error::snapshot_not_found:
            return e;
    }
    return std::nullopt;
}

// Negative values are Kafka's "unknown"; the core's sentinels for that are no_epoch/no_node,
// which also compare below every real epoch and id.
leader_epoch epoch_from_wire(int32_t v) { return v < 0 ? no_epoch : leader_epoch(v); }
node_id node_from_wire(int32_t v) { return v < 0 ? no_node : node_id(v); }

std::optional<std::string> wire_cluster_id(std::string_view cluster_id) {
    if (cluster_id.empty()) {
        return std::nullopt;
    }
    return std::string(cluster_id);
}

bool cluster_id_matches(const std::optional<std::string>& theirs, std::string_view ours) {
    return !theirs || *theirs == ours;
}

template <typename Message>
std::optional<Message> decode_as(int16_t version, bytes_view body) {
    if (version < Message::min_version || version > Message::max_version) {
        return std::nullopt;
    }
    protocol::reader r(body);
    Message m;
    m.decode(r, version);
    if (!r.ok()) {
        return std::nullopt;
    }
    return m;
}

// The one partition of a Vote/BeginQuorumEpoch/EndQuorumEpoch/DescribeQuorum message, if it
// names __cluster_metadata-0 and nothing else.
template <typename Topics>
const auto* only_metadata_partition(const Topics& topics) {
    using partition = typename Topics::value_type::partition_data;
    if (topics.size() != 1 || topics[0].topic_name != metadata_topic ||
        topics[0].partitions.size() != 1 ||
        topics[0].partitions[0].partition_index != metadata_partition) {
        return static_cast<const partition*>(nullptr);
    }
    return &topics[0].partitions[0];
}

// Fetch names the topic by name up to v12 and by id from v13.
template <typename Topic>
bool is_metadata_topic(const Topic& t, int16_t version) {
    return version <= 12 ? t.topic == metadata_topic : t.topic_id == metadata_topic_id();
}

template <typename Topics>
void add_metadata_partition(Topics& topics) {
    auto& t = topics.emplace_back();
    t.topic_name = metadata_topic;
    t.partitions.emplace_back().partition_index = metadata_partition;
}

// A response goes out at the version of the request it answers, which decoded at it.
template <typename Response>
void require_version(int16_t api_key, int16_t api_version) {
    INVARIANT(api_key == Response::api_key && api_version >= Response::min_version &&
                  api_version <= Response::max_version,
              "a response of api {} at version {}, encoded as api {}", api_key, api_version,
              Response::api_key);
}

template <typename Message>
wire_request finish(const Message& m, int16_t version) {
    wire_request out;
    out.api_key = Message::api_key;
    out.api_version = version;
    m.encode(out.body, version);
    return out;
}

// ---------------------------------------------------------------- requests out

struct request_encoder {
    const message& m;
    std::optional<std::string> cluster_id;

    std::optional<wire_request> operator()(const vote_request& r) const {
        msg::vote_request out;
        out.cluster_id = cluster_id;
        out.voter_id = m.to.value();
        add_metadata_partition(out.topics);
        auto& p = out.topics[0].partitions[0];
        p.candidate_epoch = r.candidate_epoch.value();
        p.candidate_id = r.candidate_id.value();
        p.last_offset_epoch = r.last_log.epoch.value();
        p.last_offset = r.last_log.offset.value();
        return finish(out, vote_version);
    }
    std::optional<wire_request> operator()(const begin_quorum_epoch_request& r) const {
        msg::begin_quorum_epoch_request out;
        out.cluster_id = cluster_id;
        out.voter_id = m.to.value();
        add_metadata_partition(out.topics);
        auto& p = out.topics[0].partitions[0];
        p.leader_id = r.leader_id.value();
        p.leader_epoch = r.leader_epoch.value();
        return finish(out, begin_quorum_epoch_version);
    }
    std::optional<wire_request> operator()(const end_quorum_epoch_request& r) const {
        msg::end_quorum_epoch_request out;
        out.cluster_id = cluster_id;
        add_metadata_partition(out.topics);
        auto& p = out.topics[0].partitions[0];
        p.leader_id = r.leader_id.value();
        p.leader_epoch = r.leader_epoch.value();
        // v0 carries ids, v1 voter keys: fill both, the version picks.
        for (node_id n : r.preferred_successors) {
            p.preferred_successors.push_back(n.value());
            p.preferred_candidates.emplace_back().candidate_id = n.value();
        }
        return finish(out, end_quorum_epoch_version);
    }
    std::optional<wire_request> operator()(const fetch_request& r) const {
        msg::fetch_request out;
        out.cluster_id = cluster_id;
        out.replica_id = r.replica_id.value();                // v0-14
        out.replica_state.replica_id = r.replica_id.value();  // v15+
        out.max_wait_ms = 0;
        out.min_bytes = 0;
        out.max_bytes = fetch_max_bytes;
        auto& t = out.topics.emplace_back();
        t.topic = metadata_topic;
        t.topic_id = metadata_topic_id();
        auto& p = t.partitions.emplace_back();
        p.partition = metadata_partition;
        p.current_leader_epoch = r.current_leader_epoch.value();
        p.fetch_offset = r.fetch_offset.value();
        p.last_fetched_epoch = r.last_fetched_epoch.value();
        p.partition_max_bytes = fetch_max_bytes;
        return finish(out, fetch_version);
    }
    std::optional<wire_request> operator()(const fetch_snapshot_request& r) const {
        msg::fetch_snapshot_request out;
        out.cluster_id = cluster_id;
        out.replica_id = r.replica_id.value();
        auto& t = out.topics.emplace_back();
        t.name = metadata_topic;
        auto& p = t.partitions.emplace_back();
        p.partition = metadata_partition;
        p.current_leader_epoch = r.current_leader_epoch.value();
        p.snapshot_id.end_offset = r.snapshot_id.offset.value();
        p.snapshot_id.epoch = r.snapshot_id.epoch.value();
        p.position = 0;  // the whole snapshot, in one response
        return finish(out, fetch_snapshot_version);
    }
    template <typename Response>
    std::optional<wire_request> operator()(const Response&) const {
        INVARIANT(false, "encode_request of a response (body index {})", m.body.index());
        return std::nullopt;
    }
};

// ---------------------------------------------------------------- requests in

using request_result = result<message, request_errc>;

request_result decode_vote_request(int16_t version,
                                   bytes_view body,
                                   node_id to,
                                   std::string_view cluster_id) {
    auto req = decode_as<msg::vote_request>(version, body);
    if (!req) {
        return unexpected{request_errc::malformed};
    }
    if (!cluster_id_matches(req->cluster_id, cluster_id)) {
        return unexpected{request_errc::inconsistent_cluster_id};
    }
    const auto* p = only_metadata_partition(req->topics);
    if (p == nullptr || p->last_offset < 0 || p->last_offset_epoch < 0) {
        return unexpected{request_errc::invalid_request};
    }
    vote_request out;
    out.candidate_epoch = epoch_from_wire(p->candidate_epoch);
    out.candidate_id = node_from_wire(p->candidate_id);
    out.last_log = {kafka_offset(p->last_offset), leader_epoch(p->last_offset_epoch)};
    return message{out.candidate_id, to, 0, out};
}

template <typename Request, typename Core>
request_result decode_leader_request(
    int16_t version, bytes_view body, node_id to, std::string_view cluster_id, Core out) {
    auto req = decode_as<Request>(version, body);
    if (!req) {
        return unexpected{request_errc::malformed};
    }
    if (!cluster_id_matches(req->cluster_id, cluster_id)) {
        return unexpected{request_errc::inconsistent_cluster_id};
    }
    const auto* p = only_metadata_partition(req->topics);
    if (p == nullptr) {
        return unexpected{request_errc::invalid_request};
    }
    out.leader_id = node_from_wire(p->leader_id);
    out.leader_epoch = epoch_from_wire(p->leader_epoch);
    if constexpr (std::is_same_v<Core, end_quorum_epoch_request>) {
        if (version == 0) {
            for (int32_t id : p->preferred_successors) {
                out.preferred_successors.push_back(node_id(id));
            }
        } else {
            for (const auto& c : p->preferred_candidates) {
                out.preferred_successors.push_back(node_id(c.candidate_id));
            }
        }
    }
    return message{out.leader_id, to, 0, out};
}

request_result decode_fetch_request(int16_t version,
                                    bytes_view body,
                                    node_id to,
                                    std::string_view cluster_id) {
    // Below v12 there is no LastFetchedEpoch, which the leader needs to validate the log.
    if (version < 12) {
        return unexpected{request_errc::invalid_request};
    }
    auto req = decode_as<msg::fetch_request>(version, body);
    if (!req) {
        return unexpected{request_errc::malformed};
    }
    if (!cluster_id_matches(req->cluster_id, cluster_id)) {
        return unexpected{request_errc::inconsistent_cluster_id};
    }
    if (req->topics.size() != 1 || !is_metadata_topic(req->topics[0], version) ||
        req->topics[0].partitions.size() != 1 ||
        req->topics[0].partitions[0].partition != metadata_partition) {
        return unexpected{request_errc::invalid_request};
    }
    const auto& p = req->topics[0].partitions[0];
    // KafkaRaftClient's checks: an offset and an epoch, the epoch not past the leader's.
    if (req->max_wait_ms < 0 || p.fetch_offset < 0 || p.last_fetched_epoch < 0 ||
        p.last_fetched_epoch > p.current_leader_epoch) {
        return unexpected{request_errc::invalid_request};
    }
    fetch_request out;
    out.replica_id =
        node_from_wire(version <= 14 ? req->replica_id : req->replica_state.replica_id);
    out.current_leader_epoch = epoch_from_wire(p.current_leader_epoch);
    out.fetch_offset = kafka_offset(p.fetch_offset);
    out.last_fetched_epoch = leader_epoch(p.last_fetched_epoch);
    return message{out.replica_id, to, 0, out};
}

request_result decode_fetch_snapshot_request(int16_t version,
                                             bytes_view body,
                                             node_id to,
                                             std::string_view cluster_id) {
    auto req = decode_as<msg::fetch_snapshot_request>(version, body);
    if (!req) {
        return unexpected{request_errc::malformed};
    }
    if (!cluster_id_matches(req->cluster_id, cluster_id)) {
        return unexpected{request_errc::inconsistent_cluster_id};
    }
    if (req->topics.size() != 1 || req->topics[0].name != metadata_topic ||
        req->topics[0].partitions.size() != 1 ||
        req->topics[0].partitions[0].partition != metadata_partition) {
        return unexpected{request_errc::invalid_request};
    }
    const auto& p = req->topics[0].partitions[0];
    // A snapshot moves in one piece (types.h): only position 0 can be answered.
    if (p.position != 0 || p.snapshot_id.end_offset < 0 || p.snapshot_id.epoch < 0) {
        return unexpected{request_errc::invalid_request};
    }
    fetch_snapshot_request out;
    out.replica_id = node_from_wire(req->replica_id);
    out.current_leader_epoch = epoch_from_wire(p.current_leader_epoch);
    out.snapshot_id = {kafka_offset(p.snapshot_id.end_offset), leader_epoch(p.snapshot_id.epoch)};
    return message{out.replica_id, to, 0, out};
}

// ---------------------------------------------------------------- responses out

template <typename Response>
void encode_leader_response(const auto& r, int16_t version, protocol::writer& out) {
    Response resp;
    add_metadata_partition(resp.topics);
    auto& p = resp.topics[0].partitions[0];
    p.error_code = to_wire(r.error);
    p.leader_id = r.leader_id.value();
    p.leader_epoch = r.leader_epoch.value();
    if constexpr (std::is_same_v<Response, msg::vote_response>) {
        p.vote_granted = r.vote_granted;
    }
    resp.encode(out, version);
}

void encode_fetch_response(const fetch_response& r, int16_t version, protocol::writer& out) {
    msg::fetch_response resp;
    auto& t = resp.responses.emplace_back();
    t.topic = metadata_topic;
    t.topic_id = metadata_topic_id();
    auto& p = t.partitions.emplace_back();
    p.partition_index = metadata_partition;
    p.error_code = to_wire(r.error);
    p.high_watermark = r.high_watermark ? r.high_watermark->value() : -1;
    p.log_start_offset = r.log_start_offset.value();
    if (r.diverging_epoch) {
        p.diverging_epoch.epoch = r.diverging_epoch->epoch.value();
        p.diverging_epoch.end_offset = r.diverging_epoch->offset.value();
    }
    p.current_leader.leader_id = r.leader_id.value();
    p.current_leader.leader_epoch = r.leader_epoch.value();
    if (r.snapshot_id) {
        p.snapshot_id.end_offset = r.snapshot_id->offset.value();
        p.snapshot_id.epoch = r.snapshot_id->epoch.value();
    }
    // Empty records rather than null, as Kafka sends them.
    auto records = std::make_shared<std::vector<uint8_t>>();
    append_entries(*records, r.records_base_offset, r.records);
    p.records = protocol::records_data::from_memory(*records);
    p.records.owned = records;
    resp.encode(out, version);
}

void encode_fetch_snapshot_response(const fetch_snapshot_response& r,
                                    int16_t version,
                                    protocol::writer& out) {
    msg::fetch_snapshot_response resp;
    auto& t = resp.topics.emplace_back();
    t.name = metadata_topic;
    auto& p = t.partitions.emplace_back();
    p.index = metadata_partition;
    p.error_code = to_wire(r.error);
    p.snapshot_id.end_offset = r.snapshot_id.offset.value();
    p.snapshot_id.epoch = r.snapshot_id.epoch.value();
    p.current_leader.leader_id = r.leader_id.value();
    p.current_leader.leader_epoch = r.leader_epoch.value();
    p.size = static_cast<int64_t>(r.bytes.size());
    p.position = 0;
    auto bytes = std::make_shared<std::vector<uint8_t>>(r.bytes.begin(), r.bytes.end());
    p.unaligned_records = protocol::records_data::from_memory(*bytes);
    p.unaligned_records.owned = bytes;
    resp.encode(out, version);
}

// ---------------------------------------------------------------- responses in

template <typename Response, typename Core>
std::optional<message_body> decode_leader_response(int16_t version, bytes_view body, Core out) {
    auto resp = decode_as<Response>(version, body);
    if (!resp || resp->error_code != 0) {
        return std::nullopt;
    }
    const auto* p = only_metadata_partition(resp->topics);
    if (p == nullptr) {
        return std::nullopt;
    }
    auto error = raft_error_from_wire(p->error_code);
    if (!error) {
        return std::nullopt;
    }
    out.error = *error;
    out.leader_id = node_from_wire(p->leader_id);
    out.leader_epoch = epoch_from_wire(p->leader_epoch);
    if constexpr (std::is_same_v<Core, vote_response>) {
        out.vote_granted = p->vote_granted;
    }
    return out;
}

// A tagged {epoch, end offset} pair: absent while both hold Kafka's default -1; present with a
// negative part is malformed.
std::optional<std::optional<offset_and_epoch>> tagged_offset_and_epoch(int32_t epoch,
                                                                       int64_t end_offset) {
    if (epoch == -1 && end_offset == -1) {
        return std::optional<offset_and_epoch>();
    }
    if (epoch < 0 || end_offset < 0) {
        return std::nullopt;
    }
    return std::optional<offset_and_epoch>(
        offset_and_epoch{kafka_offset(end_offset), leader_epoch(epoch)});
}

std::optional<message_body> decode_fetch_response(int16_t version,
                                                  bytes_view body,
                                                  kafka_offset fetch_offset) {
    auto resp = decode_as<msg::fetch_response>(version, body);
    if (!resp || resp->error_code != 0 || resp->responses.size() != 1 ||
        !is_metadata_topic(resp->responses[0], version) ||
        resp->responses[0].partitions.size() != 1 ||
        resp->responses[0].partitions[0].partition_index != metadata_partition) {
        return std::nullopt;
    }
    const auto& p = resp->responses[0].partitions[0];
    auto error = raft_error_from_wire(p.error_code);
    auto diverging = tagged_offset_and_epoch(p.diverging_epoch.epoch, p.diverging_epoch.end_offset);
    auto snapshot = tagged_offset_and_epoch(p.snapshot_id.epoch, p.snapshot_id.end_offset);
    if (!error || !diverging || !snapshot) {
        return std::nullopt;
    }
    fetch_response out;
    out.error = *error;
    out.leader_id = node_from_wire(p.current_leader.leader_id);
    out.leader_epoch = epoch_from_wire(p.current_leader.leader_epoch);
    if (p.high_watermark >= 0) {
        out.high_watermark = kafka_offset(p.high_watermark);
    }
    out.log_start_offset = kafka_offset(std::max<int64_t>(p.log_start_offset, 0));  // -1: unknown
    out.diverging_epoch = *diverging;
    out.snapshot_id = *snapshot;
    out.records_base_offset = fetch_offset;
    if (!p.records.is_null && p.records.size_bytes() > 0) {
        auto entries = decode_entries(p.records.memory);
        if (!entries) {
            return std::nullopt;
        }
        // A leader never sends an entry of a later epoch than its own; the core relies on it.
        for (const auto& e : entries->second) {
            if (e.epoch > out.leader_epoch) {
                return std::nullopt;
            }
        }
        out.records_base_offset = entries->first;
        out.records = std::move(entries->second);
    }
    return out;
}

std::optional<message_body> decode_fetch_snapshot_response(int16_t version, bytes_view body) {
    auto resp = decode_as<msg::fetch_snapshot_response>(version, body);
    if (!resp || resp->error_code != 0 || resp->topics.size() != 1 ||
        resp->topics[0].name != metadata_topic || resp->topics[0].partitions.size() != 1 ||
        resp->topics[0].partitions[0].index != metadata_partition) {
        return std::nullopt;
    }
    const auto& p = resp->topics[0].partitions[0];
    auto error = raft_error_from_wire(p.error_code);
    auto id = tagged_offset_and_epoch(p.snapshot_id.epoch, p.snapshot_id.end_offset);
    if (!error || !id || !*id) {
        return std::nullopt;
    }
    fetch_snapshot_response out;
    out.error = *error;
    out.leader_id = node_from_wire(p.current_leader.leader_id);
    out.leader_epoch = epoch_from_wire(p.current_leader.leader_epoch);
    out.snapshot_id = **id;
    if (out.error == raft_error::none) {
        // Riacho asks for position 0 and a leader answers with the whole snapshot; a part of
        // one (another implementation's chunking) is not usable.
        size_t got = p.unaligned_records.is_null ? 0 : p.unaligned_records.size_bytes();
        if (p.position != 0 || p.size < 0 || static_cast<uint64_t>(p.size) != got) {
            return std::nullopt;
        }
        out.bytes.assign(reinterpret_cast<const char*>(p.unaligned_records.memory.data()), got);
    }
    return out;
}

std::vector<uint8_t> to_bytes(std::string_view s) {
    const auto* p = reinterpret_cast<const uint8_t*>(s.data());
    return std::vector<uint8_t>(p, p + s.size());
}

std::string to_string(bytes_view b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// The one-partition DescribeQuorum answer both encoders start from.
msg::describe_quorum_response::topic_data::partition_data& describe_quorum_partition(
    msg::describe_quorum_response& resp) {
    add_metadata_partition(resp.topics);
    return resp.topics[0].partitions[0];
}

}  // namespace

protocol::uuid metadata_topic_id() {
    protocol::uuid id;
    id.bytes[15] = 1;  // Uuid(0, 1)
    return id;
}

std::optional<wire_request> encode_request(const message& m, std::string_view cluster_id) {
    return std::visit(request_encoder{m, wire_cluster_id(cluster_id)}, m.body);
}

result<message, request_errc> decode_request(int16_t api_key,
                                             int16_t api_version,
                                             bytes_view body,
                                             node_id to,
                                             std::string_view cluster_id) {
    switch (api_key) {
        case msg::vote_request::api_key:
            return decode_vote_request(api_version, body, to, cluster_id);
        case msg::begin_quorum_epoch_request::api_key:
            return decode_leader_request<msg::begin_quorum_epoch_request>(
                api_version, body, to, cluster_id, begin_quorum_epoch_request{});
        case msg::end_quorum_epoch_request::api_key:
            return decode_leader_request<msg::end_quorum_epoch_request>(
                api_version, body, to, cluster_id, end_quorum_epoch_request{});
        case msg::fetch_request::api_key:
            return decode_fetch_request(api_version, body, to, cluster_id);
        case msg::fetch_snapshot_request::api_key:
            return decode_fetch_snapshot_request(api_version, body, to, cluster_id);
        default:
            return unexpected{request_errc::malformed};
    }
}

void encode_error_response(int16_t api_key,
                           int16_t api_version,
                           request_errc e,
                           protocol::writer& out) {
    protocol::error_code code = protocol::error_code::invalid_request;
    switch (e) {
        case request_errc::malformed:
            INVARIANT(false, "a malformed request gets no answer (api {})", api_key);
            break;
        case request_errc::invalid_request:
            code = protocol::error_code::invalid_request;
            break;
        case request_errc::inconsistent_cluster_id:
            code = protocol::error_code::inconsistent_cluster_id;
            break;
    }
    auto encode = [&]<typename Response>(Response resp) {
        require_version<Response>(api_key, api_version);
        resp.error_code = protocol::code(code);
        resp.encode(out, api_version);
    };
    switch (api_key) {
        case msg::vote_response::api_key:
            return encode(msg::vote_response{});
        case msg::begin_quorum_epoch_response::api_key:
            return encode(msg::begin_quorum_epoch_response{});
        case msg::end_quorum_epoch_response::api_key:
            return encode(msg::end_quorum_epoch_response{});
        case msg::fetch_response::api_key:
            return encode(msg::fetch_response{});
        case msg::fetch_snapshot_response::api_key:
            return encode(msg::fetch_snapshot_response{});
        case msg::describe_quorum_response::api_key:
            return encode(msg::describe_quorum_response{});
        default:
            INVARIANT(false, "encode_error_response for api {}", api_key);
    }
}

void encode_response(const message_body& response,
                     int16_t api_key,
                     int16_t api_version,
                     protocol::writer& out) {
    if (const auto* r = std::get_if<vote_response>(&response)) {
        require_version<msg::vote_response>(api_key, api_version);
        encode_leader_response<msg::vote_response>(*r, api_version, out);
    } else if (const auto* r = std::get_if<begin_quorum_epoch_response>(&response)) {
        require_version<msg::begin_quorum_epoch_response>(api_key, api_version);
        encode_leader_response<msg::begin_quorum_epoch_response>(*r, api_version, out);
    } else if (const auto* r = std::get_if<end_quorum_epoch_response>(&response)) {
        require_version<msg::end_quorum_epoch_response>(api_key, api_version);
        encode_leader_response<msg::end_quorum_epoch_response>(*r, api_version, out);
    } else if (const auto* r = std::get_if<fetch_response>(&response)) {
        require_version<msg::fetch_response>(api_key, api_version);
        encode_fetch_response(*r, api_version, out);
    } else if (const auto* r = std::get_if<fetch_snapshot_response>(&response)) {
        require_version<msg::fetch_snapshot_response>(api_key, api_version);
        encode_fetch_snapshot_response(*r, api_version, out);
    } else {
        INVARIANT(false, "encode_response of a request (body {})", response.index());
    }
}

std::optional<message_body> decode_response(const message_body& request,
                                            int16_t api_version,
                                            bytes_view body) {
    if (std::holds_alternative<vote_request>(request)) {
        return decode_leader_response<msg::vote_response>(api_version, body, vote_response{});
    }
    if (std::holds_alternative<begin_quorum_epoch_request>(request)) {
        return decode_leader_response<msg::begin_quorum_epoch_response>(
            api_version, body, begin_quorum_epoch_response{});
    }
    if (std::holds_alternative<end_quorum_epoch_request>(request)) {
        return decode_leader_response<msg::end_quorum_epoch_response>(api_version, body,
                                                                      end_quorum_epoch_response{});
    }
    if (const auto* fetch = std::get_if<fetch_request>(&request)) {
        return decode_fetch_response(api_version, body, fetch->fetch_offset);
    }
    INVARIANT(std::holds_alternative<fetch_snapshot_request>(request),
              "decode_response for a response body {}", request.index());
    return decode_fetch_snapshot_response(api_version, body);
}

// ---------------------------------------------------------------- entries

std::vector<uint8_t> encode_entry(kafka_offset offset, const log_entry& e) {
    std::vector<uint8_t> batch;
    switch (e.kind) {
        case entry_kind::data: {
            protocol::batch_builder::record r;
            r.timestamp = no_timestamp_ms;
            r.value = to_bytes(e.data);
            protocol::batch_builder b;
            b.add(std::move(r));
            batch = b.build();
            break;
        }
        case entry_kind::leader_change:
            batch = protocol::build_control_batch(protocol::control_type::leader_change,
                                                  to_bytes(e.data), no_timestamp_ms);
            break;
    }
    // Both fields are outside the CRC.
    protocol::set_base_offset(batch, offset.value());
    protocol::set_partition_leader_epoch(batch, e.epoch.value());
    return batch;
}

void append_entries(std::vector<uint8_t>& out,
                    kafka_offset base,
                    std::span<const log_entry> entries) {
    for (size_t i = 0; i < entries.size(); ++i) {
        auto batch = encode_entry(base + static_cast<int64_t>(i), entries[i]);
        out.insert(out.end(), batch.begin(), batch.end());
    }
}

std::optional<std::pair<kafka_offset, std::vector<log_entry>>> decode_entries(bytes_view records) {
    std::pair<kafka_offset, std::vector<log_entry>> out{kafka_offset(0), {}};
    std::vector<uint8_t> scratch;  // stays empty: only compressed batches use it
    size_t pos = 0;
    while (pos < records.size()) {
        auto rest = records.subspan(pos);
        auto header = protocol::parse_batch_header(rest);
        if (!header || header->total_size_bytes() > rest.size()) {
            return std::nullopt;
        }
        auto batch = rest.first(header->total_size_bytes());
        if (header->codec() != protocol::compression_codec::none ||
            header->last_offset_delta != 0 || header->partition_leader_epoch < 0 ||
            header->base_offset < 0) {
            return std::nullopt;
        }
        auto decoded = protocol::decode_records(batch, scratch);  // checks the CRC
        if (!decoded || decoded->size() != 1) {
            return std::nullopt;
        }
        auto& entries = out.second;
        if (entries.empty()) {
            out.first = kafka_offset(header->base_offset);
        }
        leader_epoch epoch(header->partition_leader_epoch);
        if (header->base_offset != out.first.value() + static_cast<int64_t>(entries.size()) ||
            (!entries.empty() && epoch < entries.back().epoch)) {
            return std::nullopt;
        }
        const auto& record = (*decoded)[0];
        log_entry e;
        e.epoch = epoch;
        if (header->is_control()) {
            auto type = protocol::parse_control_type(record);
            if (!type || *type != static_cast<int16_t>(protocol::control_type::leader_change)) {
                return std::nullopt;
            }
            e.kind = entry_kind::leader_change;
            e.data = record.value ? to_string(*record.value) : std::string();
        } else {
            if (!record.value) {
                return std::nullopt;
            }
            e.data = to_string(*record.value);
        }
        entries.push_back(std::move(e));
        pos += batch.size();
    }
    return out;
}

// ---------------------------------------------------------------- DescribeQuorum

std::optional<request_errc> check_describe_quorum_request(int16_t api_version, bytes_view body) {
    auto req = decode_as<msg::describe_quorum_request>(api_version, body);
    if (!req) {
        return request_errc::malformed;
    }
    if (only_metadata_partition(req->topics) == nullptr) {
        return request_errc::invalid_request;
    }
    return std::nullopt;
}

void encode_describe_quorum(const quorum_description& d,
                            clock_reading now,
                            int16_t api_version,
                            protocol::writer& out) {
    require_version<msg::describe_quorum_response>(msg::describe_quorum_response::api_key,
                                                   api_version);
    msg::describe_quorum_response resp;
    auto& p = describe_quorum_partition(resp);
    p.leader_id = d.leader_id.value();
    p.leader_epoch = d.epoch.value();
    p.high_watermark = d.high_watermark.value();
    for (const auto& v : d.voters) {
        auto& s = p.current_voters.emplace_back();
        s.replica_id = v.id.value();
        s.log_end_offset = v.log_end_offset.value();
        if (v.id == d.leader_id) {
            s.last_fetch_timestamp = now.wall_ms;
            s.last_caught_up_timestamp = now.wall_ms;
        } else if (v.last_fetch) {
            s.last_fetch_timestamp = now.wall_ms - (now.monotonic - *v.last_fetch).count();
        }
    }
    for (const auto& o : d.observers) {
        auto& s = p.observers.emplace_back();
        s.replica_id = o.id.value();
        s.log_end_offset = o.log_end_offset.value();
        if (o.last_fetch) {
            s.last_fetch_timestamp = now.wall_ms - (now.monotonic - *o.last_fetch).count();
        }
    }
    resp.encode(out, api_version);
}

void encode_describe_quorum_not_leader(node_id leader,
                                       leader_epoch epoch,
                                       int16_t api_version,
                                       protocol::writer& out) {
    require_version<msg::describe_quorum_response>(msg::describe_quorum_response::api_key,
                                                   api_version);
    msg::describe_quorum_response resp;
    auto& p = describe_quorum_partition(resp);
    p.error_code = protocol::code(protocol::error_code::not_leader_or_follower);
    p.leader_id = leader.value();
    p.leader_epoch = epoch.value();
    p.high_watermark = -1;
    resp.encode(out, api_version);
}

}  // namespace riacho::raft::codec
