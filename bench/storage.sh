#!/usr/bin/env bash
# bench/storage.sh — the log engine against this machine's sequential write rate, in one run:
# append throughput, recovery after an unclean stop and compaction, each also as a ratio to
# raw pwrite+fdatasync of the same write size (bench/micro/storage_bench.cc).
# Usage: bench/storage.sh [--bytes N] [--dir DIR]   (default 1 GiB under /var/tmp)
#        bench/storage.sh --vs-kafka [storage_vs_kafka.py options]
#   the same operations against Apache Kafka 4.x through real brokers (restart after kill -9
#   with a 10 GiB log, the log cleaner's throughput): builds the release broker, then runs
#   bench/storage_vs_kafka.py with $BENCH_PYTHON (default tests/integration/.deps/venv) and
#   TMPDIR=/var/tmp unless set.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" == "--vs-kafka" ]]; then
    shift
    "$root/scripts/build.sh" release
    export TMPDIR="${TMPDIR:-/var/tmp}"
    exec "${BENCH_PYTHON:-$root/tests/integration/.deps/venv/bin/python}" \
        "$root/bench/storage_vs_kafka.py" "$@"
fi
dir="$root/build-bench/micro"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRIACHO_TESTS=OFF \
    -DRIACHO_BENCH=ON >/dev/null
ninja -C "$dir" -j "${RIACHO_BUILD_JOBS:-$(nproc)}" storage_bench >/dev/null
"$dir/bench/micro/storage_bench" "$@"
