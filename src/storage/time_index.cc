#include "storage/time_index.h"

#include "base/invariant.h"
#include "storage/file_io.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace riacho::storage {

result<time_index, storage_errc> time_index::open(std::filesystem::path path,
                                                  kafka_offset base,
                                                  size_t max_entries,
                                                  bool* existed) {
    time_index idx;
    idx._file = index_file(std::move(path), time_index_entry_bytes);
    idx._base = base;
    idx._max_entries = max_entries;
    auto bytes = idx._file.load();
    if (!bytes) {
        return unexpected{bytes.error()};
    }
    if (existed != nullptr) {
        *existed = bytes->has_value();
    }
    if (*bytes) {
        const auto& b = **bytes;
        for (size_t i = 0; i + time_index_entry_bytes <= b.size(); i += time_index_entry_bytes) {
            auto ts = static_cast<int64_t>(get_be64(&b[i]));
            auto rel = static_cast<int32_t>(get_be32(&b[i + 8]));
            idx._entries.push_back({ts, base + rel});
        }
    }
    return idx;
}

void time_index::maybe_append(int64_t timestamp, kafka_offset offset) {
    if (timestamp <= last().timestamp) {
        return;
    }
    INVARIANT(!full(), "time index {} is full", _file.path().string());
    INVARIANT(_entries.empty() || offset >= _entries.back().offset, "time index offsets grow");
    int64_t rel = offset - _base;
    INVARIANT(rel >= 0 && rel <= std::numeric_limits<int32_t>::max(), "relative offset {}", rel);
    _entries.push_back({timestamp, offset});
}

kafka_offset time_index::lookup(int64_t target) const {
    auto it = std::upper_bound(_entries.begin(), _entries.end(), target,
                               [](int64_t t, const entry& e) { return t < e.timestamp; });
    if (it == _entries.begin()) {
        return _base;
    }
    return std::prev(it)->offset;
}

void time_index::truncate_to_offset(kafka_offset offset) {
    auto it = std::lower_bound(_entries.begin(), _entries.end(), offset,
                               [](const entry& e, kafka_offset o) { return e.offset < o; });
    _entries.erase(it, _entries.end());
    _file.invalidate_from(_entries.size());
}

bool time_index::is_sane() const {
    for (size_t i = 0; i < _entries.size(); ++i) {
        if (_entries[i].offset < _base) {
            return false;
        }
        if (i > 0 && (_entries[i].timestamp <= _entries[i - 1].timestamp ||
                      _entries[i].offset < _entries[i - 1].offset)) {
            return false;
        }
    }
    return _entries.size() <= _max_entries;
}

status time_index::write_file(bool sync) {
    return _file.write(
        _entries.size(),
        [this](size_t i, uint8_t* out) {
            put_be64(out, static_cast<uint64_t>(_entries[i].timestamp));
            put_be32(out + 8, static_cast<uint32_t>(_entries[i].offset - _base));
        },
        sync);
}

}  // namespace riacho::storage
