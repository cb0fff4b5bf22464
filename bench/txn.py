#!/usr/bin/env python3
"""bench/txn.py — transactional produce, Riacho vs Apache Kafka, side by side in one run.

Usage (with the integration-test venv, which has confluent-kafka):
  tests/integration/.deps/venv/bin/python bench/txn.py [--riacho-bin PATH] [--only riacho|kafka]
      [--seconds S] [--sizes 10,100,1000] [--out DIR]
or `bench/run.sh --suite txn`, which builds the broker first.

Same client (confluent-kafka / librdkafka), same settings, for both brokers: one topic of 3
partitions; one transactional producer (linger.ms 5) runs, for --seconds per size, the loop
  begin_transaction(); produce N records of 1 KiB round-robin over the partitions;
  commit_transaction()
and reports records/s, transactions/s and the commit latency (commit_transaction() call to
return, which includes flushing the records: p50/p99/max). Then a read_committed consumer
reads everything back and the count is checked (every committed record, nothing else).
Riacho runs twice: its default (every acknowledgement and the transaction's records, markers
and state fdatasync'ed before the answer) and riacho.acks.all.fsync=false (page cache, like
Kafka's default, which the Kafka run uses).
"""
from __future__ import annotations

import argparse
import statistics
import time
import uuid

import brokers
from brokers import log

TOPIC = "bench-txn"
PARTITIONS = 3
VALUE = b"x" * 1024


def run_size(bootstrap: str, records_per_txn: int, seconds: float) -> dict:
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                  "transactional.id": f"bench-{uuid.uuid4().hex[:8]}"})
    p.init_transactions(60)
    commits, records, txns = [], 0, 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        p.begin_transaction()
        for i in range(records_per_txn):
            while True:
                try:
                    p.produce(TOPIC, value=VALUE, partition=i % PARTITIONS)
                    break
                except BufferError:
                    p.poll(0.01)
        t0 = time.monotonic()
        p.commit_transaction(60)
        commits.append((time.monotonic() - t0) * 1000)
        records += records_per_txn
        txns += 1
    elapsed = time.monotonic() - start
    commits.sort()
    return {"records_per_txn": records_per_txn, "transactions": txns, "records": records,
            "seconds": round(elapsed, 2), "records_per_s": round(records / elapsed),
            "txn_per_s": round(txns / elapsed, 1),
            "commit_ms_p50": round(statistics.median(commits), 2),
            "commit_ms_p99": round(commits[min(len(commits) - 1, int(len(commits) * 0.99))], 2),
            "commit_ms_max": round(commits[-1], 2)}


def count_committed(bootstrap: str, expected: int, timeout: float = 120.0) -> int:
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex[:6]}",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    n, deadline = 0, time.monotonic() + timeout
    while n < expected and time.monotonic() < deadline:
        for m in c.consume(10000, 0.5):
            if not m.error():
                n += 1
    # Anything past the expected count would be an aborted or duplicated record.
    for m in c.consume(10000, 1.0):
        if not m.error():
            n += 1
    c.close()
    return n


def run_system(broker, sizes, seconds) -> dict:
    res = {"label": broker.label, "load_before": brokers.loadavg(), "sizes": []}
    brokers.create_topics(broker.bootstrap, {TOPIC: PARTITIONS})
    total = 0
    for n in sizes:
        r = run_size(broker.bootstrap, n, seconds)
        log(f"{broker.label} {n}/txn: {r}")
        res["sizes"].append(r)
        total += r["records"]
    got = count_committed(broker.bootstrap, total)
    res["read_committed_check"] = {"expected": total, "read": got, "ok": got == total}
    res["load_after"] = brokers.loadavg()
    return res


def report(results: dict, meta: dict) -> str:
    out = [f"## Transactions: Riacho vs Apache Kafka {brokers.KAFKA_VERSION} — {meta['date']}",
           "",
           f"- Riacho {meta['commit']} ({meta['build']}); Apache Kafka {brokers.KAFKA_VERSION}; "
           f"client confluent-kafka {meta['client']} (librdkafka {meta['librdkafka_client']}); "
           f"{meta['seconds']} s per size; 1 KiB records over {PARTITIONS} partitions.",
           f"- Machine: {meta['machine']}",
           ""]
    for label, r in results.items():
        if "error" in r:
            out.append(f"- {label}: ERROR {r['error']}")
        else:
            c = r["read_committed_check"]
            out.append(f"- {label}: read_committed read back {c['read']} of {c['expected']} "
                       f"records ({'ok' if c['ok'] else 'MISMATCH'}); load {r['load_before']} "
                       f"-> {r['load_after']}")
    out += ["", "| records/txn | system | records/s | txn/s | commit p50 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|---|"]
    sizes = meta["sizes"]
    for i, n in enumerate(sizes):
        for label, r in results.items():
            if "error" in r:
                continue
            s = r["sizes"][i]
            out.append(f"| {n} | {label} | {s['records_per_s']:,} | {s['txn_per_s']} | "
                       f"{s['commit_ms_p50']} | {s['commit_ms_p99']} | {s['commit_ms_max']} |")
    if "kafka" in results and "error" not in results["kafka"]:
        out += ["", "Ratios to Kafka (records/s; commit p50, lower is better):", ""]
        for label in results:
            if label == "kafka" or "error" in results[label]:
                continue
            parts = []
            for i, n in enumerate(sizes):
                r, k = results[label]["sizes"][i], results["kafka"]["sizes"][i]
                parts.append(f"{n}/txn {brokers.ratio(r['records_per_s'], k['records_per_s'])} "
                             f"(commit {brokers.ratio(r['commit_ms_p50'], k['commit_ms_p50'])})")
            out.append(f"- {label}: " + "; ".join(parts))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--riacho-bin", default=brokers.default_riacho_bin())
    ap.add_argument("--only", choices=["riacho", "kafka"])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--out")
    ap.add_argument("--build", default="scripts/build.sh release")
    ap.add_argument("--commit", help="what the Riacho binary was built from (default: HEAD)")
    args = ap.parse_args()
    import confluent_kafka
    brokers.LOG_PREFIX = "txn-"
    out_dir = brokers.out_dir_for("txn", args.out)
    sizes = [int(s) for s in args.sizes.split(",")]
    meta = {"date": time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()),
            "commit": args.commit or brokers.commit_desc(), "build": args.build,
            "machine": brokers.machine(), "seconds": args.seconds, "sizes": sizes,
            "client": confluent_kafka.__version__,
            "librdkafka_client": confluent_kafka.libversion()[0]}
    systems = []
    if args.only != "kafka":
        systems += [brokers.Riacho(args.riacho_bin, "riacho", {}, out_dir),
                    brokers.Riacho(args.riacho_bin, "riacho_nofsync",
                                   {"riacho.acks.all.fsync": "false"}, out_dir)]
    if args.only != "riacho":
        systems.append(brokers.Kafka("kafka", {}, {}, out_dir))
    results = {}
    for b in systems:
        try:
            b.start()
            log(f"{b.label} serving on {b.bootstrap}")
            results[b.label] = run_system(b, sizes, args.seconds)
        except Exception as e:  # noqa: BLE001 - a failed system is a result
            log(f"{b.label}: {e}")
            results[b.label] = {"label": b.label, "error": str(e)}
        finally:
            b.stop()
    brokers.write_json(out_dir / "txn.json", {"meta": meta, "results": results})
    md = report(results, meta)
    (out_dir / "txn.md").write_text(md + "\n")
    print(md)
    print(f"\n(written to {out_dir}/txn.md and txn.json)")


if __name__ == "__main__":
    main()
