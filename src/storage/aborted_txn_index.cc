#include "storage/aborted_txn_index.h"

#include "protocol/crc32c.h"
#include "storage/file_io.h"

#include <algorithm>
#include <array>

namespace riacho::storage {

namespace {
constexpr size_t entry_bytes = 28;
constexpr const char* file_name = "aborted-transactions.index";

std::array<uint8_t, entry_bytes> encode_entry(const completed_txn& t) {
    std::array<uint8_t, entry_bytes> out{};
    put_be64(out.data(), static_cast<uint64_t>(t.id.value()));
    put_be64(out.data() + 8, static_cast<uint64_t>(t.first_offset.value()));
    put_be64(out.data() + 16, static_cast<uint64_t>(t.last_offset.value()));
    put_be32(out.data() + 24, protocol::crc32c(out.data(), 24));
    return out;
}
}  // namespace

aborted_txn_index::~aborted_txn_index() { close(); }

status aborted_txn_index::open(const std::filesystem::path& dir,
                               kafka_offset log_start,
                               kafka_offset keep_below) {
    close();
    _entries.clear();
    _path = dir / file_name;
    auto bytes = read_small_file(_path);
    if (!bytes) {
        return unexpected{bytes.error()};
    }
    bool dropped = false;
    if (*bytes) {
        const auto& b = **bytes;
        size_t pos = 0;
        for (; pos + entry_bytes <= b.size(); pos += entry_bytes) {
            const uint8_t* p = b.data() + pos;
            if (get_be32(p + 24) != protocol::crc32c(p, 24)) {
                break;
            }
            completed_txn t{producer_id(static_cast<int64_t>(get_be64(p))),
                            kafka_offset(static_cast<int64_t>(get_be64(p + 8))),
                            kafka_offset(static_cast<int64_t>(get_be64(p + 16)))};
            if (t.last_offset >= keep_below || t.last_offset < log_start ||
                (!_entries.empty() && t.last_offset <= _entries.back().last_offset)) {
                dropped = true;
                continue;
            }
            _entries.push_back(t);
        }
        dropped = dropped || pos != b.size();
    }
    if (dropped) {
        return rewrite();
    }
    return ok_status();
}

status aborted_txn_index::append(const completed_txn& t) {
    if (_fd < 0) {
        // Opened on the first abort only: most partitions never see one, and descriptors
        // per partition are what limits how many partitions a broker holds.
        auto fd = open_file_rw(_path, true);
        if (!fd) {
            return unexpected{fd.error()};
        }
        _fd = *fd;
    }
    auto e = encode_entry(t);
    auto st = pwrite_all(_fd, e.data(), e.size(), _entries.size() * entry_bytes);
    if (!st) {
        (void)truncate_file(_fd, _entries.size() * entry_bytes);
        return st;
    }
    _entries.push_back(t);
    _dirty = true;
    return ok_status();
}

std::vector<completed_txn> aborted_txn_index::overlapping(kafka_offset from,
                                                          kafka_offset upper_bound) const {
    std::vector<completed_txn> out;
    auto it =
        std::lower_bound(_entries.begin(), _entries.end(), from,
                         [](const completed_txn& t, kafka_offset o) { return t.last_offset < o; });
    for (; it != _entries.end(); ++it) {
        if (it->first_offset < upper_bound) {
            out.push_back(*it);
        }
    }
    return out;
}

status aborted_txn_index::truncate_from(kafka_offset offset) {
    auto keep = std::count_if(_entries.begin(), _entries.end(),
                              [&](const completed_txn& t) { return t.last_offset < offset; });
    if (static_cast<size_t>(keep) == _entries.size()) {
        return ok_status();
    }
    _entries.resize(static_cast<size_t>(keep));
    return rewrite();
}

status aborted_txn_index::prune_below(kafka_offset log_start) {
    auto first_kept = std::find_if(_entries.begin(), _entries.end(), [&](const completed_txn& t) {
        return t.last_offset >= log_start;
    });
    if (first_kept == _entries.begin()) {
        return ok_status();
    }
    _entries.erase(_entries.begin(), first_kept);
    return rewrite();
}

status aborted_txn_index::rewrite() {
    std::vector<uint8_t> bytes;
    bytes.reserve(_entries.size() * entry_bytes);
    for (const auto& t : _entries) {
        auto e = encode_entry(t);
        bytes.insert(bytes.end(), e.begin(), e.end());
    }
    close();
    if (bytes.empty()) {
        std::error_code ec;
        std::filesystem::remove(_path, ec);
        return ok_status();
    }
    return write_file_atomic(_path, bytes);
}

void aborted_txn_index::sync() {
    if (_dirty && _fd >= 0) {
        sync_file(_fd, _path);
        _dirty = false;
    }
}

void aborted_txn_index::close() {
    if (_fd >= 0) {
        sync();
        close_fd(_fd);
        _fd = -1;
    }
}

}  // namespace riacho::storage
