#!/usr/bin/env bash
# bench/storage.sh — the log engine against this machine's sequential write rate, in one run:
# append throughput, recovery after an unclean stop and compaction, each also as a ratio to
# raw pwrite+fdatasync of the same write size (bench/micro/storage_bench.cc).
# Usage: bench/storage.sh [--bytes N] [--dir DIR]   (default 1 GiB under /var/tmp)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/build-bench/micro"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRIACHO_TESTS=OFF \
    -DRIACHO_BENCH=ON >/dev/null
ninja -C "$dir" -j "${RIACHO_BUILD_JOBS:-$(nproc)}" storage_bench >/dev/null
"$dir/bench/micro/storage_bench" "$@"
