#!/usr/bin/env bash
# apache-kafka.sh — run a real, single-node Apache Kafka 4.x broker (KRaft,
# broker+controller in one JVM) from jars fetched from Maven Central. It is the
# oracle the integration tests and benchmarks compare Riacho with.
#
# Usage:
#   scripts/apache-kafka.sh fetch
#       Download the broker jars (once) into $KAFKA_CACHE. Needs mvn + a JDK 17+.
#   scripts/apache-kafka.sh start <port> <datadir> [key=value ...]
#       Format <datadir> (if not yet formatted) and start a broker in the
#       background with PLAINTEXT on 127.0.0.1:<port> and its controller on
#       127.0.0.1:<port+1> (override with KAFKA_CONTROLLER_PORT). Extra
#       key=value arguments are appended to server.properties (e.g.
#       message.max.bytes=2000). Prints the broker's pid on stdout and returns
#       once the broker accepts TCP connections on <port> (or fails after
#       KAFKA_START_TIMEOUT seconds, default 90, printing the log tail).
#       Logs: <datadir>/kafka.log (stdout+stderr of the JVM).
#       Files: <datadir>/server.properties, <datadir>/kafka.pid, <datadir>/logs/
#   scripts/apache-kafka.sh stop <datadir> [--kill]
#       SIGTERM (or SIGKILL with --kill) the broker started on <datadir> and wait
#       for it to exit (SIGKILL after 30 s).
#   scripts/apache-kafka.sh classpath
#       Print the classpath (e.g. for kafka.tools.* or benchmarks).
#
# Environment:
#   KAFKA_VERSION          Apache Kafka version (default 4.1.1)
#   KAFKA_CACHE            jar cache (default ~/.cache/riacho/kafka-$KAFKA_VERSION)
#   KAFKA_HEAP_OPTS        JVM heap (default -Xms256m -Xmx1g)
#   KAFKA_CONTROLLER_PORT  controller listener port (default <port>+1)
#   KAFKA_CLUSTER_ID       cluster id to format a new data dir with (default: a random one);
#                          nodes of one cluster (node.id, controller.quorum.voters passed as
#                          key=value) must share it
#   KAFKA_START_TIMEOUT    seconds to wait for the listener (default 90)
#   KAFKA_LOG4J_CONFIG     log4j2 properties file to use instead of the cache's (WARN level)
#
# The broker is configured like a fresh `kafka-server-start.sh` single node:
# num.partitions=1, auto.create.topics.enable=true, replication factor 1 for
# internal topics, group initial rebalance delay 0.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_CACHE="${KAFKA_CACHE:-$HOME/.cache/riacho/kafka-$KAFKA_VERSION}"
LOG4J_VERSION="2.24.3"

die() { echo "apache-kafka.sh: $*" >&2; exit 1; }

fetch() {
    # The stamp names what the pom holds: a cache from an older list is fetched again.
    if [[ -f "$KAFKA_CACHE/.complete-tools" ]]; then return 0; fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    command -v java >/dev/null || die "java not found (apt-get install default-jdk-headless)"
    mkdir -p "$KAFKA_CACHE"
    cat >"$KAFKA_CACHE/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>riacho</groupId><artifactId>apache-kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
    rm -rf "$KAFKA_CACHE/libs"
    # mvn's output goes to stderr: stdout of `classpath` is the classpath alone.
    (cd "$KAFKA_CACHE" && mvn -q -B dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory=libs >&2) \
        || die "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central failed"
    cat >"$KAFKA_CACHE/log4j2.properties" <<'EOF'
status = error
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = INFO
EOF
    touch "$KAFKA_CACHE/.complete-tools"
}

classpath() { fetch; echo "$KAFKA_CACHE/libs/*"; }

java_cmd() {
    # shellcheck disable=SC2206
    JAVA_CMD=(java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true
        -Dlog4j2.configurationFile="${KAFKA_LOG4J_CONFIG:-$KAFKA_CACHE/log4j2.properties}"
        -cp "$KAFKA_CACHE/libs/*")
}
java_run() { java_cmd; "${JAVA_CMD[@]}" "$@"; }

# alive <pid>: running and not a zombie (the JVM is not our child once we exit)
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo X)"
    [[ "$state" != "Z" && "$state" != "X" ]]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    local port="${1:?usage: start <port> <datadir> [key=value ...]}"
    local dir="${2:?usage: start <port> <datadir> [key=value ...]}"
    shift 2
    fetch
    local cport="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
    mkdir -p "$dir/logs"
    dir="$(cd "$dir" && pwd)"
    if [[ -f "$dir/kafka.pid" ]] && alive "$(cat "$dir/kafka.pid")"; then
        die "a broker is already running on $dir (pid $(cat "$dir/kafka.pid"))"
    fi
    {
        echo "process.roles=broker,controller"
        echo "node.id=1"
        echo "controller.quorum.voters=1@127.0.0.1:$cport"
        echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
        echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
        echo "controller.listener.names=CONTROLLER"
        echo "inter.broker.listener.name=PLAINTEXT"
        echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        echo "log.dirs=$dir/logs"
        echo "num.partitions=1"
        echo "auto.create.topics.enable=true"
        echo "offsets.topic.replication.factor=1"
        echo "transaction.state.log.replication.factor=1"
        echo "transaction.state.log.min.isr=1"
        echo "share.coordinator.state.topic.replication.factor=1"
        echo "share.coordinator.state.topic.min.isr=1"
        echo "group.initial.rebalance.delay.ms=0"
        local kv
        for kv in "$@"; do echo "$kv"; done
    } >"$dir/server.properties"
    if [[ ! -f "$dir/logs/meta.properties" ]]; then
        local cid
        cid="${KAFKA_CLUSTER_ID:-$(java_run kafka.tools.StorageTool random-uuid 2>>"$dir/kafka.log")}"
        java_run kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" \
            >>"$dir/kafka.log" 2>&1 || { tail -20 "$dir/kafka.log" >&2; die "storage format failed"; }
    fi
    java_cmd
    nohup "${JAVA_CMD[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/kafka.pid"
    local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
    until port_open "$port"; do
        if ! alive "$pid"; then
            tail -30 "$dir/kafka.log" >&2; die "broker exited during startup"
        fi
        if ((SECONDS >= deadline)); then
            kill -9 "$pid" 2>/dev/null || true
            tail -30 "$dir/kafka.log" >&2; die "broker did not listen on $port in time"
        fi
        sleep 0.2
    done
    echo "$pid"
}

stop() {
    local dir="${1:?usage: stop <datadir> [--kill]}"
    local sig=TERM
    [[ "${2:-}" == "--kill" ]] && sig=KILL
    [[ -f "$dir/kafka.pid" ]] || return 0
    local pid
    pid="$(cat "$dir/kafka.pid")"
    if alive "$pid"; then
        kill -s "$sig" "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while alive "$pid"; do
            if ((SECONDS >= deadline)); then kill -9 "$pid" 2>/dev/null || true; fi
            if ((SECONDS >= deadline + 10)); then die "pid $pid did not exit"; fi
            sleep 0.1
        done
    fi
    rm -f "$dir/kafka.pid"
}

case "${1:-}" in
    fetch) fetch ;;
    classpath) classpath ;;
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) sed -n '2,/^set -euo/p' "$0" | grep '^#' >&2; exit 2 ;;
esac
