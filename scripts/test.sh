#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit tests (GoogleTest, under
# address+undefined sanitizers), each libFuzzer target for a bounded time, and the integration
# suite that drives the real broker with real Kafka clients (Python, Java, Go, Node, kcat).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_seconds="${RIACHO_FUZZ_SECONDS:-15}"

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
"$root/scripts/install-deps.sh" clang libclang-rt-14-dev kcat
# --with-kafka: Apache Kafka 4.x jars, so the CLI is also shown to work against real Kafka.
"$root/scripts/install-test-deps.sh" --with-kafka

step "build (release: what the quick start serves)"
"$root/scripts/build.sh" release

step "build (asan)"
"$root/scripts/build.sh" asan
step "unit tests"
(cd "$root/build-asan" && ctest --output-on-failure)

step "fuzz (${fuzz_seconds}s per target)"
"$root/scripts/build.sh" fuzz
for target in "$root"/build-fuzz/tests/fuzz/fuzz_*; do
    [[ -x "$target" && -f "$target" ]] || continue
    name="$(basename "$target")"
    corpus="$root/tests/fuzz/corpus/${name#fuzz_}"
    work="$(mktemp -d)"
    seeds=()
    [[ -d "$corpus" ]] && seeds=("$corpus")
    echo "$name"
    "$target" -max_total_time="$fuzz_seconds" -print_final_stats=0 "$work" "${seeds[@]}" \
        >"$work.log" 2>&1 || { tail -50 "$work.log"; echo "fuzz target $name failed"; exit 1; }
    rm -rf "$work" "$work.log"
done

step "integration tests"
export RIACHO_BIN="$root/build-asan/src/broker/riacho"
"$root/tests/integration/run.sh"
