#!/usr/bin/env bash
# Installs what is missing, builds Riacho, and starts a local three-node cluster: nodes 1-3
# with clients on localhost:9092-9094, the metadata quorum's controller listeners on
# localhost:19092-19094, data in ~/.local/share/riacho-cluster/node<N>. Logs go to
# node<N>.log there; Ctrl-C stops all three (each hands over what it leads first).
# Usage: scripts/cluster.sh [extra `riacho serve` arguments for every node]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" release
base="${RIACHO_CLUSTER_DIR:-$HOME/.local/share/riacho-cluster}"
mkdir -p "$base"
voters="1@localhost:19092,2@localhost:19093,3@localhost:19094"
pids=()
stop() {
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT
for n in 1 2 3; do
    "$root/build/src/broker/riacho" serve \
        --set node.id=$n \
        --set "listeners=PLAINTEXT://localhost:$((9091 + n))" \
        --set "controller.quorum.voters=$voters" \
        --set "log.dirs=$base/node$n" \
        --set default.replication.factor=3 \
        --set min.insync.replicas=2 \
        "$@" >"$base/node$n.log" 2>&1 &
    pids+=($!)
done
echo "riacho cluster: bootstrap localhost:9092,localhost:9093,localhost:9094 (logs in $base)"
echo "try: kcat -b localhost:9092 -L    (Ctrl-C stops the cluster)"
wait "${pids[@]}"
