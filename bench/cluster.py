#!/usr/bin/env python3
"""bench/cluster.py — a three-node cluster, Riacho vs Apache Kafka, side by side in one run.

Usage (with the integration-test venv, which has confluent-kafka):
  tests/integration/.deps/venv/bin/python bench/cluster.py [--riacho-bin PATH]
      [--only riacho|kafka] [--records N] [--out DIR]
or `bench/run.sh --suite cluster`, which builds the broker first.

Both systems get the same layout on this machine: three nodes, each broker and controller
(Riacho: `controller.quorum.voters`; Kafka 4.x KRaft combined mode, one cluster id), a topic
of one partition with replication factor 3 and min.insync.replicas 2, and
broker.session.timeout.ms 3000 on both (a killed broker is fenced after 3 s; Kafka's default
is 9 s). Measured with the same client (librdkafka):
- produce: bench/macro/rdkafka_load (build-bench/load) sends --records 1 KiB records with
  acks=-1 to the partition: records/s and per-record latency (send to delivery report)
  p50/p99/max. Riacho fdatasyncs each acknowledged batch on the leader (its default);
  Kafka acknowledges from the page cache.
- failover: a confluent-kafka idempotent producer sends 2,000 records/s with acks=all; after
  5 s the partition leader's process is killed with SIGKILL; it goes on for 20 s. Failover
  time = the longest gap between two consecutive delivery reports (the last acknowledged
  record before the kill to the first after). Then every acknowledged record is read back
  (none may be lost).
- failover of the active controller: the same on a fresh cluster, where the killed node
  leads the partition *and* the metadata quorum (DescribeQuorum names it; the topic is
  created with it as the preferred replica), so the quorum elects a new controller before
  anything can move.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import threading
import time
import uuid

import sys

import brokers
from brokers import log

sys.path.insert(0, str(brokers.ROOT / "tests" / "integration"))
from test_cluster import describe_quorum  # noqa: E402 (the integration tests' DescribeQuorum)

TOPIC = "bench-cluster"
RATE_PER_S = 2000
BEFORE_KILL_S = 5.0
AFTER_KILL_S = 20.0
COMMON = {"broker.session.timeout.ms": "3000", "num.partitions": "1"}


def start_riacho_cluster(binary, out_dir):
    cports = [brokers.free_port() for _ in range(3)]
    voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(cports))
    nodes = [brokers.Riacho(binary, f"riacho{i + 1}",
                            {"node.id": str(i + 1), "controller.quorum.voters": voters, **COMMON},
                            out_dir) for i in range(3)]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda n: n.start(), nodes))
    return nodes


def start_kafka_cluster(out_dir):
    nodes = [brokers.Kafka(f"kafka{i + 1}", dict(COMMON), {}, out_dir) for i in range(3)]
    voters = ",".join(f"{i + 1}@127.0.0.1:{n.cport}" for i, n in enumerate(nodes))
    cluster_id = "Zm9vYmFyYmF6cXV4cXV1eA"  # any 22-character base64 id, shared
    for i, n in enumerate(nodes):
        n.settings.update({"node.id": str(i + 1), "controller.quorum.voters": voters})
        n.env = {"KAFKA_CLUSTER_ID": cluster_id}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda n: n.start(), nodes))
    return nodes


def node_id(node) -> int:
    return int(node.label[-1])


def active_controller(addr):
    """The metadata quorum's leader, by DescribeQuorum (either system answers it)."""
    return describe_quorum(addr)[1]


def create_topic(bootstrap, preferred=None):
    """TOPIC with RF 3 (with `preferred`, a node id, first in its replica list)."""
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if preferred is None:
        new = NewTopic(TOPIC, num_partitions=1, replication_factor=3,
                       config={"min.insync.replicas": "2"})
    else:
        replicas = [preferred] + [i for i in (1, 2, 3) if i != preferred]
        new = NewTopic(TOPIC, num_partitions=1, replication_factor=-1,
                       replica_assignment=[replicas], config={"min.insync.replicas": "2"})
    f = admin.create_topics([new], operation_timeout=60, request_timeout=60)
    f[TOPIC].result(90)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        md = admin.list_topics(TOPIC, timeout=10).topics.get(TOPIC)
        if md and md.error is None and md.partitions and md.partitions[0].leader >= 0 and \
                len(md.partitions[0].isrs) == 3:
            return md.partitions[0].leader
        time.sleep(0.2)
    raise RuntimeError("the topic never got a leader with 3 in-sync replicas")


def run_produce(load, bootstrap, records):
    return brokers.run_tool([load, "produce", "--brokers", bootstrap,
                             "--topic", TOPIC, "--records", str(records), "--size", "1024",
                             "--acks", "-1"], timeout=600)


def run_failover(nodes, bootstrap):
    from confluent_kafka import Consumer, Producer, TopicPartition
    acked_at, acked_keys, errors = [], set(), []
    lock = threading.Lock()

    def report(err, msg):
        with lock:
            if err:
                errors.append(str(err))
            else:
                acked_at.append(time.monotonic())
                acked_keys.add(msg.key())

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": 60000, "metadata.max.age.ms": 1000})
    leader = create_topic_leader(bootstrap)
    victim = next(n for n in nodes if node_id(n) == leader)
    start = time.monotonic()
    killed_at = None
    sent = 0
    while True:
        now = time.monotonic()
        if killed_at is None and now - start >= BEFORE_KILL_S:
            log(f"failover: kill -9 of {victim.label} (partition leader)")
            victim.kill9()
            killed_at = time.monotonic()
        if killed_at is not None and now - killed_at >= AFTER_KILL_S:
            break
        due = int((now - start) * RATE_PER_S)
        while sent < due:
            try:
                producer.produce(TOPIC, key=f"k{sent}".encode(), value=b"x" * 1024,
                                 on_delivery=report)
                sent += 1
            except BufferError:
                break
        producer.poll(0.001)
    producer.flush(60)
    times = sorted(acked_at)
    gaps = [(b - a, a) for a, b in zip(times, times[1:])]
    worst_gap, gap_start = max(gaps) if gaps else (None, None)
    survivors = [n for n in nodes if n is not victim]
    consumer = Consumer({"bootstrap.servers": ",".join(n.bootstrap for n in survivors),
                         "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    read = set()
    deadline = time.monotonic() + 60
    while not acked_keys <= read and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and not m.error():
            read.add(m.key())
    consumer.close()
    lost = len(acked_keys - read)
    return {"sent": sent, "acked": len(acked_keys), "errors": len(errors),
            "first_error": errors[0] if errors else None,
            "failover_s": round(worst_gap, 3) if worst_gap is not None else None,
            "gap_began_after_kill_s": round(gap_start - killed_at, 3) if gaps else None,
            "lost_acknowledged": lost, "victim": victim.label}


def create_topic_leader(bootstrap):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(TOPIC, timeout=10).topics[TOPIC]
    return md.partitions[0].leader


def run_system(kind, args, out_dir):
    results = {}
    for case in ("leader", "controller"):
        # Each case's broker logs under their own names (the second cluster reuses the labels).
        brokers.LOG_PREFIX = f"cluster-{case}-"
        nodes = start_riacho_cluster(args.riacho_bin, out_dir) if kind == "riacho" \
            else start_kafka_cluster(out_dir)
        try:
            bootstrap = ",".join(n.bootstrap for n in nodes)
            log(f"{kind}: three nodes serving on {bootstrap}")
            if case == "leader":
                create_topic(bootstrap)
                results["produce"] = run_produce(args.load, bootstrap, args.records)
                log(f"{kind}: produce {results['produce']}")
                results["failover"] = run_failover(nodes, bootstrap)
            else:
                controller = active_controller(nodes[0].bootstrap)
                leader = create_topic(bootstrap, preferred=controller)
                if leader != controller:
                    raise RuntimeError(f"the active controller {controller} does not lead "
                                       f"the partition (leader {leader})")
                results["failover_controller"] = run_failover(nodes, bootstrap)
            log(f"{kind}: failover ({case}) "
                f"{results['failover' if case == 'leader' else 'failover_controller']}")
        finally:
            for n in nodes:
                n.stop()
    return results


def report(results, meta):
    out = [f"## Three-node cluster: Riacho vs Apache Kafka {brokers.KAFKA_VERSION} — "
           f"{meta['date']}", "",
           f"- Riacho {meta['commit']}; {meta['records']:,} records of 1 KiB, one partition, "
           "RF 3, min.insync.replicas 2, acks=-1; broker.session.timeout.ms 3000 on both.",
           f"- Machine: {meta['machine']} (all six processes and the clients share it)", "",
           "| system | produce rec/s | latency p50 ms | p99 ms | max ms | failover s | "
           "acked | lost | errors | failover s, leader and controller | acked | lost | "
           "errors |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind, r in results.items():
        if "error" in r:
            out.append(f"| {kind} | ERROR: {r['error']} | | | | | | | | | | | |")
            continue
        p, f = r["produce"], r["failover"]
        fc = r.get("failover_controller") or {}
        out.append(f"| {kind} | {p.get('records_per_s', 'n/a'):,} | {p.get('p50_ms')} | "
                   f"{p.get('p99_ms')} | {p.get('max_ms')} | {f['failover_s']} | {f['acked']:,} | "
                   f"{f['lost_acknowledged']} | {f['errors']} | {fc.get('failover_s')} | "
                   f"{fc.get('acked')} | {fc.get('lost_acknowledged')} | {fc.get('errors')} |")
    if all(k in results and "error" not in results[k] for k in ("riacho", "kafka")):
        r, k = results["riacho"], results["kafka"]
        out += ["", "Riacho/Kafka: produce "
                f"{brokers.ratio(r['produce'].get('records_per_s'), k['produce'].get('records_per_s'))}"
                ", p99 latency (Kafka/Riacho, higher is better for Riacho) "
                f"{brokers.ratio(k['produce'].get('p99_ms'), r['produce'].get('p99_ms'))}"
                ", failover time (Kafka/Riacho) "
                f"{brokers.ratio(k['failover']['failover_s'], r['failover']['failover_s'])}"
                ", failover of the active controller (Kafka/Riacho) "
                f"{brokers.ratio((k.get('failover_controller') or {}).get('failover_s'), (r.get('failover_controller') or {}).get('failover_s'))}"]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--riacho-bin", default=brokers.default_riacho_bin())
    ap.add_argument("--only", choices=["riacho", "kafka"])
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--load", default=str(brokers.ROOT / "build-bench" / "load" / "rdkafka_load"))
    ap.add_argument("--out")
    ap.add_argument("--build", default="scripts/build.sh release")
    ap.add_argument("--commit", help="what the Riacho binary was built from (default: HEAD)")
    args = ap.parse_args()
    brokers.LOG_PREFIX = "cluster-"
    out_dir = brokers.out_dir_for("cluster", args.out)
    meta = {"date": time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()),
            "commit": args.commit or brokers.commit_desc(), "machine": brokers.machine(),
            "records": args.records}
    results = {}
    for kind in ("riacho", "kafka"):
        if args.only and args.only != kind:
            continue
        try:
            results[kind] = run_system(kind, args, out_dir)
        except Exception as e:  # noqa: BLE001 - a failed system is a result
            log(f"{kind}: {e}")
            results[kind] = {"error": str(e)}
    brokers.write_json(out_dir / "cluster.json", {"meta": meta, "results": results})
    md = report(results, meta)
    (out_dir / "cluster.md").write_text(md + "\n")
    print(md)
    print(f"\n(written to {out_dir}/cluster.md and cluster.json)")


if __name__ == "__main__":
    main()
