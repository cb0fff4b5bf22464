// fetch_rate: how fast a broker serves a partition's page-cached log to a consumer that does
// nothing with it: Fetch requests (v4, the oldest Kafka 4.x serves, topic by name) one at a
// time, as a client's fetcher does, each from the offset after the last whole batch of the
// previous answer; the records' bytes are counted and dropped (no CRC check, no decompression,
// no record parsing). It separates the broker's serving rate from a client library's
// per-record work, which dominates librdkafka's consume rate for small records.
//
//   fetch_rate --broker HOST:PORT --topic T --end-offset N [--partition-max-bytes B]
//              [--passes P] [--min-bytes BYTES]
//
// Each pass opens a fresh connection, reads partition 0 from offset 0 until offset N, again
// from 0 until at least --min-bytes (default 1 GiB, as sendfile_rate) came, and times the
// first request -> the last answer. One JSON line: each pass's MB/s
// (record-batch bytes), the best and the median. bench/matrix.py runs it against both
// brokers on the same topic it compares with sendfile_rate's ceiling.
#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

[[noreturn]] void fail(const std::string& what) {
    std::printf("{\"ok\":false,\"error\":\"%s\"}\n", what.c_str());
    std::exit(1);
}

void put16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
    put16(out, static_cast<uint16_t>(v >> 16));
    put16(out, static_cast<uint16_t>(v));
}
void put64(std::vector<uint8_t>& out, uint64_t v) {
    put32(out, static_cast<uint32_t>(v >> 32));
    put32(out, static_cast<uint32_t>(v));
}
void put_string(std::vector<uint8_t>& out, const std::string& s) {
    put16(out, static_cast<uint16_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
}

// Big-endian reads with bounds checks: a malformed answer ends the run with an error.
struct reader {
    const uint8_t* data;
    size_t size;
    size_t at = 0;
    uint64_t take(size_t n) {
        if (at + n > size) {
            fail("truncated Fetch response");
        }
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) {
            v = (v << 8) | data[at + i];
        }
        at += n;
        return v;
    }
    int16_t i16() { return static_cast<int16_t>(take(2)); }
    int32_t i32() { return static_cast<int32_t>(take(4)); }
    int64_t i64() { return static_cast<int64_t>(take(8)); }
    void skip(size_t n) {
        if (at + n > size) {
            fail("truncated Fetch response");
        }
        at += n;
    }
};

int connect_to(const std::string& host_port) {
    auto colon = host_port.rfind(':');
    if (colon == std::string::npos) {
        fail("--broker must be HOST:PORT");
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host_port.substr(0, colon).c_str(), host_port.substr(colon + 1).c_str(), &hints,
                    &found) != 0 ||
        found == nullptr) {
        fail("cannot resolve " + host_port);
    }
    int fd = socket(found->ai_family, found->ai_socktype, 0);
    if (fd < 0 || connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
        freeaddrinfo(found);
        fail("cannot connect to " + host_port + ": " + std::strerror(errno));
    }
    freeaddrinfo(found);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void send_all(int fd, const std::vector<uint8_t>& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            fail(std::string("send: ") + std::strerror(errno));
        }
        sent += static_cast<size_t>(n);
    }
}

void recv_all(int fd, uint8_t* into, size_t size) {
    size_t got = 0;
    while (got < size) {
        ssize_t n = recv(fd, into + got, size - got, 0);
        if (n <= 0) {
            fail(n == 0 ? "broker closed the connection"
                        : std::string("recv: ") + std::strerror(errno));
        }
        got += static_cast<size_t>(n);
    }
}

struct fetch_answer {
    int64_t batch_bytes = 0;  // whole record batches in the answer
    int64_t next_offset = 0;  // after the last whole batch
};

// The records of partition 0 in a Fetch v4 response body: the whole batches' bytes and the
// offset after the last one (a trailing partial batch, as Kafka may send, is left for the
// next fetch).
fetch_answer parse_fetch_v4(const std::vector<uint8_t>& body, int64_t fetch_offset) {
    reader r{body.data(), body.size()};
    r.i32();  // throttle_time_ms
    if (r.i32() != 1) {
        fail("expected one topic in the Fetch response");
    }
    r.skip(static_cast<size_t>(r.i16()));  // topic name
    if (r.i32() != 1) {
        fail("expected one partition in the Fetch response");
    }
    r.i32();  // partition index
    if (int16_t error = r.i16(); error != 0) {
        fail("Fetch error code " + std::to_string(error));
    }
    r.i64();  // high watermark
    r.i64();  // last stable offset
    if (int32_t aborted = r.i32(); aborted > 0) {
        r.skip(static_cast<size_t>(aborted) * 16);
    }
    int32_t records_size = r.i32();
    fetch_answer out{0, fetch_offset};
    if (records_size <= 0) {
        return out;
    }
    size_t end = r.at + static_cast<size_t>(records_size);
    if (end > body.size()) {
        fail("records past the end of the Fetch response");
    }
    // A batch: base offset (8), length (4) of what follows, ...; last offset delta at 23.
    while (r.at + 27 <= end) {
        size_t start = r.at;
        int64_t base = r.i64();
        int32_t length = r.i32();
        if (length < 15 || start + 12 + static_cast<size_t>(length) > end) {
            break;
        }
        r.at = start + 23;
        int32_t last_delta = r.i32();
        out.next_offset = base + last_delta + 1;
        out.batch_bytes += 12 + length;
        r.at = start + 12 + static_cast<size_t>(length);
    }
    return out;
}

struct pass_result {
    double mb_per_s = 0;
    int64_t bytes = 0;
    int64_t fetches = 0;
    double seconds = 0;
};

pass_result run_pass(const std::string& broker,
                     const std::string& topic,
                     int64_t end_offset,
                     int32_t partition_max_bytes,
                     int64_t min_bytes) {
    int fd = connect_to(broker);
    std::vector<uint8_t> request;
    std::vector<uint8_t> answer;
    int64_t offset = 0;
    pass_result out;
    int32_t correlation = 0;
    int64_t start = now_ns();
    while (offset < end_offset || out.bytes < min_bytes) {
        if (offset >= end_offset) {
            offset = 0;  // once more from the start, until min_bytes
        }
        request.clear();
        put32(request, 0);  // size, patched below
        put16(request, 1);  // Fetch
        put16(request, 4);
        put32(request, static_cast<uint32_t>(++correlation));
        put_string(request, "fetch_rate");
        put32(request, static_cast<uint32_t>(-1));  // replica id: a consumer
        put32(request, 500);                        // max wait ms
        put32(request, 1);                          // min bytes
        put32(request, 52428800);                   // max bytes (Kafka's fetch.max.bytes)
        request.push_back(0);                       // read uncommitted
        put32(request, 1);
        put_string(request, topic);
        put32(request, 1);
        put32(request, 0);  // partition
        put64(request, static_cast<uint64_t>(offset));
        put32(request, static_cast<uint32_t>(partition_max_bytes));
        uint32_t size = static_cast<uint32_t>(request.size() - 4);
        for (int i = 0; i < 4; ++i) {
            request[static_cast<size_t>(i)] = static_cast<uint8_t>(size >> (24 - 8 * i));
        }
        send_all(fd, request);
        uint8_t head[8];
        recv_all(fd, head, sizeof head);
        uint32_t answer_size = (uint32_t{head[0]} << 24) | (uint32_t{head[1]} << 16) |
                               (uint32_t{head[2]} << 8) | head[3];
        if (answer_size < 4 || answer_size > (1u << 30)) {
            fail("bad Fetch response size");
        }
        answer.resize(answer_size - 4);
        recv_all(fd, answer.data(), answer.size());
        auto got = parse_fetch_v4(answer, offset);
        ++out.fetches;
        if (got.next_offset <= offset) {
            fail("no progress at offset " + std::to_string(offset) +
                 " (is the topic's partition 0 at least --end-offset long?)");
        }
        out.bytes += got.batch_bytes;
        offset = got.next_offset;
    }
    out.seconds = static_cast<double>(now_ns() - start) / 1e9;
    out.mb_per_s = static_cast<double>(out.bytes) / 1e6 / out.seconds;
    close(fd);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::string broker;
    std::string topic;
    int64_t end_offset = -1;
    int32_t partition_max_bytes = 1 << 20;  // the Java and librdkafka consumers' default
    int passes = 3;
    int64_t min_bytes = int64_t{1} << 30;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                fail(a + " needs a value");
            }
            return argv[++i];
        };
        if (a == "--broker") {
            broker = value();
        } else if (a == "--topic") {
            topic = value();
        } else if (a == "--end-offset") {
            end_offset = std::strtoll(value().c_str(), nullptr, 10);
        } else if (a == "--partition-max-bytes") {
            partition_max_bytes = static_cast<int32_t>(std::strtol(value().c_str(), nullptr, 10));
        } else if (a == "--min-bytes") {
            min_bytes = std::strtoll(value().c_str(), nullptr, 10);
        } else if (a == "--passes") {
            passes = std::atoi(value().c_str());
        } else {
            fail("unknown argument " + a);
        }
    }
    if (broker.empty() || topic.empty() || end_offset <= 0 || partition_max_bytes <= 0 ||
        passes <= 0) {
        fail(
            "usage: fetch_rate --broker HOST:PORT --topic T --end-offset N "
            "[--partition-max-bytes B] [--passes P] [--min-bytes BYTES]");
    }
    std::vector<pass_result> results;
    for (int p = 0; p < passes; ++p) {
        results.push_back(run_pass(broker, topic, end_offset, partition_max_bytes, min_bytes));
    }
    std::vector<double> rates;
    for (const auto& r : results) {
        rates.push_back(r.mb_per_s);
    }
    std::sort(rates.begin(), rates.end());
    std::printf("{\"ok\":true,\"partition_max_bytes\":%d,\"bytes\":%" PRId64 ",\"fetches\":%" PRId64
                ",\"passes_mb_per_s\":[",
                partition_max_bytes, results.front().bytes, results.front().fetches);
    for (size_t i = 0; i < results.size(); ++i) {
        std::printf("%s%.1f", i ? "," : "", results[i].mb_per_s);
    }
    std::printf("],\"best_mb_per_s\":%.1f,\"median_mb_per_s\":%.1f}\n", rates.back(),
                rates[rates.size() / 2]);
    return 0;
}
