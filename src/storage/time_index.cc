#include "storage/time_index.h"

#include "base/invariant.h"
#include "storage/file_io.h"

#include <algorithm>
#include <limits>
#include <system_error>
#include <utility>

namespace riacho::storage {

time_index::time_index(time_index&& o) noexcept
    : _path(std::move(o._path)),
      _fd(std::exchange(o._fd, -1)),
      _base(o._base),
      _max_entries(o._max_entries),
      _entries(std::move(o._entries)) {}

time_index& time_index::operator=(time_index&& o) noexcept {
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

time_index::~time_index() { close_fd(_fd); }

result<time_index, storage_errc> time_index::open(std::filesystem::path path,
                                                  kafka_offset base,
                                                  size_t max_entries) {
    auto fd = open_file_rw(path, true);
    if (!fd) {
        return unexpected{fd.error()};
    }
    time_index idx;
    idx._path = std::move(path);
    idx._fd = *fd;
    idx._base = base;
    idx._max_entries = max_entries;
    auto size = file_size(idx._fd);
    if (!size) {
        return unexpected{size.error()};
    }
    std::vector<uint8_t> bytes(*size - *size % time_index_entry_bytes);
    auto r = pread_full(idx._fd, bytes.data(), bytes.size(), 0);
    if (!r) {
        return unexpected{r.error()};
    }
    for (size_t i = 0; i + time_index_entry_bytes <= *r; i += time_index_entry_bytes) {
        auto ts = static_cast<int64_t>(get_be64(&bytes[i]));
        auto rel = static_cast<int32_t>(get_be32(&bytes[i + 8]));
        idx._entries.push_back({ts, base + rel});
    }
    if (*size != idx._entries.size() * time_index_entry_bytes) {
        auto t = truncate_file(idx._fd, idx._entries.size() * time_index_entry_bytes);
        if (!t) {
            return unexpected{t.error()};
        }
    }
    return idx;
}

status time_index::maybe_append(int64_t timestamp, kafka_offset offset) {
    if (timestamp <= last().timestamp) {
        return ok_status();
    }
    INVARIANT(!full(), "time index {} is full", _path.string());
    INVARIANT(_entries.empty() || offset >= _entries.back().offset, "time index offsets grow");
    int64_t rel = offset - _base;
    INVARIANT(rel >= 0 && rel <= std::numeric_limits<int32_t>::max(), "relative offset {}", rel);
    uint8_t buf[time_index_entry_bytes];
    put_be64(buf, static_cast<uint64_t>(timestamp));
    put_be32(buf + 8, static_cast<uint32_t>(rel));
    auto w = pwrite_all(_fd, buf, sizeof(buf), _entries.size() * time_index_entry_bytes);
    if (!w) {
        return w;
    }
    _entries.push_back({timestamp, offset});
    return ok_status();
}

kafka_offset time_index::lookup(int64_t target) const {
    auto it = std::upper_bound(_entries.begin(), _entries.end(), target,
                               [](int64_t t, const entry& e) { return t < e.timestamp; });
    if (it == _entries.begin()) {
        return _base;
    }
    return std::prev(it)->offset;
}

status time_index::truncate_to_offset(kafka_offset offset) {
    auto it = std::lower_bound(_entries.begin(), _entries.end(), offset,
                               [](const entry& e, kafka_offset o) { return e.offset < o; });
    _entries.erase(it, _entries.end());
    return truncate_file(_fd, _entries.size() * time_index_entry_bytes);
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

void time_index::flush() { sync_file(_fd, _path); }

status time_index::remove_file() {
    std::error_code ec;
    std::filesystem::remove(_path, ec);
    return ec ? status{unexpected{storage_errc::io_error}} : ok_status();
}

}  // namespace riacho::storage
