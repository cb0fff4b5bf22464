#include "storage/file_io.h"

#include "base/invariant.h"
#include "base/log.h"
#include "storage/io_observer.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace riacho::storage {

// The integration tests' sync journal (sync_journal.cc) when RIACHO_SYNC_JOURNAL is set: read
// once at start-up, so the IO path itself only tests this pointer.
io_observer* detail::installed_io_observer = sync_journal_from_env();

io_observer* set_io_observer(io_observer* o) {
    return std::exchange(detail::installed_io_observer, o);
}

const char* to_string(storage_errc e) {
    switch (e) {
        case storage_errc::offset_out_of_range:
            return "offset_out_of_range";
        case storage_errc::io_error:
            return "io_error";
        case storage_errc::corrupt:
            return "corrupt";
        case storage_errc::out_of_order_sequence:
            return "out_of_order_sequence";
        case storage_errc::invalid_producer_epoch:
            return "invalid_producer_epoch";
        case storage_errc::batch_too_large:
            return "batch_too_large";
        case storage_errc::invalid_batch:
            return "invalid_batch";
        case storage_errc::not_found:
            return "not_found";
        case storage_errc::already_exists:
            return "already_exists";
    }
    return "unknown";
}

result<int, storage_errc> open_file_rw(const std::filesystem::path& p, bool create) {
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    io_observer* observer = current_io_observer();
    struct stat before {};
    bool existed = observer != nullptr && ::stat(p.c_str(), &before) == 0;
    int fd = ::open(p.c_str(), flags, 0644);
    if (fd < 0) {
        LOG_ERROR("storage", "open {} failed: {}", p.string(), std::strerror(errno));
        return unexpected{storage_errc::io_error};
    }
    if (observer != nullptr) [[unlikely]] {
        observer->on_open(fd, p, !existed);
    }
    return fd;
}

status pwrite_all(int fd, const void* data, size_t n, uint64_t position) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
        ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(position));
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            LOG_ERROR("storage", "pwrite fd {} failed: {}", fd, std::strerror(errno));
            return unexpected{storage_errc::io_error};
        }
        if (io_observer* observer = current_io_observer(); observer != nullptr) [[unlikely]] {
            observer->on_write(fd, p, static_cast<size_t>(w), position);
        }
        p += w;
        n -= static_cast<size_t>(w);
        position += static_cast<uint64_t>(w);
    }
    return ok_status();
}

result<size_t, storage_errc> pread_full(int fd, void* data, size_t n, uint64_t position) {
    auto* p = static_cast<uint8_t*>(data);
    size_t done = 0;
    while (done < n) {
        ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(position + done));
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            LOG_ERROR("storage", "pread fd {} failed: {}", fd, std::strerror(errno));
            return unexpected{storage_errc::io_error};
        }
        if (r == 0) {
            break;
        }
        done += static_cast<size_t>(r);
    }
    return done;
}

result<uint64_t, storage_errc> file_size(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        LOG_ERROR("storage", "fstat fd {} failed: {}", fd, std::strerror(errno));
        return unexpected{storage_errc::io_error};
    }
    return static_cast<uint64_t>(st.st_size);
}

status truncate_file(int fd, uint64_t size) {
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
        LOG_ERROR("storage", "ftruncate fd {} failed: {}", fd, std::strerror(errno));
        return unexpected{storage_errc::io_error};
    }
    if (io_observer* observer = current_io_observer(); observer != nullptr) [[unlikely]] {
        observer->on_truncate(fd, size);
    }
    return ok_status();
}

void sync_file(int fd, const std::filesystem::path& what) {
    io_observer* observer = current_io_observer();
    if (observer == nullptr || !observer->replaces_real_syncs()) [[likely]] {
        int rc = ::fdatasync(fd);
        INVARIANT(rc == 0, "fdatasync of {} failed: {}", what.string(), std::strerror(errno));
    }
    if (observer != nullptr) [[unlikely]] {
        observer->on_sync(fd, what);
    }
}

void sync_dir(const std::filesystem::path& dir) {
    if (io_observer* observer = current_io_observer();
        observer != nullptr && observer->replaces_real_syncs()) [[unlikely]] {
        return;  // directory entries count as durable at once under the simulation
    }
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        // Out of descriptors, typically: not a failed write, so not fatal; what the caller
        // just created or renamed there may not survive a power loss.
        LOG_ERROR("storage", "cannot open {} to fsync it: {}", dir.string(), std::strerror(errno));
        return;
    }
    int rc = ::fsync(fd);
    INVARIANT(rc == 0, "fsync of dir {} failed: {}", dir.string(), std::strerror(errno));
    ::close(fd);
}

void close_fd(int fd) {
    if (fd >= 0) {
        if (io_observer* observer = current_io_observer(); observer != nullptr) [[unlikely]] {
            observer->on_close(fd);
        }
        ::close(fd);
    }
}

status write_file_atomic(const std::filesystem::path& p, std::span<const uint8_t> bytes) {
    std::filesystem::path tmp = p;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        LOG_ERROR("storage", "create {} failed: {}", tmp.string(), std::strerror(errno));
        return unexpected{storage_errc::io_error};
    }
    if (io_observer* observer = current_io_observer(); observer != nullptr) [[unlikely]] {
        observer->on_open(fd, tmp, /*created=*/true);  // O_TRUNC: the old contents are gone
    }
    auto w = pwrite_all(fd, bytes.data(), bytes.size(), 0);
    if (!w) {
        close_fd(fd);
        return w;
    }
    sync_file(fd, tmp);
    close_fd(fd);
    if (::rename(tmp.c_str(), p.c_str()) != 0) {
        LOG_ERROR("storage", "rename {} failed: {}", tmp.string(), std::strerror(errno));
        return unexpected{storage_errc::io_error};
    }
    sync_dir(p.parent_path());
    return ok_status();
}

result<std::optional<std::vector<uint8_t>>, storage_errc> read_small_file(
    const std::filesystem::path& p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return std::optional<std::vector<uint8_t>>{};
        }
        LOG_ERROR("storage", "open {} failed: {}", p.string(), std::strerror(errno));
        return unexpected{storage_errc::io_error};
    }
    auto size = file_size(fd);
    if (!size) {
        ::close(fd);
        return unexpected{size.error()};
    }
    std::vector<uint8_t> bytes(*size);
    auto r = pread_full(fd, bytes.data(), bytes.size(), 0);
    ::close(fd);
    if (!r) {
        return unexpected{r.error()};
    }
    bytes.resize(*r);
    return std::optional<std::vector<uint8_t>>{std::move(bytes)};
}

}  // namespace riacho::storage
