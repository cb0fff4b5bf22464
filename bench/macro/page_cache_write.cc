// page_cache_write: what it costs this machine to put new bytes into the page cache, the
// work every produce to a broker that keeps its log in files must do (and a broker that keeps
// records in its own recycled heap, like librdkafka's mock cluster, does not).
//
//   page_cache_write --dir DIR [--bytes N] [--chunk BYTES] [--idle-seconds S] [--preallocate]
//
// Three passes, each writing N bytes (default 1 GiB) to a new file in DIR with pwrite calls
// of --chunk bytes (default 1 MiB, a large produce batch), timing the writes alone (wall and
// this process's CPU) and then fdatasync-ing outside the timed part:
//   fresh   right after the process started: the pages come from memory the kernel has not
//           handed out recently;
//   reused  right after deleting the first pass's file: its freed pages are at hand;
//   idle    after deleting the second file and waiting --idle-seconds (default 5).
// On a VM whose balloon reports free pages to the host (virtio-balloon free page reporting),
// "reused" is fast and "fresh"/"idle" pay a host fault per page; on bare metal the three
// agree. --preallocate reserves the file's blocks first (fallocate KEEP_SIZE), as Riacho's
// segments do. One JSON line with each pass's MB/s and CPU seconds.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

double cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

[[noreturn]] void die(const std::string& what) {
    std::printf("{\"ok\":false,\"error\":\"%s: %s\"}\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

struct pass_result {
    double mb_per_s;
    double cpu_seconds;
};

pass_result write_file(const std::string& path,
                       int64_t bytes,
                       const std::vector<char>& chunk,
                       bool preallocate) {
    int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) {
        die("open " + path);
    }
    if (preallocate && ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, bytes) != 0) {
        die("fallocate " + path);
    }
    double wall0 = now_s();
    double cpu0 = cpu_s();
    auto step = static_cast<int64_t>(chunk.size());
    for (int64_t off = 0; off < bytes; off += step) {
        if (::pwrite(fd, chunk.data(), chunk.size(), off) != static_cast<ssize_t>(chunk.size())) {
            die("pwrite " + path);
        }
    }
    double wall = now_s() - wall0;
    double cpu = cpu_s() - cpu0;
    if (::fdatasync(fd) != 0) {
        die("fdatasync " + path);
    }
    ::close(fd);
    return {static_cast<double>(bytes) / 1e6 / wall, cpu};
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir;
    int64_t bytes = int64_t{1} << 30;
    int64_t chunk_bytes = 1 << 20;
    int idle_seconds = 5;
    bool preallocate = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "page_cache_write: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--dir") {
            dir = value();
        } else if (a == "--bytes") {
            bytes = std::atoll(value().c_str());
        } else if (a == "--chunk") {
            chunk_bytes = std::atoll(value().c_str());
        } else if (a == "--idle-seconds") {
            idle_seconds = std::atoi(value().c_str());
        } else if (a == "--preallocate") {
            preallocate = true;
        } else {
            std::fprintf(stderr, "page_cache_write: unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    if (dir.empty() || bytes <= 0 || chunk_bytes <= 0 || idle_seconds < 0) {
        std::fprintf(stderr,
                     "usage: page_cache_write --dir DIR [--bytes N] [--chunk BYTES] "
                     "[--idle-seconds S] [--preallocate]\n");
        return 2;
    }
    bytes = (bytes + chunk_bytes - 1) / chunk_bytes * chunk_bytes;
    std::vector<char> chunk(static_cast<size_t>(chunk_bytes), 'x');
    std::string first = dir + "/page_cache_write.1";
    std::string second = dir + "/page_cache_write.2";
    std::string third = dir + "/page_cache_write.3";
    pass_result fresh = write_file(first, bytes, chunk, preallocate);
    ::unlink(first.c_str());
    pass_result reused = write_file(second, bytes, chunk, preallocate);
    ::unlink(second.c_str());
    std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
    pass_result idle = write_file(third, bytes, chunk, preallocate);
    ::unlink(third.c_str());
    std::printf(
        "{\"ok\":true,\"bytes\":%lld,\"chunk\":%lld,\"preallocate\":%s,\"idle_seconds\":%d,"
        "\"fresh_mb_per_s\":%.1f,\"fresh_cpu_s\":%.3f,\"reused_mb_per_s\":%.1f,"
        "\"reused_cpu_s\":%.3f,\"idle_mb_per_s\":%.1f,\"idle_cpu_s\":%.3f}\n",
        static_cast<long long>(bytes), static_cast<long long>(chunk_bytes),
        preallocate ? "true" : "false", idle_seconds, fresh.mb_per_s, fresh.cpu_seconds,
        reused.mb_per_s, reused.cpu_seconds, idle.mb_per_s, idle.cpu_seconds);
    return 0;
}
