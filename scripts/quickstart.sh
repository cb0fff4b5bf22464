#!/usr/bin/env bash
# Installs what is missing, builds Riacho, and starts a single-node broker on localhost:9092
# with data in the default directory (~/.local/share/riacho). Extra arguments go to
# `riacho serve`, e.g. scripts/quickstart.sh --set num.partitions=3
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" release
exec "$root/build/src/broker/riacho" serve "$@"
