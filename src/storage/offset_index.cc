#include "storage/offset_index.h"

#include "base/invariant.h"
#include "storage/file_io.h"

#include <algorithm>
#include <limits>
#include <system_error>
#include <utility>

namespace riacho::storage {

offset_index::offset_index(offset_index&& o) noexcept
    : _path(std::move(o._path)),
      _fd(std::exchange(o._fd, -1)),
      _base(o._base),
      _max_entries(o._max_entries),
      _entries(std::move(o._entries)) {}

offset_index& offset_index::operator=(offset_index&& o) noexcept {
    if (this != &o) {
        close_fd(_fd);
        _path = std::move(o._path);
        _fd = std::exchange(o._fd, -1);
        _base = o._base;
        _max_entries = o._max_entries;
        _entries = std::move(o._entries);
    }
    return *this;
}

offset_index::~offset_index() { close_fd(_fd); }

result<offset_index, storage_errc> offset_index::open(std::filesystem::path path,
                                                      kafka_offset base,
                                                      size_t max_entries) {
    auto fd = open_file_rw(path, true);
    if (!fd) {
        return unexpected{fd.error()};
    }
    offset_index idx;
    idx._path = std::move(path);
    idx._fd = *fd;
    idx._base = base;
    idx._max_entries = max_entries;
    auto size = file_size(idx._fd);
    if (!size) {
        return unexpected{size.error()};
    }
    std::vector<uint8_t> bytes(*size - *size % offset_index_entry_bytes);
    auto r = pread_full(idx._fd, bytes.data(), bytes.size(), 0);
    if (!r) {
        return unexpected{r.error()};
    }
    idx._entries.reserve(*r / offset_index_entry_bytes);
    for (size_t i = 0; i + offset_index_entry_bytes <= *r; i += offset_index_entry_bytes) {
        auto rel = static_cast<int32_t>(get_be32(&bytes[i]));
        idx._entries.push_back({base + rel, get_be32(&bytes[i + 4])});
    }
    if (*size != idx._entries.size() * offset_index_entry_bytes) {
        auto t = truncate_file(idx._fd, idx._entries.size() * offset_index_entry_bytes);
        if (!t) {
            return unexpected{t.error()};
        }
    }
    return idx;
}

status offset_index::append(kafka_offset offset, uint32_t position) {
    INVARIANT(!full(), "offset index {} is full", _path.string());
    INVARIANT(_entries.empty() ||
                  (offset > _entries.back().offset && position > _entries.back().position),
              "offset index {} entries must grow", _path.string());
    int64_t rel = offset - _base;
    INVARIANT(rel >= 0 && rel <= std::numeric_limits<int32_t>::max(), "relative offset {}", rel);
    uint8_t buf[offset_index_entry_bytes];
    put_be32(buf, static_cast<uint32_t>(rel));
    put_be32(buf + 4, position);
    auto w = pwrite_all(_fd, buf, sizeof(buf), _entries.size() * offset_index_entry_bytes);
    if (!w) {
        return w;
    }
    _entries.push_back({offset, position});
    return ok_status();
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

status offset_index::truncate_to_position(uint64_t position) {
    auto it = std::lower_bound(_entries.begin(), _entries.end(), position,
                               [](const entry& e, uint64_t p) { return uint64_t{e.position} < p; });
    _entries.erase(it, _entries.end());
    return truncate_file(_fd, _entries.size() * offset_index_entry_bytes);
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

void offset_index::flush() { sync_file(_fd, _path); }

status offset_index::remove_file() {
    std::error_code ec;
    std::filesystem::remove(_path, ec);
    return ec ? status{unexpected{storage_errc::io_error}} : ok_status();
}

}  // namespace riacho::storage
