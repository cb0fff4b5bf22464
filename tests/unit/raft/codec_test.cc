// The metadata quorum's wire codec (raft/codec.h): every core message kind goes through
// encode and decode at every version of its schema and comes back equal (optional fields set
// and unset, each raft_error); requests from other senders' versions (Vote/BeginQuorumEpoch/
// EndQuorumEpoch v1, Fetch v13+ by topic id and v15+ ReplicaState) decode from generated
// messages built by hand; log entries round-trip as record batches whose bytes are checked
// against the batch format; malformed input (every truncation, a bad CRC, another topic or
// partition, another cluster id, unknown error codes, impossible epochs) decodes to nothing
// without crashing; DescribeQuorum answers decode with the generated response type; the API
// catalog marks the quorum's own APIs controller_only. Last, three replicas elect a leader and
// commit entries with every message carried through the codec.
#include "raft/codec.h"

#include "memory_log.h"
#include "protocol/control_record.h"
#include "protocol/messages/api_catalog.h"
#include "protocol/messages/begin_quorum_epoch.h"
#include "protocol/messages/controller_write.h"
#include "protocol/messages/describe_quorum.h"
#include "protocol/messages/end_quorum_epoch.h"
#include "protocol/messages/fetch.h"
#include "protocol/messages/fetch_snapshot.h"
#include "protocol/messages/vote.h"
#include "protocol/record_batch.h"
#include "raft/replica.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <tuple>

namespace riacho::raft {

// The core's structs have no operator== (types.h); the tests compare them field by field.
bool operator==(const vote_request& a, const vote_request& b) {
    return std::tie(a.candidate_epoch, a.candidate_id, a.last_log) ==
           std::tie(b.candidate_epoch, b.candidate_id, b.last_log);
}
bool operator==(const vote_response& a, const vote_response& b) {
    return std::tie(a.error, a.leader_id, a.leader_epoch, a.vote_granted) ==
           std::tie(b.error, b.leader_id, b.leader_epoch, b.vote_granted);
}
bool operator==(const begin_quorum_epoch_request& a, const begin_quorum_epoch_request& b) {
    return std::tie(a.leader_id, a.leader_epoch) == std::tie(b.leader_id, b.leader_epoch);
}
bool operator==(const begin_quorum_epoch_response& a, const begin_quorum_epoch_response& b) {
    return std::tie(a.error, a.leader_id, a.leader_epoch) ==
           std::tie(b.error, b.leader_id, b.leader_epoch);
}
bool operator==(const end_quorum_epoch_request& a, const end_quorum_epoch_request& b) {
    return std::tie(a.leader_id, a.leader_epoch, a.preferred_successors) ==
           std::tie(b.leader_id, b.leader_epoch, b.preferred_successors);
}
bool operator==(const end_quorum_epoch_response& a, const end_quorum_epoch_response& b) {
    return std::tie(a.error, a.leader_id, a.leader_epoch) ==
           std::tie(b.error, b.leader_id, b.leader_epoch);
}
bool operator==(const fetch_request& a, const fetch_request& b) {
    return std::tie(a.replica_id, a.current_leader_epoch, a.fetch_offset, a.last_fetched_epoch) ==
           std::tie(b.replica_id, b.current_leader_epoch, b.fetch_offset, b.last_fetched_epoch);
}
bool operator==(const fetch_response& a, const fetch_response& b) {
    return std::tie(a.error, a.leader_id, a.leader_epoch, a.high_watermark, a.log_start_offset,
                    a.diverging_epoch, a.snapshot_id, a.records_base_offset, a.records) ==
           std::tie(b.error, b.leader_id, b.leader_epoch, b.high_watermark, b.log_start_offset,
                    b.diverging_epoch, b.snapshot_id, b.records_base_offset, b.records);
}
bool operator==(const fetch_snapshot_request& a, const fetch_snapshot_request& b) {
    return std::tie(a.replica_id, a.current_leader_epoch, a.snapshot_id) ==
           std::tie(b.replica_id, b.current_leader_epoch, b.snapshot_id);
}
bool operator==(const fetch_snapshot_response& a, const fetch_snapshot_response& b) {
    return std::tie(a.error, a.leader_id, a.leader_epoch, a.snapshot_id, a.bytes) ==
           std::tie(b.error, b.leader_id, b.leader_epoch, b.snapshot_id, b.bytes);
}
bool operator==(const message& a, const message& b) {
    return std::tie(a.from, a.to, a.request_id, a.body) ==
           std::tie(b.from, b.to, b.request_id, b.body);
}

namespace {

namespace msg = protocol::msg;
using codec::request_errc;
using protocol::bytes_view;
using namespace std::chrono_literals;

constexpr std::string_view cluster = "riacho-cluster-1";

node_id n(int32_t v) { return node_id(v); }
kafka_offset off(int64_t v) { return kafka_offset(v); }
leader_epoch ep(int32_t v) { return leader_epoch(v); }

log_entry data(int32_t epoch, std::string bytes) {
    return log_entry{ep(epoch), entry_kind::data, std::move(bytes)};
}
log_entry leader_change(int32_t epoch) {
    return log_entry{ep(epoch), entry_kind::leader_change, {}};
}

const raft_error all_errors[] = {raft_error::none,
                                 raft_error::not_leader_or_follower,
                                 raft_error::fenced_leader_epoch,
                                 raft_error::unknown_leader_epoch,
                                 raft_error::inconsistent_voter_set,
                                 raft_error::snapshot_not_found};

template <typename Message>
std::vector<uint8_t> encode(const Message& m, int16_t version) {
    protocol::writer w;
    m.encode(w, version);
    return w.buffer();
}

template <typename Message>
Message decode(bytes_view body, int16_t version) {
    protocol::reader r(body);
    Message m;
    m.decode(r, version);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
    return m;
}

// ---------------------------------------------------------------- requests

// encode_request, then decode_request as the destination would.
result<message, request_errc> round_trip(const message& m) {
    auto wire = codec::encode_request(m, cluster);
    EXPECT_TRUE(wire.has_value());
    if (!wire) {
        return unexpected{request_errc::malformed};
    }
    return codec::decode_request(wire->api_key, wire->api_version, wire->body.buffer(), m.to,
                                 cluster);
}

void expect_request_round_trip(message_body body, node_id from) {
    message m{from, n(2), 0, std::move(body)};
    auto back = round_trip(m);
    ASSERT_TRUE(back.has_value()) << static_cast<int>(back.error());
    EXPECT_EQ(*back, m);
}

TEST(raft_codec, requests_round_trip) {
    expect_request_round_trip(vote_request{ep(7), n(3), {off(120), ep(6)}}, n(3));
    expect_request_round_trip(vote_request{ep(1), n(1), {off(0), no_epoch}}, n(1));
    expect_request_round_trip(begin_quorum_epoch_request{n(1), ep(9)}, n(1));
    expect_request_round_trip(end_quorum_epoch_request{n(3), ep(4), {n(2), n(1), n(5)}}, n(3));
    expect_request_round_trip(end_quorum_epoch_request{n(3), ep(4), {}}, n(3));
    expect_request_round_trip(fetch_request{n(2), ep(5), off(1000), ep(4)}, n(2));
    expect_request_round_trip(fetch_request{n(4), ep(1), off(0), no_epoch}, n(4));
    expect_request_round_trip(fetch_snapshot_request{n(3), ep(5), {off(500), ep(3)}}, n(3));
}

TEST(raft_codec, requests_go_out_at_the_documented_versions) {
    auto version_of = [](message_body body) {
        auto wire = codec::encode_request(message{n(1), n(2), 7, std::move(body)}, cluster);
        return wire ? std::make_pair(wire->api_key, wire->api_version)
                    : std::make_pair(int16_t{-1}, int16_t{-1});
    };
    EXPECT_EQ(version_of(vote_request{}), std::make_pair(int16_t{52}, int16_t{0}));
    EXPECT_EQ(version_of(begin_quorum_epoch_request{}), std::make_pair(int16_t{53}, int16_t{0}));
    EXPECT_EQ(version_of(end_quorum_epoch_request{}), std::make_pair(int16_t{54}, int16_t{0}));
    EXPECT_EQ(version_of(fetch_request{}), std::make_pair(int16_t{1}, int16_t{12}));
    EXPECT_EQ(version_of(fetch_snapshot_request{}), std::make_pair(int16_t{59}, int16_t{0}));
}

TEST(raft_codec, fetch_request_fields_on_the_wire) {
    auto wire = codec::encode_request(
        message{n(2), n(1), 1, fetch_request{n(2), ep(5), off(40), ep(3)}}, cluster);
    ASSERT_TRUE(wire);
    auto req = decode<msg::fetch_request>(wire->body.buffer(), wire->api_version);
    EXPECT_EQ(req.cluster_id, std::string(cluster));
    EXPECT_EQ(req.replica_id, 2);
    EXPECT_EQ(req.max_wait_ms, 0);
    EXPECT_EQ(req.session_epoch, -1);  // no fetch session
    ASSERT_EQ(req.topics.size(), 1u);
    EXPECT_EQ(req.topics[0].topic, "__cluster_metadata");
    ASSERT_EQ(req.topics[0].partitions.size(), 1u);
    const auto& p = req.topics[0].partitions[0];
    EXPECT_EQ(p.partition, 0);
    EXPECT_EQ(p.current_leader_epoch, 5);
    EXPECT_EQ(p.fetch_offset, 40);
    EXPECT_EQ(p.last_fetched_epoch, 3);
    EXPECT_GT(p.partition_max_bytes, 0);
}

TEST(raft_codec, an_empty_cluster_id_goes_out_null_and_null_is_accepted) {
    message m{n(3), n(1), 0, vote_request{ep(2), n(3), {off(5), ep(1)}}};
    auto wire = codec::encode_request(m, "");
    ASSERT_TRUE(wire);
    EXPECT_FALSE(decode<msg::vote_request>(wire->body.buffer(), 0).cluster_id.has_value());
    auto back =
        codec::decode_request(wire->api_key, wire->api_version, wire->body.buffer(), n(1), cluster);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, m);
}

TEST(raft_codec, another_cluster_id_is_inconsistent) {
    for (message_body body : {message_body(vote_request{ep(2), n(3), {off(5), ep(1)}}),
                              message_body(begin_quorum_epoch_request{n(3), ep(2)}),
                              message_body(end_quorum_epoch_request{n(3), ep(2), {n(1)}}),
                              message_body(fetch_request{n(3), ep(2), off(5), ep(1)})}) {
        auto wire = codec::encode_request(message{n(3), n(1), 0, body}, "another-cluster");
        ASSERT_TRUE(wire);
        auto back = codec::decode_request(wire->api_key, wire->api_version, wire->body.buffer(),
                                          n(1), cluster);
        ASSERT_FALSE(back.has_value());
        EXPECT_EQ(back.error(), request_errc::inconsistent_cluster_id) << body.index();
    }
}

// Requests as a sender of another version would build them (Kafka 4 controllers speak v1).
TEST(raft_codec, v1_requests_decode) {
    msg::vote_request vote;
    vote.cluster_id = std::string(cluster);
    vote.voter_id = 1;
    auto& vt = vote.topics.emplace_back();
    vt.topic_name = "__cluster_metadata";
    auto& vp = vt.partitions.emplace_back();
    vp.candidate_epoch = 8;
    vp.candidate_id = 2;
    vp.candidate_directory_id.bytes[0] = 0xab;
    vp.last_offset_epoch = 7;
    vp.last_offset = 300;
    auto back = codec::decode_request(52, 1, encode(vote, 1), n(1), cluster);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, (message{n(2), n(1), 0, vote_request{ep(8), n(2), {off(300), ep(7)}}}));

    msg::begin_quorum_epoch_request begin;
    auto& bt = begin.topics.emplace_back();
    bt.topic_name = "__cluster_metadata";
    auto& bp = bt.partitions.emplace_back();
    bp.leader_id = 3;
    bp.leader_epoch = 8;
    begin.leader_endpoints.push_back({"CONTROLLER", "localhost", 9093});
    back = codec::decode_request(53, 1, encode(begin, 1), n(1), cluster);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, (message{n(3), n(1), 0, begin_quorum_epoch_request{n(3), ep(8)}}));

    msg::end_quorum_epoch_request end;
    auto& et = end.topics.emplace_back();
    et.topic_name = "__cluster_metadata";
    auto& ep1 = et.partitions.emplace_back();
    ep1.leader_id = 3;
    ep1.leader_epoch = 8;
    ep1.preferred_candidates.push_back({2, {}});
    ep1.preferred_candidates.push_back({1, {}});
    back = codec::decode_request(54, 1, encode(end, 1), n(1), cluster);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, (message{n(3), n(1), 0, end_quorum_epoch_request{n(3), ep(8), {n(2), n(1)}}}));
}

msg::fetch_request fetch_for(int16_t version) {
    msg::fetch_request req;
    req.replica_id = 2;
    req.replica_state.replica_id = 2;
    auto& t = req.topics.emplace_back();
    t.topic = version <= 12 ? "__cluster_metadata" : "";
    if (version >= 13) {
        t.topic_id = codec::metadata_topic_id();
    }
    auto& p = t.partitions.emplace_back();
    p.current_leader_epoch = 6;
    p.fetch_offset = 77;
    p.last_fetched_epoch = 5;
    return req;
}

TEST(raft_codec, fetch_requests_decode_at_every_version_from_12) {
    for (int16_t v = 12; v <= msg::fetch_request::max_version; ++v) {
        auto back = codec::decode_request(1, v, encode(fetch_for(v), v), n(1), cluster);
        ASSERT_TRUE(back.has_value()) << "version " << v;
        EXPECT_EQ(*back, (message{n(2), n(1), 0, fetch_request{n(2), ep(6), off(77), ep(5)}}))
            << "version " << v;
    }
    // Below v12 there is no LastFetchedEpoch.
    auto old = codec::decode_request(1, 11, encode(fetch_for(11), 11), n(1), cluster);
    ASSERT_FALSE(old.has_value());
    EXPECT_EQ(old.error(), request_errc::invalid_request);
    EXPECT_EQ(codec::metadata_topic_id().to_base64(), "AAAAAAAAAAAAAAAAAAAAAQ");
}

TEST(raft_codec, fetch_requests_with_impossible_offsets_or_epochs_are_invalid) {
    auto check = [](auto mutate) {
        auto req = fetch_for(12);
        mutate(req.topics[0].partitions[0]);
        auto back = codec::decode_request(1, 12, encode(req, 12), n(1), cluster);
        ASSERT_FALSE(back.has_value());
        EXPECT_EQ(back.error(), request_errc::invalid_request);
    };
    check([](auto& p) { p.fetch_offset = -1; });
    check([](auto& p) { p.last_fetched_epoch = -1; });
    check([](auto& p) { p.last_fetched_epoch = p.current_leader_epoch + 1; });
}

TEST(raft_codec, requests_for_anything_but_the_metadata_partition_are_invalid) {
    auto check = [](int16_t key, int16_t version, std::vector<uint8_t> body) {
        auto back = codec::decode_request(key, version, body, n(1), cluster);
        ASSERT_FALSE(back.has_value());
        EXPECT_EQ(back.error(), request_errc::invalid_request) << key;
    };
    auto vote = [] {
        msg::vote_request v;
        auto& t = v.topics.emplace_back();
        t.topic_name = "__cluster_metadata";
        auto& p = t.partitions.emplace_back();
        p.candidate_epoch = 2;
        p.candidate_id = 2;
        return v;
    };
    auto other_topic = vote();
    other_topic.topics[0].topic_name = "orders";
    check(52, 0, encode(other_topic, 0));
    auto other_partition = vote();
    other_partition.topics[0].partitions[0].partition_index = 1;
    check(52, 0, encode(other_partition, 0));
    auto two_partitions = vote();
    two_partitions.topics[0].partitions.push_back(two_partitions.topics[0].partitions[0]);
    check(52, 0, encode(two_partitions, 0));
    auto no_topics = vote();
    no_topics.topics.clear();
    check(52, 0, encode(no_topics, 0));
    auto negative_offset = vote();
    negative_offset.topics[0].partitions[0].last_offset = -1;
    check(52, 0, encode(negative_offset, 0));

    msg::begin_quorum_epoch_request begin;
    begin.topics.emplace_back().topic_name = "__consumer_offsets";
    begin.topics[0].partitions.emplace_back();
    check(53, 0, encode(begin, 0));
    msg::end_quorum_epoch_request end;  // no topics at all
    check(54, 0, encode(end, 0));

    auto fetch = fetch_for(12);
    fetch.topics[0].topic = "orders";
    check(1, 12, encode(fetch, 12));
    auto by_id = fetch_for(13);
    by_id.topics[0].topic_id.bytes[15] = 2;
    check(1, 13, encode(by_id, 13));
}

TEST(raft_codec, every_truncated_request_is_malformed) {
    std::vector<message_body> bodies = {vote_request{ep(7), n(3), {off(120), ep(6)}},
                                        begin_quorum_epoch_request{n(1), ep(9)},
                                        end_quorum_epoch_request{n(3), ep(4), {n(2), n(1)}},
                                        fetch_request{n(2), ep(5), off(1000), ep(4)},
                                        fetch_snapshot_request{n(2), ep(5), {off(9), ep(2)}}};
    for (const auto& body : bodies) {
        auto wire = codec::encode_request(message{n(1), n(2), 0, body}, cluster);
        ASSERT_TRUE(wire);
        const auto& bytes = wire->body.buffer();
        for (size_t size = 0; size < bytes.size(); ++size) {
            auto back = codec::decode_request(wire->api_key, wire->api_version,
                                              bytes_view(bytes).first(size), n(2), cluster);
            ASSERT_FALSE(back.has_value()) << body.index() << " cut at " << size;
            EXPECT_EQ(back.error(), request_errc::malformed);
        }
    }
    // Unknown APIs and versions outside the schema are malformed too.
    std::vector<uint8_t> empty;
    EXPECT_EQ(codec::decode_request(60, 0, empty, n(1), cluster).error(), request_errc::malformed);
    EXPECT_EQ(codec::decode_request(52, 2, empty, n(1), cluster).error(), request_errc::malformed);
}

// ---------------------------------------------------------------- responses

std::optional<message_body> response_round_trip(const message_body& request,
                                                const message_body& response,
                                                int16_t api_key,
                                                int16_t version) {
    protocol::writer w;
    codec::encode_response(response, api_key, version, w);
    return codec::decode_response(request, version, w.buffer());
}

TEST(raft_codec, election_responses_round_trip_at_every_version) {
    for (int16_t v = 0; v <= 1; ++v) {
        for (raft_error e : all_errors) {
            for (bool granted : {false, true}) {
                vote_response r{e, n(3), ep(9), granted};
                auto back = response_round_trip(vote_request{}, r, 52, v);
                ASSERT_TRUE(back) << "v" << v;
                EXPECT_EQ(*back, message_body(r));
            }
            begin_quorum_epoch_response b{e, n(2), ep(4)};
            auto back = response_round_trip(begin_quorum_epoch_request{}, b, 53, v);
            ASSERT_TRUE(back);
            EXPECT_EQ(*back, message_body(b));
            end_quorum_epoch_response end{e, no_node, ep(4)};
            back = response_round_trip(end_quorum_epoch_request{}, end, 54, v);
            ASSERT_TRUE(back);
            EXPECT_EQ(*back, message_body(end));
        }
    }
}

fetch_response full_fetch_response() {
    fetch_response r;
    r.leader_id = n(1);
    r.leader_epoch = ep(5);
    r.high_watermark = off(12);
    r.log_start_offset = off(3);
    r.records_base_offset = off(10);
    r.records = {data(4, "a"), leader_change(5), data(5, std::string("\0b\xff", 3)), data(5, "")};
    return r;
}

TEST(raft_codec, fetch_responses_round_trip_at_every_version) {
    std::vector<fetch_response> cases;
    cases.push_back(full_fetch_response());
    auto no_hw = full_fetch_response();
    no_hw.high_watermark.reset();
    cases.push_back(no_hw);
    fetch_response diverging;
    diverging.leader_id = n(1);
    diverging.leader_epoch = ep(5);
    diverging.high_watermark = off(0);
    diverging.diverging_epoch = offset_and_epoch{off(0), no_epoch};
    diverging.records_base_offset = off(8);  // no records: the request's fetch offset
    cases.push_back(diverging);
    fetch_response snapshot = diverging;
    snapshot.diverging_epoch.reset();
    snapshot.snapshot_id = offset_and_epoch{off(500), ep(3)};
    snapshot.log_start_offset = off(500);
    cases.push_back(snapshot);
    for (raft_error e : all_errors) {
        fetch_response failed;
        failed.error = e;
        failed.leader_id = e == raft_error::not_leader_or_follower ? no_node : n(2);
        failed.leader_epoch = ep(6);
        failed.records_base_offset = off(8);
        cases.push_back(failed);
    }
    for (int16_t v = 12; v <= msg::fetch_response::max_version; ++v) {
        for (const auto& r : cases) {
            auto back = response_round_trip(fetch_request{n(2), ep(5), off(8), ep(4)}, r, 1, v);
            ASSERT_TRUE(back) << "v" << v;
            EXPECT_EQ(*back, message_body(r)) << "v" << v;
        }
    }
}

fetch_snapshot_response full_snapshot_response() {
    fetch_snapshot_response r;
    r.leader_id = n(1);
    r.leader_epoch = ep(5);
    r.snapshot_id = {off(500), ep(3)};
    r.bytes = std::string("snap\0shot\xff", 10);
    return r;
}

TEST(raft_codec, fetch_snapshot_responses_round_trip_at_every_version) {
    std::vector<fetch_snapshot_response> cases{full_snapshot_response()};
    for (raft_error e : all_errors) {
        fetch_snapshot_response failed;
        failed.error = e;
        failed.leader_id = n(2);
        failed.leader_epoch = ep(6);
        failed.snapshot_id = {off(500), ep(3)};
        cases.push_back(failed);
    }
    for (int16_t v = 0; v <= msg::fetch_snapshot_response::max_version; ++v) {
        for (const auto& r : cases) {
            auto back = response_round_trip(fetch_snapshot_request{n(2), ep(5), {off(500), ep(3)}},
                                            r, 59, v);
            ASSERT_TRUE(back) << "v" << v;
            EXPECT_EQ(*back, message_body(r)) << "v" << v;
        }
    }
}

TEST(raft_codec, fetch_snapshot_moves_whole_snapshots_only) {
    // The leader answers with all of it, from position 0.
    protocol::writer w;
    codec::encode_response(full_snapshot_response(), 59, 0, w);
    auto wire = decode<msg::fetch_snapshot_response>(w.buffer(), 0);
    ASSERT_EQ(wire.topics.size(), 1u);
    EXPECT_EQ(wire.topics[0].name, "__cluster_metadata");
    const auto& p = wire.topics[0].partitions.at(0);
    EXPECT_EQ(p.size, 10);
    EXPECT_EQ(p.position, 0);
    EXPECT_EQ(p.unaligned_records.size_bytes(), 10u);
    EXPECT_EQ(p.snapshot_id.end_offset, 500);
    EXPECT_EQ(p.snapshot_id.epoch, 3);
    // Part of a snapshot (another implementation's chunks) is not usable.
    fetch_snapshot_request request{n(2), ep(5), {off(500), ep(3)}};
    auto answer = [&](auto mutate) {
        auto r = wire;
        mutate(r.topics[0].partitions[0]);
        return codec::decode_response(request, 0, encode(r, 0));
    };
    EXPECT_TRUE(answer([](auto&) {}));
    EXPECT_FALSE(answer([](auto& q) { q.size = 20; }));
    EXPECT_FALSE(answer([](auto& q) { q.position = 4; }));
    EXPECT_FALSE(answer([](auto& q) { q.snapshot_id.end_offset = -1; }));
    EXPECT_FALSE(answer([](auto& q) { q.index = 1; }));
    // A request for a position past 0 is refused, as is a negative snapshot id.
    auto asked = codec::encode_request(message{n(2), n(1), 0, request}, cluster);
    ASSERT_TRUE(asked);
    auto req = decode<msg::fetch_snapshot_request>(asked->body.buffer(), 0);
    EXPECT_EQ(req.topics.at(0).partitions.at(0).position, 0);
    req.topics[0].partitions[0].position = 4;
    EXPECT_EQ(codec::decode_request(59, 0, encode(req, 0), n(1), cluster).error(),
              request_errc::invalid_request);
    req.topics[0].partitions[0].position = 0;
    req.topics[0].partitions[0].snapshot_id.epoch = -1;
    EXPECT_EQ(codec::decode_request(59, 0, encode(req, 0), n(1), cluster).error(),
              request_errc::invalid_request);
    req.topics[0].partitions[0].snapshot_id.epoch = 3;
    req.topics[0].name = "orders";
    EXPECT_EQ(codec::decode_request(59, 0, encode(req, 0), n(1), cluster).error(),
              request_errc::invalid_request);
}

TEST(raft_codec, fetch_response_fields_on_the_wire) {
    auto r = full_fetch_response();
    r.diverging_epoch = offset_and_epoch{off(9), ep(4)};
    r.snapshot_id = offset_and_epoch{off(3), ep(2)};
    protocol::writer w;
    codec::encode_response(r, 1, 12, w);
    auto resp = decode<msg::fetch_response>(w.buffer(), 12);
    EXPECT_EQ(resp.error_code, 0);
    ASSERT_EQ(resp.responses.size(), 1u);
    EXPECT_EQ(resp.responses[0].topic, "__cluster_metadata");
    ASSERT_EQ(resp.responses[0].partitions.size(), 1u);
    const auto& p = resp.responses[0].partitions[0];
    EXPECT_EQ(p.partition_index, 0);
    EXPECT_EQ(p.high_watermark, 12);
    EXPECT_EQ(p.log_start_offset, 3);
    EXPECT_EQ(p.current_leader.leader_id, 1);
    EXPECT_EQ(p.current_leader.leader_epoch, 5);
    EXPECT_EQ(p.diverging_epoch.epoch, 4);
    EXPECT_EQ(p.diverging_epoch.end_offset, 9);
    EXPECT_EQ(p.snapshot_id.end_offset, 3);
    EXPECT_EQ(p.snapshot_id.epoch, 2);
    ASSERT_FALSE(p.records.is_null);
    auto entries = codec::decode_entries(p.records.memory);
    ASSERT_TRUE(entries);
    EXPECT_EQ(entries->first, off(10));
    EXPECT_EQ(entries->second, r.records);

    // Unset high watermark and no records: -1 and empty (not null) records.
    fetch_response empty;
    protocol::writer w2;
    codec::encode_response(empty, 1, 12, w2);
    auto resp2 = decode<msg::fetch_response>(w2.buffer(), 12);
    const auto& p2 = resp2.responses[0].partitions[0];
    EXPECT_EQ(p2.high_watermark, -1);
    EXPECT_FALSE(p2.records.is_null);
    EXPECT_EQ(p2.records.size_bytes(), 0u);
    EXPECT_EQ(p2.diverging_epoch.epoch, -1);  // absent tag
    EXPECT_EQ(p2.snapshot_id.epoch, -1);
}

TEST(raft_codec, unusable_responses_decode_to_nothing) {
    auto vote_answer = [](auto mutate) {
        msg::vote_response r;
        auto& t = r.topics.emplace_back();
        t.topic_name = "__cluster_metadata";
        auto& p = t.partitions.emplace_back();
        p.leader_id = 1;
        p.leader_epoch = 3;
        mutate(r);
        return codec::decode_response(vote_request{}, 0, encode(r, 0));
    };
    EXPECT_TRUE(vote_answer([](auto&) {}));
    EXPECT_FALSE(vote_answer([](auto& r) { r.error_code = 104; }));  // INCONSISTENT_CLUSTER_ID
    EXPECT_FALSE(vote_answer([](auto& r) { r.topics[0].partitions[0].error_code = 42; }));
    EXPECT_FALSE(vote_answer([](auto& r) { r.topics[0].topic_name = "other"; }));
    EXPECT_FALSE(vote_answer([](auto& r) { r.topics[0].partitions[0].partition_index = 3; }));
    EXPECT_FALSE(vote_answer([](auto& r) { r.topics.clear(); }));
    // Kafka's unknowns come in as the core's sentinels.
    auto unknown = vote_answer([](auto& r) {
        r.topics[0].partitions[0].leader_id = -1;
        r.topics[0].partitions[0].leader_epoch = -1;
    });
    ASSERT_TRUE(unknown);
    EXPECT_EQ(std::get<vote_response>(*unknown).leader_id, no_node);
    EXPECT_EQ(std::get<vote_response>(*unknown).leader_epoch, no_epoch);

    fetch_request request{n(2), ep(5), off(8), ep(4)};
    auto fetch_answer = [&](auto mutate) {
        protocol::writer w;
        codec::encode_response(full_fetch_response(), 1, 12, w);
        auto r = decode<msg::fetch_response>(w.buffer(), 12);
        mutate(r, r.responses[0].partitions[0]);
        return codec::decode_response(request, 12, encode(r, 12));
    };
    EXPECT_TRUE(fetch_answer([](auto&, auto&) {}));
    EXPECT_FALSE(fetch_answer([](auto& r, auto&) { r.error_code = 104; }));
    EXPECT_FALSE(fetch_answer([](auto& r, auto&) { r.responses[0].topic = "orders"; }));
    EXPECT_FALSE(fetch_answer([](auto&, auto& p) { p.error_code = 1; }));  // OFFSET_OUT_OF_RANGE
    EXPECT_FALSE(fetch_answer([](auto&, auto& p) { p.diverging_epoch.end_offset = 5; }));
    EXPECT_FALSE(fetch_answer([](auto&, auto& p) { p.snapshot_id.epoch = 2; }));
    // Entries of an epoch above the leader's.
    EXPECT_FALSE(fetch_answer([](auto&, auto& p) { p.current_leader.leader_epoch = 4; }));
    // Records that do not parse.
    std::vector<uint8_t> garbage = {1, 2, 3};
    EXPECT_FALSE(fetch_answer(
        [&](auto&, auto& p) { p.records = protocol::records_data::from_memory(garbage); }));
    // Null records are no records.
    auto null_records = fetch_answer([](auto&, auto& p) { p.records = {}; });
    ASSERT_TRUE(null_records);
    EXPECT_TRUE(std::get<fetch_response>(*null_records).records.empty());
    EXPECT_EQ(std::get<fetch_response>(*null_records).records_base_offset, off(8));
}

TEST(raft_codec, every_truncated_response_decodes_to_nothing) {
    struct sample {
        message_body request;
        message_body response;
        int16_t api_key;
        int16_t version;
    };
    std::vector<sample> samples = {
        {vote_request{}, vote_response{raft_error::none, n(1), ep(2), true}, 52, 0},
        {begin_quorum_epoch_request{}, begin_quorum_epoch_response{}, 53, 0},
        {end_quorum_epoch_request{}, end_quorum_epoch_response{}, 54, 1},
        {fetch_request{}, full_fetch_response(), 1, 12},
        {fetch_snapshot_request{}, full_snapshot_response(), 59, 0},
    };
    for (const auto& s : samples) {
        protocol::writer w;
        codec::encode_response(s.response, s.api_key, s.version, w);
        const auto& bytes = w.buffer();
        for (size_t size = 0; size < bytes.size(); ++size) {
            EXPECT_FALSE(
                codec::decode_response(s.request, s.version, bytes_view(bytes).first(size)))
                << s.api_key << " cut at " << size;
        }
    }
}

TEST(raft_codec, error_responses_carry_the_top_level_error) {
    protocol::writer w;
    codec::encode_error_response(52, 0, request_errc::inconsistent_cluster_id, w);
    auto vote = decode<msg::vote_response>(w.buffer(), 0);
    EXPECT_EQ(vote.error_code, 104);
    EXPECT_TRUE(vote.topics.empty());
    for (int16_t v = 0; v <= 1; ++v) {
        protocol::writer b;
        codec::encode_error_response(53, v, request_errc::invalid_request, b);
        EXPECT_EQ(decode<msg::begin_quorum_epoch_response>(b.buffer(), v).error_code, 42);
        protocol::writer e;
        codec::encode_error_response(54, v, request_errc::invalid_request, e);
        EXPECT_EQ(decode<msg::end_quorum_epoch_response>(e.buffer(), v).error_code, 42);
    }
    protocol::writer f;
    codec::encode_error_response(1, 13, request_errc::inconsistent_cluster_id, f);
    EXPECT_EQ(decode<msg::fetch_response>(f.buffer(), 13).error_code, 104);
    protocol::writer snap;
    codec::encode_error_response(59, 1, request_errc::inconsistent_cluster_id, snap);
    EXPECT_EQ(decode<msg::fetch_snapshot_response>(snap.buffer(), 1).error_code, 104);
    protocol::writer d;
    codec::encode_error_response(55, 2, request_errc::invalid_request, d);
    EXPECT_EQ(decode<msg::describe_quorum_response>(d.buffer(), 2).error_code, 42);
    // The sender sees no usable answer.
    EXPECT_FALSE(codec::decode_response(vote_request{}, 0, w.buffer()));
}

// ---------------------------------------------------------------- entries

TEST(raft_codec, a_data_entry_is_one_plain_batch) {
    auto batch = codec::encode_entry(off(42), data(7, "hello"));
    auto header = protocol::validate_batch(batch, {});
    ASSERT_TRUE(header.has_value());
    EXPECT_EQ(header->base_offset, 42);
    EXPECT_EQ(header->partition_leader_epoch, 7);
    EXPECT_EQ(header->records_count, 1);
    EXPECT_EQ(header->codec(), protocol::compression_codec::none);
    EXPECT_FALSE(header->is_control());
    EXPECT_FALSE(header->is_transactional());
    EXPECT_EQ(header->producer_id, -1);
    std::vector<uint8_t> scratch;
    auto records = protocol::decode_records(batch, scratch);
    ASSERT_TRUE(records.has_value());
    ASSERT_EQ(records->size(), 1u);
    EXPECT_FALSE((*records)[0].key.has_value());
    ASSERT_TRUE((*records)[0].value.has_value());
    EXPECT_EQ(std::string((*records)[0].value->begin(), (*records)[0].value->end()), "hello");
}

TEST(raft_codec, a_leader_change_entry_is_a_control_batch) {
    auto batch = codec::encode_entry(off(3), leader_change(2));
    auto header = protocol::validate_batch(batch, {});
    ASSERT_TRUE(header.has_value());
    EXPECT_TRUE(header->is_control());
    EXPECT_FALSE(header->is_transactional());
    EXPECT_EQ(header->base_offset, 3);
    EXPECT_EQ(header->partition_leader_epoch, 2);
    std::vector<uint8_t> scratch;
    auto records = protocol::decode_records(batch, scratch);
    ASSERT_TRUE(records.has_value());
    ASSERT_EQ(records->size(), 1u);
    EXPECT_EQ(protocol::parse_control_type((*records)[0]), int16_t{2});  // LEADER_CHANGE
    ASSERT_TRUE((*records)[0].key);
    EXPECT_EQ(std::vector<uint8_t>((*records)[0].key->begin(), (*records)[0].key->end()),
              (std::vector<uint8_t>{0, 0, 0, 2}));
    EXPECT_FALSE(protocol::parse_txn_marker(bytes_view(batch)).has_value());
}

TEST(raft_codec, entries_round_trip) {
    std::vector<log_entry> entries = {leader_change(1),
                                      data(1, "x"),
                                      data(1, ""),
                                      leader_change(3),
                                      data(3, std::string(1000, 'z')),
                                      data(4, std::string("\0\1\2", 3))};
    std::vector<uint8_t> bytes;
    codec::append_entries(bytes, off(100), entries);
    auto back = codec::decode_entries(bytes);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->first, off(100));
    EXPECT_EQ(back->second, entries);

    auto one = codec::decode_entries(codec::encode_entry(off(0), data(1, "only")));
    ASSERT_TRUE(one);
    EXPECT_EQ(one->first, off(0));
    EXPECT_EQ(one->second, (std::vector<log_entry>{data(1, "only")}));

    auto none = codec::decode_entries({});
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->second.empty());
}

TEST(raft_codec, malformed_entries_decode_to_nothing) {
    std::vector<uint8_t> bytes;
    codec::append_entries(bytes, off(10), std::vector<log_entry>{data(2, "ab"), data(3, "cd")});
    ASSERT_TRUE(codec::decode_entries(bytes));
    // Every truncation, including one that ends between the two batches' bytes.
    for (size_t size = 1; size < bytes.size(); ++size) {
        auto first_batch = codec::encode_entry(off(10), data(2, "ab")).size();
        auto back = codec::decode_entries(bytes_view(bytes).first(size));
        if (size == first_batch) {
            ASSERT_TRUE(back);  // a whole first batch
            EXPECT_EQ(back->second.size(), 1u);
        } else {
            EXPECT_FALSE(back) << "cut at " << size;
        }
    }
    // A flipped bit in the record (inside the CRC).
    auto bad_crc = bytes;
    bad_crc[protocol::batch_header_size + 3] ^= 0x01;
    EXPECT_FALSE(codec::decode_entries(bad_crc));
    // Offsets that skip, epochs that go back.
    auto gap = codec::encode_entry(off(10), data(2, "a"));
    auto after_gap = codec::encode_entry(off(12), data(2, "b"));
    gap.insert(gap.end(), after_gap.begin(), after_gap.end());
    EXPECT_FALSE(codec::decode_entries(gap));
    auto back_in_time = codec::encode_entry(off(10), data(3, "a"));
    auto older = codec::encode_entry(off(11), data(2, "b"));
    back_in_time.insert(back_in_time.end(), older.begin(), older.end());
    EXPECT_FALSE(codec::decode_entries(back_in_time));
    // Batches encode_entry never writes: two records, compressed, a transaction marker, a data
    // record without a value.
    protocol::batch_builder two;
    two.add({0, {}, std::vector<uint8_t>{1}, {}}).add({0, {}, std::vector<uint8_t>{2}, {}});
    EXPECT_FALSE(codec::decode_entries(two.build()));
    protocol::batch_builder gzip;
    gzip.set_codec(protocol::compression_codec::gzip).add({0, {}, std::vector<uint8_t>{1}, {}});
    EXPECT_FALSE(codec::decode_entries(gzip.build()));
    EXPECT_FALSE(codec::decode_entries(protocol::build_txn_marker(5, 0, {true, 1}, 0)));
    protocol::batch_builder null_value;
    null_value.add({0, {}, std::nullopt, {}});
    EXPECT_FALSE(codec::decode_entries(null_value.build()));
    // A batch that is not magic 2.
    auto old_magic = codec::encode_entry(off(0), data(1, "a"));
    old_magic[protocol::batch_offsets::magic] = 1;
    EXPECT_FALSE(codec::decode_entries(old_magic));
}

// ---------------------------------------------------------------- DescribeQuorum

TEST(raft_codec, describe_quorum_reports_the_leaders_view) {
    quorum_description d;
    d.leader_id = n(2);
    d.epoch = ep(6);
    d.high_watermark = off(40);
    d.voters = {{n(1), off(38), time_ms(9'000)},
                {n(2), off(41), std::nullopt},
                {n(3), off(-1), std::nullopt}};
    codec::clock_reading now{time_ms(10'000), 1'700'000'000'000};
    for (int16_t v = 0; v <= 2; ++v) {
        protocol::writer w;
        codec::encode_describe_quorum(d, now, v, w);
        auto resp = decode<msg::describe_quorum_response>(w.buffer(), v);
        EXPECT_EQ(resp.error_code, 0);
        ASSERT_EQ(resp.topics.size(), 1u);
        EXPECT_EQ(resp.topics[0].topic_name, "__cluster_metadata");
        ASSERT_EQ(resp.topics[0].partitions.size(), 1u);
        const auto& p = resp.topics[0].partitions[0];
        EXPECT_EQ(p.partition_index, 0);
        EXPECT_EQ(p.error_code, 0);
        EXPECT_EQ(p.leader_id, 2);
        EXPECT_EQ(p.leader_epoch, 6);
        EXPECT_EQ(p.high_watermark, 40);
        EXPECT_TRUE(p.observers.empty());
        ASSERT_EQ(p.current_voters.size(), 3u);
        EXPECT_EQ(p.current_voters[0].replica_id, 1);
        EXPECT_EQ(p.current_voters[0].log_end_offset, 38);
        EXPECT_EQ(p.current_voters[1].replica_id, 2);
        EXPECT_EQ(p.current_voters[1].log_end_offset, 41);
        EXPECT_EQ(p.current_voters[2].log_end_offset, -1);
        if (v >= 1) {
            EXPECT_EQ(p.current_voters[0].last_fetch_timestamp, 1'699'999'999'000);
            EXPECT_EQ(p.current_voters[0].last_caught_up_timestamp, -1);
            EXPECT_EQ(p.current_voters[1].last_fetch_timestamp, now.wall_ms);  // the leader
            EXPECT_EQ(p.current_voters[1].last_caught_up_timestamp, now.wall_ms);
            EXPECT_EQ(p.current_voters[2].last_fetch_timestamp, -1);
        }
        EXPECT_TRUE(resp.nodes.empty());
    }
}

TEST(raft_codec, describe_quorum_on_a_follower_names_the_leader) {
    for (int16_t v = 0; v <= 2; ++v) {
        protocol::writer w;
        codec::encode_describe_quorum_not_leader(n(3), ep(8), v, w);
        auto resp = decode<msg::describe_quorum_response>(w.buffer(), v);
        EXPECT_EQ(resp.error_code, 0);
        ASSERT_EQ(resp.topics.size(), 1u);
        const auto& p = resp.topics[0].partitions[0];
        EXPECT_EQ(p.error_code, 6);  // NOT_LEADER_OR_FOLLOWER
        EXPECT_EQ(p.leader_id, 3);
        EXPECT_EQ(p.leader_epoch, 8);
        EXPECT_TRUE(p.current_voters.empty());
    }
}

TEST(raft_codec, describe_quorum_requests_are_checked) {
    msg::describe_quorum_request req;
    req.topics.push_back({"__cluster_metadata", {{0}}});
    for (int16_t v = 0; v <= 2; ++v) {
        EXPECT_FALSE(codec::check_describe_quorum_request(v, encode(req, v)));
    }
    auto bytes = encode(req, 0);
    EXPECT_EQ(codec::check_describe_quorum_request(0, bytes_view(bytes).first(bytes.size() - 2)),
              request_errc::malformed);
    req.topics[0].partitions[0].partition_index = 1;
    EXPECT_EQ(codec::check_describe_quorum_request(0, encode(req, 0)),
              request_errc::invalid_request);
}

// ---------------------------------------------------------------- API catalog

TEST(raft_codec, the_quorums_own_apis_are_controller_only) {
    for (int16_t key : {protocol::api_keys::vote, protocol::api_keys::begin_quorum_epoch,
                        protocol::api_keys::end_quorum_epoch, protocol::api_keys::fetch_snapshot,
                        protocol::api_keys::controller_write}) {
        const auto* api = protocol::find_api(key);
        ASSERT_NE(api, nullptr) << key;
        EXPECT_TRUE(api->controller_only) << api->name;
    }
    const auto* describe = protocol::find_api(protocol::api_keys::describe_quorum);
    ASSERT_NE(describe, nullptr);
    EXPECT_FALSE(describe->controller_only);
    EXPECT_EQ(describe->max_version, 2);
    // What a broker's ApiVersions lists: every API but those.
    size_t advertised = 0;
    for (const auto& api : protocol::all_apis()) {
        if (!api.controller_only) {
            ++advertised;
        }
    }
    EXPECT_EQ(advertised, protocol::all_apis().size() - 5);
    EXPECT_FALSE(protocol::find_api(protocol::api_keys::fetch)->controller_only);
    EXPECT_FALSE(protocol::find_api(protocol::api_keys::api_versions)->controller_only);
}

TEST(raft_codec, controller_write_round_trips) {
    msg::controller_write_request req;
    req.base_offset = 77;
    req.records = {1, 2, 3};
    EXPECT_EQ(decode<msg::controller_write_request>(encode(req, 0), 0), req);
    msg::controller_write_response resp;
    EXPECT_EQ(resp.leader_id, -1);
    EXPECT_EQ(resp.applied_offset, -1);
    EXPECT_EQ(resp.committed_offset, -1);
    EXPECT_FALSE(resp.error_message.has_value());
    EXPECT_EQ(decode<msg::controller_write_response>(encode(resp, 0), 0), resp);
    resp.error_code = 6;
    resp.error_message = "not the active controller";
    resp.leader_id = 2;
    EXPECT_EQ(decode<msg::controller_write_response>(encode(resp, 0), 0), resp);
}

// ---------------------------------------------------------------- the core over the codec

// Three replicas whose every message goes through the wire: requests are encoded, decoded at
// the destination, and the responses are encoded at the request's version and decoded against
// the request in flight, as the broker will carry them.
TEST(raft_codec, replicas_elect_and_commit_over_the_wire) {
    struct node {
        test::memory_log log;
        test::memory_quorum_store store;
        std::unique_ptr<replica> r;
    };
    std::vector<std::unique_ptr<node>> nodes;
    time_ms now{0};
    for (int32_t id = 1; id <= 3; ++id) {
        replica_config c;
        c.id = n(id);
        c.voters = {n(1), n(2), n(3)};
        c.fetch_timeout = 200ms;
        c.election_timeout = 100ms;
        c.request_timeout = 50ms;
        c.fetch_idle_backoff = 10ms;
        auto& nd = *nodes.emplace_back(std::make_unique<node>());
        nd.r = std::make_unique<replica>(c, nd.log, nd.store, 7 + id, now);
    }
    auto at = [&](node_id id) -> node& { return *nodes[static_cast<size_t>(id.value() - 1)]; };
    // Requests in flight: (sender, request id) -> the request, its api key and version.
    struct sent {
        message_body request;
        int16_t api_key;
        int16_t api_version;
    };
    std::map<std::pair<int32_t, uint64_t>, sent> in_flight;
    size_t carried = 0;
    std::set<int32_t> cut_off;  // nodes whose messages are lost
    auto deliver = [&](const message& m) {
        if (cut_off.count(m.from.value()) != 0 || cut_off.count(m.to.value()) != 0) {
            return;
        }
        bool is_request = std::visit(
            [](const auto& b) {
                using T = std::decay_t<decltype(b)>;
                return std::is_same_v<T, vote_request> ||
                       std::is_same_v<T, begin_quorum_epoch_request> ||
                       std::is_same_v<T, end_quorum_epoch_request> ||
                       std::is_same_v<T, fetch_request> ||
                       std::is_same_v<T, fetch_snapshot_request>;
            },
            m.body);
        if (is_request) {
            auto wire = codec::encode_request(m, cluster);
            ASSERT_TRUE(wire);
            in_flight[{m.from.value(), m.request_id}] = {m.body, wire->api_key, wire->api_version};
            auto decoded = codec::decode_request(wire->api_key, wire->api_version,
                                                 wire->body.buffer(), m.to, cluster);
            ASSERT_TRUE(decoded.has_value());
            decoded->request_id = m.request_id;
            at(m.to).r->receive(*decoded, now);
        } else {
            auto it = in_flight.find({m.to.value(), m.request_id});
            ASSERT_NE(it, in_flight.end());
            const sent& s = it->second;
            protocol::writer w;
            codec::encode_response(m.body, s.api_key, s.api_version, w);
            auto body = codec::decode_response(s.request, s.api_version, w.buffer());
            ASSERT_TRUE(body);
            at(m.to).r->receive(message{m.from, m.to, m.request_id, std::move(*body)}, now);
        }
        ++carried;
    };
    auto step = [&](time_ms by) {
        now += by;
        for (auto& nd : nodes) {
            nd->r->tick(now);
        }
        for (int round = 0; round < 20; ++round) {
            std::vector<message> queue;
            for (auto& nd : nodes) {
                auto out = nd->r->take_output();
                queue.insert(queue.end(), out.messages.begin(), out.messages.end());
            }
            if (queue.empty()) {
                break;
            }
            for (const auto& m : queue) {
                deliver(m);
            }
        }
    };
    std::optional<node_id> leader;
    for (int i = 0; i < 200 && !leader; ++i) {
        step(5ms);
        for (auto& nd : nodes) {
            if (nd->r->current_role() == role::leader) {
                leader = nd->r->leader_id();
            }
        }
    }
    ASSERT_TRUE(leader);
    auto appended = at(*leader).r->append({"create topic a", "create topic b"}, now);
    ASSERT_TRUE(appended.has_value());
    for (int i = 0; i < 100; ++i) {
        step(5ms);
    }
    for (auto& nd : nodes) {
        EXPECT_GE(nd->r->high_watermark(), *appended + 2);
        auto entries = nd->log.read(off(0), 100);
        ASSERT_EQ(entries.size(), 3u);  // the leader change, then the two records
        EXPECT_EQ(entries[0].kind, entry_kind::leader_change);
        EXPECT_EQ(entries[1].data, "create topic a");
        EXPECT_EQ(entries[2].data, "create topic b");
    }
    EXPECT_GT(carried, 10u);

    // A follower away while the leader snapshots and trims its log comes back through
    // FetchSnapshot.
    node_id away = *leader == n(3) ? n(2) : n(3);
    cut_off.insert(away.value());
    auto more = at(*leader).r->append({"create topic c", "create topic d"}, now);
    ASSERT_TRUE(more.has_value());
    for (int i = 0; i < 20; ++i) {
        step(5ms);
    }
    kafka_offset end = at(*leader).r->high_watermark();
    ASSERT_EQ(end, *more + 2);
    at(*leader).r->take_snapshot({end, at(*leader).log.read(end - 1, 1).at(0).epoch}, "image");
    EXPECT_EQ(at(*leader).log.log_start_offset(), end);
    cut_off.clear();
    for (int i = 0; i < 100; ++i) {
        step(5ms);
    }
    auto& back = at(away);
    EXPECT_EQ(back.log.installs, 1);
    ASSERT_TRUE(back.log.latest_snapshot());
    EXPECT_EQ(back.log.latest_snapshot()->offset, end);
    EXPECT_EQ(back.log.read_snapshot(*back.log.latest_snapshot()), "image");
    EXPECT_GE(back.r->high_watermark(), end);
}

}  // namespace
}  // namespace riacho::raft
