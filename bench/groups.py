#!/usr/bin/env python3
"""bench/groups.py — consumer groups, Riacho vs Apache Kafka, side by side in one run.

Usage (with the integration-test venv, which has confluent-kafka):
  tests/integration/.deps/venv/bin/python bench/groups.py [--riacho-bin PATH] [--only riacho|kafka]
      [--repeats N] [--commit-seconds S] [--out DIR]
or `bench/run.sh --suite groups`, which builds the broker first.

Same client (confluent-kafka / librdkafka), same settings, for both brokers:
  Broker settings: group.initial.rebalance.delay.ms=0, group.consumer.heartbeat.interval.ms=500
  (Kafka also gets group.consumer.min.heartbeat.interval.ms=500, a key Riacho does not have).
  One topic of 30 partitions (CreateTopics, RF 1).

Rebalance (each protocol, --repeats times, fresh group each time, median reported):
  classic   librdkafka defaults (partition.assignment.strategy range,roundrobin: eager;
            heartbeat.interval.ms 3000, session.timeout.ms 45000)
  consumer  group.protocol=consumer (KIP-848), the broker's default server assignor
  Ten consumers, each polled by a thread of its own. Nine subscribe at once and settle
  ("form": from the first subscribe). Then the tenth subscribes ("join": from its
  subscribe() call). Then member 0 calls close() ("leave": from the close() call).
  Settled = every live member holds a non-empty assignment, no partition is held twice,
  all 30 are held, and sizes differ by at most one (the assignors' balanced target, so an
  incremental hand-over that is only part-way done does not count), with no change for
  1 s afterwards. The time reported is that of the last assignment change, taken in the
  member thread right after the poll() that applied it.

Offset commits (each protocol): one consumer subscribed alone to the topic (it owns all 30
  partitions) commits explicit offsets of one partition, offset+1 each time:
  sync   commit(offsets=[tp], asynchronous=False) in a loop for --commit-seconds
  async  commit(offsets=[tp], asynchronous=True), at most 1,000 outstanding, completions
         counted by on_commit; rate = completed / (last completion - first commit).
         (Both brokers answer a connection's requests one at a time, so a deeper pipe
         only queues: at 1,000 outstanding, Kafka's 5 ms-lingered commits timed out.)
  Each figure follows 1 s of unmeasured sync commits (warm-up); the committed offset is
  read back at the end (committed()) as a check.
  Riacho acknowledges an OffsetCommit only after fdatasync when riacho.acks.all.fsync=true
  (its default); Kafka does not flush. So commits run on Riacho twice: default, and with
  riacho.acks.all.fsync=false (like for like). Kafka 4.1's group coordinator holds each
  write up to group.coordinator.append.linger.ms (default 5 ms) to batch it; commits run on
  Kafka twice too: default, and with that linger at 0.

Writes <out>/groups.json and <out>/groups.md, prints the Markdown.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import brokers  # noqa: E402
from brokers import log  # noqa: E402

PARTITIONS = 30
MEMBERS = 10
HOLD_S = 1.0           # a settled state must hold this long
ASYNC_OUTSTANDING = 100
SETTLE_TIMEOUT_S = 90.0

BROKER_SETTINGS = {"group.initial.rebalance.delay.ms": "0",
                   "group.consumer.heartbeat.interval.ms": "500"}
KAFKA_ONLY = {"group.consumer.min.heartbeat.interval.ms": "500"}


def client_conf(bootstrap: str, group: str, protocol: str, idx: int) -> dict:
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": f"bench-m{idx}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    if protocol == "consumer":
        conf["group.protocol"] = "consumer"
    return conf


class Member(threading.Thread):
    """A consumer polled by its own thread; every call on it happens in that thread."""

    def __init__(self, bootstrap, group, topic, protocol, idx):
        super().__init__(daemon=True, name=f"member-{idx}")
        from confluent_kafka import Consumer
        self.c = Consumer(client_conf(bootstrap, group, protocol, idx))
        self.topic = topic
        self.idx = idx
        self.lock = threading.Lock()
        self.assign = frozenset()
        self.changed_at = time.monotonic()
        self.want_subscribe = threading.Event()
        self.want_close = threading.Event()
        self.quit = threading.Event()
        self.subscribed_at = None
        self.close_called_at = None
        self.close_returned_at = None
        self.closed = False
        self.error = None
        self.start()

    def run(self):
        try:
            while not self.quit.is_set():
                if self.want_close.is_set():
                    self.close_called_at = time.monotonic()
                    self.c.close()
                    self.close_returned_at = time.monotonic()
                    with self.lock:
                        self.closed = True
                        self.assign = frozenset()
                        self.changed_at = self.close_returned_at
                    return
                if self.want_subscribe.is_set() and self.subscribed_at is None:
                    self.subscribed_at = time.monotonic()
                    self.c.subscribe([self.topic])
                m = self.c.poll(0.02)
                if m is not None and m.error() and self.error is None:
                    self.error = str(m.error())
                a = frozenset(tp.partition for tp in self.c.assignment())
                if a != self.assign:
                    t = time.monotonic()
                    with self.lock:
                        self.assign = a
                        self.changed_at = t
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = repr(e)

    def snapshot(self):
        with self.lock:
            return self.assign, self.changed_at

    def close(self):
        self.want_close.set()


def settled(snaps) -> bool:
    sets = [s for s, _ in snaps]
    if not sets or any(not s for s in sets):
        return False
    sizes = [len(s) for s in sets]
    union = frozenset().union(*sets)
    return (sum(sizes) == PARTITIONS and len(union) == PARTITIONS
            and max(sizes) - min(sizes) <= 1)


def wait_settled(members, since: float, what: str) -> float:
    """Seconds from `since` to the last assignment change of a settled state held HOLD_S."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        snaps = [m.snapshot() for m in members]
        now = time.monotonic()
        last = max(t for _, t in snaps)
        if settled(snaps) and now - last >= HOLD_S:
            return last - since
        if now > deadline:
            sizes = [len(s) for s, _ in snaps]
            errs = [m.error for m in members if m.error]
            raise TimeoutError(f"{what}: not settled in {SETTLE_TIMEOUT_S} s "
                               f"(sizes {sizes}, errors {errs[:3]})")
        time.sleep(0.005)


def close_all(members):
    for m in members:
        if m.is_alive():
            m.close()
    for m in members:
        m.join(60)


def rebalance_round(bootstrap, topic, protocol, tag) -> dict:
    group = f"bench-{protocol}-{tag}-{uuid.uuid4().hex[:8]}"
    members = [Member(bootstrap, group, topic, protocol, i) for i in range(MEMBERS)]
    try:
        time.sleep(1.0)  # clients bootstrapped, not subscribed yet
        for m in members[:MEMBERS - 1]:
            m.want_subscribe.set()
        while any(m.subscribed_at is None for m in members[:MEMBERS - 1]):
            time.sleep(0.001)
        first = min(m.subscribed_at for m in members[:MEMBERS - 1])
        form = wait_settled(members[:MEMBERS - 1], first, f"{protocol}: 9 members form")

        last = members[MEMBERS - 1]
        last.want_subscribe.set()
        while last.subscribed_at is None:
            time.sleep(0.001)
        join = wait_settled(members, last.subscribed_at, f"{protocol}: the 10th joins")

        leaver = members[0]
        leaver.close()
        while leaver.close_called_at is None:
            time.sleep(0.001)
        leave = wait_settled(members[1:], leaver.close_called_at, f"{protocol}: one leaves")
        close_s = (leaver.close_returned_at - leaver.close_called_at
                   if leaver.close_returned_at else None)
        sizes = sorted(len(m.snapshot()[0]) for m in members[1:])
        return {"ok": True, "form_s": form, "join_s": join, "leave_s": leave,
                "leaver_close_s": close_s, "final_sizes": sizes}
    except Exception as e:  # noqa: BLE001 - a failed round is a result
        return {"ok": False, "error": str(e)}
    finally:
        close_all(members)


def warm_up(bootstrap, topic, protocol):
    """One member alone until it owns everything (creates __consumer_offsets etc.)."""
    m = Member(bootstrap, f"bench-warmup-{protocol}-{uuid.uuid4().hex[:6]}", topic, protocol, 0)
    try:
        m.want_subscribe.set()
        while m.subscribed_at is None:
            time.sleep(0.001)
        wait_settled([m], m.subscribed_at, f"{protocol}: warm-up member")
    finally:
        close_all([m])


def commit_bench(bootstrap, topic, protocol, mode, seconds) -> dict:
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    group = f"bench-commit-{protocol}-{mode}-{uuid.uuid4().hex[:6]}"
    conf = client_conf(bootstrap, group, protocol, 0)
    state = {"ok": 0, "failed": 0, "first_error": None, "last_done": None}

    def on_commit(err, parts):
        state["last_done"] = time.monotonic()
        bad = err is not None or any(p.error is not None for p in (parts or []))
        if bad:
            state["failed"] += 1
            if state["first_error"] is None:
                state["first_error"] = str(err or [p.error for p in parts if p.error][0])
        else:
            state["ok"] += 1
    if mode == "async":
        conf["on_commit"] = on_commit
    c = Consumer(conf)
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while len(c.assignment()) < PARTITIONS:
            c.poll(0.05)
            if time.monotonic() > deadline:
                return {"ok": False, "error": "the consumer got no assignment"}
        # 1 s of commits first: connections, coordinator, offsets partition (and JIT) warm.
        warm_until = time.monotonic() + 1.0
        i = 0
        while time.monotonic() < warm_until and i < 999:
            i += 1
            c.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=False)
        n = 0
        offset = 1000
        start = time.monotonic()
        end_at = start + seconds
        if mode == "sync":
            while time.monotonic() < end_at:
                offset += 1
                try:
                    c.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
                except KafkaException as e:
                    return {"ok": False, "error": f"commit: {e}", "commits": n}
                n += 1
            elapsed = time.monotonic() - start
            done = n
        else:
            while time.monotonic() < end_at:
                if n - state["ok"] - state["failed"] < ASYNC_OUTSTANDING:
                    offset += 1
                    c.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=True)
                    n += 1
                    c.poll(0)
                else:
                    c.poll(0.001)
            drain = time.monotonic() + 60
            while state["ok"] + state["failed"] < n and time.monotonic() < drain:
                c.poll(0.01)
            done = state["ok"]
            elapsed = (state["last_done"] or time.monotonic()) - start
            if state["failed"] or done < n:
                return {"ok": False, "commits": n, "completed": done,
                        "error": f"{state['failed']} failed ({state['first_error']}), "
                                 f"{n - done - state['failed']} never completed"}
        got = c.committed([TopicPartition(topic, 0)], timeout=30)[0].offset
        if got != offset:
            return {"ok": False, "error": f"committed() reads {got}, last commit was {offset}"}
        return {"ok": True, "commits": done, "seconds": elapsed, "commits_per_s": done / elapsed}
    except Exception as e:  # noqa: BLE001
        return {"ok": False, "error": repr(e)}
    finally:
        c.close()


def run_system(broker, protocols, repeats, commit_seconds, do_rebalance=True) -> dict:
    res = {"label": broker.label, "load_before": brokers.loadavg()}
    topic = "bench-groups"
    brokers.create_topics(broker.bootstrap, {topic: PARTITIONS})
    for protocol in protocols:
        if do_rebalance:
            log(f"{broker.label}: {protocol} warm-up")
            warm_up(broker.bootstrap, topic, protocol)
            rounds = []
            for r in range(repeats):
                out = rebalance_round(broker.bootstrap, topic, protocol, r)
                log(f"{broker.label}: {protocol} rebalance round {r + 1}/{repeats}: {out}")
                rounds.append(out)
                if not broker.alive():
                    break
            res[f"rebalance_{protocol}"] = rounds
        for mode in ("sync", "async"):
            out = commit_bench(broker.bootstrap, topic, protocol, mode, commit_seconds)
            log(f"{broker.label}: {protocol} {mode} commits: {out}")
            res[f"commit_{protocol}_{mode}"] = out
    res["alive_at_end"] = broker.alive()
    res["load_after"] = brokers.loadavg()
    return res


def median_of(rounds, key):
    vals = [r[key] for r in rounds if r.get("ok") and r.get(key) is not None]
    if not vals:
        return None, 0
    return statistics.median(vals), len(vals)


def fmt_s(v):
    return "—" if v is None else f"{v:.3f}"


def report(results: dict, meta: dict) -> str:
    R, N, K = (results.get("riacho"), results.get("riacho_nofsync"), results.get("kafka"))
    out = [f"## Consumer groups: Riacho vs Apache Kafka {brokers.KAFKA_VERSION} — {meta['date']}",
           "",
           f"- Machine: {meta['machine']['cpu']} ({meta['machine']['cores']} cores), "
           f"{meta['machine']['mem']}, kernel {meta['machine']['kernel']}, data on "
           f"{meta['machine']['fs']}; brokers and clients share it",
           f"- Riacho {meta['commit']} ({meta['build']}); Apache Kafka {brokers.KAFKA_VERSION} "
           f"(KRaft, one JVM, {meta['kafka_heap']}); client confluent-kafka "
           f"{meta['client']} (librdkafka {meta['librdkafka_client']})",
           "- Broker settings (both): group.initial.rebalance.delay.ms=0, "
           "group.consumer.heartbeat.interval.ms=500 (Kafka also "
           "group.consumer.min.heartbeat.interval.ms=500); topic of 30 partitions, RF 1",
           f"- Rebalance: 10 members, one thread each; median of {meta['repeats']} rounds "
           "(fresh group each); time to the last assignment change of a settled state (all "
           "live members non-empty, disjoint, all 30 held, sizes within 1, unchanged for 1 s). "
           "classic = librdkafka defaults (eager range,roundrobin; heartbeat 3 s); consumer = "
           "group.protocol=consumer (KIP-848), broker's default assignor",
           f"- Commits: one consumer owning all 30 partitions commits one partition's explicit "
           f"offset, {meta['commit_seconds']} s per figure; async keeps ≤{ASYNC_OUTSTANDING} "
           f"outstanding. Riacho fsync = riacho.acks.all.fsync=true (default: a commit is "
           f"answered after fdatasync); Kafka linger 0 = group.coordinator.append.linger.ms=0 "
           f"(default 5: the coordinator holds writes 5 ms to batch them); neither Kafka "
           f"variant flushes",
           f"- Load average before/after each broker: " + "; ".join(
               f"{r['label']}: {r['load_before']} / {r['load_after']}"
               for r in results.values() if r),
           "",
           "| protocol | figure (median s) | Riacho | Kafka | Riacho/Kafka |",
           "|---|---|---:|---:|---:|"]
    for protocol in meta["protocols"]:
        for i, (label, key) in enumerate((("9 members form the group", "form_s"),
                                          ("10th member joins", "join_s"),
                                          ("1 member leaves (close)", "leave_s"))):
            rv, rn = median_of((R or {}).get(f"rebalance_{protocol}", []), key)
            kv, kn = median_of((K or {}).get(f"rebalance_{protocol}", []), key)
            rtxt = "not run" if R is None else fmt_s(rv) + ("" if rn == meta["repeats"] else f" ({rn} ok)")
            ktxt = "not run" if K is None else fmt_s(kv) + ("" if kn == meta["repeats"] else f" ({kn} ok)")
            out.append(f"| {protocol if i == 0 else ''} | {label} | {rtxt} | {ktxt} | "
                       f"{brokers.ratio(rv, kv)} |")
    out += ["", "Every round (seconds, form / join / leave):", ""]
    for sysres in (R, K):
        if not sysres:
            continue
        for protocol in meta["protocols"]:
            rounds = sysres.get(f"rebalance_{protocol}", [])
            txt = ", ".join(f"{r['form_s']:.2f}/{r['join_s']:.2f}/{r['leave_s']:.2f}"
                            if r.get("ok") else f"FAILED ({r.get('error')})" for r in rounds)
            out.append(f"- {sysres['label']} {protocol}: {txt}")
    out += ["", "| protocol | commits/s | Riacho (fsync, default) | Riacho (fsync off) "
            "| Kafka (default) | Kafka (linger 0) | Riacho/Kafka (defaults) "
            "| Riacho fsync off/Kafka linger 0 |", "|---|---|---:|---:|---:|---:|---:|---:|"]

    def cv(res, key):
        if res is None:
            return "not run", None
        c = res.get(key)
        if c is None:
            return "not run" if not res.get("error") else f"FAILED: {res['error']}", None
        if not c.get("ok"):
            return f"FAILED: {c.get('error')}".replace("|", "/"), None
        return f"{c['commits_per_s']:,.0f}", c["commits_per_s"]
    for protocol in meta["protocols"]:
        for i, mode in enumerate(("sync", "async")):
            key = f"commit_{protocol}_{mode}"
            (rt, rv), (nt, nv) = cv(R, key), cv(N, key)
            (kt, kv), (lt, lv) = cv(K, key), cv(results.get("kafka_linger0"), key)
            out.append(f"| {protocol if i == 0 else ''} | {mode} | {rt} | {nt} | {kt} | {lt} "
                       f"| {brokers.ratio(rv, kv)} | {brokers.ratio(nv, lv)} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--riacho-bin", default=brokers.default_riacho_bin())
    ap.add_argument("--only", choices=["riacho", "kafka"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--commit-seconds", type=float, default=10.0)
    ap.add_argument("--protocols", default="classic,consumer")
    ap.add_argument("--out")
    ap.add_argument("--build", default="scripts/build.sh release")
    ap.add_argument("--commit", help="what the Riacho binary was built from (default: HEAD)")
    args = ap.parse_args()
    import confluent_kafka
    brokers.LOG_PREFIX = "groups-"
    out_dir = brokers.out_dir_for("groups", args.out)
    protocols = args.protocols.split(",")
    meta = {"date": time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()),
            "commit": args.commit or brokers.commit_desc(), "build": args.build,
            "machine": brokers.machine(), "repeats": args.repeats,
            "commit_seconds": args.commit_seconds, "protocols": protocols,
            "client": confluent_kafka.__version__,
            "librdkafka_client": confluent_kafka.libversion()[0],
            "kafka_heap": __import__("os").environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx1g")}
    results = {}
    if args.only != "kafka":
        for label, extra, rebalance in (("riacho", {}, True),
                                        ("riacho_nofsync", {"riacho.acks.all.fsync": "false"},
                                         False)):
            b = brokers.Riacho(args.riacho_bin, label, {**BROKER_SETTINGS, **extra}, out_dir)
            try:
                b.start()
                log(f"{label} serving on {b.bootstrap}")
                results[label] = run_system(b, protocols, args.repeats, args.commit_seconds,
                                            do_rebalance=rebalance)
            except Exception as e:  # noqa: BLE001
                log(f"{label}: {e}")
                results[label] = {"label": label, "error": str(e),
                                  "load_before": "?", "load_after": "?"}
            finally:
                b.stop()
    if args.only != "riacho":
        for label, extra, rebalance in (
                ("kafka", {}, True),
                ("kafka_linger0", {"group.coordinator.append.linger.ms": "0"}, False)):
            b = brokers.Kafka(label, BROKER_SETTINGS, {**KAFKA_ONLY, **extra}, out_dir)
            try:
                b.start()
                log(f"{label} serving on {b.bootstrap}")
                results[label] = run_system(b, protocols, args.repeats, args.commit_seconds,
                                            do_rebalance=rebalance)
            except Exception as e:  # noqa: BLE001
                log(f"{label}: {e}")
                results[label] = {"label": label, "error": str(e),
                                  "load_before": "?", "load_after": "?"}
            finally:
                b.stop()
    brokers.write_json(out_dir / "groups.json", {"meta": meta, "results": results})
    md = report(results, meta)
    (out_dir / "groups.md").write_text(md + "\n")
    print(md)
    print(f"\n(written to {out_dir}/groups.md and groups.json)")


if __name__ == "__main__":
    main()
