// Golden bytes: requests captured from real clients (kcat/librdkafka 2.0.2, confluent-kafka's
// librdkafka, kafka-python, the Java client 3.9 and 4.1) by golden/capture.py, committed as
// <client>-<api key>-v<version>.bin. Each must decode with the generated decoder, consume every
// byte, and re-encode to exactly the same bytes. A second test round-trips every API x version
// of the generated request and response types, empty and populated.
#include "protocol/messages/alter_configs.h"
#include "protocol/messages/api_catalog.h"
#include "protocol/messages/api_versions.h"
#include "protocol/messages/create_partitions.h"
#include "protocol/messages/create_topics.h"
#include "protocol/messages/delete_records.h"
#include "protocol/messages/delete_topics.h"
#include "protocol/messages/describe_cluster.h"
#include "protocol/messages/describe_configs.h"
#include "protocol/messages/fetch.h"
#include "protocol/messages/find_coordinator.h"
#include "protocol/messages/incremental_alter_configs.h"
#include "protocol/messages/init_producer_id.h"
#include "protocol/messages/list_offsets.h"
#include "protocol/messages/metadata.h"
#include "protocol/messages/produce.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <typeinfo>
#include <vector>

namespace riacho::protocol {
namespace {

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <typename Message>
void expect_exact_round_trip(bytes_view body, int16_t version, const std::string& what) {
    reader r(body);
    Message m;
    m.decode(r, version);
    ASSERT_TRUE(r.ok()) << what << ": does not decode";
    EXPECT_EQ(r.remaining(), 0u) << what << ": trailing bytes";
    writer w;
    m.encode(w, version);
    EXPECT_EQ(w.buffer(), std::vector<uint8_t>(body.begin(), body.end()))
        << what << ": re-encoding differs";
}

// Calls fn.template operator()<request type>() for the API with this key.
template <typename Fn>
bool with_request_type(int16_t key, Fn&& fn) {
    switch (key) {
        case msg::produce_request::api_key:
            fn.template operator()<msg::produce_request>();
            return true;
        case msg::fetch_request::api_key:
            fn.template operator()<msg::fetch_request>();
            return true;
        case msg::list_offsets_request::api_key:
            fn.template operator()<msg::list_offsets_request>();
            return true;
        case msg::metadata_request::api_key:
            fn.template operator()<msg::metadata_request>();
            return true;
        case msg::find_coordinator_request::api_key:
            fn.template operator()<msg::find_coordinator_request>();
            return true;
        case msg::api_versions_request::api_key:
            fn.template operator()<msg::api_versions_request>();
            return true;
        case msg::create_topics_request::api_key:
            fn.template operator()<msg::create_topics_request>();
            return true;
        case msg::delete_topics_request::api_key:
            fn.template operator()<msg::delete_topics_request>();
            return true;
        case msg::init_producer_id_request::api_key:
            fn.template operator()<msg::init_producer_id_request>();
            return true;
        case msg::describe_configs_request::api_key:
            fn.template operator()<msg::describe_configs_request>();
            return true;
        case msg::create_partitions_request::api_key:
            fn.template operator()<msg::create_partitions_request>();
            return true;
        case msg::describe_cluster_request::api_key:
            fn.template operator()<msg::describe_cluster_request>();
            return true;
        case msg::alter_configs_request::api_key:
            fn.template operator()<msg::alter_configs_request>();
            return true;
        case msg::incremental_alter_configs_request::api_key:
            fn.template operator()<msg::incremental_alter_configs_request>();
            return true;
        case msg::delete_records_request::api_key:
            fn.template operator()<msg::delete_records_request>();
            return true;
        default:
            return false;
    }
}

TEST(golden_requests, every_captured_request_decodes_and_reencodes_exactly) {
    std::filesystem::path dir =
        std::filesystem::path(RIACHO_SOURCE_DIR) / "tests/unit/protocol/golden";
    size_t checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".bin") {
            continue;
        }
        std::string name = entry.path().filename().string();
        auto frame = read_file(entry.path());
        reader header(frame);
        int16_t key = header.read_int16();
        int16_t version = header.read_int16();
        header.read_int32();  // correlation id
        header.read_nullable_string(false);
        const api_info* api = find_api(key);
        ASSERT_NE(api, nullptr) << name;
        bool flexible =
            key == msg::api_versions_request::api_key ? version >= 3 : api->is_flexible(version);
        if (flexible) {
            header.skip_tagged_fields();
        }
        ASSERT_TRUE(header.ok()) << name << ": header";
        bytes_view body = bytes_view(frame).subspan(header.position());
        bool known = with_request_type(key, [&]<typename Request>() {
            expect_exact_round_trip<Request>(body, version, name);
        });
        EXPECT_TRUE(known) << name << ": no request type for api " << key;
        ++checked;
    }
    EXPECT_GE(checked, 40u) << "golden files missing from " << dir;
}

template <typename Message>
void round_trip_all_versions(Message populated) {
    for (int16_t v = Message::min_version; v <= Message::max_version; ++v) {
        for (const Message& m : {Message{}, populated}) {
            writer w;
            m.encode(w, v);
            reader r(w.buffer());
            Message back;
            back.decode(r, v);
            ASSERT_TRUE(r.ok()) << typeid(Message).name() << " version " << v;
            EXPECT_EQ(r.remaining(), 0u) << "version " << v;
            writer again;
            back.encode(again, v);
            EXPECT_EQ(again.buffer(), w.buffer()) << "version " << v;
        }
    }
}

TEST(generated_messages, every_api_and_version_round_trips) {
    msg::produce_request produce;
    produce.transactional_id = "tx";
    produce.acks = -1;
    produce.topic_data.push_back({"topic", {{3, records_data::from_memory({})}}});
    round_trip_all_versions(produce);
    msg::produce_response produce_resp;
    produce_resp.responses.push_back({"topic", {}});
    produce_resp.responses[0].partition_responses.emplace_back();
    produce_resp.responses[0].partition_responses[0].error_message = "bad";
    produce_resp.responses[0].partition_responses[0].current_leader.leader_id = 7;
    round_trip_all_versions(produce_resp);

    msg::fetch_request fetch;
    fetch.topics.emplace_back();
    fetch.topics[0].topic = "t";
    fetch.topics[0].partitions.emplace_back();
    fetch.topics[0].partitions[0].fetch_offset = 42;
    fetch.rack_id = "rack";
    round_trip_all_versions(fetch);
    msg::fetch_response fetch_resp;
    fetch_resp.responses.emplace_back();
    fetch_resp.responses[0].partitions.emplace_back();
    fetch_resp.responses[0].partitions[0].aborted_transactions.emplace();
    fetch_resp.responses[0].partitions[0].records = records_data::from_memory({});
    round_trip_all_versions(fetch_resp);

    msg::metadata_request metadata;
    metadata.topics.emplace();
    metadata.topics->emplace_back();
    metadata.topics->back().name = "t";
    round_trip_all_versions(metadata);
    msg::metadata_response metadata_resp;
    metadata_resp.brokers.push_back({1, "host", 9092, std::nullopt});
    metadata_resp.topics.emplace_back();
    metadata_resp.topics[0].name = "t";
    metadata_resp.topics[0].partitions.emplace_back();
    metadata_resp.topics[0].partitions[0].replica_nodes = {1, 2};
    round_trip_all_versions(metadata_resp);

    round_trip_all_versions(msg::api_versions_request{});
    msg::api_versions_response versions_resp;
    versions_resp.api_keys.push_back({18, 0, 4});
    versions_resp.finalized_features_epoch = 5;
    round_trip_all_versions(versions_resp);
    round_trip_all_versions(msg::list_offsets_request{});
    round_trip_all_versions(msg::list_offsets_response{});
    round_trip_all_versions(msg::create_topics_request{});
    msg::create_topics_response create_resp;
    create_resp.topics.emplace_back();
    create_resp.topics[0].configs.emplace();
    round_trip_all_versions(create_resp);
    round_trip_all_versions(msg::delete_topics_request{});
    round_trip_all_versions(msg::delete_topics_response{});
    round_trip_all_versions(msg::create_partitions_request{});
    round_trip_all_versions(msg::create_partitions_response{});
    round_trip_all_versions(msg::describe_configs_request{});
    round_trip_all_versions(msg::describe_configs_response{});
    round_trip_all_versions(msg::init_producer_id_request{});
    round_trip_all_versions(msg::init_producer_id_response{});
    round_trip_all_versions(msg::describe_cluster_request{});
    round_trip_all_versions(msg::describe_cluster_response{});
    round_trip_all_versions(msg::find_coordinator_request{});
    round_trip_all_versions(msg::find_coordinator_response{});
    round_trip_all_versions(msg::alter_configs_request{});
    round_trip_all_versions(msg::alter_configs_response{});
    msg::incremental_alter_configs_request incremental;
    incremental.resources.emplace_back();
    incremental.resources[0].resource_type = 2;
    incremental.resources[0].resource_name = "topic";
    incremental.resources[0].configs.push_back({"retention.ms", 0, "1000"});
    incremental.resources[0].configs.push_back({"segment.ms", 1, std::nullopt});
    round_trip_all_versions(incremental);
    round_trip_all_versions(msg::incremental_alter_configs_response{});
    msg::delete_records_request delete_records;
    delete_records.topics.push_back({"topic", {{0, 40}, {1, -1}}});
    delete_records.timeout_ms = 30000;
    round_trip_all_versions(delete_records);
    round_trip_all_versions(msg::delete_records_response{});
}

}  // namespace
}  // namespace riacho::protocol
