#include "storage/sync_tracker.h"

#include "base/invariant.h"

#include <algorithm>
#include <fcntl.h>
#include <random>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace riacho::storage {

namespace {

constexpr uint64_t page_bytes = 4096;

// Raw whole-file IO, deliberately not through file_io.h: the tracker must not observe itself.
std::vector<uint8_t> read_whole(const std::filesystem::path& p) {
    std::vector<uint8_t> out;
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return out;
    }
    uint8_t buf[65536];
    for (;;) {
        ssize_t r = ::read(fd, buf, sizeof(buf));
        if (r <= 0) {
            break;
        }
        out.insert(out.end(), buf, buf + r);
    }
    ::close(fd);
    return out;
}

void write_whole(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
    // O_TRUNC keeps the inode of an existing file (and so the tracker's identity of it).
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    INVARIANT(fd >= 0, "sync_tracker: cannot rewrite {}", p.string());
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
        INVARIANT(w > 0, "sync_tracker: write to {} failed", p.string());
        done += static_cast<size_t>(w);
    }
    ::close(fd);
}

void apply_write(std::vector<uint8_t>& image, uint64_t position, const uint8_t* data, size_t n) {
    if (image.size() < position + n) {
        image.resize(position + n, 0);
    }
    std::copy(data, data + n, image.begin() + static_cast<ptrdiff_t>(position));
}

}  // namespace

sync_tracker::~sync_tracker() { uninstall(); }

void sync_tracker::install() {
    io_observer* previous = set_io_observer(this);
    INVARIANT(previous == nullptr || previous == this, "another io_observer is installed");
    _installed = true;
}

void sync_tracker::uninstall() {
    if (_installed) {
        set_io_observer(nullptr);
        _installed = false;
    }
}

std::optional<sync_tracker::file_id> sync_tracker::id_of_fd(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return std::nullopt;
    }
    return file_id{st.st_dev, st.st_ino};
}

std::optional<sync_tracker::file_id> sync_tracker::id_of_path(const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return std::nullopt;
    }
    return file_id{st.st_dev, st.st_ino};
}

sync_tracker::tracked_file* sync_tracker::file_of_fd(int fd) {
    auto it = _fds.find(fd);
    if (it == _fds.end()) {
        return nullptr;
    }
    auto f = _files.find(it->second);
    return f == _files.end() ? nullptr : &f->second;
}

void sync_tracker::on_open(int fd, const std::filesystem::path& path, bool created) {
    auto id = id_of_fd(fd);
    if (!id) {
        return;
    }
    std::lock_guard lock(_mutex);
    _fds[fd] = *id;
    auto it = _files.find(*id);
    if (created) {
        // A new file (maybe reusing the inode of a deleted one): nothing of it is durable.
        _files[*id] = tracked_file{path, {}, {}};
    } else if (it == _files.end()) {
        // It predates the tracker: assume what is there is durable.
        _files[*id] = tracked_file{path, read_whole(path), {}};
    } else {
        it->second.path = path;
    }
    count_op();
}

void sync_tracker::on_write(int fd, const void* data, size_t n, uint64_t position) {
    std::lock_guard lock(_mutex);
    if (tracked_file* f = file_of_fd(fd)) {
        const auto* p = static_cast<const uint8_t*>(data);
        f->pending.push_back(pending_op{false, position, std::vector<uint8_t>(p, p + n)});
    }
    count_op();
}

void sync_tracker::on_truncate(int fd, uint64_t size_bytes) {
    std::lock_guard lock(_mutex);
    if (tracked_file* f = file_of_fd(fd)) {
        f->pending.push_back(pending_op{true, size_bytes, {}});
    }
    count_op();
}

void sync_tracker::on_sync(int fd, const std::filesystem::path&) {
    std::lock_guard lock(_mutex);
    if (tracked_file* f = file_of_fd(fd)) {
        for (const auto& op : f->pending) {
            if (op.truncate) {
                f->durable.resize(op.position, 0);
            } else {
                apply_write(f->durable, op.position, op.bytes.data(), op.bytes.size());
            }
        }
        f->pending.clear();
    }
    count_op();
}

void sync_tracker::on_close(int fd) {
    std::lock_guard lock(_mutex);
    _fds.erase(fd);
}

std::optional<uint64_t> sync_tracker::durable_size(const std::filesystem::path& path) const {
    auto id = id_of_path(path);
    std::lock_guard lock(_mutex);
    if (!id) {
        return std::nullopt;
    }
    auto it = _files.find(*id);
    if (it == _files.end()) {
        return std::nullopt;
    }
    return it->second.durable.size();
}

std::vector<std::filesystem::path> sync_tracker::files_under(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> paths;
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (id_of_path(it->path())) {
            paths.push_back(it->path());
        }
    }
    std::sort(paths.begin(), paths.end());  // the same seed tears the same files
    return paths;
}

std::vector<uint8_t> sync_tracker::power_loss_image(const tracked_file& f,
                                                    crash_mode mode,
                                                    std::mt19937_64& rng) {
    auto coin = [&] { return (rng() & 1) == 1; };
    std::vector<uint8_t> image = f.durable;
    if (mode == crash_mode::torn_prefix && !f.pending.empty()) {
        size_t whole = static_cast<size_t>(rng() % (f.pending.size() + 1));
        for (size_t i = 0; i < whole; ++i) {
            const auto& op = f.pending[i];
            if (op.truncate) {
                image.resize(op.position, 0);
            } else {
                apply_write(image, op.position, op.bytes.data(), op.bytes.size());
            }
        }
        if (whole < f.pending.size() && !f.pending[whole].truncate &&
            !f.pending[whole].bytes.empty()) {
            const auto& op = f.pending[whole];
            size_t part = static_cast<size_t>(rng() % op.bytes.size());
            apply_write(image, op.position, op.bytes.data(), part);
        }
    } else if (mode == crash_mode::torn_pages) {
        for (const auto& op : f.pending) {
            if (op.truncate) {
                if (coin()) {
                    image.resize(op.position, 0);
                }
                continue;
            }
            uint64_t pos = op.position;
            uint64_t end = op.position + op.bytes.size();
            while (pos < end) {
                uint64_t page_end = std::min(end, (pos / page_bytes + 1) * page_bytes);
                if (coin()) {
                    apply_write(image, pos, op.bytes.data() + (pos - op.position),
                                static_cast<size_t>(page_end - pos));
                }
                pos = page_end;
            }
        }
    }
    return image;
}

std::vector<sync_tracker::file_image> sync_tracker::capture(const std::filesystem::path& dir,
                                                            crash_mode mode,
                                                            uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<file_image> out;
    for (const auto& path : files_under(dir)) {
        auto it = _files.find(*id_of_path(path));
        out.push_back(file_image{
            path, it == _files.end() ? read_whole(path) : power_loss_image(it->second, mode, rng)});
    }
    return out;
}

crash_stats sync_tracker::restore(const std::filesystem::path& dir,
                                  const std::vector<file_image>& images) {
    crash_stats stats;
    std::set<std::filesystem::path> wanted;
    for (const auto& img : images) {
        wanted.insert(img.path);
    }
    // Directory entries made after the moment of the power loss go (they were durable at once
    // in this model, so exactly those that did not exist then).
    std::error_code ec;
    for (const auto& path : files_under(dir)) {
        if (!wanted.contains(path)) {
            stats.files_changed += 1;
            stats.bytes_dropped += std::filesystem::file_size(path, ec);
            std::filesystem::remove(path, ec);
        }
    }
    std::set<file_id> seen;
    for (const auto& img : images) {
        auto before = read_whole(img.path);
        if (!std::filesystem::exists(img.path) || before != img.bytes) {
            stats.files_changed += 1;
            uint64_t common = 0;
            while (common < before.size() && common < img.bytes.size() &&
                   before[common] == img.bytes[common]) {
                ++common;
            }
            stats.bytes_dropped += before.size() - common;
            write_whole(img.path, img.bytes);
        }
        auto id = id_of_path(img.path);
        INVARIANT(id.has_value(), "sync_tracker: {} vanished", img.path.string());
        seen.insert(*id);
        // What the disk holds after the power loss is all durable.
        _files[*id] = tracked_file{img.path, img.bytes, {}};
    }
    // Forget files under `dir` that are gone: their inode may be reused by a file the tracker
    // never sees opened.
    for (auto it = _files.begin(); it != _files.end();) {
        bool under_dir = it->second.path.native().starts_with(dir.native());
        it = under_dir && !seen.contains(it->first) ? _files.erase(it) : std::next(it);
    }
    return stats;
}

crash_stats sync_tracker::crash(const std::filesystem::path& dir, crash_mode mode, uint64_t seed) {
    std::lock_guard lock(_mutex);
    return restore(dir, capture(dir, mode, seed));
}

void sync_tracker::arm_power_loss(const std::filesystem::path& dir,
                                  uint64_t after_ops,
                                  crash_mode mode,
                                  uint64_t seed) {
    std::lock_guard lock(_mutex);
    _armed = armed_power_loss{dir, after_ops, mode, seed};
    _captured.reset();
}

void sync_tracker::count_op() {
    if (_armed && !_captured) {
        if (_armed->ops_left == 0) {
            _captured = capture(_armed->dir, _armed->mode, _armed->seed);
        } else {
            _armed->ops_left -= 1;
        }
    }
}

bool sync_tracker::power_loss_captured() const {
    std::lock_guard lock(_mutex);
    return _captured.has_value();
}

crash_stats sync_tracker::restore_power_loss() {
    std::lock_guard lock(_mutex);
    INVARIANT(_armed && _captured, "restore_power_loss without a captured power loss");
    auto stats = restore(_armed->dir, *_captured);
    _armed.reset();
    _captured.reset();
    return stats;
}

void sync_tracker::disarm() {
    std::lock_guard lock(_mutex);
    _armed.reset();
    _captured.reset();
}

}  // namespace riacho::storage
