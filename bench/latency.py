#!/usr/bin/env python3
"""bench/latency.py — end-to-end latency at a fixed rate, Riacho vs Apache Kafka, one run.

Usage:
  tests/integration/.deps/venv/bin/python bench/latency.py [--rate N] [--seconds S]
      [--size BYTES] [--acks A] [--linger-ms MS] [--riacho-bin PATH] [--load PATH]
      [--only riacho|kafka] [--out DIR]
or `bench/run.sh --suite latency`, which builds the broker and the load generator first.

For each broker (Riacho with riacho.acks.all.fsync=true, its default; Riacho with it false,
like Kafka's page-cache acks; Apache Kafka): a fresh broker, a 20,000-record warm-up on a
topic of its own, then `rdkafka_load e2e` (bench/macro/rdkafka_load.cc) on a fresh
1-partition topic: one librdkafka producer sends --rate records/s of --size bytes for
--seconds (librdkafka defaults otherwise: acks=-1, linger 5 ms unless --linger-ms), a
legacy consumer in the
same process reads them back; latency = consume time - intended send time, the first 2 s
left out. A producer that cannot keep the schedule shows it as latency (and as
max_behind_ms); the run fails if a record is never consumed.

Writes <out>/latency.json and <out>/latency.md, prints the Markdown.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brokers  # noqa: E402
from brokers import log, run_tool as tool  # noqa: E402

DEFAULT_LOAD = str(brokers.ROOT / "build-bench" / "load" / "rdkafka_load")


def run_one(broker, load, a) -> dict:
    bs = broker.bootstrap
    tool([load, "create", "--brokers", bs, "--topic", "warmup"], 120)
    w = tool([load, "produce", "--brokers", bs, "--topic", "warmup", "--records", "20000",
              "--size", str(a.size), "--acks", "-1", "--timeout", "60"], 120)
    if not w.get("ok"):
        log(f"{broker.label}: warm-up produce failed: {w.get('error')}")
    c = tool([load, "create", "--brokers", bs, "--topic", "e2e"], 120)
    if not c.get("ok"):
        return {"ok": False, "error": f"create: {c.get('error')}"}
    load_before = brokers.loadavg()
    timeout = int(a.seconds * 3 + 60)
    res = tool([load, "e2e", "--brokers", bs, "--topic", "e2e", "--rate", str(a.rate),
                "--seconds", str(a.seconds), "--warmup-seconds", str(a.warmup_seconds),
                "--size", str(a.size), "--acks", a.acks, "--timeout", str(timeout),
                "--set", f"linger.ms={a.linger_ms}"],
               timeout + 30)
    res["load_before"] = load_before
    res["load_after"] = brokers.loadavg()
    try:
        res["broker_rss"] = brokers.rss(broker.pid).get("VmRSS")
    except OSError:
        pass
    res["broker_alive"] = broker.alive()
    return res


ROWS = [("sent records/s (target rate)", "send_rate", "{:,.0f}"),
        ("producer max behind schedule ms", "max_behind_ms", "{:,.1f}"),
        ("latency p50 ms", "p50_ms", "{:,.2f}"),
        ("latency p99 ms", "p99_ms", "{:,.2f}"),
        ("latency p99.9 ms", "p999_ms", "{:,.2f}"),
        ("latency max ms", "max_ms", "{:,.2f}")]


def report(results, meta) -> str:
    R, N, K = results.get("riacho"), results.get("riacho_nofsync"), results.get("kafka")
    m = meta["machine"]
    out = [f"## End-to-end latency at a fixed rate: Riacho vs Apache Kafka "
           f"{brokers.KAFKA_VERSION} — {meta['date']}", "",
           f"- Machine: {m['cpu']} ({m['cores']} cores), {m['mem']}, kernel {m['kernel']}, data "
           f"on {m['fs']}; brokers and the client share it",
           f"- Riacho {meta['commit']} ({meta['build']}); Apache Kafka {brokers.KAFKA_VERSION} "
           f"(KRaft, one JVM, {meta['kafka_heap']}); client librdkafka {m['librdkafka']} "
           f"(rdkafka_load e2e: acks={meta['acks']}, linger {meta['linger_ms']} ms, "
           f"no compression)",
           f"- Workload: {meta['rate']:,} records/s of {meta['size']} B for {meta['seconds']} s "
           f"to one partition (CreateTopics, RF 1), read back by a legacy consumer in the "
           f"same process; latency = consume time − intended send time; the first "
           f"{meta['warmup_seconds']} s are left out; a 20,000-record warm-up first",
           "- Load average before/after: " + "; ".join(
               f"{k}: {v.get('load_before', '?')} / {v.get('load_after', '?')}"
               for k, v in results.items()),
           "",
           "| metric | Riacho (fsync, default) | Riacho (fsync off) | Kafka | Riacho/Kafka "
           "| Riacho fsync off/Kafka |",
           "|---|---:|---:|---:|---:|---:|"]

    def cell(res, key, f):
        if res is None:
            return "not run", None
        if not res.get("ok"):
            return f"FAILED: {res.get('error')}".replace("|", "/"), None
        return f.format(res[key]), res[key]
    for label, key, f in ROWS:
        (rt, rv), (nt, nv), (kt, kv) = cell(R, key, f), cell(N, key, f), cell(K, key, f)
        out.append(f"| {label} | {rt} | {nt} | {kt} | {brokers.ratio(rv, kv)} "
                   f"| {brokers.ratio(nv, kv)} |")
    out += ["", "Worst latency (ms) of the records due in each second of the run "
            "(the first seconds are the warm-up, left out above):", ""]
    for k, v in results.items():
        if v.get("max_ms_per_second"):
            out.append(f"- {k}: " + " ".join(f"{x:.0f}" for x in v["max_ms_per_second"]))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--riacho-bin", default=brokers.default_riacho_bin())
    ap.add_argument("--load", default=DEFAULT_LOAD)
    ap.add_argument("--only", choices=["riacho", "kafka"])
    ap.add_argument("--rate", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup-seconds", type=float, default=2)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--acks", default="-1")
    # librdkafka's default; 0 sends each batch as soon as the previous one is answered, so the
    # broker's share of the latency is not hidden behind the client's wait.
    ap.add_argument("--linger-ms", type=float, default=5)
    ap.add_argument("--out")
    ap.add_argument("--build", default="scripts/build.sh release")
    ap.add_argument("--commit", help="what the Riacho binary was built from (default: HEAD)")
    a = ap.parse_args()
    brokers.LOG_PREFIX = "latency-"
    out_dir = brokers.out_dir_for("latency", a.out)
    meta = {"date": time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()),
            "commit": a.commit or brokers.commit_desc(), "build": a.build, "machine": brokers.machine(),
            "rate": a.rate, "seconds": a.seconds, "warmup_seconds": a.warmup_seconds,
            "size": a.size, "acks": a.acks, "linger_ms": a.linger_ms,
            "kafka_heap": os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx1g")}
    results = {}
    systems = []
    if a.only != "kafka":
        systems += [("riacho", lambda: brokers.Riacho(a.riacho_bin, "riacho", {}, out_dir)),
                    ("riacho_nofsync", lambda: brokers.Riacho(
                        a.riacho_bin, "riacho_nofsync", {"riacho.acks.all.fsync": "false"},
                        out_dir))]
    if a.only != "riacho":
        systems += [("kafka", lambda: brokers.Kafka("kafka", {}, {}, out_dir))]
    for label, make in systems:
        b = make()
        try:
            b.start()
            log(f"{label} serving on {b.bootstrap}")
            results[label] = run_one(b, a.load, a)
            log(f"{label}: {results[label]}")
        except Exception as e:  # noqa: BLE001
            log(f"{label}: {e}")
            results[label] = {"ok": False, "error": str(e)}
        finally:
            b.stop()
    brokers.write_json(out_dir / "latency.json", {"meta": meta, "results": results})
    md = report(results, meta)
    (out_dir / "latency.md").write_text(md + "\n")
    print(md)
    print(f"\n(written to {out_dir}/latency.md and latency.json)")


if __name__ == "__main__":
    main()
