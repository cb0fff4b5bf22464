// Google Benchmark micro-benchmarks of the hot paths: CRC32C (hardware and software), batch
// validation, each compression codec both ways, the offset index lookup, and the partition
// log append (page cache, no fsync). Run: bench/micro.sh (builds with -DRIACHO_BENCH=ON).
#include "protocol/compression.h"
#include "protocol/crc32c.h"
#include "protocol/record_batch.h"
#include "storage/offset_index.h"
#include "storage/partition_log.h"

#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace riacho;

std::vector<uint8_t> text_like(size_t n) {
    // Compressible like typical JSON-ish payloads: words from a small vocabulary.
    static const char* words[] = {"order",  "id",   "customer", "amount",    "EUR",
                                  "status", "paid", "shipped",  "{",         "}",
                                  ":",      ",",    "\"",       "2026-11-29"};
    std::mt19937 rng(7);
    std::vector<uint8_t> out;
    while (out.size() < n) {
        const char* w = words[rng() % (sizeof words / sizeof *words)];
        out.insert(out.end(), w, w + std::char_traits<char>::length(w));
    }
    out.resize(n);
    return out;
}

std::vector<uint8_t> batch_of(
    int records,
    size_t value_bytes,
    protocol::compression_codec codec = protocol::compression_codec::none) {
    protocol::batch_builder b;
    b.set_codec(codec);
    auto value = text_like(value_bytes);
    for (int i = 0; i < records; ++i) {
        protocol::batch_builder::record r;
        r.timestamp = 1'700'000'000'000 + i;
        r.key = std::vector<uint8_t>{'k', static_cast<uint8_t>('0' + i % 10)};
        r.value = value;
        b.add(std::move(r));
    }
    return b.build();
}

void BM_crc32c(benchmark::State& state) {
    auto data = text_like(static_cast<size_t>(state.range(0)));
    for (auto _ : state) {
        benchmark::DoNotOptimize(protocol::crc32c(data.data(), data.size()));
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
    state.SetLabel(protocol::crc32c_is_hardware() ? "hardware" : "software");
}
BENCHMARK(BM_crc32c)->Arg(1024)->Arg(64 * 1024);

void BM_crc32c_software(benchmark::State& state) {
    auto data = text_like(static_cast<size_t>(state.range(0)));
    for (auto _ : state) {
        benchmark::DoNotOptimize(protocol::crc32c_software(data.data(), data.size()));
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(BM_crc32c_software)->Arg(64 * 1024);

// What the produce path does to every batch: header, lengths, CRC and record framing.
void BM_validate_batch(benchmark::State& state) {
    auto batch = batch_of(16, 1024);
    protocol::validation_options opts;
    for (auto _ : state) {
        benchmark::DoNotOptimize(protocol::validate_batch(batch, opts));
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(batch.size()));
}
BENCHMARK(BM_validate_batch);

void codec_args(benchmark::internal::Benchmark* b) {
    for (int c = 1; c <= 4; ++c) {
        b->Arg(c);
    }
}

const char* codec_name(int c) {
    static const char* names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    return names[c];
}

void BM_compress(benchmark::State& state) {
    auto codec = static_cast<protocol::compression_codec>(state.range(0));
    auto data = text_like(64 * 1024);
    for (auto _ : state) {
        benchmark::DoNotOptimize(protocol::compress(codec, data));
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
    state.SetLabel(codec_name(int(state.range(0))));
}
BENCHMARK(BM_compress)->Apply(codec_args);

void BM_decompress(benchmark::State& state) {
    auto codec = static_cast<protocol::compression_codec>(state.range(0));
    auto data = text_like(64 * 1024);
    auto compressed = protocol::compress(codec, data).value();
    std::vector<uint8_t> out;
    for (auto _ : state) {
        out.clear();
        benchmark::DoNotOptimize(protocol::decompress(codec, compressed, out, 1u << 20));
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
    state.SetLabel(codec_name(int(state.range(0))));
}
BENCHMARK(BM_decompress)->Apply(codec_args);

void BM_offset_index_lookup(benchmark::State& state) {
    auto dir = std::filesystem::temp_directory_path() / "riacho-micro-index";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto index =
        storage::offset_index::open(dir / "00000000000000000000.index", kafka_offset(0), 1u << 20)
            .value();
    const int64_t entries = state.range(0);
    for (int64_t i = 1; i <= entries; ++i) {
        (void)index.append(kafka_offset(i * 16), static_cast<uint32_t>(i * 4096));
    }
    std::mt19937_64 rng(1);
    for (auto _ : state) {
        benchmark::DoNotOptimize(
            index.lookup(kafka_offset(int64_t(rng() % uint64_t(entries * 16)))));
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_offset_index_lookup)->Arg(1000)->Arg(100000);

// partition_log::append of a 16 x 1 KiB batch: validation is the broker's, this is the log's
// part (offset patch, pwrite, index entries, producer state), page cache only.
void BM_log_append(benchmark::State& state) {
    auto dir = std::filesystem::temp_directory_path() / "riacho-micro-append";
    std::filesystem::remove_all(dir);
    storage::log_config cfg;
    cfg.segment_bytes = 256u << 20;
    auto log = storage::partition_log::open(dir / "bench-0", cfg).value();
    auto batch = batch_of(16, 1024);
    for (auto _ : state) {
        benchmark::DoNotOptimize(log->append(batch, leader_epoch(0), 1'700'000'000'000));
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(batch.size()));
    state.SetItemsProcessed(int64_t(state.iterations()) * 16);
    (void)log->close();
    log.reset();
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_log_append)->Iterations(20000);

}  // namespace

BENCHMARK_MAIN();
