#!/usr/bin/env python3
"""bench/storage_vs_kafka.py — the log engine's operations that Apache Kafka also has, side by
side on this machine: restart after kill -9 with a large one-partition log, and the log
cleaner's throughput on a compacted topic.

Usage:
  BENCH_PYTHON=tests/integration/.deps/venv/bin/python
  TMPDIR=/var/tmp $BENCH_PYTHON bench/storage_vs_kafka.py [--gib 10] [--compact-mib 1024]
      [--riacho-bin build/src/broker/riacho] [--only riacho|kafka] [--skip recovery|compaction]
      [--out DIR]

Per broker (fresh data dir under $TMPDIR, deleted afterwards; default settings unless said):
  recovery    a 1-partition topic; --gib GiB produced with acks=1 (confluent-kafka, 4 KiB
              values, linger 20 ms, 1 MiB batches, no compression), so neither broker waits
              for a flush; then kill -9 and a restart on the same dir, timed from process start
              (Kafka: from `apache-kafka.sh start`, JVM start included) until the partition is
              readable: ListOffsets returns the log end and the last record is fetched.
              (a) "as left": each broker recovers what its own recovery point leaves (both
              flush on segment roll, so about the last 1 GiB segment);
              (b) "no recovery point": kill -9 again, set the recovery point to 0 (Riacho:
              `<topic>-0/recovery-point` rewritten as 0; Kafka: `recovery-point-offset-checkpoint`
              deleted, which Kafka reads as 0), restart: every batch of the whole log is
              validated (CRC) and the indexes rebuilt.
              The page cache is warm (the log was just written and fits in RAM) for both.
  compaction  a topic with cleanup.policy=compact, segment.bytes=64 MiB and
              min.compaction.lag.ms=1 h while --compact-mib MiB of 1 KiB values over 10,000 keys
              are produced, then set to 0 (AlterConfigs), so the first cleaning takes the whole
              log but its active segment on both; log.cleaner.backoff.ms=1000 on both. The first
              cleaning's throughput is read from each broker's own summary line: Kafka's
              "N MB of log processed in S seconds (R MB/sec)" (log-cleaner, MiB units), Riacho's
              "compacted ... in S s (R MB/s ...)". Both reported here in MB/s (10^6 B/s).

Prints a Markdown table with Riacho/Kafka ratios and writes <out>/storage_vs_kafka.{json,md}.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brokers  # noqa: E402
from brokers import log  # noqa: E402

VALUE_BYTES = 4096
TOPIC = "bench-recovery"
CTOPIC = "bench-compact"

# Kafka's log4j at WARN hides the cleaner's summary and log loading; this raises just those.
KAFKA_LOG4J = """status = error
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = INFO
logger.storage.name = org.apache.kafka.storage.internals.log
logger.storage.level = INFO
logger.logmanager.name = kafka.log.LogManager
logger.logmanager.level = INFO
"""


def produce(bootstrap: str, topic: str, total_bytes: int, keys: int | None = None,
            value_bytes: int = VALUE_BYTES) -> dict:
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 20,
                  "batch.size": 1 << 20, "message.max.bytes": 2 << 20,
                  "queue.buffering.max.kbytes": 1 << 20, "compression.type": "none",
                  "log_level": 2})
    value = os.urandom(value_bytes)
    n = total_bytes // value_bytes
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)
    t0 = time.monotonic()
    for i in range(n):
        key = None if keys is None else f"key-{i % keys}".encode()
        while True:
            try:
                p.produce(topic, value=value, key=key, partition=0, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.01)
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(300)
    secs = time.monotonic() - t0
    if left or errors:
        raise RuntimeError(f"produce: {left} undelivered, {len(errors)} errors ({errors[:3]})")
    return {"records": n, "bytes": n * value_bytes, "s": secs,
            "mb_s": n * value_bytes / 1e6 / secs}


def readable(bootstrap: str, topic: str, end: int, t0: float, timeout: float = 900.0) -> float:
    """Seconds from t0 until ListOffsets gives `end` and the record at end-1 is fetched."""
    from confluent_kafka import Consumer, TopicPartition
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not brokers.api_versions_ok(bootstrap, timeout=1.0):
            time.sleep(0.02)
            continue
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-storage",
                      "enable.auto.commit": False, "log_level": 0,
                      "fetch.message.max.bytes": 1 << 20})
        try:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=2.0)
            if hi == end:
                c.assign([TopicPartition(topic, 0, end - 1)])
                m = c.poll(5.0)
                if m is not None and m.error() is None and m.offset() == end - 1:
                    return time.monotonic() - t0
        except Exception:  # noqa: BLE001 (not leader yet, not available yet: retry)
            pass
        finally:
            c.close()
        time.sleep(0.05)
    raise RuntimeError(f"{topic} not readable up to {end} in {timeout} s")


def end_offset(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-storage", "log_level": 0})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10.0)[1]
    finally:
        c.close()


def make_broker(kind: str, args, label: str, settings: dict):
    # out_dir keeps each broker's log next to the results (the data dirs are deleted).
    if kind == "riacho":
        return brokers.Riacho(args.riacho_bin, label, settings=settings, out_dir=args.out_dir)
    return brokers.Kafka(label, settings=settings, out_dir=args.out_dir)


KAFKA_LOADED = re.compile(r"Loaded (\d+) logs in (\d+)ms")


def kafka_load_ms(b) -> list[int]:
    """Kafka's own figure for loading (and recovering) its logs, per start."""
    if b.kind != "kafka" or not b.log_path().exists():
        return []
    return [int(m.group(2)) for m in KAFKA_LOADED.finditer(b.log_path().read_text(errors="replace"))]


def start_t0(b) -> float:
    return b.start()["t0"]


def recovery_point_files(b) -> list[Path]:
    if b.kind == "riacho":
        return list(b.data.rglob(f"{TOPIC}-0/recovery-point"))
    return list((b.dir / "logs").glob("recovery-point-offset-checkpoint"))


def bench_recovery(kind: str, args) -> dict:
    b = make_broker(kind, args, f"{kind}-recovery", {})
    out = {}
    try:
        start_t0(b)
        brokers.wait_serving(b.bootstrap)
        brokers.create_topics(b.bootstrap, {TOPIC: 1})
        log(f"{kind}: producing {args.gib} GiB")
        out["produce"] = produce(b.bootstrap, TOPIC, int(args.gib * (1 << 30)))
        end = end_offset(b.bootstrap, TOPIC)
        out["end_offset"] = end
        log(f"{kind}: produced {out['produce']['mb_s']:.0f} MB/s; kill -9")
        for variant in ("as_left", "no_recovery_point"):
            b.kill9()
            if variant == "no_recovery_point":
                files = recovery_point_files(b)
                if not files:
                    raise RuntimeError(f"{kind}: no recovery-point checkpoint found")
                for f in files:
                    if b.kind == "riacho":
                        # Riacho reads a missing recovery point as "the last segment" (older
                        # ones were fsynced when they rolled); 0 makes it validate them all.
                        f.write_text("0\n0\n")
                    else:
                        f.unlink()  # Kafka: a missing checkpoint means recovery from 0
            t0 = start_t0(b)
            out[variant] = {"readable_s": readable(b.bootstrap, TOPIC, end, t0)}
            if b.kind == "kafka":
                loads = kafka_load_ms(b)
                out[variant]["logs_loaded_s"] = loads[-1] / 1000 if loads else None
            log(f"{kind}: {variant}: readable after {out[variant]['readable_s']:.2f} s")
    finally:
        b.stop()
        shutil.rmtree(b.dir, ignore_errors=True)
    return out


CLEANER_KAFKA = re.compile(r"([\d,.]+) MB of log processed in ([\d,.]+) seconds \(([\d,.]+) MB/sec\)")
CLEANER_RIACHO = re.compile(r"compacted (\d+) segment\(s\).*?: (\d+) -> (\d+) bytes, (\d+) record"
                            r".*? in ([\d.]+) s \(([\d.]+) MB/s")


def cleaner_line(b):
    text = b.log_path().read_text(errors="replace") if b.log_path().exists() else ""
    if b.kind == "kafka":
        m = CLEANER_KAFKA.search(text)
        if m:
            # Kafka prints MiB and MiB/s with one decimal; its rate is the precise figure.
            mib = float(m.group(1).replace(",", ""))
            return {"mb_in": mib * 1.048576, "s": float(m.group(2).replace(",", "")),
                    "mb_s": float(m.group(3).replace(",", "")) * 1.048576}
    else:
        m = CLEANER_RIACHO.search(text)
        if m:
            return {"segments": int(m.group(1)), "mb_in": int(m.group(2)) / 1e6,
                    "mb_out": int(m.group(3)) / 1e6, "s": float(m.group(5)),
                    "mb_s": float(m.group(6))}
    return None


def bench_compaction(kind: str, args) -> dict:
    settings = {"log.cleaner.backoff.ms": "1000"}
    b = make_broker(kind, args, f"{kind}-compact", settings)
    out = {}
    try:
        start_t0(b)
        brokers.wait_serving(b.bootstrap)
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        # min.compaction.lag.ms (an hour) holds the cleaner back while the data is produced,
        # then goes to 0, so that both brokers clean the whole log in one pass (otherwise each
        # cleans whatever has rolled when its backoff timer fires, a different amount on each).
        topic_cfg = {"cleanup.policy": "compact", "segment.bytes": str(64 << 20),
                     "min.compaction.lag.ms": str(3_600_000)}
        fs = admin.create_topics([NewTopic(CTOPIC, 1, 1, config=topic_cfg)])
        for f in fs.values():
            f.result(60)
        log(f"{kind}: producing {args.compact_mib} MiB keyed")
        out["produce"] = produce(b.bootstrap, CTOPIC, args.compact_mib << 20, keys=10_000,
                                 value_bytes=1024)
        if cleaner_line(b):
            raise RuntimeError(f"{kind}: cleaned before min.compaction.lag.ms was lifted")
        from confluent_kafka.admin import ConfigResource
        topic_cfg["min.compaction.lag.ms"] = "0"
        res = ConfigResource(ConfigResource.Type.TOPIC, CTOPIC, set_config=topic_cfg)
        for f in admin.alter_configs([res]).values():
            f.result(60)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            line = cleaner_line(b)
            if line:
                out["first_cleaning"] = line
                break
            time.sleep(1.0)
        else:
            raise RuntimeError(f"{kind}: no cleaner summary in the log within 600 s")
        log(f"{kind}: cleaner {out['first_cleaning']}")
    finally:
        b.stop()
        shutil.rmtree(b.dir, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gib", type=float, default=10.0)
    ap.add_argument("--compact-mib", type=int, default=1024)
    ap.add_argument("--riacho-bin", default=brokers.default_riacho_bin())
    ap.add_argument("--only", choices=["riacho", "kafka"])
    ap.add_argument("--skip", choices=["recovery", "compaction"], action="append", default=[])
    ap.add_argument("--out")
    args = ap.parse_args()
    out_dir = brokers.out_dir_for("storage", args.out)
    args.out_dir = out_dir
    log4j = Path(tempfile.mkdtemp(prefix="riacho-bench-log4j-")) / "log4j2.properties"
    log4j.write_text(KAFKA_LOG4J)
    os.environ["KAFKA_LOG4J_CONFIG"] = str(log4j)
    kinds = [args.only] if args.only else ["riacho", "kafka"]
    results = {"machine": brokers.machine(), "gib": args.gib, "compact_mib": args.compact_mib}
    for kind in kinds:
        results[kind] = {}
        if "recovery" not in args.skip:
            results[kind]["recovery"] = bench_recovery(kind, args)
        if "compaction" not in args.skip:
            results[kind]["compaction"] = bench_compaction(kind, args)
    brokers.write_json(out_dir / "storage_vs_kafka.json", results)
    md = render(results, kinds)
    (out_dir / "storage_vs_kafka.md").write_text(md)
    print(md)


def render(results: dict, kinds: list[str]) -> str:
    def get(kind, *path):
        v = results.get(kind, {})
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        return v
    rows = [
        (f"produce {results['gib']} GiB, acks=1, MB/s", ("recovery", "produce", "mb_s"), True),
        ("restart after kill -9 until readable (as left), s", ("recovery", "as_left", "readable_s"),
         False),
        ("restart after kill -9, no recovery point (whole log validated), s",
         ("recovery", "no_recovery_point", "readable_s"), False),
        ("  of which Kafka's own \"Loaded logs in\" (as left), s",
         ("recovery", "as_left", "logs_loaded_s"), False),
        ("  of which Kafka's own \"Loaded logs in\" (no recovery point), s",
         ("recovery", "no_recovery_point", "logs_loaded_s"), False),
        (f"cleaner, first cleaning of {results['compact_mib']} MiB (10,000 keys): MB in",
         ("compaction", "first_cleaning", "mb_in"), True),
        ("cleaner, first cleaning: s", ("compaction", "first_cleaning", "s"), False),
        ("cleaner, first cleaning: MB/s", ("compaction", "first_cleaning", "mb_s"), True),
    ]
    lines = ["| figure | Riacho | Kafka | Riacho/Kafka |", "|---|---:|---:|---:|"]
    for name, path, _ in rows:
        r = get("riacho", *path)
        k = get("kafka", *path)
        fmt = (lambda v: "—" if v is None else f"{v:,.2f}")
        lines.append(f"| {name} | {fmt(r)} | {fmt(k)} | {brokers.ratio(r, k)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
