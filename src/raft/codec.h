// raft: the wire codec of the metadata quorum. It maps the core's messages (types.h) to and
// from the generated Vote, BeginQuorumEpoch, EndQuorumEpoch and Fetch messages of partition 0
// of __cluster_metadata, log entries to and from record batches, and answers DescribeQuorum
// from the leader's view. Plain functions: no IO, no state, callable from any thread.
//
// The wire, in KRaft's shapes and with Kafka's error codes (raft_error numbers are Kafka's):
// - A request names exactly one topic, __cluster_metadata (by name, or by its fixed topic id
//   from Fetch v13 on), with exactly one partition, 0. Anything else is INVALID_REQUEST, and a
//   cluster id that is set and not ours is INCONSISTENT_CLUSTER_ID, as in Kafka's
//   KafkaRaftClient; both are answered with a top-level error (encode_error_response). A null
//   cluster id is accepted (Kafka does the same, for older senders).
// - Versions Riacho sends between its own nodes: Vote v0, BeginQuorumEpoch v0,
//   EndQuorumEpoch v0, Fetch v12 (topic names; DivergingEpoch, CurrentLeader and SnapshotId
//   are tagged fields), FetchSnapshot v0. A snapshot moves in one response: a follower asks
//   for Position 0, the leader answers with the whole of it (Size = the bytes sent), and a
//   request for another position is INVALID_REQUEST. Every version in the schemas
//   decodes (Fetch from v12, the first with LastFetchedEpoch), and a response goes out at the
//   version of the request it answers, with KIP-853's endpoints and directory ids left empty (the
//   core does not know them).
// - Sentinels: the core's no_epoch (0) goes out as 0; a negative epoch comes in as no_epoch
//   and a negative node id as no_node. An unset high watermark goes out as -1.
// - A response whose top-level error is set, that names another partition, or whose
//   partition error the core does not know (raft_error) does not decode: to the core it is a
//   request that got no answer, retried after its request timeout, as Kafka does.
#pragma once

#include "base/result.h"
#include "protocol/wire.h"
#include "raft/replica.h"
#include "raft/types.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace riacho::raft::codec {

inline constexpr std::string_view metadata_topic = "__cluster_metadata";
inline constexpr int32_t metadata_partition = 0;
// KRaft's fixed topic id of __cluster_metadata (Uuid.METADATA_TOPIC_ID, "AAAAAAAAAAAAAAAAAAAAAQ"),
// which names the topic in Fetch v13+.
protocol::uuid metadata_topic_id();

// The versions this node sends.
inline constexpr int16_t vote_version = 0;
inline constexpr int16_t begin_quorum_epoch_version = 0;
inline constexpr int16_t end_quorum_epoch_version = 0;
inline constexpr int16_t fetch_version = 12;
inline constexpr int16_t fetch_snapshot_version = 0;

struct wire_request {
    int16_t api_key = -1;
    int16_t api_version = -1;
    protocol::writer body;  // the request body, without the request header
};

// The body of m's request at the version above. Fetch asks for everything at once
// (max_wait_ms 0: the core stands in for long polling, replica_config::fetch_idle_backoff).
// An empty cluster_id goes out as null.
// REQUIRES: m.body is a request (vote, begin/end quorum epoch, fetch, fetch_snapshot).
std::optional<wire_request> encode_request(const message& m, std::string_view cluster_id);

enum class request_errc {
    malformed,                // the body does not decode: close the connection
    invalid_request,          // not __cluster_metadata-0 alone, or impossible offsets/epochs
    inconsistent_cluster_id,  // a cluster id that is set and not `cluster_id`
};

// The core's message for a request of api_key (Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch,
// FetchSnapshot)
// and version. `from` comes from the body (candidate_id, leader_id, replica_id), `to` is this
// node, request_id is 0: the caller sets its own and pairs the core's response with the
// request through it. Another api key or a version outside the schema is malformed.
result<message, request_errc> decode_request(int16_t api_key,
                                             int16_t api_version,
                                             protocol::bytes_view body,
                                             node_id to,
                                             std::string_view cluster_id);

// The answer to a request refused with `e` (INVALID_REQUEST or INCONSISTENT_CLUSTER_ID as the
// response's top-level error, no topics), for Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch and
// FetchSnapshot and DescribeQuorum. REQUIRES: e is not malformed; api_version is valid for api_key.
void encode_error_response(int16_t api_key,
                           int16_t api_version,
                           request_errc e,
                           protocol::writer& out);

// The body of the core's response at the version of the request it answers.
// REQUIRES: `response` answers api_key (vote_response for Vote, ..., fetch_snapshot_response
// for FetchSnapshot) and api_version is valid for api_key.
void encode_response(const message_body& response,
                     int16_t api_key,
                     int16_t api_version,
                     protocol::writer& out);

// The core's response body from the answer to a request this node sent: `request` is that
// request's body (it picks the API) and api_version the version it went out at. nullopt when
// the answer does not decode or is not usable (see the top of this file). A Fetch answer
// without records gets records_base_offset = the request's fetch offset: the wire has no field
// for it, and the core matches it against its log end even when no records came.
// The caller builds the message: `from` is the peer it sent to, request_id its own.
// REQUIRES: `request` is a request body.
std::optional<message_body> decode_response(const message_body& request,
                                            int16_t api_version,
                                            protocol::bytes_view body);

// ---- Log entries as record batches (docs/formats/record-batch.md)
// One v2 batch per entry, uncompressed, valid CRC: base offset = the entry's offset,
// partition leader epoch = the entry's epoch, no producer, timestamps -1 (the core's entries
// carry no time; Kafka's NO_TIMESTAMP), one record.
// - data: a non-control batch; the record has a null key and the value entry.data.
// - leader_change: a control batch whose record's key is {version 0, type 2 = LEADER_CHANGE}
//   and whose value is entry.data as it is. The core's leader-change entry carries no fields
//   today, so the value is empty; it is not a LeaderChangeMessage yet.
std::vector<uint8_t> encode_entry(kafka_offset offset, const log_entry& e);
// Appends the batches of `entries` at offsets base, base + 1, ... to `out`.
void append_entries(std::vector<uint8_t>& out,
                    kafka_offset base,
                    std::span<const log_entry> entries);
// Parses concatenated batches as encode_entry writes them: each whole (no partial batch at the
// end), magic 2, CRC valid, uncompressed, one record, consecutive offsets, epochs never
// decreasing; a control batch must be a LEADER_CHANGE, a data record must have a value.
// Returns the offset of the first entry (0 when `records` is empty) and the entries;
// nullopt when anything is off.
std::optional<std::pair<kafka_offset, std::vector<log_entry>>> decode_entries(
    protocol::bytes_view records);

// ---- DescribeQuorum (55)
// The same instant on the core's monotonic clock and on the wall clock: DescribeQuorum reports
// fetch times as wall-clock milliseconds since the Unix epoch.
struct clock_reading {
    time_ms monotonic{0};
    int64_t wall_ms = 0;
};

// nullopt when the request asks about __cluster_metadata-0 alone (answer it); else what to do
// (malformed: close the connection; invalid_request: encode_error_response).
std::optional<request_errc> check_describe_quorum_request(int16_t api_version,
                                                          protocol::bytes_view body);

// The leader's answer, from replica::describe_quorum(). Voters are listed in the quorum's
// order with their acknowledged log end offsets; LastFetchTimestamp is the wall time of their
// last fetch (-1 before one), the leader's own is `now`, as in Kafka. LastCaughtUpTimestamp is
// `now` for the leader and -1 for the others (the core does not track it). No observers, no
// endpoints (v2 Nodes). REQUIRES: this node leads d.epoch; api_version is 0-2.
void encode_describe_quorum(const quorum_description& d,
                            clock_reading now,
                            int16_t api_version,
                            protocol::writer& out);
// A node that does not lead: NOT_LEADER_OR_FOLLOWER for the partition, with the leader
// (no_node when unknown) and epoch it knows. REQUIRES: api_version is 0-2.
void encode_describe_quorum_not_leader(node_id leader,
                                       leader_epoch epoch,
                                       int16_t api_version,
                                       protocol::writer& out);

}  // namespace riacho::raft::codec
