// sendfile_rate: this machine's ceiling for serving page-cached log bytes to a consumer:
// sendfile(2) from files (read once first, so they are in the page cache) to a loopback TCP
// socket that a reader thread drains with recv() into a 1 MiB buffer and discards.
//
//   sendfile_rate [--chunk BYTES] [--passes N] [--min-bytes BYTES] FILE...
//
// Each pass opens a fresh connection, sends every FILE whole (in sendfile calls of at most
// --chunk bytes, default 1 MiB, like one fetch's partition data), repeating the list until
// at least --min-bytes (default 1 GiB) went out, and times first sendfile -> the reader
// has received the last byte. Two ways, N passes each, alternating: streaming (the reader
// drains while the sender sends) and lockstep (the reader asks for each chunk with one byte
// and reads it whole before asking again, as a consumer's fetches do). On loopback neither
// is always faster (lockstep avoids the two threads contending for one socket), so the
// ceiling is the better of the two medians. One JSON line: each way's passes, and the
// ceiling's median and best.
// bench/matrix.py runs it on the segment files Riacho wrote for a matrix cell, so the
// ceiling and Riacho's consume rate are over the same bytes.
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

[[noreturn]] void die(const std::string& what) {
    std::printf("{\"ok\":false,\"error\":\"%s: %s\"}\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

struct file_info {
    std::string path;
    int fd;
    int64_t size;
};

}  // namespace

int main(int argc, char** argv) {
    int64_t chunk = 1 << 20;
    int passes = 5;
    int64_t min_bytes = int64_t{1} << 30;
    std::vector<file_info> files;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--chunk" || a == "--passes" || a == "--min-bytes") && i + 1 < argc) {
            const int64_t v = std::stoll(argv[++i]);
            if (a == "--chunk") {
                chunk = v;
            } else if (a == "--min-bytes") {
                min_bytes = v;
            } else {
                passes = static_cast<int>(v);
            }
        } else {
            int fd = open(a.c_str(), O_RDONLY);
            if (fd < 0) {
                die("open " + a);
            }
            struct stat st {};
            fstat(fd, &st);
            if (st.st_size > 0) {
                files.push_back({a, fd, st.st_size});
            } else {
                close(fd);
            }
        }
    }
    if (files.empty() || chunk <= 0 || passes <= 0) {
        std::fprintf(stderr,
                     "usage: sendfile_rate [--chunk B] [--passes N] [--min-bytes B] FILE...\n");
        return 2;
    }
    int64_t list_bytes = 0;
    std::vector<char> buf(1 << 20);
    for (auto& f : files) {  // into the page cache
        list_bytes += f.size;
        while (read(f.fd, buf.data(), buf.size()) > 0) {
        }
    }
    const int64_t rounds = std::max<int64_t>(1, (min_bytes + list_bytes - 1) / list_bytes);
    const int64_t total = rounds * list_bytes;

    // The chunks in the order they go out, so the lockstep reader knows each one's size.
    std::vector<int64_t> chunk_sizes;
    for (int64_t r = 0; r < rounds; ++r) {
        for (auto& f : files) {
            for (int64_t off = 0; off < f.size; off += chunk) {
                chunk_sizes.push_back(std::min<int64_t>(chunk, f.size - off));
            }
        }
    }
    std::vector<double> streaming_mbps;
    std::vector<double> lockstep_mbps;
    for (int pass = 0; pass < 2 * passes; ++pass) {
        const bool lockstep = pass % 2 == 1;
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            listen(lfd, 1) != 0 ||
            getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            die("listen");
        }
        std::atomic<int64_t> received{0};
        std::atomic<int64_t> done_ns{0};
        std::thread reader([&] {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
                die("connect");
            }
            int one = 1;  // as brokers and clients set it: no Nagle delay on the small asks
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            std::vector<char> rbuf(1 << 20);
            int64_t got = 0;
            if (lockstep) {
                for (int64_t size : chunk_sizes) {
                    char ask = 1;
                    if (send(c, &ask, 1, MSG_NOSIGNAL) != 1) {
                        break;
                    }
                    for (int64_t left = size; left > 0;) {
                        ssize_t n = recv(c, rbuf.data(),
                                         static_cast<size_t>(std::min<int64_t>(
                                             left, static_cast<int64_t>(rbuf.size()))),
                                         0);
                        if (n <= 0) {
                            die("recv");
                        }
                        left -= n;
                        got += n;
                    }
                }
            } else {
                for (;;) {
                    ssize_t n = recv(c, rbuf.data(), rbuf.size(), 0);
                    if (n <= 0) {
                        break;
                    }
                    got += n;
                }
            }
            done_ns = now_ns();
            received = got;
            close(c);
        });
        int s = accept(lfd, nullptr, nullptr);
        if (s < 0) {
            die("accept");
        }
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const int64_t start = now_ns();
        for (int64_t r = 0; r < rounds; ++r) {
            for (auto& f : files) {
                off_t off = 0;
                while (off < f.size) {
                    off_t chunk_end = off + std::min<int64_t>(chunk, f.size - off);
                    if (lockstep) {
                        char ask = 0;
                        if (recv(s, &ask, 1, MSG_WAITALL) != 1) {
                            die("recv of the reader's ask");
                        }
                    }
                    while (off < chunk_end) {
                        ssize_t n = sendfile(s, f.fd, &off, static_cast<size_t>(chunk_end - off));
                        if (n <= 0) {
                            die("sendfile");
                        }
                    }
                }
            }
        }
        shutdown(s, SHUT_WR);
        reader.join();
        close(s);
        close(lfd);
        if (received.load() != total) {
            std::printf("{\"ok\":false,\"error\":\"reader got %" PRId64 " of %" PRId64
                        " bytes\"}\n",
                        received.load(), total);
            return 1;
        }
        (lockstep ? lockstep_mbps : streaming_mbps)
            .push_back(static_cast<double>(total) /
                       (static_cast<double>(done_ns.load() - start) / 1e9) / 1e6);
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    auto listed = [](const std::vector<double>& v) {
        std::string each;
        for (double x : v) {
            char one[32];
            std::snprintf(one, sizeof one, "%s%.1f", each.empty() ? "" : ",", x);
            each += one;
        }
        return each;
    };
    const bool lockstep_better = median(lockstep_mbps) > median(streaming_mbps);
    const auto& ceiling = lockstep_better ? lockstep_mbps : streaming_mbps;
    std::printf("{\"ok\":true,\"files\":%zu,\"file_bytes\":%" PRId64 ",\"bytes_per_pass\":%" PRId64
                ",\"chunk\":%" PRId64
                ",\"streaming_passes_mb_per_s\":[%s],\"lockstep_passes_mb_per_s\":[%s],"
                "\"ceiling_way\":\"%s\",\"passes_mb_per_s\":[%s],\"best_mb_per_s\":%.1f,"
                "\"median_mb_per_s\":%.1f,\"error\":\"\"}\n",
                files.size(), list_bytes, total, chunk, listed(streaming_mbps).c_str(),
                listed(lockstep_mbps).c_str(), lockstep_better ? "lockstep" : "streaming",
                listed(ceiling).c_str(), *std::max_element(ceiling.begin(), ceiling.end()),
                median(ceiling));
    return 0;
}
