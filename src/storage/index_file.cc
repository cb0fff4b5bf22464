#include "storage/index_file.h"

#include "storage/file_io.h"

#include <system_error>

namespace riacho::storage {

result<std::optional<std::vector<uint8_t>>, storage_errc> index_file::load() {
    auto bytes = read_small_file(_path);
    if (!bytes) {
        return unexpected{bytes.error()};
    }
    _clean_entries = 0;
    _file_bytes.reset();
    _unsynced = false;
    if (!*bytes) {
        return bytes;
    }
    _file_bytes = (*bytes)->size();
    (*bytes)->resize((*bytes)->size() - (*bytes)->size() % _entry_bytes);
    _clean_entries = (*bytes)->size() / _entry_bytes;
    return bytes;
}

status index_file::write(size_t total_entries, const encode_fn& encode, bool sync) {
    uint64_t total_bytes = uint64_t{total_entries} * _entry_bytes;
    size_t first = std::min(_clean_entries, total_entries);
    if (first == total_entries && _file_bytes == total_bytes && (!sync || !_unsynced)) {
        return ok_status();
    }
    auto fd = open_file_rw(_path, true);
    if (!fd) {
        return unexpected{fd.error()};
    }
    std::vector<uint8_t> tail((total_entries - first) * _entry_bytes);
    for (size_t i = first; i < total_entries; ++i) {
        encode(i, tail.data() + (i - first) * _entry_bytes);
    }
    status st = pwrite_all(*fd, tail.data(), tail.size(), uint64_t{first} * _entry_bytes);
    if (st && _file_bytes != total_bytes) {
        st = truncate_file(*fd, total_bytes);
    }
    if (st && sync) {
        sync_file(*fd, _path);
    }
    close_fd(*fd);
    if (!st) {
        _file_bytes.reset();  // unknown: rewrite and cut it whole next time
        _clean_entries = 0;
        return st;
    }
    _clean_entries = total_entries;
    _file_bytes = total_bytes;
    _unsynced = !sync;
    return ok_status();
}

status index_file::remove() {
    std::error_code ec;
    std::filesystem::remove(_path, ec);
    _clean_entries = 0;
    _file_bytes.reset();
    return ec ? status{unexpected{storage_errc::io_error}} : ok_status();
}

}  // namespace riacho::storage
