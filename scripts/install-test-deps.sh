#!/usr/bin/env bash
# install-test-deps.sh — install what the integration suite (tests/integration)
# needs, on a fresh Debian machine or an already provisioned one. Idempotent:
# each step is skipped when its inputs have not changed since it last succeeded.
#
#   1. Debian packages, only those missing (needs root): kcat, python3-venv,
#      a JDK + maven, golang, nodejs + npm.
#   2. Python venv at tests/integration/.deps/venv with requirements.txt (PyPI).
#   3. kafkajs & codecs: `npm ci` in tests/integration/node (npm registry).
#   4. franz-go program: tests/integration/.deps/go/clientcheck (Go module proxy).
#   5. Java ClientCheck, one shaded jar per kafka-clients version
#      (tests/integration/.deps/java/<version>/clientcheck-all.jar; Maven Central).
#   6. Kafka Streams word count (exactly_once_v2), one shaded jar
#      (tests/integration/.deps/streams/wordcount-all.jar; Maven Central).
#   7. With --with-kafka (or RIACHO_TEST_TARGET=kafka): the Apache Kafka 4.x
#      oracle's jars via scripts/apache-kafka.sh fetch.
#
# Output is quiet; a failing step prints its log and exits non-zero.
# Env: JAVA_CLIENT_VERSIONS (default "3.9.1 4.1.1").
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
it="$repo/tests/integration"
deps="$it/.deps"
mkdir -p "$deps/stamps"
JAVA_CLIENT_VERSIONS="${JAVA_CLIENT_VERSIONS:-3.9.1 4.1.1}"
with_kafka=0
[[ "${1:-}" == "--with-kafka" || "${RIACHO_TEST_TARGET:-}" == "kafka" ]] && with_kafka=1

log="$deps/install.log"
step() { # step <name> <command...>: run quietly, show the log on failure
    local name="$1"; shift
    if ! "$@" >"$log" 2>&1; then
        echo "install-test-deps: step '$name' failed:" >&2
        tail -50 "$log" >&2
        exit 1
    fi
}
# stamp <name> <files...>: true when the files' hash equals the stored one
stamp_ok() {
    local name="$1"; shift
    local h; h="$(cat "$@" | sha256sum | cut -c1-64)"
    [[ -f "$deps/stamps/$name" && "$(cat "$deps/stamps/$name")" == "$h" ]]
}
stamp_set() {
    local name="$1"; shift
    cat "$@" | sha256sum | cut -c1-64 >"$deps/stamps/$name"
}

# ---------------------------------------------------------------- 1. Debian packages
missing=()
command -v kcat >/dev/null || command -v kafkacat >/dev/null || missing+=(kcat)
command -v python3 >/dev/null || missing+=(python3)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
command -v javac >/dev/null || missing+=(default-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v go >/dev/null || missing+=(golang)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v ip >/dev/null || missing+=(iproute2)  # network namespaces for the fault tests
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "install-test-deps: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    step apt-update apt-get update -qq
    step apt-install apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------- 2. Python venv
venv="$deps/venv"
if [[ ! -x "$venv/bin/python" ]] || ! stamp_ok venv "$it/requirements.txt"; then
    [[ -x "$venv/bin/python" ]] || step venv python3 -m venv "$venv"
    step pip "$venv/bin/pip" install -q --disable-pip-version-check -r "$it/requirements.txt"
    stamp_set venv "$it/requirements.txt"
fi

# ---------------------------------------------------------------- 3. kafkajs
if [[ ! -d "$it/node/node_modules/kafkajs" ]] || ! stamp_ok node "$it/node/package-lock.json"; then
    step npm-ci bash -c "cd '$it/node' && npm ci --no-audit --no-fund --loglevel=error"
    stamp_set node "$it/node/package-lock.json"
fi

# ---------------------------------------------------------------- 4. franz-go
if [[ ! -x "$deps/go/clientcheck" ]] || ! stamp_ok go "$it/go/go.mod" "$it/go/go.sum" "$it/go/main.go"; then
    step go-build bash -c "cd '$it/go' && go mod download && go build -o '$deps/go/clientcheck' ."
    stamp_set go "$it/go/go.mod" "$it/go/go.sum" "$it/go/main.go"
fi

# ---------------------------------------------------------------- 5. Java ClientCheck
java_src=("$it/java/pom.xml" $(find "$it/java/src" -name '*.java' | sort))
for v in $JAVA_CLIENT_VERSIONS; do
    if [[ ! -f "$deps/java/$v/clientcheck-all.jar" ]] || ! stamp_ok "java-$v" "${java_src[@]}"; then
        step "mvn-$v" mvn -q -B -f "$it/java/pom.xml" package "-Dkafka.clients.version=$v"
        stamp_set "java-$v" "${java_src[@]}"
    fi
done

# ---------------------------------------------------------------- 6. Kafka Streams word count
streams_src=("$it/streams/pom.xml" $(find "$it/streams/src" -name '*.java' | sort))
if [[ ! -f "$deps/streams/wordcount-all.jar" ]] || ! stamp_ok streams "${streams_src[@]}"; then
    step mvn-streams mvn -q -B -f "$it/streams/pom.xml" package
    stamp_set streams "${streams_src[@]}"
fi

# ---------------------------------------------------------------- 7. Kafka oracle
if ((with_kafka)); then
    step kafka-fetch "$repo/scripts/apache-kafka.sh" fetch
fi
echo "install-test-deps: ok"
