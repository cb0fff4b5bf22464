#!/usr/bin/env bash
# bench/micro.sh — Google Benchmark micro-benchmarks: CRC32C, batch validation, each codec,
# offset index lookup, log append (bench/micro/micro_bench.cc). Extra arguments go to the
# benchmark binary, e.g. --benchmark_filter=crc.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/build-bench/micro"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRIACHO_TESTS=OFF \
    -DRIACHO_BENCH=ON >/dev/null
ninja -C "$dir" -j "${RIACHO_BUILD_JOBS:-$(nproc)}" micro_bench >/dev/null
"$dir/bench/micro/micro_bench" "$@"
