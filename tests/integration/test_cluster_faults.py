"""Faults on a three-node cluster, checked: while an idempotent acks=all producer writes to a
replicated topic (RF 3, min.insync.replicas 2), a fault injector kills nodes with SIGKILL (and
restarts them) or freezes them with SIGSTOP (and thaws them), one node at a time, for
RIACHO_FAULT_SECONDS (default 45). Afterwards a checker reads every partition through two
different nodes and proves: every acknowledged record is there, no record is there twice,
offsets only grow, and both readers see the same sequence. SIGSTOP stands in for a network
partition of one node (it stops answering everyone; a partition between two nodes only, which
would need network namespaces, is not injected here)."""
import os
import random
import signal
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_until
from test_cluster import Cluster, partitions_of

pytestmark = pytest.mark.skipif(os.environ.get("RIACHO_TARGET", "riacho") != "riacho",
                                reason="Riacho's multi-node startup")

TOPIC = "faults"
PARTITIONS = 3
FAULT_SECONDS = float(os.environ.get("RIACHO_FAULT_SECONDS", "45"))


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


def test_acknowledged_records_survive_kills_and_freezes():
    rng = random.Random(int(os.environ.get("RIACHO_FAULT_SEED", "7")))
    cluster = Cluster(settings={"replica.lag.time.max.ms": "3000"}).start()
    try:
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
                time.sleep(rng.uniform(2, 5))
                node = rng.choice(cluster.nodes)
                if rng.random() < 0.5:
                    faults.append(f"kill -9 {node.name}")
                    node.kill()
                    time.sleep(rng.uniform(1, 4))
                    node.start()
                else:
                    faults.append(f"SIGSTOP {node.name}")
                    os.kill(node.pid, signal.SIGSTOP)
                    time.sleep(rng.uniform(1, 5))
                    os.kill(node.pid, signal.SIGCONT)
                # Let the cluster heal before the next fault: one node down at a time keeps
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
    finally:
        cluster.stop()
