// storage_bench: the log engine against this machine's own limits, as ratios in one run.
//
//   1. raw      pwrite of the same batch-sized buffers to a plain file, one fdatasync at the
//               end: the machine's sequential write rate for this write size.
//   2. append   partition_log::append of 16 x 1 KiB-record batches (offsets patched in place,
//               indexes kept), then flush(): MB/s, and the ratio to (1).
//   3. recover  the same log reopened after an unclean stop with a recovery point of 0: every
//               batch's CRC validated and both indexes rebuilt, in every segment: MB/s and
//               seconds.
//   4. compact  a log of the same size with 10,000 keys, each written many times, compacted
//               (forced) into its latest values: MB/s of log read and rewritten.
//
// Usage: storage_bench [--dir DIR] [--bytes N] (default: a temp dir under /var/tmp, 1 GiB).
// Prints one Markdown table. Builds with -DRIACHO_BENCH=ON (bench/storage.sh).
#include "protocol/record_batch.h"
#include "storage/checkpoint.h"
#include "storage/partition_log.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace riacho;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

std::vector<uint8_t> batch_of(int records, size_t value_bytes, int key_space, int first_key) {
    protocol::batch_builder b;
    for (int i = 0; i < records; ++i) {
        protocol::batch_builder::record r;
        r.timestamp = 1'700'000'000'000 + i;
        std::string key = "key-" + std::to_string((first_key + i) % key_space);
        r.key = std::vector<uint8_t>(key.begin(), key.end());
        r.value = std::vector<uint8_t>(value_bytes, static_cast<uint8_t>('a' + i % 26));
        b.add(std::move(r));
    }
    return b.build();
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "storage_bench: %s\n", what.c_str());
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    std::filesystem::path dir;
    uint64_t total_bytes = 1ull << 30;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--dir" && i + 1 < argc) {
            dir = argv[++i];
        } else if (a == "--bytes" && i + 1 < argc) {
            total_bytes = std::stoull(argv[++i]);
        } else {
            die("usage: storage_bench [--dir DIR] [--bytes N]");
        }
    }
    if (dir.empty()) {
        char tmpl[] = "/var/tmp/riacho-storage-bench-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            die("cannot create a temp dir");
        }
        dir = tmpl;
    }
    std::filesystem::create_directories(dir);
    auto batch = batch_of(16, 1024, 1 << 30, 0);
    const uint64_t batches = total_bytes / batch.size();
    const double mb = double(batches * batch.size()) / 1e6;

    // 1. raw sequential writes of the same size.
    double raw_s = 0;
    {
        auto path = dir / "raw.bin";
        int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
        if (fd < 0) die("open raw.bin");
        auto start = clock_type::now();
        for (uint64_t i = 0; i < batches; ++i) {
            if (::pwrite(fd, batch.data(), batch.size(), off_t(i * batch.size())) !=
                ssize_t(batch.size())) {
                die("pwrite failed");
            }
        }
        ::fdatasync(fd);
        raw_s = seconds_since(start);
        ::close(fd);
        std::filesystem::remove(path);
    }

    // 2. partition_log appends.
    storage::log_config cfg;
    cfg.segment_bytes = 1u << 30;
    double append_s = 0;
    auto log_dir = dir / "bench-0";
    {
        auto log = storage::partition_log::open(log_dir, cfg);
        if (!log) die("open log");
        auto start = clock_type::now();
        for (uint64_t i = 0; i < batches; ++i) {
            auto r = (*log)->append(batch, leader_epoch(0), 1'700'000'000'000);
            if (!r) die("append failed");
        }
        (*log)->flush();
        append_s = seconds_since(start);
        // An unclean stop: no close(), and a recovery point of 0, so all of it is validated.
        // (Without the file only the last segment would be: the older ones were fsynced when
        // they rolled.)
    }
    if (!storage::write_offset_checkpoint(log_dir / storage::recovery_point_file,
                                          kafka_offset(0))) {
        die("writing the recovery point failed");
    }

    // 3. recovery.
    double recover_s = 0;
    {
        auto start = clock_type::now();
        auto log = storage::partition_log::open(log_dir, cfg);
        recover_s = seconds_since(start);
        if (!log) die("recovery failed");
        (void)(*log)->close();
    }
    std::filesystem::remove_all(log_dir);

    // 4. compaction of a log with many versions of 10,000 keys.
    double compact_s = 0;
    uint64_t compact_in = 0;
    uint64_t compact_out = 0;
    {
        storage::log_config ccfg;
        ccfg.segment_bytes = 64u << 20;
        ccfg.compact = true;
        auto cdir = dir / "compact-0";
        auto log = storage::partition_log::open(cdir, ccfg);
        if (!log) die("open compacted log");
        for (uint64_t i = 0; i < batches; ++i) {
            auto keyed = batch_of(16, 1024, 10000, int(i * 16 % 10000));
            if (!(*log)->append(keyed, leader_epoch(0), 1'700'000'000'000)) die("append");
        }
        (*log)->flush();
        compact_in = (*log)->size_bytes();
        auto start = clock_type::now();
        auto done = (*log)->compact(1'800'000'000'000, /*force=*/true);
        compact_s = seconds_since(start);
        if (!done) die("compaction failed");
        compact_out = (*log)->size_bytes();
        (void)(*log)->close();
        std::filesystem::remove_all(cdir);
    }
    std::filesystem::remove_all(dir);

    double raw_mbs = mb / raw_s;
    double append_mbs = mb / append_s;
    std::printf("| measure | figure | vs raw sequential write |\n|---|---|---|\n");
    std::printf("| raw pwrite (%zu B writes) + fdatasync | %.0f MB/s | 1.00 |\n", batch.size(),
                raw_mbs);
    std::printf("| partition_log append (16 x 1 KiB records/batch) + flush | %.0f MB/s | %.2f |\n",
                append_mbs, append_mbs / raw_mbs);
    std::printf(
        "| recovery after an unclean stop (CRC + index rebuild), %.0f MB | %.0f MB/s "
        "(%.2f s) | %.2f |\n",
        mb, mb / recover_s, recover_s, (mb / recover_s) / raw_mbs);
    std::printf("| compaction (10,000 keys), %.0f MB in -> %.1f MB out | %.0f MB/s | %.2f |\n",
                double(compact_in) / 1e6, double(compact_out) / 1e6,
                double(compact_in) / 1e6 / compact_s,
                double(compact_in) / 1e6 / compact_s / raw_mbs);
    return 0;
}
