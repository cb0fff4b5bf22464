#include "storage/offset_index.h"

#include "base/invariant.h"
#include "storage/file_io.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace riacho::storage {

result<offset_index, storage_errc> offset_index::open(std::filesystem::path path,
                                                      kafka_offset base,
                                                      size_t max_entries,
                                                      bool* existed) {
    offset_index idx;
    idx._file = index_file(std::move(path), offset_index_entry_bytes);
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
        idx._entries.reserve(b.size() / offset_index_entry_bytes);
        for (size_t i = 0; i + offset_index_entry_bytes <= b.size();
             i += offset_index_entry_bytes) {
            auto rel = static_cast<int32_t>(get_be32(&b[i]));
            idx._entries.push_back({base + rel, get_be32(&b[i + 4])});
        }
    }
    return idx;
}

void offset_index::append(kafka_offset offset, uint32_t position) {
    INVARIANT(!full(), "offset index {} is full", path().string());
    INVARIANT(_entries.empty() ||
                  (offset > _entries.back().offset && position > _entries.back().position),
              "offset index {} entries must grow", path().string());
    int64_t rel = offset - _base;
    INVARIANT(rel >= 0 && rel <= std::numeric_limits<int32_t>::max(), "relative offset {}", rel);
    _entries.push_back({offset, position});
}

offset_index::entry offset_index::lookup(kafka_offset target) const {
    auto it = std::upper_bound(_entries.begin(), _entries.end(), target,
                               [](kafka_offset t, const entry& e) { return t < e.offset; });
    if (it == _entries.begin()) {
        return {_base, 0};
    }
    return *std::prev(it);
}

offset_index::entry offset_index::lookup_position(uint64_t position) const {
    auto it = std::upper_bound(_entries.begin(), _entries.end(), position,
                               [](uint64_t p, const entry& e) { return p < uint64_t{e.position}; });
    if (it == _entries.begin()) {
        return {_base, 0};
    }
    return *std::prev(it);
}

void offset_index::truncate_to_position(uint64_t position) {
    auto it = std::lower_bound(_entries.begin(), _entries.end(), position,
                               [](const entry& e, uint64_t p) { return uint64_t{e.position} < p; });
    _entries.erase(it, _entries.end());
    _file.invalidate_from(_entries.size());
}

bool offset_index::is_sane(uint64_t log_size) const {
    for (size_t i = 0; i < _entries.size(); ++i) {
        if (_entries[i].offset < _base || _entries[i].position >= log_size) {
            return false;
        }
        if (i > 0 && (_entries[i].offset <= _entries[i - 1].offset ||
                      _entries[i].position <= _entries[i - 1].position)) {
            return false;
        }
    }
    return _entries.size() <= _max_entries;
}

status offset_index::write_file(bool sync) {
    return _file.write(
        _entries.size(),
        [this](size_t i, uint8_t* out) {
            put_be32(out, static_cast<uint32_t>(_entries[i].offset - _base));
            put_be32(out + 4, _entries[i].position);
        },
        sync);
}

}  // namespace riacho::storage
