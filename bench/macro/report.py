#!/usr/bin/env python3
"""Turns the JSON lines bench/run.sh collected into one Markdown table.

Usage: report.py <run dir>
The run dir holds <system>-<workload>.json (one JSON line from rdkafka_load, or nothing
if the tool died) and meta.json (what was run where). Prints Markdown on stdout.
A workload that failed shows FAILED and its error in the table instead of a figure.
"""
import json
import os
import sys


def load(run_dir, name):
    path = os.path.join(run_dir, name + ".json")
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else {"ok": False, "error": "no result (see logs)"}
    except FileNotFoundError:
        return None  # not run


def fmt(v, metric):
    if metric in ("records_per_s",):
        return f"{v:,.0f}"
    if metric == "mb_per_s":
        return f"{v:,.1f}"
    return f"{v:,.2f}"


# (row label, Riacho result, Kafka result)
WORKLOADS = [
    ("produce acks=1", "riacho-produce-acks1", "kafka-produce-acks1"),
    ("produce acks=-1 (Riacho fsync, Kafka page cache)", "riacho-produce-acksall",
     "kafka-produce-acksall"),
    ("produce acks=-1 (both page cache: Riacho fsync off)", "riacho_nofsync-produce-acksall",
     "kafka-produce-acksall"),
    ("consume from the beginning", "riacho-consume", "kafka-consume"),
]
PRODUCE_METRICS = [
    ("records/s", "records_per_s", True),
    ("MB/s", "mb_per_s", True),
    ("latency p50 ms", "p50_ms", False),
    ("latency p99 ms", "p99_ms", False),
    ("latency p99.9 ms", "p999_ms", False),
    ("latency max ms", "max_ms", False),
]
CONSUME_METRICS = [("records/s", "records_per_s", True), ("MB/s", "mb_per_s", True)]


def cell(res, key):
    if res is None:
        return "not run", None
    if not res.get("ok"):
        return f"FAILED: {res.get('error', '?')}".replace("|", "/"), None
    return fmt(res[key], key), res[key]


def main():
    run_dir = sys.argv[1]
    with open(os.path.join(run_dir, "meta.json")) as f:
        meta = json.load(f)
    out = []
    out.append(f"# Riacho vs Apache Kafka {meta['kafka_version']} — {meta['date']}")
    out.append("")
    out.append(f"- Machine: {meta['cpu']} ({meta['cores']} cores), {meta['mem']}, "
               f"kernel {meta['kernel']}, data dirs on {meta['fs']}")
    out.append(f"- Riacho {meta['riacho_commit']} ({meta['riacho_build']}); Apache Kafka "
               f"{meta['kafka_version']} (KRaft, one JVM, {meta['kafka_heap']}); "
               f"client librdkafka {meta['librdkafka']} (its defaults: linger "
               f"{meta['linger_ms']} ms, no compression, not idempotent)")
    out.append(f"- Workload: {meta['records']:,} records of {meta['size']} B per run, one "
               f"partition (topic created by CreateTopics, 1 partition, RF 1, broker "
               f"defaults), one producer; a {meta['warmup']:,}-record warm-up first on each "
               f"broker. Broker and client share the machine.")
    out.append("- Latency = delivery report time − send time per record, with the producer "
               "sending as fast as librdkafka accepts (queueing in the client included). "
               "Consume = legacy consumer from offset 0 to the last record, no group.")
    out.append("- Ratio = Riacho / Kafka: above 1 is better for throughput, below 1 is better "
               "for latency.")
    try:
        with open(os.path.join(run_dir, "load.txt")) as f:
            out.append("- Machine load when each broker's workloads started: " +
                       "; ".join(l.strip() for l in f if l.strip()))
    except FileNotFoundError:
        pass
    out.append("")
    out.append(f"| workload | metric | Riacho | Kafka | Riacho/Kafka |")
    out.append("|---|---|---:|---:|---:|")
    failures = []
    seen = set()
    for label, r_name, k_name in WORKLOADS:
        r, k = load(run_dir, r_name), load(run_dir, k_name)
        metrics = CONSUME_METRICS if "consume" in r_name else PRODUCE_METRICS
        for i, (mlabel, key, _) in enumerate(metrics):
            rc, rv = cell(r, key)
            kc, kv = cell(k, key)
            if i > 0 and rv is None and (r is None or not r.get("ok")):
                rc = "″"  # the failure was shown on the first row
            if i > 0 and kv is None and (k is None or not k.get("ok")):
                kc = "″"
            ratio = f"{rv / kv:.2f}" if rv is not None and kv else "—"
            out.append(f"| {label if i == 0 else ''} | {mlabel} | {rc} | {kc} | {ratio} |")
        for name, res in ((r_name, r), (k_name, k)):
            if res is not None and not res.get("ok") and name not in seen:
                seen.add(name)
                failures.append(f"- `{name}`: {res.get('error')} "
                                f"(delivered/consumed {res.get('delivered', res.get('consumed', '?'))}"
                                f" of {res.get('records', '?')})")
    for f in sorted(os.listdir(run_dir)):
        if f.endswith(".crashed"):
            with open(os.path.join(run_dir, f)) as fh:
                failures.append(f"- broker `{f[:-len('.crashed')]}` {fh.read().strip()}")
    if failures:
        out.append("")
        out.append("## Failures")
        out.extend(failures)
        out.append(f"\nLogs: `{meta['log_dir']}`")
    print("\n".join(out))


if __name__ == "__main__":
    main()
