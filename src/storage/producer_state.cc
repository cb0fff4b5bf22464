#include "storage/producer_state.h"

#include "base/log.h"
#include "protocol/crc32c.h"
#include "storage/file_io.h"
#include "storage/segment.h"

#include <algorithm>
#include <limits>
#include <system_error>

namespace riacho::storage {

namespace {

// v2 added each producer's open transaction and coordinator epoch; v1 is still read.
constexpr int16_t snapshot_version = 2;
constexpr size_t snapshot_header_bytes = 2 + 4 + 4;  // version, crc, producer count
constexpr size_t snapshot_producer_bytes_v1 = 8 + 2 + 8 + 4;
constexpr size_t snapshot_producer_bytes = snapshot_producer_bytes_v1 + 8 + 4;
constexpr size_t snapshot_batch_bytes = 4 + 4 + 8 + 8;
constexpr std::string_view snapshot_suffix = ".snapshot";

bool has_sequence(const protocol::batch_header& h) {
    return h.producer_id >= 0 && h.base_sequence >= 0 && !h.is_control();
}

}  // namespace

int32_t next_sequence(int32_t seq) {
    return seq == std::numeric_limits<int32_t>::max() ? 0 : seq + 1;
}

int32_t last_sequence_of(const protocol::batch_header& h) {
    int64_t s = int64_t{h.base_sequence} + h.last_offset_delta;
    return static_cast<int32_t>(s % (int64_t{std::numeric_limits<int32_t>::max()} + 1));
}

result<std::optional<producer_batch>, storage_errc> producer_state::check(
    const protocol::batch_header& h) const {
    if (h.is_control() && h.producer_id >= 0) {
        auto it = _producers.find(producer_id(h.producer_id));
        if (it != _producers.end() && producer_epoch(h.producer_epoch) < it->second.epoch) {
            return unexpected{storage_errc::invalid_producer_epoch};
        }
        return std::optional<producer_batch>{};
    }
    if (!has_sequence(h)) {
        return std::optional<producer_batch>{};
    }
    auto it = _producers.find(producer_id(h.producer_id));
    if (it == _producers.end()) {
        return std::optional<producer_batch>{};  // unknown producer: accepted (Kafka 4)
    }
    const producer_entry& e = it->second;
    producer_epoch epoch(h.producer_epoch);
    if (epoch < e.epoch) {
        return unexpected{storage_errc::invalid_producer_epoch};
    }
    if (epoch > e.epoch) {
        if (h.base_sequence != 0) {
            return unexpected{storage_errc::out_of_order_sequence};
        }
        return std::optional<producer_batch>{};
    }
    int32_t last_seq = last_sequence_of(h);
    for (const auto& b : e.batches) {
        if (b.first_sequence == h.base_sequence && b.last_sequence == last_seq) {
            return std::optional<producer_batch>{b};
        }
    }
    if (e.batches.empty()) {
        return std::optional<producer_batch>{};  // epoch known (e.g. from a marker), no data yet
    }
    if (h.base_sequence != next_sequence(e.batches.back().last_sequence)) {
        return unexpected{storage_errc::out_of_order_sequence};
    }
    return std::optional<producer_batch>{};
}

void producer_state::update(const protocol::batch_header& h) {
    if (h.producer_id < 0) {
        return;
    }
    producer_epoch epoch(h.producer_epoch);
    auto [it, inserted] = _producers.try_emplace(producer_id(h.producer_id));
    producer_entry& e = it->second;
    if (inserted || epoch > e.epoch) {
        e.epoch = epoch;
        e.batches.clear();
    }
    e.last_timestamp = std::max(e.last_timestamp, h.max_timestamp);
    if (epoch < e.epoch) {
        return;
    }
    if (h.is_transactional() && !h.is_control() && !e.current_txn_first_offset) {
        e.current_txn_first_offset = kafka_offset(h.base_offset);
        _open_txns.emplace(kafka_offset(h.base_offset), producer_id(h.producer_id));
    }
    if (!has_sequence(h)) {
        return;
    }
    e.batches.push_back({h.base_sequence, last_sequence_of(h), kafka_offset(h.base_offset),
                         kafka_offset(h.last_offset())});
    while (e.batches.size() > batches_retained) {
        e.batches.pop_front();
    }
}

std::optional<completed_txn> producer_state::end_txn(const protocol::batch_header& h,
                                                     int32_t coordinator_epoch) {
    if (h.producer_id < 0) {
        return std::nullopt;
    }
    update(h);  // the marker's epoch may be newer (a coordinator that fenced the producer)
    producer_entry& e = _producers[producer_id(h.producer_id)];
    e.coordinator_epoch = coordinator_epoch;
    if (!e.current_txn_first_offset) {
        return std::nullopt;
    }
    completed_txn done{producer_id(h.producer_id), *e.current_txn_first_offset,
                       kafka_offset(h.base_offset)};
    _open_txns.erase(*e.current_txn_first_offset);
    e.current_txn_first_offset.reset();
    return done;
}

std::optional<kafka_offset> producer_state::first_unstable_offset() const {
    if (_open_txns.empty()) {
        return std::nullopt;
    }
    return _open_txns.begin()->first;
}

void producer_state::rebuild_open_txns() {
    _open_txns.clear();
    for (const auto& [id, e] : _producers) {
        if (e.current_txn_first_offset) {
            _open_txns.emplace(*e.current_txn_first_offset, id);
        }
    }
}

const producer_entry* producer_state::find(producer_id id) const {
    auto it = _producers.find(id);
    return it == _producers.end() ? nullptr : &it->second;
}

bool producer_state::operator==(const producer_state& o) const {
    if (_producers.size() != o._producers.size()) {
        return false;
    }
    for (const auto& [id, e] : _producers) {
        const producer_entry* f = o.find(id);
        if (f == nullptr || f->epoch != e.epoch || f->batches != e.batches ||
            f->last_timestamp != e.last_timestamp ||
            f->current_txn_first_offset != e.current_txn_first_offset ||
            f->coordinator_epoch != e.coordinator_epoch) {
            return false;
        }
    }
    return true;
}

std::vector<uint8_t> producer_state::encode() const {
    // Sorted by producer id so the same state always encodes to the same bytes.
    std::vector<producer_id> ids;
    ids.reserve(_producers.size());
    for (const auto& [id, e] : _producers) {
        ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    std::vector<uint8_t> out(snapshot_header_bytes);
    put_be16(out.data(), static_cast<uint16_t>(snapshot_version));
    put_be32(out.data() + 6, static_cast<uint32_t>(ids.size()));
    for (producer_id id : ids) {
        const producer_entry& e = _producers.at(id);
        size_t at = out.size();
        out.resize(at + snapshot_producer_bytes + e.batches.size() * snapshot_batch_bytes);
        uint8_t* p = out.data() + at;
        put_be64(p, static_cast<uint64_t>(id.value()));
        put_be16(p + 8, static_cast<uint16_t>(e.epoch.value()));
        put_be64(p + 10, static_cast<uint64_t>(e.last_timestamp));
        put_be32(p + 18, static_cast<uint32_t>(e.batches.size()));
        put_be64(p + 22, static_cast<uint64_t>(
                             e.current_txn_first_offset.value_or(kafka_offset(-1)).value()));
        put_be32(p + 30, static_cast<uint32_t>(e.coordinator_epoch));
        p += snapshot_producer_bytes;
        for (const auto& b : e.batches) {
            put_be32(p, static_cast<uint32_t>(b.first_sequence));
            put_be32(p + 4, static_cast<uint32_t>(b.last_sequence));
            put_be64(p + 8, static_cast<uint64_t>(b.first_offset.value()));
            put_be64(p + 16, static_cast<uint64_t>(b.last_offset.value()));
            p += snapshot_batch_bytes;
        }
    }
    uint32_t crc = protocol::crc32c(out.data() + 6, out.size() - 6);
    put_be32(out.data() + 2, crc);
    return out;
}

result<producer_state, storage_errc> producer_state::decode(std::span<const uint8_t> bytes) {
    if (bytes.size() < snapshot_header_bytes) {
        return unexpected{storage_errc::corrupt};
    }
    auto version = static_cast<int16_t>(get_be16(bytes.data()));
    if ((version != 1 && version != snapshot_version) ||
        get_be32(bytes.data() + 2) != protocol::crc32c(bytes.data() + 6, bytes.size() - 6)) {
        return unexpected{storage_errc::corrupt};
    }
    size_t producer_bytes = version == 1 ? snapshot_producer_bytes_v1 : snapshot_producer_bytes;
    producer_state s;
    uint32_t count = get_be32(bytes.data() + 6);
    size_t pos = snapshot_header_bytes;
    for (uint32_t i = 0; i < count; ++i) {
        if (bytes.size() - pos < producer_bytes) {
            return unexpected{storage_errc::corrupt};
        }
        const uint8_t* p = bytes.data() + pos;
        producer_id id(static_cast<int64_t>(get_be64(p)));
        producer_entry e;
        e.epoch = producer_epoch(static_cast<int16_t>(get_be16(p + 8)));
        e.last_timestamp = static_cast<int64_t>(get_be64(p + 10));
        uint32_t batches = get_be32(p + 18);
        if (version >= 2) {
            auto first = static_cast<int64_t>(get_be64(p + 22));
            if (first >= 0) {
                e.current_txn_first_offset = kafka_offset(first);
            }
            e.coordinator_epoch = static_cast<int32_t>(get_be32(p + 30));
        }
        pos += producer_bytes;
        if (batches > batches_retained || (bytes.size() - pos) < batches * snapshot_batch_bytes) {
            return unexpected{storage_errc::corrupt};
        }
        for (uint32_t b = 0; b < batches; ++b) {
            const uint8_t* q = bytes.data() + pos;
            e.batches.push_back({static_cast<int32_t>(get_be32(q)),
                                 static_cast<int32_t>(get_be32(q + 4)),
                                 kafka_offset(static_cast<int64_t>(get_be64(q + 8))),
                                 kafka_offset(static_cast<int64_t>(get_be64(q + 16)))});
            pos += snapshot_batch_bytes;
        }
        s._producers.emplace(id, std::move(e));
    }
    if (pos != bytes.size()) {
        return unexpected{storage_errc::corrupt};
    }
    s.rebuild_open_txns();
    return s;
}

std::vector<kafka_offset> producer_state::list_snapshots(const std::filesystem::path& dir) {
    std::vector<kafka_offset> out;
    std::error_code ec;
    for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
        auto name = de.path().filename().string();
        if (name.size() != 20 + snapshot_suffix.size() || !name.ends_with(snapshot_suffix)) {
            continue;
        }
        auto digits = name.substr(0, 20);
        if (!std::all_of(digits.begin(), digits.end(),
                         [](char c) { return c >= '0' && c <= '9'; })) {
            continue;
        }
        out.emplace_back(std::stoll(digits));
    }
    std::sort(out.begin(), out.end());
    return out;
}

status producer_state::write_snapshot(const std::filesystem::path& dir, kafka_offset offset) const {
    auto bytes = encode();
    return write_file_atomic(dir / offset_file_name(offset, snapshot_suffix), bytes);
}

std::optional<std::pair<kafka_offset, producer_state>> producer_state::load_latest_snapshot(
    const std::filesystem::path& dir, kafka_offset max_offset) {
    auto offsets = list_snapshots(dir);
    for (auto it = offsets.rbegin(); it != offsets.rend(); ++it) {
        if (*it > max_offset) {
            continue;
        }
        auto path = dir / offset_file_name(*it, snapshot_suffix);
        auto bytes = read_small_file(path);
        if (!bytes || !*bytes) {
            continue;
        }
        auto s = decode(**bytes);
        if (!s) {
            LOG_WARN("storage", "{}: corrupt producer snapshot, skipping", path.string());
            continue;
        }
        return std::make_pair(*it, std::move(s).value());
    }
    return std::nullopt;
}

void producer_state::remove_snapshots_above(const std::filesystem::path& dir, kafka_offset offset) {
    for (kafka_offset o : list_snapshots(dir)) {
        if (o > offset) {
            std::error_code ec;
            std::filesystem::remove(dir / offset_file_name(o, snapshot_suffix), ec);
        }
    }
}

void producer_state::retain_snapshots(const std::filesystem::path& dir, size_t keep) {
    auto offsets = list_snapshots(dir);
    for (size_t i = 0; i + keep < offsets.size(); ++i) {
        std::error_code ec;
        std::filesystem::remove(dir / offset_file_name(offsets[i], snapshot_suffix), ec);
    }
}

}  // namespace riacho::storage
