#include "group/records.h"

#include "protocol/messages/consumer_group_key.h"
#include "protocol/messages/consumer_group_member_key.h"
#include "protocol/messages/group_metadata_key.h"
#include "protocol/messages/offset_commit_key.h"

namespace riacho::group {

int32_t java_string_hash(std::string_view utf8) {
    // Decode UTF-8 to code points, then hash the UTF-16 code units (surrogate pairs above
    // U+FFFF). Invalid bytes count as U+FFFD, like Java's decoder.
    uint32_t h = 0;
    auto mix = [&](uint32_t unit) { h = h * 31u + unit; };
    size_t i = 0;
    while (i < utf8.size()) {
        auto c = static_cast<uint8_t>(utf8[i]);
        uint32_t cp = 0xFFFD;
        size_t len = 1;
        if (c < 0x80) {
            cp = c;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        }
        if (len > 1) {
            if (i + len > utf8.size()) {
                cp = 0xFFFD;
                len = 1;
            } else {
                for (size_t k = 1; k < len; ++k) {
                    cp = (cp << 6) | (static_cast<uint8_t>(utf8[i + k]) & 0x3F);
                }
            }
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            mix(0xD800 + (cp >> 10));
            mix(0xDC00 + (cp & 0x3FF));
        } else {
            mix(cp);
        }
        i += len;
    }
    return static_cast<int32_t>(h);
}

int32_t partition_for(std::string_view group_id, int32_t partitions) {
    int32_t h = java_string_hash(group_id);
    int32_t a = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
    return a % partitions;
}

namespace {
template <typename T>
std::vector<uint8_t> with_version(int16_t version, const T& body) {
    protocol::writer w;
    w.write_int16(version);
    body.encode(w, version);
    return std::move(w.buffer());
}
}  // namespace

std::vector<uint8_t> encode_offset_commit_key(const std::string& group,
                                              const std::string& topic,
                                              int32_t partition) {
    protocol::msg::offset_commit_key k;
    k.group = group;
    k.topic = topic;
    k.partition = partition;
    return with_version(offset_commit_key_version, k);
}

std::vector<uint8_t> encode_offset_commit_value(const protocol::msg::offset_commit_value& v) {
    return with_version(v.expire_timestamp >= 0 ? int16_t{1} : offset_commit_value_version, v);
}

std::vector<uint8_t> encode_group_metadata_key(const std::string& group) {
    protocol::msg::group_metadata_key k;
    k.group = group;
    return with_version(group_metadata_key_version, k);
}

std::vector<uint8_t> encode_group_metadata_value(const protocol::msg::group_metadata_value& v) {
    return with_version(group_metadata_value_version, v);
}

std::vector<uint8_t> encode_consumer_group_key(int16_t key_version, const std::string& group) {
    protocol::msg::consumer_group_key k;
    k.group_id = group;
    return with_version(key_version, k);
}

std::vector<uint8_t> encode_consumer_member_key(int16_t key_version,
                                                const std::string& group,
                                                const std::string& member) {
    protocol::msg::consumer_group_member_key k;
    k.group_id = group;
    k.member_id = member;
    return with_version(key_version, k);
}

namespace {
// Key versions 3 and 5-8; nullopt when the bytes do not parse.
std::optional<decoded_consumer_record> decode_consumer_record(
    int16_t key_version,
    protocol::reader& kr,
    std::optional<protocol::reader>& vr,
    std::optional<int16_t> value_version) {
    decoded_consumer_record out;
    out.key_version = key_version;
    if (key_version == consumer_group_epoch_key_version ||
        key_version == consumer_target_epoch_key_version) {
        protocol::msg::consumer_group_key k;
        k.decode(kr, key_version);
        out.group = k.group_id;
    } else {
        protocol::msg::consumer_group_member_key k;
        k.decode(kr, key_version);
        out.group = k.group_id;
        out.member = k.member_id;
    }
    if (!kr.ok()) {
        return std::nullopt;
    }
    if (!vr) {
        return out;
    }
    if (value_version != 0) {
        return std::nullopt;
    }
    out.tombstone = false;
    switch (key_version) {
        case consumer_group_epoch_key_version:
            out.group_epoch.decode(*vr, 0);
            break;
        case consumer_member_metadata_key_version:
            out.member_metadata.decode(*vr, 0);
            break;
        case consumer_target_epoch_key_version:
            out.target_epoch.decode(*vr, 0);
            break;
        case consumer_target_member_key_version:
            out.target.decode(*vr, 0);
            break;
        default:
            out.assignment.decode(*vr, 0);
            break;
    }
    if (!vr->ok()) {
        return std::nullopt;
    }
    return out;
}
}  // namespace

decoded_record decode_record(protocol::bytes_view key, std::optional<protocol::bytes_view> value) {
    protocol::reader kr(key);
    int16_t key_version = kr.read_int16();
    if (!kr.ok()) {
        return unknown_record{};
    }
    std::optional<int16_t> value_version;
    std::optional<protocol::reader> vr;
    if (value) {
        vr.emplace(*value);
        value_version = vr->read_int16();
    }
    if (key_version == 0 || key_version == 1) {
        protocol::msg::offset_commit_key k;
        k.decode(kr, key_version);
        if (!kr.ok()) {
            return unknown_record{};
        }
        decoded_offset_commit out{{k.group, k.topic, k.partition}, std::nullopt};
        if (vr) {
            if (*value_version < 0 || *value_version > 4) {
                return unknown_record{};
            }
            protocol::msg::offset_commit_value v;
            v.decode(*vr, *value_version);
            if (!vr->ok()) {
                return unknown_record{};
            }
            out.value = std::move(v);
        }
        return out;
    }
    if (key_version == 2) {
        protocol::msg::group_metadata_key k;
        k.decode(kr, key_version);
        if (!kr.ok()) {
            return unknown_record{};
        }
        decoded_group_metadata out{{k.group}, std::nullopt};
        if (vr) {
            if (*value_version < 0 || *value_version > 4) {
                return unknown_record{};
            }
            protocol::msg::group_metadata_value v;
            v.decode(*vr, *value_version);
            if (!vr->ok()) {
                return unknown_record{};
            }
            out.value = std::move(v);
        }
        return out;
    }
    if (key_version == 3 || (key_version >= 5 && key_version <= 8)) {
        if (auto c = decode_consumer_record(key_version, kr, vr, value_version)) {
            return std::move(*c);
        }
    }
    return unknown_record{};
}

}  // namespace riacho::group
