#include "protocol/control_record.h"

namespace riacho::protocol {

std::optional<txn_marker> parse_txn_marker(const record_view& record) {
    if (!record.key || record.key->size() < 4) {
        return std::nullopt;
    }
    const auto& key = *record.key;
    auto type = static_cast<int16_t>((key[2] << 8) | key[3]);
    if (type != static_cast<int16_t>(control_type::abort) &&
        type != static_cast<int16_t>(control_type::commit)) {
        return std::nullopt;
    }
    txn_marker out;
    out.commit = type == static_cast<int16_t>(control_type::commit);
    if (record.value && record.value->size() >= 6) {
        const auto& v = *record.value;
        out.coordinator_epoch =
            static_cast<int32_t>((uint32_t{v[2]} << 24) | (uint32_t{v[3]} << 16) |
                                 (uint32_t{v[4]} << 8) | uint32_t{v[5]});
    }
    return out;
}

std::optional<int16_t> parse_control_type(const record_view& record) {
    if (!record.key || record.key->size() < 4) {
        return std::nullopt;
    }
    const auto& key = *record.key;
    if ((key[0] & 0x80) != 0) {
        return std::nullopt;  // negative version
    }
    return static_cast<int16_t>((key[2] << 8) | key[3]);
}

std::vector<uint8_t> build_control_batch(control_type type,
                                         std::optional<std::vector<uint8_t>> value,
                                         int64_t timestamp_ms) {
    auto raw_type = static_cast<uint16_t>(type);
    batch_builder::record r;
    r.timestamp = timestamp_ms;
    r.key = std::vector<uint8_t>{0, 0, static_cast<uint8_t>(raw_type >> 8),
                                 static_cast<uint8_t>(raw_type)};
    r.value = std::move(value);
    batch_builder b;
    b.set_control(true);
    b.add(std::move(r));
    return b.build();
}

std::optional<txn_marker> parse_txn_marker(bytes_view batch) {
    auto header = parse_batch_header(batch);
    if (!header || !header->is_control() || !header->is_transactional()) {
        return std::nullopt;
    }
    std::vector<uint8_t> scratch;
    auto records = decode_records(batch, scratch, 1u << 16);
    if (!records || records->size() != 1) {
        return std::nullopt;
    }
    return parse_txn_marker((*records)[0]);
}

std::vector<uint8_t> build_txn_marker(int64_t producer_id,
                                      int16_t producer_epoch,
                                      txn_marker marker,
                                      int64_t timestamp_ms) {
    auto type = static_cast<uint16_t>(marker.commit ? control_type::commit : control_type::abort);
    auto epoch = static_cast<uint32_t>(marker.coordinator_epoch);
    batch_builder::record r;
    r.timestamp = timestamp_ms;
    r.key = std::vector<uint8_t>{0, 0, static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type)};
    r.value = std::vector<uint8_t>{0,
                                   0,
                                   static_cast<uint8_t>(epoch >> 24),
                                   static_cast<uint8_t>(epoch >> 16),
                                   static_cast<uint8_t>(epoch >> 8),
                                   static_cast<uint8_t>(epoch)};
    batch_builder b;
    b.set_producer(producer_id, producer_epoch, -1).set_transactional(true).set_control(true);
    b.add(std::move(r));
    return b.build();
}

}  // namespace riacho::protocol
