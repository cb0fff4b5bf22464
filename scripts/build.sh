#!/usr/bin/env bash
# Builds Riacho. Usage: scripts/build.sh [release|asan|fuzz] (default release).
#   release -> build/        optimized, what `riacho serve` runs
#   asan    -> build-asan/   -fsanitize=address,undefined, unit tests; what the test run uses
#   fuzz    -> build-fuzz/   clang + libFuzzer targets
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kind="${1:-release}"
jobs="${RIACHO_BUILD_JOBS:-$(nproc)}"
case "$kind" in
    release) dir="$root/build"; args=(-DCMAKE_BUILD_TYPE=Release -DRIACHO_TESTS=OFF) ;;
    asan) dir="$root/build-asan"; args=(-DCMAKE_BUILD_TYPE=Debug -DRIACHO_SANITIZE=ON) ;;
    fuzz) dir="$root/build-fuzz"
          args=(-DCMAKE_BUILD_TYPE=Debug -DRIACHO_FUZZ=ON -DRIACHO_TESTS=OFF
                -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
    *) echo "build.sh: unknown build kind '$kind' (release, asan or fuzz)" >&2; exit 2 ;;
esac
cmake -S "$root" -B "$dir" -G Ninja "${args[@]}" >/dev/null
if ! ninja -C "$dir" -j "$jobs" >"$dir/build.log" 2>&1; then
    grep -v '^\[' "$dir/build.log" | tail -60
    echo "build.sh: $kind build failed (full log: $dir/build.log)" >&2
    exit 1
fi
