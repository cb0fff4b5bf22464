#!/usr/bin/env python3
"""bench/footprint.py — memory per partition and start-to-serving after kill -9 with 10,000
partitions, Riacho vs Apache Kafka, in one run.

Usage:
  tests/integration/.deps/venv/bin/python bench/footprint.py [--topics 100] [--partitions 100]
      [--riacho-bin PATH] [--only riacho|kafka] [--out DIR]
or `bench/run.sh --suite footprint`, which builds the broker first.

For each broker (defaults, a fresh data dir):
  1. idle      RSS 5 s after it serves (VmRSS from /proc; RssAnon and RssFile too)
  2. created   --topics x --partitions partitions created through the admin API
               (CreateTopics, 10 topics per request, RF 1), until Metadata shows every one
               with a leader; RSS 5 s later
  3. written   one 1 KiB record produced to every partition (confluent-kafka producer,
               acks=-1); RSS 5 s later. Per-partition bytes = (RSS - idle RSS) / partitions.
  4. kill -9, then the same binary/JVM started again on the same data dir and port:
               time from process start to (a) ApiVersions answered, (b) Riacho's
               --ready-file written (Kafka: apache-kafka.sh start returning, i.e. the port
               accepting), (c) a Metadata response listing every partition with a leader;
               RSS 5 s after.
  Kafka's figures include the JVM's start; its RSS is mostly the Java heap as the GC left it
  (-Xms256m -Xmx1g), so its per-partition figure is indicative only; `jcmd GC.heap_info`
  output is kept in the JSON.

Writes <out>/footprint.json and <out>/footprint.md, prints the Markdown.
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
from brokers import log  # noqa: E402

SETTLE_S = 5.0


def rss_after(pid, settle=SETTLE_S) -> dict:
    time.sleep(settle)
    return brokers.rss(pid)


def heap_info(pid) -> str | None:
    try:
        r = subprocess.run(["jcmd", str(pid), "GC.heap_info"], capture_output=True, text=True,
                           timeout=30)
        return r.stdout.strip()
    except Exception:  # noqa: BLE001
        return None


def wait_all_partitions(bootstrap, topics, parts, timeout=300.0, t0=None) -> float | None:
    """Seconds from t0 until Metadata lists every partition with a leader."""
    t0 = t0 or time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        try:
            md = brokers.metadata_partitions(bootstrap, timeout=10)
            if sum(md.get(t, 0) for t in topics) == len(topics) * parts:
                return time.monotonic() - t0
        except Exception:  # noqa: BLE001 - not serving yet
            pass
        time.sleep(0.05)
    return None


def produce_one_each(bootstrap, topics, parts, size=1024) -> dict:
    from confluent_kafka import Producer
    st = {"ok": 0, "failed": 0, "err": None}

    def dr(err, _msg):
        if err is None:
            st["ok"] += 1
        else:
            st["failed"] += 1
            st["err"] = st["err"] or str(err)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "-1", "linger.ms": 5})
    value = b"x" * size
    t0 = time.monotonic()
    for t in topics:
        for i in range(parts):
            while True:
                try:
                    p.produce(t, value=value, partition=i, on_delivery=dr)
                    break
                except BufferError:
                    p.poll(0.01)
            p.poll(0)
    p.flush(120)
    return {"delivered": st["ok"], "failed": st["failed"], "error": st["err"],
            "seconds": time.monotonic() - t0}


def restart_riacho(b: brokers.Riacho, port: int, topics, parts) -> dict:
    """Starts Riacho again on the same data dir and port, timing serving milestones."""
    ready = b.dir / "ready"
    ready.unlink(missing_ok=True)
    args = [b.binary, "serve", "--set", f"listeners=PLAINTEXT://127.0.0.1:{port}",
            "--set", f"log.dirs={b.data}", "--ready-file", str(ready)]
    for k, v in b.settings.items():
        args += ["--set", f"{k}={v}"]
    logf = open(b.log_path(), "ab")
    logf.write(f"\n=== restart after kill -9: {' '.join(args)}\n".encode())
    logf.flush()
    t0 = time.monotonic()
    b.proc = subprocess.Popen(args, stdout=logf, stderr=logf,
                              stdin=subprocess.DEVNULL)
    logf.close()
    b.pid = b.proc.pid
    api = ready_s = None
    deadline = t0 + 300
    while (api is None or ready_s is None) and time.monotonic() < deadline:
        if b.proc.poll() is not None:
            return {"ok": False, "error": f"riacho exited with {b.proc.returncode} on restart"}
        now = time.monotonic()
        if ready_s is None and ready.exists() and ready.read_text().endswith("\n"):
            ready_s = now - t0
        if api is None and brokers.api_versions_ok(f"127.0.0.1:{port}", timeout=0.5):
            api = time.monotonic() - t0
        time.sleep(0.005)
    md = wait_all_partitions(f"127.0.0.1:{port}", topics, parts, t0=t0)
    return {"ok": api is not None and md is not None, "api_versions_s": api,
            "ready_s": ready_s, "metadata_all_s": md}


def restart_kafka(b: brokers.Kafka, topics, parts) -> dict:
    env = dict(os.environ, KAFKA_CONTROLLER_PORT=str(b.cport), KAFKA_START_TIMEOUT="300")
    args = [str(brokers.KAFKA_SCRIPT), "start", str(b.port), str(b.dir)]
    args += [f"{k}={v}" for k, v in b.settings.items()]
    t0 = time.monotonic()
    script = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    api = script_s = None
    deadline = t0 + 300
    while (api is None or script_s is None) and time.monotonic() < deadline:
        if script_s is None and script.poll() is not None:
            script_s = time.monotonic() - t0
            if script.returncode != 0:
                return {"ok": False, "error": f"apache-kafka.sh start: {script.stderr.read()[-800:]}"}
            b.pid = int(script.stdout.read().strip().splitlines()[-1])
        if api is None and brokers.api_versions_ok(b.bootstrap, timeout=0.5):
            api = time.monotonic() - t0
        time.sleep(0.005)
    md = wait_all_partitions(b.bootstrap, topics, parts, t0=t0)
    return {"ok": api is not None and md is not None, "api_versions_s": api,
            "ready_s": script_s, "metadata_all_s": md}


def run_system(b, a, res: dict) -> dict:
    """Fills `res` as it goes, so a failure part-way keeps what was measured."""
    res.update({"label": b.label, "load_before": brokers.loadavg()})
    topics = [f"fp-{i:03d}" for i in range(a.topics)]
    total = a.topics * a.partitions
    st = b.start()
    brokers.wait_serving(b.bootstrap)
    res["first_start"] = {k: v for k, v in st.items() if k != "t0"}
    res["idle"] = rss_after(b.pid)
    log(f"{b.label}: idle {res['idle']}")
    t0 = time.monotonic()
    try:
        brokers.create_topics(b.bootstrap, {t: a.partitions for t in topics}, batch=10,
                              timeout=300)
    except Exception as e:  # noqa: BLE001
        res["create_error"] = str(e)
        log(f"{b.label}: create failed: {e}")
    res["create_s"] = time.monotonic() - t0
    res["metadata_after_create_s"] = wait_all_partitions(b.bootstrap, topics, a.partitions,
                                                         t0=t0)
    if res["metadata_after_create_s"] is None or not b.alive():
        res["error"] = (f"{total} partitions never all showed up in Metadata"
                        if b.alive() else "the broker died while creating the partitions")
        return res
    res["created"] = rss_after(b.pid)
    log(f"{b.label}: {total} partitions created in {res['create_s']:.1f} s, {res['created']}")
    res["produce"] = produce_one_each(b.bootstrap, topics, a.partitions)
    res["written"] = rss_after(b.pid)
    log(f"{b.label}: one record each: {res['produce']}, {res['written']}")
    if b.kind == "kafka":
        res["heap_info_written"] = heap_info(b.pid)
    if not b.alive():
        res["error"] = "the broker died"
        return res
    # kill -9 and start again on the same data and port
    port = int(b.bootstrap.rsplit(":", 1)[1])
    b.kill9()
    time.sleep(1.0)
    res["restart"] = (restart_riacho(b, port, topics, a.partitions) if b.kind == "riacho"
                      else restart_kafka(b, topics, a.partitions))
    log(f"{b.label}: restart after kill -9: {res['restart']}")
    if res["restart"].get("ok") and b.alive():
        res["restarted"] = rss_after(b.pid)
    res["load_after"] = brokers.loadavg()
    return res


def mib(v):
    return "—" if v is None else f"{v / 2**20:,.1f}"


def report(results, meta) -> str:
    R, K = results.get("riacho"), results.get("kafka")
    m = meta["machine"]
    total = meta["topics"] * meta["partitions"]
    out = [f"## Memory and restart with {total:,} partitions: Riacho vs Apache Kafka "
           f"{brokers.KAFKA_VERSION} — {meta['date']}", "",
           f"- Machine: {m['cpu']} ({m['cores']} cores), {m['mem']}, kernel {m['kernel']}, data "
           f"on {m['fs']}; open-files limit {meta['nofile']}",
           f"- Riacho {meta['commit']} ({meta['build']}), defaults; Apache Kafka "
           f"{brokers.KAFKA_VERSION} (KRaft, one JVM, {meta['kafka_heap']}, G1), defaults of "
           f"scripts/apache-kafka.sh",
           *([f"- {meta['requested']:,} partitions were asked for; Riacho keeps 1 open file "
               f"per partition and the open-files limit here is {meta['nofile']:,}"
               f"{' (the hard limit: raising it was refused)' if meta['raise_refused'] else ''}"
               f", so both brokers were measured at "
               f"{total:,}"] if meta["requested"] != total else []),
           f"- {meta['topics']} topics x {meta['partitions']} partitions created by "
           f"CreateTopics (10 topics per request); then one 1 KiB record produced to each "
           f"partition; RSS = VmRSS from /proc, read {SETTLE_S:.0f} s after each step",
           "- Restart: kill -9 after the records were written, then start on the same data "
           "dir and port; times from process start (Kafka: from `apache-kafka.sh start`, "
           "JVM start included)",
           "- Load average before/after: " + "; ".join(
               f"{k}: {v.get('load_before', '?')} / {v.get('load_after', '?')}"
               for k, v in results.items()),
           "", "| figure | Riacho | Kafka | Riacho/Kafka |", "|---|---:|---:|---:|"]

    def g(res, *path):
        cur = res
        for p in path:
            if not isinstance(cur, dict) or cur.get(p) is None:
                return None
            cur = cur[p]
        return cur

    def row(label, rv, kv, f):
        rt = "not run" if R is None else ("—" if rv is None else f(rv))
        kt = "not run" if K is None else ("—" if kv is None else f(kv))
        out.append(f"| {label} | {rt} | {kt} | {brokers.ratio(rv, kv)} |")

    def per_part(res, step):
        a, b = g(res, step, "VmRSS"), g(res, "idle", "VmRSS")
        return None if a is None or b is None else (a - b) / total
    row("RSS idle (fresh broker) MiB", g(R, "idle", "VmRSS"), g(K, "idle", "VmRSS"), mib)
    row("  of which anonymous MiB", g(R, "idle", "RssAnon"), g(K, "idle", "RssAnon"), mib)
    row(f"RSS with {total:,} empty partitions MiB", g(R, "created", "VmRSS"),
        g(K, "created", "VmRSS"), mib)
    row("  per partition (over idle) bytes", per_part(R, "created"), per_part(K, "created"),
        lambda v: f"{v:,.0f}")
    row(f"RSS with {total:,} partitions, 1 record each MiB", g(R, "written", "VmRSS"),
        g(K, "written", "VmRSS"), mib)
    row("  of which anonymous MiB", g(R, "written", "RssAnon"), g(K, "written", "RssAnon"), mib)
    row("  per partition (over idle) bytes", per_part(R, "written"), per_part(K, "written"),
        lambda v: f"{v:,.0f}")
    row(f"create {total:,} partitions s (CreateTopics until all in Metadata)",
        g(R, "metadata_after_create_s"), g(K, "metadata_after_create_s"), lambda v: f"{v:.2f}")
    row("first start of a fresh broker to serving s (Kafka: apache-kafka.sh start, "
        "formatting included)", g(R, "first_start", "ready_s"),
        g(K, "first_start", "script_s"), lambda v: f"{v:.2f}")
    row("after kill -9: start to ApiVersions answered s", g(R, "restart", "api_versions_s"),
        g(K, "restart", "api_versions_s"), lambda v: f"{v:.3f}")
    row("after kill -9: start to ready file / port open s", g(R, "restart", "ready_s"),
        g(K, "restart", "ready_s"), lambda v: f"{v:.3f}")
    row(f"after kill -9: start to Metadata with all {total:,} partitions s",
        g(R, "restart", "metadata_all_s"), g(K, "restart", "metadata_all_s"),
        lambda v: f"{v:.3f}")
    row("RSS after the restart MiB", g(R, "restarted", "VmRSS"), g(K, "restarted", "VmRSS"), mib)
    row("open file descriptors, idle", g(R, "idle", "fds"), g(K, "idle", "fds"), lambda v: f"{v:,}")
    row(f"open file descriptors, {total:,} partitions written", g(R, "written", "fds"),
        g(K, "written", "fds"), lambda v: f"{v:,}")
    row(f"memory mappings, {total:,} partitions written", g(R, "written", "maps"),
        g(K, "written", "maps"), lambda v: f"{v:,}")
    errs = [f"- {k}: {v.get('error') or v.get('create_error') or g(v, 'restart', 'error')}"
            for k, v in results.items()
            if v.get("error") or v.get("create_error") or g(v, "restart", "error")]
    if errs:
        out += ["", "Failures:"] + errs
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--riacho-bin", default=brokers.default_riacho_bin())
    ap.add_argument("--only", choices=["riacho", "kafka"])
    ap.add_argument("--topics", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=100)
    ap.add_argument("--nofile", type=int, default=100000,
                    help="open-files limit (soft and hard) for both brokers; 0 = leave as is. "
                         "Riacho keeps one descriptor per segment (its .log)")
    ap.add_argument("--out")
    ap.add_argument("--build", default="scripts/build.sh release")
    ap.add_argument("--commit", help="what the Riacho binary was built from (default: HEAD)")
    a = ap.parse_args()
    import resource
    raise_refused = False
    if a.nofile:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (a.nofile, a.nofile))
        except (ValueError, OSError) as e:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            raise_refused = True
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log(f"cannot raise the open-files limit to {a.nofile} ({e}); using the hard "
                f"limit {hard}")
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    requested = a.topics * a.partitions
    # Riacho holds one descriptor per partition here (one segment each); past the limit it
    # cannot open the logs (and a restart aborts), so measure both brokers at a count that fits.
    fits = max(1, (nofile - 2000) // a.partitions)
    if a.only != "kafka" and a.topics > fits:
        log(f"{requested:,} partitions need ~{requested + 2000:,} open files on Riacho, "
            f"the limit is {nofile:,}: measuring {fits} topics x {a.partitions} instead")
        a.topics = fits
    brokers.LOG_PREFIX = "footprint-"
    out_dir = brokers.out_dir_for("footprint", a.out)
    meta = {"date": time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()),
            "commit": a.commit or brokers.commit_desc(), "build": a.build, "machine": brokers.machine(),
            "topics": a.topics, "partitions": a.partitions, "requested": requested,
            "nofile": nofile, "raise_refused": raise_refused,
            "kafka_heap": os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx1g")}
    results = {}
    systems = []
    if a.only != "kafka":
        systems.append(("riacho", lambda: brokers.Riacho(a.riacho_bin, "riacho", {}, out_dir)))
    if a.only != "riacho":
        systems.append(("kafka", lambda: brokers.Kafka("kafka", {}, {}, out_dir)))
    for label, make in systems:
        b = make()
        try:
            results[label] = {}
            run_system(b, a, results[label])
        except Exception as e:  # noqa: BLE001
            log(f"{label}: {e}")
            results[label]["error"] = str(e)
        finally:
            b.stop()
    brokers.write_json(out_dir / "footprint.json", {"meta": meta, "results": results})
    md = report(results, meta)
    (out_dir / "footprint.md").write_text(md + "\n")
    print(md)
    print(f"\n(written to {out_dir}/footprint.md and footprint.json)")


if __name__ == "__main__":
    main()
