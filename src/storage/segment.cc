#include "storage/segment.h"

#include "base/invariant.h"
#include "base/log.h"
#include "storage/file_io.h"
#include "storage/writeback.h"

#include <fmt/format.h>

#include <algorithm>
#include <fcntl.h>
#include <limits>
#include <sys/stat.h>
#include <system_error>
#include <vector>

namespace riacho::storage {

namespace {

using protocol::batch_header;
using protocol::batch_header_size;
using protocol::batch_log_overhead;

// Reads batch headers through a window buffer so that scanning many small batches costs one
// pread per window rather than one per batch.
class header_reader {
public:
    header_reader(int fd, uint64_t end) : _fd(fd), _end(end) {}

    // The 61 header bytes at `pos`, or nullptr if the file holds fewer (a torn tail).
    result<const uint8_t*, storage_errc> at(uint64_t pos) {
        if (pos + batch_header_size > _end) {
            return static_cast<const uint8_t*>(nullptr);
        }
        if (pos < _window_pos || pos + batch_header_size > _window_pos + _window_len) {
            size_t want = static_cast<size_t>(std::min<uint64_t>(window_bytes, _end - pos));
            auto r = pread_full(_fd, _buf.data(), want, pos);
            if (!r) {
                return unexpected{r.error()};
            }
            _window_pos = pos;
            _window_len = *r;
            if (_window_len < batch_header_size) {
                return static_cast<const uint8_t*>(nullptr);
            }
        }
        return _buf.data() + (pos - _window_pos);
    }

private:
    static constexpr size_t window_bytes = 4096;  // about one index interval
    int _fd;
    uint64_t _end;
    std::vector<uint8_t> _buf = std::vector<uint8_t>(window_bytes);
    uint64_t _window_pos = 0;
    size_t _window_len = 0;
};

constexpr int64_t max_relative_offset = std::numeric_limits<int32_t>::max();

}  // namespace

protocol::batch_header decode_batch_header(const uint8_t* p) {
    namespace o = protocol::batch_offsets;
    batch_header h;
    h.base_offset = static_cast<int64_t>(get_be64(p + o::base_offset));
    h.batch_length = static_cast<int32_t>(get_be32(p + o::batch_length));
    h.partition_leader_epoch = static_cast<int32_t>(get_be32(p + o::partition_leader_epoch));
    h.magic = static_cast<int8_t>(p[o::magic]);
    h.crc = get_be32(p + o::crc);
    h.attributes = static_cast<int16_t>(get_be16(p + o::attributes));
    h.last_offset_delta = static_cast<int32_t>(get_be32(p + o::last_offset_delta));
    h.base_timestamp = static_cast<int64_t>(get_be64(p + o::base_timestamp));
    h.max_timestamp = static_cast<int64_t>(get_be64(p + o::max_timestamp));
    h.producer_id = static_cast<int64_t>(get_be64(p + o::producer_id));
    h.producer_epoch = static_cast<int16_t>(get_be16(p + o::producer_epoch));
    h.base_sequence = static_cast<int32_t>(get_be32(p + o::base_sequence));
    h.records_count = static_cast<int32_t>(get_be32(p + o::records_count));
    return h;
}

std::string offset_file_name(kafka_offset o, std::string_view suffix) {
    return fmt::format("{:020d}{}", o.value(), suffix);
}

segment::segment(std::filesystem::path dir, kafka_offset base, const log_config& cfg)
    : _dir(std::move(dir)),
      _base(base),
      _cfg(cfg),
      _next_offset(base),
      _offset_of_max_timestamp(base) {}

segment::~segment() = default;  // _file's deleter closes the descriptor after the last reader

status segment::open_files(bool create) {
    auto log_path = _dir / offset_file_name(_base, ".log");
    auto fd = open_file_rw(log_path, true);
    if (!fd) {
        return unexpected{fd.error()};
    }
    _fd = *fd;
    _file = std::shared_ptr<const protocol::file_ref>(new protocol::file_ref{_fd},
                                                      [](const protocol::file_ref* f) {
                                                          close_fd(f->fd);
                                                          delete f;
                                                      });
    if (create) {
        auto t = truncate_file(_fd, 0);
        if (!t) {
            return t;
        }
    }
    auto size = file_size(_fd);
    if (!size) {
        return unexpected{size.error()};
    }
    _size_bytes = *size;
    bool offset_index_existed = false;
    bool time_index_existed = false;
    auto oi = offset_index::open(_dir / offset_file_name(_base, ".index"), _base,
                                 _cfg.segment_index_bytes / offset_index_entry_bytes,
                                 &offset_index_existed);
    if (!oi) {
        return unexpected{oi.error()};
    }
    _offset_index = std::move(oi).value();
    auto ti =
        time_index::open(_dir / offset_file_name(_base, ".timeindex"), _base,
                         _cfg.segment_index_bytes / time_index_entry_bytes, &time_index_existed);
    if (!ti) {
        return unexpected{ti.error()};
    }
    _time_index = std::move(ti).value();
    _indexes_missing = !offset_index_existed || !time_index_existed;
    if (create) {
        _offset_index.clear();
        _time_index.clear();
        // Empty files from the start, as Kafka's: the three files of a segment are there for
        // operators and tools (dump-log) even while the entries are only in memory.
        write_indexes(/*sync=*/false);
    }
    return ok_status();
}

result<std::unique_ptr<segment>, storage_errc> segment::create(const std::filesystem::path& dir,
                                                               kafka_offset base,
                                                               const log_config& cfg) {
    std::unique_ptr<segment> s(new segment(dir, base, cfg));
    auto st = s->open_files(true);
    if (!st) {
        return unexpected{st.error()};
    }
    return s;
}

result<std::unique_ptr<segment>, storage_errc> segment::open(const std::filesystem::path& dir,
                                                             kafka_offset base,
                                                             const log_config& cfg,
                                                             bool recover,
                                                             bool contiguous_offsets) {
    std::unique_ptr<segment> s(new segment(dir, base, cfg));
    s->_contiguous_offsets = contiguous_offsets;
    auto st = s->open_files(false);
    if (!st) {
        return unexpected{st.error()};
    }
    bool need_recovery = recover;
    if (!need_recovery && (s->_indexes_missing || !s->_offset_index.is_sane(s->_size_bytes) ||
                           !s->_time_index.is_sane())) {
        LOG_WARN("storage", "{}: index files missing or wrong, rebuilding",
                 (dir / offset_file_name(base, ".log")).string());
        need_recovery = true;
    }
    if (!need_recovery) {
        auto tail = s->load_tail();
        if (!tail) {
            LOG_WARN("storage", "{}: tail does not parse after a clean shutdown, recovering",
                     (dir / offset_file_name(base, ".log")).string());
            need_recovery = true;
        }
    }
    if (need_recovery) {
        auto r = s->recover(scan_mode::recovery);
        if (!r) {
            return unexpected{r.error()};
        }
    }
    return s;
}

result<uint64_t, storage_errc> segment::scan(uint64_t position,
                                             uint64_t end,
                                             kafka_offset expected_next,
                                             scan_mode mode,
                                             const batch_fn& fn) const {
    const bool strict = mode == scan_mode::recovery;
    header_reader headers(_fd, end);
    std::vector<uint8_t> body;
    while (position < end) {
        auto p = headers.at(position);
        if (!p) {
            return unexpected{p.error()};
        }
        if (*p == nullptr) {
            break;  // torn header
        }
        batch_header h = decode_batch_header(*p);
        uint64_t total = uint64_t(uint32_t(h.batch_length)) + batch_log_overhead;
        if (h.magic != protocol::batch_magic_v2 || h.batch_length < 0 ||
            total < batch_header_size || position + total > end || h.last_offset_delta < 0 ||
            h.base_offset < expected_next.value() ||
            (strict && _contiguous_offsets && h.base_offset != expected_next.value()) ||
            h.last_offset() - _base.value() > max_relative_offset) {
            break;
        }
        if (strict) {
            body.resize(total);
            auto r = pread_full(_fd, body.data(), total, position);
            if (!r) {
                return unexpected{r.error()};
            }
            if (*r != total || protocol::compute_batch_crc(body) != h.crc) {
                break;
            }
        }
        if (!fn(h, position)) {
            break;
        }
        expected_next = kafka_offset(h.last_offset() + 1);
        position += total;
    }
    return position;
}

status segment::account(const batch_header& h, uint64_t position, bool index) {
    kafka_offset last(h.last_offset());
    if (h.max_timestamp > _max_timestamp) {
        _max_timestamp = h.max_timestamp;
        _offset_of_max_timestamp = last;
    }
    if (index && _bytes_since_index_entry > _cfg.index_interval_bytes) {
        _offset_index.append(last, static_cast<uint32_t>(position));
        _time_index.maybe_append(_max_timestamp, _offset_of_max_timestamp);
        _bytes_since_index_entry = 0;
    }
    _bytes_since_index_entry += h.total_size_bytes();
    _next_offset = kafka_offset(h.last_offset() + 1);
    if (!_rolling_base_ms && h.max_timestamp >= 0) {
        _rolling_base_ms = h.max_timestamp;
    }
    return ok_status();
}

status segment::load_tail() {
    // Everything up to the last index entry is trusted; rescan from there to learn the next
    // offset, and combine the time index's last entry with the tail's timestamps.
    auto last_entry = _offset_index.last();
    auto last_time = _time_index.last();
    _max_timestamp = last_time.timestamp;
    _offset_of_max_timestamp = last_time.offset;
    _next_offset = _base;
    if (_size_bytes > 0) {
        // The first batch's timestamp anchors time-based rolling after a restart (as in Kafka).
        header_reader first(_fd, _size_bytes);
        auto p = first.at(0);
        if (!p || *p == nullptr) {
            return unexpected{storage_errc::corrupt};
        }
        auto h = decode_batch_header(*p);
        if (h.max_timestamp >= 0) {
            _rolling_base_ms = h.max_timestamp;
        }
    }
    bool first_batch = true;
    status st = ok_status();
    auto end =
        scan(last_entry.position, _size_bytes, _base, scan_mode::loose,
             [&](const batch_header& h, uint64_t pos) {
                 if (first_batch && !_offset_index.empty() &&
                     (pos != last_entry.position || h.last_offset() != last_entry.offset.value())) {
                     st = unexpected{storage_errc::corrupt};
                     return false;
                 }
                 first_batch = false;
                 // account() without indexing; recompute bytes since the last entry.
                 st = account(h, pos, false);
                 return bool(st);
             });
    if (!end) {
        return unexpected{end.error()};
    }
    if (!st) {
        return st;
    }
    if (*end != _size_bytes) {
        return unexpected{storage_errc::corrupt};
    }
    _bytes_since_index_entry = _size_bytes - last_entry.position;
    return ok_status();
}

status segment::recover(scan_mode mode) {
    _next_offset = _base;
    _max_timestamp = -1;
    _offset_of_max_timestamp = _base;
    _bytes_since_index_entry = 0;
    _rolling_base_ms.reset();
    _offset_index.clear();
    _time_index.clear();
    status st = ok_status();
    auto end = scan(0, _size_bytes, _base, mode, [&](const batch_header& h, uint64_t pos) {
        if (_offset_index.full() || _time_index.full()) {
            return false;  // cannot index more; truncate here like a roll would have
        }
        st = account(h, pos, true);
        return bool(st);
    });
    if (!end) {
        return unexpected{end.error()};
    }
    if (!st) {
        return st;
    }
    if (*end < _size_bytes) {
        _truncated_bytes = _size_bytes - *end;
        LOG_WARN("storage", "{}: truncating {} invalid bytes at position {} (next offset {})",
                 (_dir / offset_file_name(_base, ".log")).string(), _truncated_bytes, *end,
                 _next_offset.value());
        auto t = truncate_file(_fd, *end);
        _preallocated_end_bytes = 0;  // the truncation freed any reserve too
        if (!t) {
            return t;
        }
        // Durable at once, as in truncate_to: the recovery point does not move at open, and a
        // power loss must not bring the cut batches back under offsets appended again later.
        sync_file(_fd, _dir / offset_file_name(_base, ".log"));
        _size_bytes = *end;
    }
    return ok_status();
}

bool segment::should_roll(size_t batch_bytes, kafka_offset last_offset, int64_t now_ms) const {
    if (empty()) {
        return false;
    }
    return _size_bytes + batch_bytes > _cfg.segment_bytes ||
           (_rolling_base_ms && now_ms - *_rolling_base_ms > _cfg.segment_ms) ||
           _offset_index.full() || _time_index.full() || last_offset - _base > max_relative_offset;
}

status segment::append(std::span<const uint8_t> batch, const batch_header& header, int64_t now_ms) {
    INVARIANT(header.base_offset >= _next_offset.value(), "append at {} below next offset {}",
              header.base_offset, _next_offset.value());
    INVARIANT(batch.size() == header.total_size_bytes(), "batch size mismatch");
    INVARIANT(_size_bytes + batch.size() <= std::numeric_limits<uint32_t>::max(),
              "segment position overflow");
    if (_size_bytes + batch.size() > _preallocated_end_bytes) {
        preallocate(_size_bytes + batch.size());
    }
    auto w = pwrite_all(_fd, batch.data(), batch.size(), _size_bytes);
    if (!w) {
        // Keep the file equal to what the indexes describe; a partial write is cut off.
        (void)truncate_file(_fd, _size_bytes);
        _preallocated_end_bytes = 0;  // the truncation freed the reserve too
        return w;
    }
    uint64_t position = _size_bytes;
    _size_bytes += batch.size();
    if (!_rolling_base_ms) {
        _rolling_base_ms = now_ms;
    }
    start_writeback();
    return account(header, position, true);
}

void segment::preallocate(uint64_t end_bytes) {
    // Blocks reserved past the end of the file (FALLOC_FL_KEEP_SIZE: the size that readers,
    // recovery and retention see is unchanged) let each append write into allocated space,
    // where ext4 otherwise reserves delayed-allocation blocks page by page inside every write:
    // 2 GiB in 1 MiB pwrites took 0.32-0.34 s of CPU without, 0.21-0.24 s with (this VM,
    // ext4). The reserve grows with the segment, by its own size within 64 KiB..16 MiB, so
    // thousands of quiet partitions reserve little; release_preallocation gives back the rest.
    constexpr uint64_t min_step_bytes = 64u << 10;
    constexpr uint64_t max_step_bytes = 16u << 20;
    if (!_preallocation_supported) {
        return;
    }
    uint64_t from = std::max(_preallocated_end_bytes, _size_bytes);
    uint64_t step = std::clamp<uint64_t>(_size_bytes, min_step_bytes, max_step_bytes);
    uint64_t to = std::max(end_bytes, std::min<uint64_t>(from + step, _cfg.segment_bytes));
    if (::fallocate(_fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from),
                    static_cast<off_t>(to - from)) != 0) {
        // Not an error for the append: without the reserve the write allocates as it goes
        // (and reports a full disk itself). A filesystem without fallocate is not asked again.
        _preallocation_supported = errno != EOPNOTSUPP && errno != ENOSYS;
    }
    _preallocated_end_bytes = to;  // after a failure too: the next try is a step later
}

void segment::release_preallocation() {
    // fstat, not _preallocated_end_bytes: a segment reopened after a crash may still hold the
    // reserve its previous process made.
    struct stat st {};
    if (::fstat(_fd, &st) != 0) {
        return;
    }
    auto block_bytes = static_cast<uint64_t>(std::max<blksize_t>(st.st_blksize, 512));
    if (static_cast<uint64_t>(st.st_blocks) * 512 <=
        (_size_bytes + block_bytes - 1) / block_bytes * block_bytes) {
        return;
    }
    (void)truncate_file(_fd, _size_bytes);  // truncating to the same size frees blocks past it
    _preallocated_end_bytes = 0;
}

void segment::start_writeback() {
    // Without this the page cache may hold a whole segment (1 GiB) of dirty data when it
    // rolls, and the roll's fdatasync stalls every partition on this thread for as long as
    // the disk takes to write it (0.45 s measured). Asking the kernel to start writing each
    // 8 MiB as it fills keeps that flush short. It only starts IO, on another thread
    // (writeback.h): nothing waits here.
    constexpr uint64_t writeback_chunk_bytes = 8u << 20;
    if (_writeback_started_bytes > _size_bytes) {
        _writeback_started_bytes = 0;  // truncated meanwhile
    }
    if (_size_bytes - _writeback_started_bytes < writeback_chunk_bytes) {
        return;
    }
    start_writeback_async(_file, _writeback_started_bytes, _size_bytes - _writeback_started_bytes);
    _writeback_started_bytes = _size_bytes;
}

result<read_slice, storage_errc> segment::read(kafka_offset from,
                                               kafka_offset max_offset,
                                               size_t max_bytes,
                                               bool min_one_batch) const {
    read_slice out;
    auto first = find_batch(from);
    if (!first) {
        return unexpected{first.error()};
    }
    if (!*first || (*first)->header.last_offset() >= max_offset.value()) {
        return out;
    }
    const batch_header& h0 = (*first)->header;
    uint64_t size0 = h0.total_size_bytes();
    if (size0 > max_bytes && !min_one_batch) {
        return out;
    }
    out.file = _file;
    out.position = (*first)->position;
    out.first_offset = kafka_offset(h0.base_offset);
    out.next_offset = kafka_offset(h0.last_offset() + 1);
    uint64_t end_pos = out.position + size0;
    uint64_t limit = out.position + max_bytes;
    if (end_pos < limit) {
        // Jump with the offset index to the last indexed batch starting at or before the byte
        // limit: every batch before it ends before the limit and below max_offset (its last
        // offset is below the entry's). Then only the headers after it are read.
        auto jump = _offset_index.lookup_position(limit);
        bool jumped = jump.position > end_pos && jump.offset < max_offset;
        uint64_t from_pos = jumped ? uint64_t{jump.position} : end_pos;
        auto extend = [&](const batch_header& h, uint64_t pos) {
            if (jumped) {
                jumped = false;
                end_pos = pos;
                out.next_offset = kafka_offset(h.base_offset);
            }
            if (h.last_offset() >= max_offset.value() || pos + h.total_size_bytes() > limit) {
                return false;
            }
            end_pos = pos + h.total_size_bytes();
            out.next_offset = kafka_offset(h.last_offset() + 1);
            return true;
        };
        auto scanned = scan(from_pos, _size_bytes, _base, scan_mode::loose, extend);
        if (scanned && jumped) {
            // The index entry does not point at a batch: disk data is input, so fall back to
            // scanning every header.
            LOG_WARN("storage", "{}: bad offset index entry at position {}",
                     (_dir / offset_file_name(_base, ".index")).string(), from_pos);
            jumped = false;
            scanned = scan(end_pos, _size_bytes, _base, scan_mode::loose, extend);
        }
        if (!scanned) {
            return unexpected{scanned.error()};
        }
    }
    out.size_bytes = static_cast<uint32_t>(end_pos - out.position);
    return out;
}

result<std::optional<batch_location>, storage_errc> segment::find_batch(kafka_offset offset) const {
    std::optional<batch_location> found;
    auto start = _offset_index.lookup(offset);
    auto r = scan(start.position, _size_bytes, _base, scan_mode::loose,
                  [&](const batch_header& h, uint64_t pos) {
                      if (h.last_offset() < offset.value()) {
                          return true;
                      }
                      found = batch_location{h, pos};
                      return false;
                  });
    if (!r) {
        return unexpected{r.error()};
    }
    return found;
}

result<std::optional<batch_location>, storage_errc> segment::find_batch_by_timestamp(
    int64_t ts, kafka_offset min_offset) const {
    std::optional<batch_location> found;
    kafka_offset from = std::max(_time_index.lookup(ts), min_offset);
    auto start = _offset_index.lookup(from);
    auto r = scan(start.position, _size_bytes, _base, scan_mode::loose,
                  [&](const batch_header& h, uint64_t pos) {
                      if (h.last_offset() < min_offset.value() || h.max_timestamp < ts) {
                          return true;
                      }
                      found = batch_location{h, pos};
                      return false;
                  });
    if (!r) {
        return unexpected{r.error()};
    }
    return found;
}

status segment::for_each_batch(kafka_offset from, const batch_fn& fn) const {
    auto start = _offset_index.lookup(from);
    auto r = scan(start.position, _size_bytes, _base, scan_mode::loose,
                  [&](const batch_header& h, uint64_t pos) {
                      if (h.last_offset() < from.value()) {
                          return true;
                      }
                      return fn(h, pos);
                  });
    if (!r) {
        return unexpected{r.error()};
    }
    return ok_status();
}

result<std::vector<uint8_t>, storage_errc> segment::read_batch_bytes(
    const batch_location& loc) const {
    std::vector<uint8_t> bytes(loc.header.total_size_bytes());
    auto r = pread_full(_fd, bytes.data(), bytes.size(), loc.position);
    if (!r) {
        return unexpected{r.error()};
    }
    if (*r != bytes.size()) {
        return unexpected{storage_errc::corrupt};
    }
    return bytes;
}

status segment::truncate_to(kafka_offset offset) {
    auto loc = find_batch(offset);
    if (!loc) {
        return unexpected{loc.error()};
    }
    if (!*loc) {
        return ok_status();  // nothing at or after `offset`
    }
    auto t = truncate_file(_fd, (*loc)->position);
    _preallocated_end_bytes = 0;  // the truncation freed any reserve too
    if (!t) {
        return t;
    }
    // Durable before anything is appended in its place: after a power loss the cut batches
    // would otherwise come back (their bytes are valid) and the log would again hold what
    // replication truncated away to match its leader. Truncation is rare; the sync is cheap.
    sync_file(_fd, _dir / offset_file_name(_base, ".log"));
    _size_bytes = (*loc)->position;
    return recover(scan_mode::loose);  // the data was validated when written
}

void segment::on_roll() {
    // Make the last entry describe the segment's true max timestamp (Kafka does the same), so
    // a clean reopen can trust the time index without scanning.
    _time_index.maybe_append(_max_timestamp, _offset_of_max_timestamp);
    release_preallocation();
    flush();
    write_indexes(/*sync=*/true);
}

void segment::flush() { sync_file(_fd, _dir / offset_file_name(_base, ".log")); }

void segment::write_indexes(bool sync) {
    auto a = _offset_index.write_file(sync);
    auto b = _time_index.write_file(sync);
    if (!a || !b) {
        // Not fatal: the indexes in memory are right, and a missing or short file is rebuilt
        // or rescanned when the segment is next opened.
        LOG_WARN("storage", "{}: writing the index files failed",
                 (_dir / offset_file_name(_base, ".log")).string());
    }
}

status segment::remove_files() {
    std::error_code ec;
    std::filesystem::remove(_dir / offset_file_name(_base, ".log"), ec);
    auto a = _offset_index.remove_file();
    auto b = _time_index.remove_file();
    if (ec || !a || !b) {
        return unexpected{storage_errc::io_error};
    }
    return ok_status();
}

}  // namespace riacho::storage
