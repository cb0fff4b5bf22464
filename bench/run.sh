#!/usr/bin/env bash
# bench/run.sh — Riacho vs Apache Kafka 4.x, side by side, in one run on this machine.
#
# Usage: bench/run.sh [--records N] [--size BYTES] [--large] [--only riacho|kafka] [--rev REV]
#                     [--suite LIST] [--quick] [--minutes M]
#   --records N   records per workload (default 200000; --large = 2000000)
#   --size BYTES  record value size (default 1024)
#   --only X      run one system only (the other's column shows "not run")
#   --rev REV     measure commit REV (a clean `git archive` copy under build-bench/src-<sha>)
#                 instead of the working tree, which may hold others' unfinished edits
#   --suite LIST  comma-separated: throughput (the default, described below), groups
#                 (bench/groups.py: rebalance times, offset commits/s), latency
#                 (bench/latency.py: end-to-end latency at a fixed 100k records/s),
#                 footprint (bench/footprint.py: RSS per partition, start after kill -9
#                 with 10,000 partitions, fewer if the open-files limit cannot hold
#                 Riacho's one descriptor per partition), txn (bench/txn.py: transactions of 10, 100 and
#                 1,000 records: records/s and commit latency); matrix (bench/matrix.py:
#                 issue 6's matrix — a 1 KiB / 1 partition / 1 producer / no key / no
#                 compression / acks=1 baseline and one-factor variations: 100 partitions,
#                 50 producers, keys, 100 B and 100 KiB records, gzip/snappy/lz4/zstd —
#                 produce records/s + MB/s and consume MB/s on both brokers with ratios,
#                 plus Riacho vs librdkafka's mock cluster and vs this machine's sendfile
#                 rate; matrix.md/.json/.png; ~5 min, --quick ~1.5 min); soak (bench/soak.py:
#                 --minutes M, default 30, at a fixed rate past a small retention limit,
#                 latency p99 and RSS per minute, first vs last third; opt-in, ~2 x M min);
#                 cluster (bench/cluster.py: three nodes of each, RF 3, min ISR 2, acks=-1:
#                 produce records/s and p99, failover time after kill -9 of the leader,
#                 acknowledged records counted back; ~3 min);
#                 `extra` = groups,latency,footprint (~13 min).
#                 The Python suites build the same way, then write bench/results/<date>/
#                 <suite>.md and .json. Python: $BENCH_PYTHON or tests/integration/.deps/venv.
#   --quick       matrix: 200 MB per cell instead of 1000 MB
#   --minutes M   soak: minutes per broker (default 30)
# Environment:
#   RIACHO_BIN    use this riacho binary instead of building build/src/broker/riacho
#   KAFKA_VERSION, KAFKA_HEAP_OPTS  passed on to scripts/apache-kafka.sh
#
# What it does: builds the broker (scripts/build.sh release) and the librdkafka load
# generator (bench/macro/rdkafka_load.cc -> build-bench/load), then for each system starts a
# fresh broker on a temp data dir, warms it up, and runs with one librdkafka producer /
# consumer on one partition:
#   produce acks=1, produce acks=-1 (throughput + per-record latency), consume from offset 0.
# Riacho runs twice: with riacho.acks.all.fsync=true (its default: acks=-1 is fdatasync'ed
# before the ack) and with it false for the acks=-1 like-for-like run (Kafka acks on the page
# cache). It prints a Markdown table (figures and Riacho/Kafka ratios) and writes it to
# bench/results/<date>.md; raw JSON and broker logs go to bench/results/<date>/.
# Brokers are always stopped on exit (trap EXIT). Default run: ~3-5 minutes.
# The tools are built with `cmake -S bench -B build-bench/load` (rdkafka_load, sendfile_rate
# and fetch_rate).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
records=200000
size=1024
warmup=20000
only=""
rev=""
suite="throughput"
quick=""
minutes=""
while (($#)); do
    case "$1" in
        --records) records="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --large) records=2000000; shift ;;
        --only) only="$2"; shift 2 ;;
        --rev) rev="$2"; shift 2 ;;
        --suite) suite="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --minutes) minutes="$2"; shift 2 ;;
        -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
timeout_s=$((60 + records / 2000))  # generous: 2,000 records/s is far below either broker
for s in ${suite//,/ }; do
    case "$s" in
        throughput|groups|latency|footprint|txn|matrix|soak|cluster|extra) ;;
        *) echo "run.sh: unknown suite $s (throughput, groups, latency, footprint, txn, matrix, soak, cluster, extra)" >&2
           exit 2 ;;
    esac
done

stamp="$(date -u +%Y-%m-%dT%H%M%SZ)"
out_dir="$root/bench/results/$stamp"
mkdir -p "$out_dir"
work="$(mktemp -d /tmp/riacho-bench.XXXXXX)"
riacho_pid=""
kafka_dir=""
broker_pid=""  # the broker under test, checked before each workload

cleanup() {
    local rc=$?
    if [[ -n "$riacho_pid" ]] && kill -0 "$riacho_pid" 2>/dev/null; then
        kill "$riacho_pid" 2>/dev/null || true
        wait "$riacho_pid" 2>/dev/null || true
    fi
    if [[ -n "$kafka_dir" ]]; then
        "$root/scripts/apache-kafka.sh" stop "$kafka_dir" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "run.sh: $*" >&2; }

# ----------------------------------------------------------------------------- build
riacho_build="scripts/build.sh release"
if [[ -n "${RIACHO_BIN:-}" ]]; then
    riacho_bin="$RIACHO_BIN"
    riacho_build="RIACHO_BIN=$RIACHO_BIN"
else
    src="$root"
    if [[ -n "$rev" ]]; then
        # A clean copy of one commit, so the figures belong to a revision and not to
        # whatever uncommitted edits the working tree holds at the moment.
        sha="$(git -C "$root" rev-parse --short "$rev")"
        src="$root/build-bench/src-$sha"
        if [[ ! -f "$src/CMakeLists.txt" ]]; then
            mkdir -p "$src"
            git -C "$root" archive "$sha" | tar -x -C "$src"
        fi
        riacho_build="commit $sha, "
    else
        riacho_build="working tree, "
    fi
    log "building riacho ($src: scripts/build.sh release)"
    # build.sh's exit status is not trusted alone: it can return 0 after ninja failed.
    if ! "$src/scripts/build.sh" release >"$out_dir/build.log" 2>&1 ||
        grep -q '^FAILED:' "$out_dir/build.log" || [[ ! -x "$src/build/src/broker/riacho" ]]; then
        # Not hidden: the results say which build was measured, and build.log keeps the error.
        log "scripts/build.sh release FAILED (see $out_dir/build.log); building the same" \
            "Release configuration with GCC's -Wstringop-overflow/-Warray-bounds/-Wrestrict" \
            "off (false positives at -O3 in GCC 12) into $src/build-bench-release"
        riacho_build+="scripts/build.sh release failed (GCC 12 -Werror=stringop-overflow), built Release with those warnings off"
        cmake -S "$src" -B "$src/build-bench-release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
            -DRIACHO_TESTS=OFF \
            "-DCMAKE_CXX_FLAGS=-Wno-stringop-overflow -Wno-array-bounds -Wno-restrict" \
            >>"$out_dir/build.log" 2>&1
        ninja -C "$src/build-bench-release" src/broker/riacho >>"$out_dir/build.log" 2>&1 ||
            { grep -A12 '^FAILED:' "$out_dir/build.log" | tail -40 >&2; log "riacho build failed"; exit 1; }
        riacho_bin="$src/build-bench-release/src/broker/riacho"
    else
        riacho_build+="scripts/build.sh release"
        riacho_bin="$src/build/src/broker/riacho"
    fi
fi
[[ -x "$riacho_bin" ]] || { log "no riacho binary at $riacho_bin"; exit 1; }

log "building the load generator"
cmake -S "$root/bench" -B "$root/build-bench/load" -G Ninja >>"$out_dir/build.log" 2>&1
ninja -C "$root/build-bench/load" >>"$out_dir/build.log" 2>&1 ||
    { tail -30 "$out_dir/build.log" >&2; exit 1; }
load="$root/build-bench/load/rdkafka_load"

if [[ "$only" != riacho ]]; then
    log "fetching Apache Kafka jars (cached after the first run)"
    "$root/scripts/apache-kafka.sh" fetch
fi

# ----------------------------------------------------------------------------- suites
# The Python side-by-side suites (they start and stop their own brokers), then, unless
# throughput is also asked for, stop here.
suite="${suite//extra/groups,latency,footprint}"
if [[ "$suite" != throughput ]]; then
    py="${BENCH_PYTHON:-$root/tests/integration/.deps/venv/bin/python}"
    if [[ -n "$rev" ]]; then
        # $sha: what was archived and built (REV=HEAD may have moved since)
        suite_commit="${sha:-$(git -C "$root" rev-parse --short "$rev")}"
    elif [[ -n "${RIACHO_BIN:-}" ]]; then
        # Not built here: say what it is rather than naming this tree's HEAD.
        suite_commit="prebuilt binary $RIACHO_BIN of $(date -u -r "$RIACHO_BIN" '+%Y-%m-%d %H:%M UTC'), not built from $(git -C "$root" rev-parse --short HEAD)"
    else
        suite_commit="$(git -C "$root" rev-parse --short HEAD)"
        git -C "$root" diff --quiet HEAD -- src 2>/dev/null ||
            suite_commit="$suite_commit + uncommitted edits"
    fi
    suite_args=(--riacho-bin "$riacho_bin" --out "$out_dir" --commit "$suite_commit"
                --build "$riacho_build")
    [[ -n "$only" ]] && suite_args+=(--only "$only")
    IFS=, read -r -a suites <<<"$suite"
    for s in "${suites[@]}"; do
        case "$s" in
            throughput) ;;
            groups|footprint|txn) log "suite $s"; "$py" "$root/bench/$s.py" "${suite_args[@]}" ||
                log "suite $s FAILED" ;;
            latency) log "suite $s"; "$py" "$root/bench/$s.py" "${suite_args[@]}" --load "$load" ||
                log "suite $s FAILED" ;;
            matrix)
                "$py" -c 'import matplotlib' 2>/dev/null || {
                    log "installing matplotlib into the bench venv (for matrix.png)"
                    "$py" -m pip install -q matplotlib >&2 || log "pip install matplotlib failed: no chart"
                }
                log "suite matrix"
                matrix_cmd="bench/run.sh --suite matrix${quick:+ --quick}${rev:+ --rev $rev}"
                "$py" "$root/bench/matrix.py" "${suite_args[@]}" --load "$load" \
                    --sendfile "$root/build-bench/load/sendfile_rate" ${quick:+--quick} \
                    --command "$matrix_cmd" || log "suite matrix FAILED" ;;
            cluster) log "suite cluster"
                "$py" "$root/bench/cluster.py" "${suite_args[@]}" --load "$load" ||
                    log "suite cluster FAILED" ;;
            soak) log "suite soak (${minutes:-30} minutes per broker)"
                "$py" "$root/bench/soak.py" "${suite_args[@]}" --load "$load" \
                    --minutes "${minutes:-30}" || log "suite soak FAILED" ;;
            *) log "unknown suite $s (throughput, groups, latency, footprint, txn, matrix, soak, cluster, extra)"; exit 2 ;;
        esac
    done
    [[ ",$suite," == *,throughput,* ]] || exit 0
fi

# ----------------------------------------------------------------------------- workloads
# run_tool <result name> <rdkafka_load args...>: one JSON line into <name>.json, stderr to
# <name>.log. Never fails the script: a failed workload is a result, reported in the table.
run_tool() {
    local name="$1"; shift
    if [[ -n "$broker_pid" ]] && ! kill -0 "$broker_pid" 2>/dev/null; then
        echo '{"ok":false,"error":"broker process is gone (it exited earlier in the run)"}' \
            >"$out_dir/$name.json"
        log "$name skipped: the broker process is gone"
        return 0
    fi
    timeout --kill-after=10 "$((timeout_s + 30))" "$load" "$@" --timeout "$timeout_s" \
        >"$out_dir/$name.json" 2>"$out_dir/$name.log" || {
        log "$name FAILED: $(tail -c 400 "$out_dir/$name.json" "$out_dir/$name.log" | tr '\n' ' ')"
        return 0
    }
    log "$name: $(cat "$out_dir/$name.json")"
}

# suite <system label> <bootstrap> <workloads...>: warm-up, then the named workloads.
suite() {
    local sys="$1" brokers="$2"; shift 2
    # Other work on the machine skews the figures; record how busy it was.
    echo "$sys: load average $(cut -d' ' -f1-3 /proc/loadavg)," \
        "$(pgrep -c -x cc1plus || true) compiler processes running" >>"$out_dir/load.txt"
    "$load" create --brokers "$brokers" --topic warmup >/dev/null 2>&1 || true
    "$load" produce --brokers "$brokers" --topic warmup --records "$warmup" --size "$size" \
        --acks -1 --timeout 60 >/dev/null 2>&1 || log "$sys: warm-up produce failed"
    local w
    for w in "$@"; do
        case "$w" in
            acks1|acksall)
                local acks=1
                [[ "$w" == acksall ]] && acks=-1
                run_tool "$sys-create-$w" create --brokers "$brokers" --topic "bench-$w"
                run_tool "$sys-produce-$w" produce --brokers "$brokers" --topic "bench-$w" \
                    --records "$records" --size "$size" --acks "$acks" ;;
            consume)
                run_tool "$sys-consume" consume --brokers "$brokers" --topic bench-acks1 \
                    --records "$records" ;;
        esac
    done
}

# start_riacho <label> [--set k=v ...]: sets riacho_pid and riacho_addr.
start_riacho() {
    local label="$1"; shift
    local dir="$work/$label"
    mkdir -p "$dir/data"
    "$riacho_bin" serve --set listeners=PLAINTEXT://127.0.0.1:0 --set "log.dirs=$dir/data" \
        --ready-file "$dir/ready" "$@" >"$out_dir/$label.broker.log" 2>&1 &
    riacho_pid=$!
    local deadline=$((SECONDS + 30))
    until [[ -s "$dir/ready" ]]; do
        kill -0 "$riacho_pid" 2>/dev/null || { log "riacho exited at startup"; return 1; }
        ((SECONDS < deadline)) || { log "riacho not ready in 30 s"; return 1; }
        sleep 0.05
    done
    riacho_addr="$(head -n1 "$dir/ready")"
}

stop_riacho() {
    local label="$1"
    if ! kill -0 "$riacho_pid" 2>/dev/null; then
        wait "$riacho_pid" 2>/dev/null && rc=0 || rc=$?
        log "riacho ($label) was no longer running (exit status $rc): broker crashed"
        echo "exited during the run with status $rc" >"$out_dir/$label.crashed"
    else
        kill "$riacho_pid"
        wait "$riacho_pid" 2>/dev/null || true
    fi
    riacho_pid=""
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [[ "$only" != kafka ]]; then
    log "Riacho (riacho.acks.all.fsync=true)"
    if start_riacho riacho; then
        broker_pid="$riacho_pid"
        suite riacho "$riacho_addr" acks1 acksall consume
        stop_riacho riacho
    fi
    log "Riacho (riacho.acks.all.fsync=false)"
    if start_riacho riacho_nofsync --set riacho.acks.all.fsync=false; then
        broker_pid="$riacho_pid"
        suite riacho_nofsync "$riacho_addr" acksall
        stop_riacho riacho_nofsync
    fi
fi

if [[ "$only" != riacho ]]; then
    log "Apache Kafka ${KAFKA_VERSION:-4.1.1}"
    kafka_dir="$work/kafka"
    mkdir -p "$kafka_dir"
    port="$(free_port)"
    cport="$(free_port)"
    if KAFKA_CONTROLLER_PORT="$cport" "$root/scripts/apache-kafka.sh" start "$port" "$kafka_dir" \
        >/dev/null 2>"$out_dir/kafka.start.log"; then
        broker_pid="$(cat "$kafka_dir/kafka.pid")"
        suite kafka "127.0.0.1:$port" acks1 acksall consume
    else
        log "Apache Kafka did not start: $(tail -5 "$out_dir/kafka.start.log")"
    fi
    "$root/scripts/apache-kafka.sh" stop "$kafka_dir" || true
    cp "$kafka_dir/kafka.log" "$out_dir/kafka.broker.log" 2>/dev/null || true
    kafka_dir=""
fi

# ----------------------------------------------------------------------------- report
if [[ -n "$rev" ]]; then
    commit="${sha:-$(git -C "$root" rev-parse --short "$rev")}"  # the commit that was built
else
    commit="$(git -C "$root" rev-parse --short HEAD)"
    git -C "$root" diff --quiet HEAD -- src 2>/dev/null || commit="$commit + uncommitted edits"
fi
jq -n \
    --arg date "$stamp" --arg cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" \
    --arg cores "$(nproc)" --arg mem "$(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}')" \
    --arg kernel "$(uname -r)" --arg fs "$(df -T /tmp | awk 'NR==2 {print $2}')" \
    --arg commit "$commit" --arg build "$riacho_build" \
    --arg kv "${KAFKA_VERSION:-4.1.1}" --arg heap "${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}" \
    --arg rdk "$(dpkg-query -W -f '${Version}' librdkafka1 2>/dev/null || echo '?')" \
    --argjson records "$records" --argjson size "$size" --argjson warmup "$warmup" \
    --arg logs "bench/results/$stamp/" \
    '{date: $date, cpu: $cpu, cores: $cores, mem: $mem, kernel: $kernel, fs: $fs,
      riacho_commit: $commit, riacho_build: $build, kafka_version: $kv, kafka_heap: $heap,
      librdkafka: $rdk, linger_ms: 5, records: $records, size: $size, warmup: $warmup,
      log_dir: $logs}' >"$out_dir/meta.json"
python3 "$root/bench/macro/report.py" "$out_dir" | tee "$root/bench/results/$stamp.md"
for f in "$out_dir"/*.crashed; do
    [[ -e "$f" ]] && echo "WARNING: $(basename "$f" .crashed): $(cat "$f")"
done
echo
echo "(written to bench/results/$stamp.md; raw results and broker logs in bench/results/$stamp/)"
