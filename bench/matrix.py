#!/usr/bin/env python3
"""bench/matrix.py — the throughput matrix of issue 6, Riacho vs Apache Kafka, in one run.

Usage:
  tests/integration/.deps/venv/bin/python bench/matrix.py [--quick] [--mb-per-cell MB]
      [--riacho-bin PATH] [--load PATH] [--sendfile PATH] [--fetch-rate PATH]
      [--only riacho|kafka] [--out DIR]
or `bench/run.sh --suite matrix [--quick]`, which builds the broker and the tools first.

Cells: a baseline — 1 KiB records, 1 partition, 1 producer, no key, no compression,
acks=1 — and one-factor-at-a-time variations of it: 100 partitions; 50 producers; keys;
100 B and 100 KiB records; each codec (gzip, snappy, lz4, zstd). Each cell moves a fixed
amount of value bytes (--mb-per-cell, default 1000 MB, ~5 minutes; --quick 200 MB, ~1.5), i.e. records =
bytes / size. Per cell, on a fresh topic (CreateTopics, RF 1, broker defaults):
  produce  `rdkafka_load produce` (librdkafka, its defaults: linger 5 ms, batch 10,000
           records / 1 MB; acks=1; values cut from a pool of pseudo-random words, so codecs
           have text to compress; librdkafka's partitioner picks the partition: sticky for
           keyless records, key hash otherwise); records/s and value MB/s from the first
           send to the last delivery report;
  consume  `rdkafka_load consume`: a legacy (group-less) consumer reads every partition
           from offset 0; value MB/s from the first record to the last (the start-up is
           reported apart). Keys and batch overhead are not
           counted in MB/s.
A cell counts only if every record was delivered (delivery reports) and read back (count,
value bytes, no offset gap); otherwise its figure is "FAILED: <why>", never a number.
The same client binary and settings for both brokers. Both brokers run side by side on
fresh data dirs (a warm-up of 200,000 1 KiB records produced and consumed on each, then an
eighth of RAM plus 512 MiB produced into a topic no cell reads: the steady state, see
WARMUP_FILL_BYTES) and each cell runs on one and then at once
on the other, the order alternating from cell to cell (the broker not measured is idle):
this machine's disk takes a burst of a few GB fast and then slows down, so running one
broker's cells all first would give the two brokers different disks; before each cell (and each mock-row produce) the page
cache is flushed with sync(2), outside the measured time, so no cell pays for the dirty
pages of the ones before it.

Rows against a ceiling (mock, sendfile) and a client-free consume on both brokers (fetch):
  mock     the baseline produce, same binary and settings, to librdkafka's own in-memory
           mock cluster (test.mock.num.brokers=1), run while Riacho is up but idle, right
           after Riacho's baseline cell, then four more times interleaved with a Riacho produce to
           a fresh topic: median Riacho / median mock (issue 6: >= 0.8).
  sendfile `sendfile_rate` (bench/macro/sendfile_rate.cc) on the very segment files Riacho
           wrote for the baseline and the 100 KiB cells (page-cached: just written and read
           once more), sendfile(2) to a loopback socket a reader drains (streaming) or
           asks chunk by chunk (lockstep, as fetches do), the better of the two: the
           machine's rate for those bytes. CEILING_PASSES passes, each followed by one
           `fetch_rate` pass of Riacho over the same bytes (the "without a client library"
           row).
           Riacho's consume rate over the same bytes = segment bytes / consume streaming
           seconds (median of the cell's consume and two more of the same topic).
           Riacho / sendfile (issue 6: >= 0.8).
  fetch    `fetch_rate` (bench/macro/fetch_rate.cc), a client-free consumer, on both
           brokers right after the baseline and the 100 KiB cells: Fetch requests one at a
           time (1 MiB per partition, the consumers' default), record-batch bytes counted and
           dropped, median of 5 passes: the broker's own serving rate without librdkafka's
           per-record work, against Kafka (against the ceiling: the paired passes above).

Writes <out>/matrix.md, matrix.json and matrix.png (grouped bars, log scale), prints the
Markdown.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brokers  # noqa: E402
from brokers import log, run_tool as tool  # noqa: E402

BUILD = brokers.ROOT / "build-bench" / "load"
DEFAULT_LOAD = str(BUILD / "rdkafka_load")
DEFAULT_SENDFILE = str(BUILD / "sendfile_rate")
DEFAULT_FETCH_RATE = str(BUILD / "fetch_rate")
FETCH_RATE_CELLS = ("baseline", "size-100KiB")

WARMUP_RECORDS = 200000  # 1 KiB each, produced and consumed on each broker before the cells
# Then, on each broker, this many bytes more into a topic no cell reads: past Riacho's
# written-data page-cache budget (riacho.log.written.cache.max.bytes, default an eighth of
# RAM) plus 512 MiB, so its cells run in the steady state where appends reuse the memory of
# pages written long before. Before it, a broker's first GiBs on this VM come from memory the
# host took back, at several times the CPU (RESULTS.md, "The mock rounds' decline"); Kafka,
# which never hands pages back, pays that from its first cell to its last either way.
WARMUP_FILL_BYTES = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 8 + (512 << 20)
MOCK_ROUNDS = 5        # Riacho / mock pairs, interleaved, for the mock row (medians: one
                       # pair alone is at the mercy of whatever else the machine does)
CEILING_CONSUMES = 3   # Riacho consumes of the same segment files for the sendfile rows
CEILING_PASSES = 5     # sendfile_rate / fetch_rate pairs, alternating, for the sendfile rows
BASE = {"partitions": 1, "producers": 1, "keys": False, "size": 1024, "codec": "none"}
CELLS = [  # (name, what differs from the baseline, overrides)
    ("baseline", "1 KiB, 1 partition, 1 producer, no key, no compression", {}),
    ("partitions-100", "100 partitions", {"partitions": 100}),
    ("producers-50", "50 producers", {"producers": 50}),
    ("keys", "keys on", {"keys": True}),
    ("size-100B", "100 B records", {"size": 100}),
    ("size-100KiB", "100 KiB records", {"size": 102400}),
    ("gzip", "gzip", {"codec": "gzip"}),
    ("snappy", "snappy", {"codec": "snappy"}),
    ("lz4", "lz4", {"codec": "lz4"}),
    ("zstd", "zstd", {"codec": "zstd"}),
]


def cell_spec(overrides: dict, mb: float) -> dict:
    c = dict(BASE, **overrides)
    c["records"] = max(100, int(mb * 1e6 / c["size"]))
    return c


def produce_args(load, bootstrap, topic, c, timeout) -> list:
    a = [load, "produce", "--brokers", bootstrap, "--topic", topic, "--records",
         str(c["records"]), "--size", str(c["size"]), "--acks", "1", "--any-partition",
         "--payload", "text", "--producers", str(c["producers"]), "--timeout", str(timeout),
         "--set", f"compression.codec={c['codec']}"]
    if c["keys"]:
        a.append("--keys")
    return a


def log_bytes(data_dir: Path | None, topic: str) -> int | None:
    """Bytes of the topic's segment files (<dir>/<topic>-<n>/*.log), the same layout on both."""
    if data_dir is None:
        return None
    total = 0
    for d in data_dir.glob(f"{topic}-*"):
        if d.name.rsplit("-", 1)[0] != topic:
            continue
        total += sum(f.stat().st_size for f in d.glob("*.log"))
    return total


def segment_files(data_dir: Path, topic: str) -> list:
    return sorted(str(f) for d in data_dir.glob(f"{topic}-*")
                  if d.name.rsplit("-", 1)[0] == topic for f in d.glob("*.log"))


def flush_page_cache() -> float:
    """sync(2) before each cell, outside the measured time: without it every cell pays for
    the dirty pages of the cells before it (kernel writeback starts at a share of RAM, then
    throttles writers), so a cell's figure would depend on its place in the order."""
    t = time.monotonic()
    os.sync()
    return round(time.monotonic() - t, 3)


def check_cell(c, prod, cons) -> str | None:
    """Why the cell does not count, or None."""
    if not prod.get("ok"):
        return f"produce: {prod.get('error')}"
    if prod.get("delivered") != c["records"]:
        return f"produce: {prod.get('delivered')} of {c['records']} delivered"
    if not cons.get("ok"):
        return f"consume: {cons.get('error')}"
    if cons.get("consumed") != c["records"] or cons.get("bytes") != c["records"] * c["size"]:
        return (f"consume: read {cons.get('consumed')} records / {cons.get('bytes')} B, "
                f"expected {c['records']} / {c['records'] * c['size']}")
    return None


def warm_up(broker, a):
    bs = broker.bootstrap
    tool([a.load, "create", "--brokers", bs, "--topic", "warmup"], 120)
    # 200 MB: 20,000 records left Kafka's JIT cold for its first cell (62k records/s there,
    # 200k in later cells of the same run).
    w = tool([a.load, "produce", "--brokers", bs, "--topic", "warmup", "--records",
              str(WARMUP_RECORDS), "--acks", "1", "--any-partition", "--payload", "text",
              "--timeout", "120"], 180)
    c = tool([a.load, "consume", "--brokers", bs, "--topic", "warmup", "--records",
              str(WARMUP_RECORDS), "--timeout", "120"], 180)
    tool([a.load, "create", "--brokers", bs, "--topic", "warmup-fill"], 120)
    f = tool([a.load, "produce", "--brokers", bs, "--topic", "warmup-fill", "--records",
              str(WARMUP_FILL_BYTES // 1024), "--acks", "1", "--any-partition", "--payload",
              "text", "--timeout", "300"], 360)
    if not w.get("ok") or not c.get("ok") or not f.get("ok"):
        log(f"{broker.label}: warm-up failed: {w.get('error')} {c.get('error')} {f.get('error')}")


def compilers_running() -> int:
    """Other work on the machine skews the figures: how many compiler processes ran."""
    r = subprocess.run(["pgrep", "-c", "-x", "cc1plus"], capture_output=True, text=True)
    return int(r.stdout.strip() or 0)


def run_cell(broker, data_dir, a, name, c) -> dict:
    """One cell on one broker: create, produce, consume, checks."""
    bs = broker.bootstrap
    topic = f"m-{name}"
    res = {"spec": c, "load_before": brokers.loadavg(), "compilers": compilers_running()}
    if not broker.alive():
        res["error"] = "the broker process is gone (it exited earlier in the run)"
        log(f"{broker.label} {name}: {res['error']}")
        return res
    # generous: 5 MB/s or 20,000 records/s is far below either broker
    timeout = int(60 + max(c["records"] * c["size"] / 5e6, c["records"] / 20000))
    res["sync_before_s"] = flush_page_cache()
    cr = tool([a.load, "create", "--brokers", bs, "--topic", topic, "--partitions",
               str(c["partitions"])], 180)
    if not cr.get("ok"):
        res["error"] = f"create: {cr.get('error')}"
        log(f"{broker.label} {name}: {res['error']}")
        return res
    res["produce"] = tool(produce_args(a.load, bs, topic, c, timeout), timeout + 60)
    res["consume"] = tool([a.load, "consume", "--brokers", bs, "--topic", topic,
                           "--records", str(c["records"]), "--partitions",
                           str(c["partitions"]), "--timeout", str(timeout)], timeout + 60)
    res["log_bytes"] = log_bytes(data_dir, topic)
    err = check_cell(c, res["produce"], res["consume"])
    if err:
        res["error"] = err
    co = res["consume"]
    if res.get("log_bytes") and co.get("stream_seconds") and co.get("bytes"):
        # the segment bytes streamed after the first record, over the same time
        res["consume_log_mb_per_s"] = (res["log_bytes"] * co["stream_mb_per_s"] * 1e6
                                       / co["bytes"] / 1e6)
    log(f"{broker.label} {name}: " + (f"FAILED {err}" if err else
        f"produce {res['produce']['records_per_s']:,.0f} rec/s "
        f"{res['produce']['mb_per_s']:.1f} MB/s, consume {co['stream_mb_per_s']:.1f} MB/s "
        f"(first record after {co['first_record_s']:.3f} s)"))
    return res


# ---------------------------------------------------------------------------- report

def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def fig(v, digits=1):
    if v is None:
        return "—"
    return f"{v:,.0f}" if abs(v) >= 1000 or digits == 0 else f"{v:,.{digits}f}"


def cell_value(sys_res, name, path):
    """(text, number) of one figure of one cell of one system."""
    if sys_res is None:
        return "not run", None
    if sys_res.get("error") and not sys_res.get("cells"):
        return f"not run: {sys_res['error']}".replace("|", "/"), None
    r = sys_res["cells"].get(name)
    if r is None:
        return "not run", None
    if r.get("error"):
        return f"FAILED: {r['error']}".replace("|", "/")[:160], None
    v = r
    for k in path:
        v = v[k]
    return fig(v, 0 if path[-1] == "records_per_s" else 1), v


def report(results, meta) -> str:
    R, K = results.get("riacho"), results.get("kafka")
    m = meta["machine"]
    out = [f"## Throughput matrix: Riacho vs Apache Kafka {brokers.KAFKA_VERSION} — {meta['date']}",
           "",
           f"- Command: `{meta['command']}`; {meta['mb_per_cell']:,.0f} MB of values per cell",
           f"- Machine: {m['cpu']} ({m['cores']} cores), {m['mem']}, kernel {m['kernel']}, data "
           f"on {m['fs']}; brokers and the client share it",
           f"- Riacho {meta['commit']} ({meta['build']}); Apache Kafka {brokers.KAFKA_VERSION} "
           f"(KRaft, one JVM, {meta['kafka_heap']}); client librdkafka {m['librdkafka']} "
           f"(`rdkafka_load`: acks=1, linger 5 ms, librdkafka's partitioner, values from a "
           f"pseudo-random word pool)",
           "- Consume MB/s is the streaming rate, first record to last (the consumer's start-up "
           "— connect, metadata, ListOffsets, first fetch — is left out; it is in the JSON as "
           "first_record_s, with the start-to-last-record rate as mb_per_s)",
           "- Compiler processes (cc1plus) running at the start of the cells: " + ", ".join(
               sorted({str(c.get("compilers", "?")) for k in ("riacho", "kafka")
                       for c in ((results.get(k) or {}).get("cells") or {}).values()}))
           + " (distinct values)",
           "- Load average before/after each broker's cells: " + "; ".join(
               f"{k}: {v.get('load_before', '?')} / {v.get('load_after', '?')}"
               for k, v in results.items() if isinstance(v, dict) and k in ("riacho", "kafka")),
           "- Both brokers up at once, each cell run on one and then the other (the idle one "
           "waits), the order alternating by cell; sync(2) before each (outside the "
           "measured time).",
           "- Baseline: 1 KiB records, 1 partition, 1 producer, no key, no compression, "
           "acks=1; each other row changes one thing. MB/s = value bytes (keys, headers and "
           "batch overhead not counted). Ratio = Riacho / Kafka (above 1: Riacho faster).",
           "",
           "| cell | records | produce rec/s Riacho | Kafka | ratio | produce MB/s Riacho "
           "| Kafka | consume MB/s Riacho | Kafka | ratio |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, what, ov in CELLS:
        c = cell_spec(ov, meta["mb_per_cell"])
        rp, rpv = cell_value(R, name, ("produce", "records_per_s"))
        kp, kpv = cell_value(K, name, ("produce", "records_per_s"))
        rm, _ = cell_value(R, name, ("produce", "mb_per_s"))
        km, _ = cell_value(K, name, ("produce", "mb_per_s"))
        rc, rcv = cell_value(R, name, ("consume", "stream_mb_per_s"))
        kc, kcv = cell_value(K, name, ("consume", "stream_mb_per_s"))
        label = "baseline" if name == "baseline" else what
        out.append(f"| {label} | {c['records']:,} | {rp} | {kp} | {brokers.ratio(rpv, kpv)} "
                   f"| {rm} | {km} | {rc} | {kc} | {brokers.ratio(rcv, kcv)} |")

    out += ["", "### Against a ceiling (Riacho only)", "",
            "| figure | Riacho | ceiling | Riacho / ceiling | issue 6 target |",
            "|---|---:|---:|---:|---|"]
    mock = results.get("mock")
    base = (R or {}).get("cells", {}).get("baseline") if R else None
    mock_label = ("produce 1 KiB, 1 partition, acks=1: records/s vs librdkafka's mock cluster "
                  "(test.mock.num.brokers=1), same client and settings; median of "
                  f"{MOCK_ROUNDS} interleaved rounds")
    if mock is None or base is None:
        out.append(f"| {mock_label} | not run | not run | — | ≥ 0.8 |")
    elif not mock.get("ok"):
        out.append(f"| {mock_label} | FAILED: {mock.get('error')} | — | — | ≥ 0.8 |")
    else:
        rv = median(mock["riacho_records_per_s"])
        mv = median(mock["mock_records_per_s"])
        out.append(f"| {mock_label} | {rv:,.0f} | {mv:,.0f} | {rv / mv:.2f} | ≥ 0.8 |")
    for name in ("baseline", "size-100KiB"):
        sf = (results.get("sendfile") or {}).get(name)
        cell = (R or {}).get("cells", {}).get(name) if R else None
        label = (f"consume from the page cache ({'1 KiB' if name == 'baseline' else '100 KiB'} "
                 f"records, 1 partition): segment-file MB/s (median of {CEILING_CONSUMES} "
                 f"consumes) vs sendfile(2) of the same files to a loopback socket")
        if sf is None or cell is None:
            out.append(f"| {label} | not run | not run | — | ≥ 0.8 |")
        elif (cell.get("error") or not sf.get("ok") or sf.get("consume_errors")
              or None in sf.get("riacho_consume_log_mb_per_s", [None])):
            why = (cell.get("error") or sf.get("error") or
                   f"consume: {sf.get('consume_errors') or 'no segment bytes found'}")
            out.append(f"| {label} | FAILED: {why} | — | — | ≥ 0.8 |")
        else:
            rv, cv = median(sf["riacho_consume_log_mb_per_s"]), sf["median_mb_per_s"]
            out.append(f"| {label} | {rv:,.1f} | {cv:,.1f} | {rv / cv:.2f} | ≥ 0.8 |")
    for name in FETCH_RATE_CELLS:
        label = (f"consume from the page cache without a client library "
                 f"({'1 KiB' if name == 'baseline' else '100 KiB'} records): `fetch_rate` "
                 f"MB/s vs sendfile(2) of the same files (medians of {CEILING_PASSES} passes, "
                 f"each fetch_rate pass right after a sendfile pass)")
        sf = (results.get("sendfile") or {}).get(name)
        fetch_passes = (sf or {}).get("fetch_rate_passes_mb_per_s") or []
        if not sf:
            out.append(f"| {label} | not run | not run | — | ≥ 0.8 |")
        elif not sf.get("ok") or None in fetch_passes:
            out.append(f"| {label} | FAILED: {sf.get('error')} | — | — | ≥ 0.8 |")
        else:
            rv, cv = median(fetch_passes), sf["median_mb_per_s"]
            out.append(f"| {label} | {rv:,.1f} | {cv:,.1f} | {rv / cv:.2f} | ≥ 0.8 |")
    out += ["", "### Serving rate without a client library (`fetch_rate`, both brokers)", "",
            "| records | Riacho MB/s | Kafka MB/s | Riacho / Kafka |", "|---|---:|---:|---:|"]
    for name in FETCH_RATE_CELLS:
        figs = []
        for sys_res in (R, K):
            fr = ((sys_res or {}).get("cells", {}).get(name) or {}).get("fetch_rate") or {}
            figs.append(fr.get("median_mb_per_s") if fr.get("ok") else None)
        ratio = f"{figs[0] / figs[1]:.2f}" if None not in figs else "—"
        out.append(f"| {'1 KiB' if name == 'baseline' else '100 KiB'} | {fig(figs[0])} | "
                   f"{fig(figs[1])} | {ratio} |")
    out += ["",
            "- Mock: the same `rdkafka_load produce` (same records, size, payload, acks=1, "
            "linger) against the in-process mock cluster, interleaved with Riacho produces of "
            "the same records in the same run. The mock keeps records in memory and does no CRC check or disk "
            "write.",
            "- sendfile: `sendfile_rate` over Riacho's own segment files of that cell (median "
            f"of {CEILING_PASSES} passes of ≥ 1 GB each, alternating with `fetch_rate` passes, 1 MiB per sendfile call, a reader thread "
            "receiving into a 1 MiB buffer, either draining as the bytes come or asking for "
            "each chunk in turn; the better way's median). Riacho's figure = the cell's segment bytes "
            "(record batches with their headers) / the streaming consume time of `rdkafka_load "
            "consume`, so librdkafka's own parsing and copying of every record is part of "
            "it; the ceiling has no client at all."]
    if mock and mock.get("rounds"):
        out.append("- Mock rounds (records/s, Riacho / mock): " + "; ".join(
            f"{fig(r, 0)} / {fig(m_, 0)} ({r / m_:.2f})" if r and m_ else
            f"{fig(r, 0)} / {fig(m_, 0)}"
            for r, m_ in zip(mock["riacho_records_per_s"], mock["mock_records_per_s"])))
    sf = results.get("sendfile") or {}
    if sf:
        out.append("- sendfile passes (MB/s): " + "; ".join(
            f"{k}: {', '.join(str(x) for x in v.get('passes_mb_per_s', []))}"
            for k, v in sf.items()))
        out.append("- Riacho consumes of the same files (segment MB/s): " + "; ".join(
            f"{k}: {', '.join(fig(x) for x in v.get('riacho_consume_log_mb_per_s', []))}"
            for k, v in sf.items()))
    return "\n".join(out)


def chart(results, meta, path: Path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        log(f"no chart: {e}")
        return False
    R, K = results.get("riacho"), results.get("kafka")
    names = [n for n, _, _ in CELLS]
    labels = ["baseline\n1 KiB, 1 part." if n == "baseline" else w.replace(" records", "")
              .replace(" ", "\n", 1) for n, w, _ in CELLS]

    def vals(sysres, path):
        out = []
        for n in names:
            r = (sysres or {}).get("cells", {}).get(n)
            if not r or r.get("error"):
                out.append(0.0)
                continue
            v = r
            for k in path:
                v = v[k]
            out.append(float(v))
        return out
    fig_, axes = plt.subplots(4, 1, figsize=(13, 16),
                              gridspec_kw={"height_ratios": [3, 3, 3, 1.6]})
    panels = [("produce records/s", ("produce", "records_per_s")),
              ("produce MB/s (values)", ("produce", "mb_per_s")),
              ("consume MB/s (values)", ("consume", "stream_mb_per_s"))]
    x = list(range(len(names)))
    w = 0.38
    for ax, (title, p) in zip(axes[:3], panels):
        rv, kv = vals(R, p), vals(K, p)
        b1 = ax.bar([i - w / 2 for i in x], rv, w, label="Riacho", color="#1f77b4")
        b2 = ax.bar([i + w / 2 for i in x], kv, w, label=f"Kafka {brokers.KAFKA_VERSION}",
                    color="#ff7f0e")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=8)
        ax.grid(axis="y", which="both", alpha=0.3)
        for i, (a_, b_) in enumerate(zip(rv, kv)):
            txt = f"{a_ / b_:.2f}x" if a_ > 0 and b_ > 0 else "n/a"
            top = max(a_, b_, 1.0)
            ax.text(i, top * 1.15, txt, ha="center", va="bottom", fontsize=8)
            if a_ == 0:
                ax.text(i - w / 2, 1.0, "not run /\nfailed", ha="center", va="bottom",
                        fontsize=6, rotation=90)
            if b_ == 0:
                ax.text(i + w / 2, 1.0, "not run /\nfailed", ha="center", va="bottom",
                        fontsize=6, rotation=90)
        lo = min([v for v in rv + kv if v > 0] or [1.0])
        hi = max(rv + kv + [1.0])
        ax.set_ylim(lo / 3, hi * 3)
        ax.legend(loc="upper right", fontsize=8)
        del b1, b2
    # Riacho against the two ceilings of issue 6 (target 0.8)
    ax = axes[3]
    bars, names_c = [], []
    mock = results.get("mock") or {}
    if mock.get("ok"):
        bars.append(median(mock["riacho_records_per_s"]) / median(mock["mock_records_per_s"]))
        names_c.append("produce 1 KiB\nvs librdkafka mock")
    for n, lab in (("baseline", "consume 1 KiB\nvs sendfile"), ("size-100KiB",
                                                                  "consume 100 KiB\nvs sendfile")):
        sf = (results.get("sendfile") or {}).get(n) or {}
        rates = sf.get("riacho_consume_log_mb_per_s") or [None]
        if sf.get("ok") and None not in rates and not sf.get("consume_errors"):
            bars.append(median(rates) / sf["median_mb_per_s"])
            names_c.append(lab)
    for n, lab in (("baseline", "fetch_rate 1 KiB\nvs sendfile"),
                   ("size-100KiB", "fetch_rate 100 KiB\nvs sendfile")):
        sf = (results.get("sendfile") or {}).get(n) or {}
        passes = sf.get("fetch_rate_passes_mb_per_s") or [None]
        if sf.get("ok") and None not in passes:
            bars.append(median(passes) / sf["median_mb_per_s"])
            names_c.append(lab)
    if bars:
        ax.barh(range(len(bars)), bars, color="#1f77b4")
        ax.set_yticks(range(len(bars)))
        ax.set_yticklabels(names_c, fontsize=8)
        ax.axvline(0.8, color="red", linestyle="--", label="issue 6 target 0.8")
        for i, v in enumerate(bars):
            ax.text(v, i, f" {v:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, max(bars + [1.0]) * 1.2)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Riacho / ceiling (same client or none, same run)")
    fig_.suptitle(f"Riacho vs Apache Kafka {brokers.KAFKA_VERSION} — {meta['date']} — "
                  f"{meta['mb_per_cell']:,.0f} MB per cell, librdkafka {meta['machine']['librdkafka']}"
                  f"\n(labels: Riacho / Kafka; log scale)", fontsize=10)
    fig_.tight_layout(rect=(0, 0, 1, 0.97))
    fig_.savefig(path, dpi=110)
    plt.close(fig_)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--riacho-bin", default=brokers.default_riacho_bin())
    ap.add_argument("--load", default=DEFAULT_LOAD)
    ap.add_argument("--sendfile", default=DEFAULT_SENDFILE)
    ap.add_argument("--fetch-rate", default=DEFAULT_FETCH_RATE)
    ap.add_argument("--only", choices=["riacho", "kafka"])
    ap.add_argument("--quick", action="store_true", help="200 MB per cell (~1.5 minutes) instead of 1000 MB (~5 minutes)")
    ap.add_argument("--mb-per-cell", type=float)
    ap.add_argument("--out")
    ap.add_argument("--build", default="scripts/build.sh release")
    ap.add_argument("--commit", help="what the Riacho binary was built from (default: HEAD)")
    ap.add_argument("--command", default=None, help="the command line to quote in the report")
    a = ap.parse_args()
    mb = a.mb_per_cell or (200.0 if a.quick else 1000.0)
    brokers.LOG_PREFIX = "matrix-"
    out_dir = brokers.out_dir_for("matrix", a.out)
    meta = {"date": time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()),
            "commit": a.commit or brokers.commit_desc(), "build": a.build,
            "machine": brokers.machine(), "mb_per_cell": mb,
            "command": a.command or ("bench/run.sh --suite matrix" + (" --quick" if a.quick else "")),
            "kafka_heap": os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx1g"),
            "cells": {n: dict(cell_spec(ov, mb), what=w) for n, w, ov in CELLS}}
    t_start = time.monotonic()
    results: dict = {}

    # Both brokers run side by side (the one not measured is idle) and every cell runs on
    # one right after the other, the order alternating: this VM's disk takes bursts of a
    # few GB fast and then slows down, so running all of one broker's cells first would
    # hand the other broker a different disk.
    live = {}
    data_dirs = {}
    if a.only != "kafka":
        live["riacho"] = brokers.Riacho(a.riacho_bin, "riacho", {}, out_dir)
    if a.only != "riacho":
        live["kafka"] = brokers.Kafka("kafka", {}, {}, out_dir)
    for label, b in list(live.items()):
        try:
            b.start()
            log(f"{label} serving on {b.bootstrap}")
            data_dirs[label] = b.data if label == "riacho" else b.dir / "logs"
            warm_up(b, a)
            results[label] = {"load_before": brokers.loadavg(), "cells": {}}
        except Exception as e:  # noqa: BLE001
            log(f"{label}: {e}")
            results[label] = {"error": str(e)}
            b.stop()
            del live[label]
    sendfile: dict = {}

    def paired_ceiling(b, topic, c, files) -> dict:
        """The sendfile ceiling and Riacho's fetch_rate over the same segment files, one pass
        of each in turn: this VM's loopback rate drifts by 2x within a minute, so two series
        taken one after the other compare the minutes more than the programs."""
        runs, fetch_passes, errors = [], [], []
        for _ in range(CEILING_PASSES):
            sf1 = tool([a.sendfile, "--passes", "1"] + files, 600)
            fr1 = tool([a.fetch_rate, "--broker", b.bootstrap, "--topic", topic,
                        "--end-offset", str(c["records"]), "--passes", "1"], 600)
            runs.append(sf1)
            fetch_passes.append(fr1.get("median_mb_per_s") if fr1.get("ok") else None)
            errors += [r.get("error") for r in (sf1, fr1) if not r.get("ok")]
        ways = {w: [r[f"{w}_passes_mb_per_s"][0] for r in runs
                    if r.get(f"{w}_passes_mb_per_s")] for w in ("streaming", "lockstep")}
        way = max(ways, key=lambda w: median(ways[w]) or 0)
        return {"ok": not errors and bool(ways[way]), "error": "; ".join(map(str, errors)),
                "file_bytes": runs[0].get("file_bytes"),
                "streaming_passes_mb_per_s": ways["streaming"],
                "lockstep_passes_mb_per_s": ways["lockstep"], "ceiling_way": way,
                "passes_mb_per_s": ways[way], "median_mb_per_s": median(ways[way]),
                "fetch_rate_passes_mb_per_s": fetch_passes}

    def extras(b, name, res):
        """Riacho only, right after its cell: the mock row and the sendfile rows."""
        c = res["spec"]
        topic = f"m-{name}"
        if name in FETCH_RATE_CELLS and not res.get("error"):
            files = segment_files(b.data, topic)
            if files:
                sf = paired_ceiling(b, topic, c, files)
                # Riacho's consume of the same files twice more (page cache), for a median
                rates = [res.get("consume_log_mb_per_s")]
                for _ in range(CEILING_CONSUMES - 1):
                    co = tool([a.load, "consume", "--brokers", b.bootstrap, "--topic", topic,
                               "--records", str(c["records"]), "--timeout", "300"], 360)
                    if co.get("ok") and co.get("consumed") == c["records"] and co.get("bytes"):
                        rates.append(res["log_bytes"] * co["stream_mb_per_s"] / co["bytes"])
                    else:
                        sf.setdefault("consume_errors", []).append(co.get("error"))
                sf["riacho_consume_log_mb_per_s"] = rates
                sendfile[name] = sf
                log(f"sendfile {name}: {sf}")
            else:
                sendfile[name] = {"ok": False, "error": f"no segment files of {topic}"}
        if name == "baseline" and not res.get("error"):
            # Interleaved rounds, medians: one pair alone is at the mercy of whatever else
            # the machine does in that second. Round 1's Riacho figure is the cell's.
            rounds = []
            for i in range(MOCK_ROUNDS):
                rr = res["produce"]
                if i > 0:
                    t = f"m-mockcmp-{i}"
                    flush_page_cache()
                    tool([a.load, "create", "--brokers", b.bootstrap, "--topic", t], 180)
                    rr = tool(produce_args(a.load, b.bootstrap, t, c, 600), 700)
                log("librdkafka mock cluster: the baseline produce")
                flush_page_cache()
                mr = tool(produce_args(a.load, "127.0.0.1:1", topic, c, 600) + ["--mock"], 700)
                rounds.append({"riacho": rr, "mock": mr})
                log(f"mock round {i + 1}: riacho {rr.get('records_per_s')} "
                    f"mock {mr.get('records_per_s')} rec/s")
            bad = [f"round {i + 1} {k}: {r[k].get('error') or 'not every record delivered'}"
                   for i, r in enumerate(rounds) for k in ("riacho", "mock")
                   if not r[k].get("ok") or r[k].get("delivered") != c["records"]]
            results["mock"] = {
                "ok": not bad, "error": "; ".join(bad), "rounds": rounds,
                "riacho_records_per_s": [r["riacho"].get("records_per_s") for r in rounds],
                "mock_records_per_s": [r["mock"].get("records_per_s") for r in rounds]}

    try:
        for i, (name, _, ov) in enumerate(CELLS):
            c = cell_spec(ov, mb)
            order = list(live) if i % 2 == 0 else list(reversed(live))
            for label in order:
                b = live[label]
                res = run_cell(b, data_dirs[label], a, name, c)
                res["order"] = order.index(label) + 1
                results[label]["cells"][name] = res
                if name in FETCH_RATE_CELLS and not res.get("error"):
                    res["fetch_rate"] = tool(
                        [a.fetch_rate, "--broker", b.bootstrap, "--topic", f"m-{name}",
                         "--end-offset", str(c["records"]), "--passes", "5"], 600)
                    log(f"{label} fetch_rate {name}: {res['fetch_rate']}")
                if label == "riacho":
                    extras(b, name, res)
    finally:
        for label, b in live.items():
            results[label]["load_after"] = brokers.loadavg()
            results[label]["alive_at_end"] = b.alive()
            b.stop()
    if "riacho" in live:
        results["sendfile"] = sendfile
    meta["minutes"] = round((time.monotonic() - t_start) / 60, 1)
    brokers.write_json(out_dir / "matrix.json", {"meta": meta, "results": results})
    md = report(results, meta)
    if chart(results, meta, out_dir / "matrix.png"):
        md += f"\n\nChart: `{out_dir.name}/matrix.png`."
    md += f"\n\n(whole run: {meta['minutes']} min)"
    (out_dir / "matrix.md").write_text(md + "\n")
    print(md)
    print(f"\n(written to {out_dir}/matrix.md, matrix.json, matrix.png)")


if __name__ == "__main__":
    main()
