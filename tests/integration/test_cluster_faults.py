"""Faults on a three-node cluster, checked: while an idempotent acks=all producer writes to a
replicated topic (RF 3, min.insync.replicas 2), a fault injector strikes one node or link at a
time for RIACHO_FAULT_SECONDS (default 120: minutes of faults in every test run) per test:
- on loopback: kill -9 (and restart) or SIGSTOP (and SIGCONT) a node;
- with each node in a network namespace of its own (netns.py; where the machine allows it):
  isolate a node from the others, cut the link between two nodes (each still reaches the
  third), cut one direction only, or kill -9 a node. Clients always reach every node.
Afterwards a checker reads every partition through two different nodes and proves: every
acknowledged record is there, no record is there twice, offsets only grow, and both readers
see the same sequence. Every node snapshots its metadata every kilobyte of changes (the ISR
changes the faults cause), so snapshots are taken, and followers fetch them, under the same
faults; each node must have one at the end. RIACHO_FAULT_SEED replays a run's faults."""
import os
import random
import signal
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import is_kafka, wait_until
from netns import Network
from test_cluster import Cluster, partitions_of

TOPIC = "faults"
PARTITIONS = 3
FAULT_SECONDS = float(os.environ.get("RIACHO_FAULT_SECONDS", "120"))
pytestmark = [pytest.mark.skipif(is_kafka(), reason="Riacho's multi-node startup"),
              # the faults, then the cluster's start and the checker's reads
              pytest.mark.timeout(FAULT_SECONDS + 240)]
SETTINGS = {"replica.lag.time.max.ms": "3000",
            "metadata.log.max.record.bytes.between.snapshots": "1024"}


def assert_every_node_snapshotted(cluster):
    for n in cluster.nodes:
        assert list((n.data_dir / "__cluster_metadata-0").glob("*.checkpoint")), \
            f"{n.name} took no metadata snapshot"


def read_partition(bootstrap, partition, until_offset, timeout=90):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, partition, 0)])
    out = []
    deadline = time.monotonic() + timeout
    while (not out or out[-1][0] < until_offset) and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and not m.error():
            out.append((m.offset(), m.value().decode()))
    consumer.close()
    return out


def run_under_faults(cluster, inject):
    """Produces while `inject()` strikes (one fault, undone before it returns; it returns what
    it did) and the cluster heals, for FAULT_SECONDS; then checks every partition."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=3,
                                  config={"min.insync.replicas": "2"})])[TOPIC].result(30)
    wait_until(lambda: (lambda ps: ps and all(len(p["isr"]) == 3 for p in ps.values()))(
        partitions_of(cluster.nodes[0], TOPIC)), 20, what="topic in sync")

    acked = {p: {} for p in range(PARTITIONS)}  # partition -> {value: offset}
    failed = []
    lock = threading.Lock()
    stop = threading.Event()

    def report(err, msg):
        with lock:
            if err:
                failed.append(str(err))
            else:
                acked[msg.partition()][msg.value().decode()] = msg.offset()

    def produce():
        producer = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all",
                             "enable.idempotence": True, "linger.ms": 2,
                             "message.timeout.ms": 120000, "metadata.max.age.ms": 1000,
                             "reconnect.backoff.max.ms": 500})
        seq = 0
        while not stop.is_set():
            try:
                producer.produce(TOPIC, value=f"v{seq}", partition=seq % PARTITIONS,
                                 on_delivery=report)
                seq += 1
            except BufferError:
                pass
            producer.poll(0.002)
        assert producer.flush(150) == 0, "every record delivered or failed"

    writer = threading.Thread(target=produce)
    writer.start()
    faults = []
    deadline = time.monotonic() + FAULT_SECONDS
    try:
        while time.monotonic() < deadline:
            faults.append(inject())
            # Let the cluster heal before the next fault: one node or link at a time keeps
            # the quorum and min.insync.replicas reachable.
            wait_until(lambda: (lambda ps: ps and all(
                p["leader"] >= 0 and len(p["isr"]) >= 2 for p in ps.values()))(
                partitions_of(cluster.nodes[0], TOPIC)), 60, interval=0.2,
                what=f"recovery after {faults[-1]}")
    finally:
        stop.set()
        writer.join(180)
    print(f"faults: {faults}; acknowledged {sum(len(a) for a in acked.values())}, "
          f"failed {len(failed)}")
    assert sum(len(a) for a in acked.values()) > 1000, "the producer made progress"

    # Every node back in every ISR, then read each partition through two nodes.
    wait_until(lambda: (lambda ps: ps and all(len(p["isr"]) == 3 for p in ps.values()))(
        partitions_of(cluster.nodes[0], TOPIC)), 90, interval=0.5, what="full ISR")
    for p in range(PARTITIONS):
        last = max(acked[p].values(), default=-1)
        readers = [read_partition(n.bootstrap, p, last) for n in cluster.nodes[:2]]
        assert readers[0] == readers[1], f"partition {p}: readers disagree"
        offsets = [o for o, _ in readers[0]]
        values = [v for _, v in readers[0]]
        assert offsets == sorted(set(offsets)), f"partition {p}: offsets not increasing"
        assert len(values) == len(set(values)), f"partition {p}: a record appears twice"
        present = dict((v, o) for o, v in readers[0])
        lost = [v for v in acked[p] if v not in present]
        assert not lost, f"partition {p}: {len(lost)} acknowledged records lost: {lost[:5]}"
        moved = [v for v, o in acked[p].items() if present[v] != o]
        assert not moved, f"partition {p}: records at other offsets than acknowledged"


def fault_rng():
    seed = int(os.environ.get("RIACHO_FAULT_SEED", "7"))
    print(f"fault seed {seed} (RIACHO_FAULT_SEED={seed} replays these faults)")
    return random.Random(seed)


def test_acknowledged_records_survive_kills_and_freezes():
    rng = fault_rng()
    cluster = Cluster(settings=SETTINGS).start()

    def inject():
        time.sleep(rng.uniform(2, 5))
        node = rng.choice(cluster.nodes)
        if rng.random() < 0.5:
            node.kill()
            time.sleep(rng.uniform(1, 4))
            node.start()
            return f"kill -9 {node.name}"
        os.kill(node.pid, signal.SIGSTOP)
        time.sleep(rng.uniform(1, 5))
        os.kill(node.pid, signal.SIGCONT)
        return f"SIGSTOP {node.name}"

    try:
        run_under_faults(cluster, inject)
        assert_every_node_snapshotted(cluster)
    finally:
        cluster.stop()


def test_acknowledged_records_survive_network_partitions():
    network = Network.create(3)
    if network is None:
        pytest.skip("network namespaces need root (CAP_NET_ADMIN) and iproute2")
    rng = fault_rng()
    cluster = None
    try:
        cluster = Cluster(settings=SETTINGS, network=network).start()

        def inject():
            time.sleep(rng.uniform(2, 5))
            a, b = rng.sample(range(3), 2)
            kind = rng.choice(["isolate", "cut", "one-way", "kill"])
            if kind == "kill":
                node = cluster.nodes[a]
                node.kill()
                time.sleep(rng.uniform(1, 4))
                node.start()
                return f"kill -9 {node.name}"
            if kind == "isolate":
                network.isolate(a)
                what = f"node{a + 1} isolated"
            elif kind == "cut":
                network.cut(a, b)
                what = f"node{a + 1} <-/-> node{b + 1}"
            else:
                network.cut(a, b, both_ways=False)
                what = f"node{a + 1} -/-> node{b + 1}"
            time.sleep(rng.uniform(2, 8))
            network.heal()
            return what

        run_under_faults(cluster, inject)
        assert_every_node_snapshotted(cluster)
    finally:
        if cluster:
            cluster.stop()
        network.destroy()
