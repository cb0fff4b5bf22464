#!/usr/bin/env python3
"""bench/soak.py — a long fixed-rate run past the retention limit: does latency or memory grow?

Usage:
  tests/integration/.deps/venv/bin/python bench/soak.py [--minutes 30] [--rate 10000]
      [--size 1024] [--retention-mb 64] [--segment-mb 8] [--riacho-bin PATH] [--load PATH]
      [--only riacho|kafka] [--out DIR]
or `bench/run.sh --suite soak [--minutes M]` (opt-in: it is not part of any default run).

For each broker (Riacho with its defaults; Apache Kafka), a fresh broker with
log.retention.check.interval.ms=10000 (both; the default of 5 minutes would let a short
run pass without a single deletion), a topic of 1 partition with retention.bytes and
segment.bytes small (default 64 MiB / 8 MiB), then `rdkafka_load e2e`: one librdkafka
producer sends --rate records/s of --size bytes for --minutes (acks=1, linger 5 ms), a
legacy consumer in the same process reads them; latency = consume time - intended send
time. The run writes rate x size x minutes bytes (default 10 MB/s: ~18 GB in 30 minutes),
hundreds of times the retention limit, so segments are deleted all along.
Every interval (60 s; shorter for runs under 10 minutes) it takes: the latency p50/p99/
p99.9/max of the records due in it (from rdkafka_load's "intervals"), the broker's RSS
(VmRSS) and the bytes of the partition's segment files; at the end the partition's low
watermark (log start offset), which must be > 0 (segments were deleted).
Verdict: the mean of the last third of the intervals against the first third, for
latency p99 and RSS: "grew" if last/first > 1.25 (p99; and by more than 2 ms) or > 1.10
(RSS); both series are printed.

Writes <out>/soak.json and <out>/soak.md, prints the Markdown.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brokers  # noqa: E402
from brokers import log  # noqa: E402

DEFAULT_LOAD = str(brokers.ROOT / "build-bench" / "load" / "rdkafka_load")
TOPIC = "soak"


def dir_bytes(data_dir: Path) -> int:
    """Bytes of the partition's segment files (*.log): what retention.bytes bounds. Index
    files are left out (Kafka preallocates 10 MB each for the active segment)."""
    total = 0
    for d in data_dir.glob(f"{TOPIC}-*"):
        for f in d.glob("*.log"):
            try:
                total += f.stat().st_size
            except OSError:
                pass
    return total


def low_watermark(bootstrap: str) -> tuple:
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "soak-probe"})
    try:
        return c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    finally:
        c.close()


def thirds(series):
    vals = [v for v in series if v is not None]
    if len(vals) < 3:
        return None, None
    n = len(vals) // 3
    return sum(vals[:n]) / n, sum(vals[-n:]) / n


def run_one(broker, data_dir, a, interval) -> dict:
    bs = broker.bootstrap
    cfg = [f"retention.bytes={a.retention_mb * 1024 * 1024}",
           f"segment.bytes={a.segment_mb * 1024 * 1024}"]
    cr = brokers.run_tool([a.load, "create", "--brokers", bs, "--topic", TOPIC]
                          + sum((["--config", c] for c in cfg), []), 120)
    if not cr.get("ok"):
        return {"ok": False, "error": f"create: {cr.get('error')}"}
    seconds = a.minutes * 60
    args = [a.load, "e2e", "--brokers", bs, "--topic", TOPIC, "--rate", str(a.rate),
            "--seconds", str(seconds), "--warmup-seconds", "2", "--size", str(a.size),
            "--acks", "1", "--interval-seconds", str(interval),
            "--timeout", str(int(seconds * 2 + 120))]
    samples = []
    t0 = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_holder = {}

    def reader():
        out_holder["out"], out_holder["err"] = proc.communicate()
    th = threading.Thread(target=reader)
    th.start()
    k = 0
    while th.is_alive():
        k += 1
        next_t = t0 + k * interval
        while th.is_alive() and time.monotonic() < next_t:
            time.sleep(0.5)
        if not th.is_alive():
            break
        s = {"t_s": round(time.monotonic() - t0, 1), "loadavg": brokers.loadavg()}
        try:
            r = brokers.rss(broker.pid)
            s["rss"] = r.get("VmRSS")
            s["rss_anon"] = r.get("RssAnon")
        except OSError:
            s["rss"] = None
        s["dir_bytes"] = dir_bytes(data_dir)
        samples.append(s)
        log(f"{broker.label} t={s['t_s']:.0f}s rss={(s['rss'] or 0) / 2**20:.1f} MiB "
            f"dir={s['dir_bytes'] / 2**20:.1f} MiB load {s['loadavg']}")
    th.join()
    res = brokers.last_json_line(out_holder.get("out", ""))
    if res is None:
        return {"ok": False, "error": f"e2e: no result: {out_holder.get('err', '')[-500:]}",
                "samples": samples}
    res.pop("max_ms_per_second", None)  # per-interval figures are kept instead
    res["samples"] = samples
    try:
        res["watermarks"] = list(low_watermark(bs))
    except Exception as e:  # noqa: BLE001
        res["watermarks_error"] = str(e)
    res["broker_alive"] = broker.alive()
    return res


def verdict(res) -> dict:
    p99 = [iv["p99_ms"] if iv.get("records") else None for iv in res.get("intervals", [])]
    rss = [s.get("rss") for s in res.get("samples", [])]
    v = {}
    f, l_ = thirds(p99)
    v["p99_first_ms"], v["p99_last_ms"] = f, l_
    v["p99_grew"] = None if f is None else (l_ > f * 1.25 and l_ - f > 2.0)
    f, l_ = thirds(rss)
    v["rss_first"], v["rss_last"] = f, l_
    v["rss_grew"] = None if f is None else l_ > f * 1.10
    return v


def report(results, meta) -> str:
    m = meta["machine"]
    out = [f"## Soak: {meta['minutes']} minutes at {meta['rate']:,} records/s past the retention "
           f"limit — {meta['date']}", "",
           f"- Machine: {m['cpu']} ({m['cores']} cores), {m['mem']}, kernel {m['kernel']}; "
           f"brokers and the client share it",
           f"- Riacho {meta['commit']} ({meta['build']}); Apache Kafka {brokers.KAFKA_VERSION} "
           f"({meta['kafka_heap']}); client librdkafka {m['librdkafka']} (`rdkafka_load e2e`, "
           f"acks=1, linger 5 ms)",
           f"- {meta['size']} B records, 1 partition, retention.bytes {meta['retention_mb']} MiB, "
           f"segment.bytes {meta['segment_mb']} MiB, log.retention.check.interval.ms 10000; "
           f"interval {meta['interval_s']} s. Grew = mean of the last third of the intervals "
           f"over the first third > 1.25 (p99, and > 2 ms more) / > 1.10 (RSS).",
           "",
           "| broker | result | records sent / consumed | log start offset at end | p99 first → last third ms "
           "| p99 grew? | RSS first → last third MiB | RSS grew? |",
           "|---|---|---:|---:|---:|---|---:|---|"]
    for k, r in results.items():
        if not r.get("ok"):
            out.append(f"| {k} | FAILED: {str(r.get('error')).replace('|', '/')} | "
                       f"{r.get('sent', '—')} / {r.get('consumed', '—')} | "
                       f"{(r.get('watermarks') or ['—'])[0]} | — | — | — | — |")
            continue
        v = r["verdict"]

        def mib(x):
            return "—" if x is None else f"{x / 2**20:,.1f}"

        def yn(x):
            return "—" if x is None else ("**yes**" if x else "no")
        lw = (r.get("watermarks") or ["?"])[0]
        out.append(f"| {k} | ok | {r['sent']:,} / {r['consumed']:,} | {lw:,} "
                   f"| {v['p99_first_ms']:.2f} → {v['p99_last_ms']:.2f} | {yn(v['p99_grew'])} "
                   f"| {mib(v['rss_first'])} → {mib(v['rss_last'])} | {yn(v['rss_grew'])} |"
                   if isinstance(lw, int) and v["p99_first_ms"] is not None else
                   f"| {k} | ok | {r['sent']:,} / {r['consumed']:,} | {lw} | too few intervals "
                   f"| — | — | — |")
    out += ["", "Series (one value per interval):", ""]
    for k, r in results.items():
        ivs = r.get("intervals") or []
        if ivs:
            out.append(f"- {k} latency p99 ms: " + " ".join(f"{iv['p99_ms']:.1f}" for iv in ivs))
            out.append(f"- {k} latency max ms: " + " ".join(f"{iv['max_ms']:.1f}" for iv in ivs))
        ss = r.get("samples") or []
        if ss:
            out.append(f"- {k} RSS MiB: " + " ".join(
                "—" if s.get("rss") is None else f"{s['rss'] / 2**20:.1f}" for s in ss))
            out.append(f"- {k} segment files MiB: " + " ".join(
                f"{s['dir_bytes'] / 2**20:.0f}" for s in ss))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--riacho-bin", default=brokers.default_riacho_bin())
    ap.add_argument("--load", default=DEFAULT_LOAD)
    ap.add_argument("--only", choices=["riacho", "kafka"])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--retention-mb", type=int, default=64)
    ap.add_argument("--segment-mb", type=int, default=8)
    ap.add_argument("--out")
    ap.add_argument("--build", default="scripts/build.sh release")
    ap.add_argument("--commit")
    a = ap.parse_args()
    interval = 60 if a.minutes >= 10 else max(5, int(a.minutes * 60 / 10))
    brokers.LOG_PREFIX = "soak-"
    out_dir = brokers.out_dir_for("soak", a.out)
    meta = {"date": time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()),
            "commit": a.commit or brokers.commit_desc(), "build": a.build,
            "machine": brokers.machine(), "minutes": a.minutes, "rate": a.rate, "size": a.size,
            "retention_mb": a.retention_mb, "segment_mb": a.segment_mb, "interval_s": interval,
            "kafka_heap": os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx1g")}
    common = {"log.retention.check.interval.ms": "10000"}
    results = {}
    systems = []
    if a.only != "kafka":
        systems.append(("riacho", lambda: brokers.Riacho(a.riacho_bin, "riacho", common, out_dir)))
    if a.only != "riacho":
        systems.append(("kafka", lambda: brokers.Kafka("kafka", common, {}, out_dir)))
    for label, make in systems:
        b = make()
        try:
            b.start()
            log(f"{label} serving on {b.bootstrap}")
            data = b.data if label == "riacho" else b.dir / "logs"
            r = run_one(b, data, a, interval)
            if r.get("ok") and not (r.get("watermarks") and r["watermarks"][0] > 0):
                r["ok"] = False
                r["error"] = ("no segment was deleted (log start offset still 0): the run did "
                              "not pass the retention limit")
            r["verdict"] = verdict(r)
            results[label] = r
            log(f"{label}: ok={r.get('ok')} {r.get('error', '')} {r['verdict']}")
        except Exception as e:  # noqa: BLE001
            log(f"{label}: {e}")
            results[label] = {"ok": False, "error": str(e)}
        finally:
            b.stop()
    brokers.write_json(out_dir / "soak.json", {"meta": meta, "results": results})
    md = report(results, meta)
    (out_dir / "soak.md").write_text(md + "\n")
    print(md)
    print(f"\n(written to {out_dir}/soak.md and soak.json)")


if __name__ == "__main__":
    main()
