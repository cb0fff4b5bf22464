#!/usr/bin/env bash
# Installs what building Riacho needs on Debian 12 (as root), only what is missing.
# Idempotent and quiet; fails loudly.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config libasio-dev libfmt-dev libcli11-dev
          librdkafka-dev libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev libssl-dev
          libgtest-dev libbenchmark-dev "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
