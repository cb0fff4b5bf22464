// group: the records of the internal topic __consumer_offsets, in Kafka's formats (key = int16
// key version + key struct, value = int16 value version + value struct or null for a
// tombstone): committed offsets (key versions 0/1) and classic group metadata (key version 2).
// Pure functions, no state; any thread. Bytes read back are input: decode() never crashes on
// garbage, it reports a record it cannot use.
// Formats: docs/formats/consumer-offsets.md.
#pragma once

#include "protocol/messages/consumer_group_current_member_assignment_value.h"
#include "protocol/messages/consumer_group_member_metadata_value.h"
#include "protocol/messages/consumer_group_metadata_value.h"
#include "protocol/messages/consumer_group_target_assignment_member_value.h"
#include "protocol/messages/consumer_group_target_assignment_metadata_value.h"
#include "protocol/messages/group_metadata_value.h"
#include "protocol/messages/offset_commit_value.h"
#include "protocol/wire.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace riacho::group {

inline constexpr const char* offsets_topic = "__consumer_offsets";
inline constexpr int16_t offset_commit_key_version = 1;    // Kafka writes 1
inline constexpr int16_t offset_commit_value_version = 3;  // v1 only with an explicit expiry
inline constexpr int16_t group_metadata_key_version = 2;
inline constexpr int16_t group_metadata_value_version = 3;

// The consumer group protocol's records (KIP-848), each key version with value version 0.
inline constexpr int16_t consumer_group_epoch_key_version = 3;        // group -> epoch
inline constexpr int16_t consumer_member_metadata_key_version = 5;    // member -> subscription
inline constexpr int16_t consumer_target_epoch_key_version = 6;       // group -> assignment epoch
inline constexpr int16_t consumer_target_member_key_version = 7;      // member -> target
inline constexpr int16_t consumer_member_assignment_key_version = 8;  // member -> current

// Java's String.hashCode over UTF-16 code units, as Kafka computes it for partitioning.
int32_t java_string_hash(std::string_view utf8);
// abs(hashCode) % partitions with abs(INT_MIN) = 0, as Kafka's Utils.abs.
int32_t partition_for(std::string_view group_id, int32_t partitions);

// One record to append to __consumer_offsets-<partition>.
struct offsets_record {
    int32_t partition = 0;
    std::vector<uint8_t> key;
    std::optional<std::vector<uint8_t>> value;  // nullopt = tombstone
    // A transactional offset commit's producer (-1: an ordinary record).
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
};

std::vector<uint8_t> encode_offset_commit_key(const std::string& group,
                                              const std::string& topic,
                                              int32_t partition);
std::vector<uint8_t> encode_offset_commit_value(const protocol::msg::offset_commit_value& v);
std::vector<uint8_t> encode_group_metadata_key(const std::string& group);
std::vector<uint8_t> encode_group_metadata_value(const protocol::msg::group_metadata_value& v);

std::vector<uint8_t> encode_consumer_group_key(int16_t key_version, const std::string& group);
std::vector<uint8_t> encode_consumer_member_key(int16_t key_version,
                                                const std::string& group,
                                                const std::string& member);
// A value of the consumer group records: int16 version 0 then the struct.
template <typename Value>
std::vector<uint8_t> encode_consumer_value(const Value& v) {
    protocol::writer w;
    w.write_int16(0);
    v.encode(w, 0);
    return std::move(w.buffer());
}

struct offset_commit_key {
    std::string group;
    std::string topic;
    int32_t partition = 0;
};
struct group_metadata_key {
    std::string group;
};
// A decoded record: which key, and the value (nullopt = tombstone).
struct decoded_offset_commit {
    offset_commit_key key;
    std::optional<protocol::msg::offset_commit_value> value;
};
struct decoded_group_metadata {
    group_metadata_key key;
    std::optional<protocol::msg::group_metadata_value> value;
};
// A consumer group protocol record: which key version says which value is set.
struct decoded_consumer_record {
    int16_t key_version = 0;
    std::string group;
    std::string member;  // empty for the group-level keys (3, 6)
    bool tombstone = true;
    protocol::msg::consumer_group_metadata_value group_epoch;                     // 3
    protocol::msg::consumer_group_member_metadata_value member_metadata;          // 5
    protocol::msg::consumer_group_target_assignment_metadata_value target_epoch;  // 6
    protocol::msg::consumer_group_target_assignment_member_value target;          // 7
    protocol::msg::consumer_group_current_member_assignment_value assignment;     // 8
};
struct unknown_record {};  // another key version (share groups, ...) or garbage
using decoded_record = std::
    variant<unknown_record, decoded_offset_commit, decoded_group_metadata, decoded_consumer_record>;

decoded_record decode_record(protocol::bytes_view key, std::optional<protocol::bytes_view> value);

}  // namespace riacho::group
