"""Partition reassignment (AlterPartitionReassignments / ListPartitionReassignments) driven by
Apache Kafka's own kafka-reassign-partitions tool against a three-node Riacho cluster: a
partition moves (with its leader) while an idempotent acks=all producer writes to it; a
throttled move is listed, held to its rate and cancelled. Bad requests get Kafka's error codes
(the same test runs against Apache Kafka with RIACHO_TARGET=kafka)."""
import json
import os
import threading
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

import kwire
from conftest import is_kafka, wait_until
from test_cluster import (Cluster, cluster, consume_all, kafka_tool,  # noqa: F401 (fixture)
                          metadata, partitions_of, wait_known_everywhere)

riacho_only = pytest.mark.skipif(is_kafka(),
                                 reason="Riacho's multi-node startup")
REASSIGN = "org.apache.kafka.tools.reassign.ReassignPartitionsCommand"


def reassign(bootstrap, *args):
    return kafka_tool(REASSIGN, "--bootstrap-server", bootstrap, *args)


def write_plan(path, topic, replicas):
    path.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": replicas}]}))
    return str(path)


def create_placed(cluster, topic, replicas):
    wait_until(lambda: len(metadata(cluster.nodes[0].bootstrap)["brokers"]) == 3, 20,
               what="every broker registered")
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=-1,
                                  replica_assignment=[replicas])])[topic].result(30)
    wait_known_everywhere(cluster.nodes, topic)
    wait_until(lambda: len(partitions_of(cluster.nodes[0], topic)[0]["isr"]) == len(replicas),
               20, interval=0.1, what=f"{topic} in sync")


def partition_bytes(node, topic):
    d = node.data_dir / f"{topic}-0"
    return sum(f.stat().st_size for f in d.glob("*.log")) if d.is_dir() else None


@riacho_only
def test_kafkas_reassign_tool_moves_a_partition_while_a_producer_writes(cluster, tmp_path):
    """[1, 2] -> [2, 3]: broker 3 catches up and joins the ISR, which completes the move;
    leadership leaves broker 1, which drops its copy. Every acknowledged record is in the log
    once, in order."""
    create_placed(cluster, "moving", [1, 2])
    bootstrap = cluster.nodes[1].bootstrap
    acked, errors, stop = [], [], threading.Event()

    def produce():
        p = Producer({"bootstrap.servers": cluster.bootstrap(), "enable.idempotence": True,
                      "acks": "all", "linger.ms": 5})

        def on_delivery(err, msg):
            (errors if err else acked).append(err or msg.value().decode())

        i = 0
        while not stop.is_set():
            p.produce("moving", value=f"r{i}", on_delivery=on_delivery)
            p.poll(0)
            i += 1
            time.sleep(0.002)
        assert p.flush(60) == 0

    writer = threading.Thread(target=produce)
    writer.start()
    try:
        wait_until(lambda: len(acked) > 200, 30, what="records acknowledged before the move")
        plan = write_plan(tmp_path / "plan.json", "moving", [2, 3])
        started = reassign(bootstrap, "--reassignment-json-file", plan, "--execute")
        assert started.returncode == 0, started.stdout + started.stderr[-2000:]
        assert "Successfully started partition reassignment" in started.stdout, started.stdout

        def completed():
            verified = reassign(bootstrap, "--reassignment-json-file", plan, "--verify")
            return "Reassignment of partition moving-0 is completed" in verified.stdout

        wait_until(completed, 60, interval=1, what="the reassignment to complete")
        count = len(acked)
        wait_until(lambda: len(acked) > count + 200, 30, what="records acknowledged after")
    finally:
        stop.set()
        writer.join(90)
    assert not errors, errors[:5]
    (p,) = partitions_of(cluster.nodes[1], "moving").values()
    assert p["replicas"] == [2, 3] and sorted(p["isr"]) == [2, 3] and p["leader"] in (2, 3), p
    wait_until(lambda: partition_bytes(cluster.node_by_id(1), "moving") is None, 20,
               what="broker 1 dropped its copy")
    assert "removing log moving-0" in cluster.node_by_id(1).stderr_path.read_text()
    got = consume_all(cluster.bootstrap(), "moving", len(acked), partitions=1)
    values = [v for _, _, _, v in got]
    assert values == acked, (len(values), len(acked))


@riacho_only
def test_a_throttled_reassignment_is_listed_held_to_its_rate_and_cancelled(tmp_path):
    """--throttle sets the brokers' replication rates and the topic's throttled replicas; the
    new replica copies at about that rate (fetches of 64 KiB), ListPartitionReassignments shows
    the move, and --cancel puts the partition back and clears the throttles."""
    c = Cluster(settings={"replica.fetch.max.bytes": "65536"}).start()
    try:
        create_placed(c, "slow", [1])
        # Batches of 16 KiB: a fetch returns at least one whole batch, so a large one would
        # overdraw the quota in one go.
        producer = Producer({"bootstrap.servers": c.bootstrap(), "acks": "all",
                             "linger.ms": 20, "batch.size": 16384})
        for i in range(3000):
            producer.produce("slow", key=f"k{i}", value=os.urandom(500).hex())
        assert producer.flush(60) == 0
        total = partition_bytes(c.node_by_id(1), "slow")
        assert total > 3_000_000
        bootstrap = c.nodes[0].bootstrap
        plan = write_plan(tmp_path / "plan.json", "slow", [2])
        started = reassign(bootstrap, "--reassignment-json-file", plan, "--execute",
                           "--throttle", "100000")
        assert started.returncode == 0, started.stdout + started.stderr[-2000:]
        assert "throttle limit was set to 100000 B/s" in started.stdout, started.stdout

        admin = AdminClient({"bootstrap.servers": c.bootstrap()})

        def configs(kind, name):
            resource = ConfigResource(kind, name)
            return {k: v.value for k, v in
                    admin.describe_configs([resource])[resource].result(30).items()}

        broker2 = configs("BROKER", "2")
        assert broker2["follower.replication.throttled.rate"] == "100000", broker2
        assert broker2["leader.replication.throttled.rate"] == "100000", broker2
        topic = configs("TOPIC", "slow")
        assert topic["follower.replication.throttled.replicas"] == "0:2", topic
        assert topic["leader.replication.throttled.replicas"] == "0:1", topic

        listed = reassign(bootstrap, "--list")
        assert "slow-0: replicas: 2,1. adding: 2. removing: 1." in listed.stdout, listed.stdout
        wait_until(lambda: partition_bytes(c.node_by_id(2), "slow"), 10, what="a copy started")
        first = partition_bytes(c.node_by_id(2), "slow")
        time.sleep(4)
        copied = partition_bytes(c.node_by_id(2), "slow") - first
        # 4 s at 100 kB/s, plus a second's burst and one fetch: far below the 3 MB at stake.
        assert 0 < copied < 700_000, copied
        verify = reassign(bootstrap, "--reassignment-json-file", plan, "--verify",
                          "--preserve-throttles")
        assert "Reassignment of partition slow-0 is still in progress" in verify.stdout, \
            verify.stdout

        cancelled = reassign(bootstrap, "--reassignment-json-file", plan, "--cancel")
        assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr[-2000:]
        assert "Successfully cancelled partition reassignment" in cancelled.stdout, \
            cancelled.stdout
        (p,) = partitions_of(c.nodes[0], "slow").values()
        assert p["replicas"] == [1] and p["isr"] == [1] and p["leader"] == 1, p
        assert "slow-0" not in reassign(bootstrap, "--list").stdout
        wait_until(lambda: partition_bytes(c.node_by_id(2), "slow") is None, 20,
                   what="broker 2 dropped its partial copy")
        assert "follower.replication.throttled.rate" not in {
            k for k, v in configs("BROKER", "2").items() if v != "9223372036854775807"}

        # Again without a throttle: it completes and the records moved whole.
        again = reassign(bootstrap, "--reassignment-json-file", plan, "--execute")
        assert again.returncode == 0, again.stdout + again.stderr[-2000:]
        wait_until(lambda: partitions_of(c.nodes[0], "slow")[0]["replicas"] == [2], 60,
                   interval=0.5, what="the move to broker 2")
        assert len(consume_all(c.bootstrap(), "slow", 3000, partitions=1)) == 3000
    finally:
        c.stop()


@riacho_only
def test_a_broker_down_during_a_move_away_drops_its_stray_copy_at_start(cluster):
    """[1, 2] -> [2, 3] while broker 1 is killed: the move completes without it, and broker 1,
    started again, finds its copy of the partition stray (the caught-up metadata names it no
    replica) and removes it, as Kafka does, instead of keeping the disk space forever."""
    create_placed(cluster, "strayed", [1, 2])
    producer = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all"})
    for i in range(100):
        producer.produce("strayed", value=f"r{i}")
    assert producer.flush(30) == 0
    broker1 = cluster.node_by_id(1)
    wait_until(lambda: partition_bytes(broker1, "strayed"), 10, what="broker 1's copy")
    broker1.kill()
    survivor = cluster.node_by_id(2).bootstrap
    assert alter_reassignments(survivor, {("strayed", 0): [2, 3]}) == {("strayed", 0): 0}
    wait_until(lambda: partitions_of(cluster.node_by_id(2), "strayed")[0]["replicas"] == [2, 3],
               60, interval=0.5, what="the move to [2, 3] to complete")
    assert partition_bytes(broker1, "strayed") is not None, "the copy is there while down"
    broker1.start()
    wait_until(lambda: partition_bytes(broker1, "strayed") is None, 20,
               what="broker 1 removed its stray copy")
    assert "removing log strayed-0 (found stray at start)" in broker1.stderr_path.read_text()
    assert [v for _, _, _, v in consume_all(cluster.bootstrap(), "strayed", 100, partitions=1)] \
        == [f"r{i}" for i in range(100)]


def alter_reassignments(addr, partitions):
    """AlterPartitionReassignments v0: {(topic, partition): replicas or None (cancel)} ->
    {(topic, partition): error code}."""
    topics = {}
    for (topic, partition), replicas in partitions.items():
        topics.setdefault(topic, []).append((partition, replicas))
    body = kwire.i32(30000) + kwire.uvarint(len(topics) + 1)
    for topic, parts in topics.items():
        body += kwire.compact_string(topic) + kwire.uvarint(len(parts) + 1)
        for partition, replicas in parts:
            body += kwire.i32(partition)
            if replicas is None:
                body += kwire.uvarint(0)
            else:
                body += kwire.uvarint(len(replicas) + 1) + b"".join(
                    kwire.i32(r) for r in replicas)
            body += kwire.uvarint(0)
        body += kwire.uvarint(0)
    body += kwire.uvarint(0)
    with kwire.Conn(addr, timeout=30) as conn:
        r = kwire.Reader(conn.roundtrip(kwire.request(45, 0, 3, body, flexible=True)))
    assert r.i32() == 3
    r.tags()
    r.i32()  # throttle
    assert r.i16() == 0, "no top-level error"
    r.compact_string()
    out = {}
    for _ in range(r.uvarint() - 1):
        topic = r.compact_string()
        for _ in range(r.uvarint() - 1):
            partition, error = r.i32(), r.i16()
            r.compact_string()
            r.tags()
            out[(topic, partition)] = error
        r.tags()
    return out


def test_bad_reassignments_get_kafkas_error_codes(broker, topic_name):
    name = topic_name()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)
    node = metadata(broker.bootstrap)["brokers"][0][0]
    got = alter_reassignments(broker.bootstrap, {
        (name, 0): [],                       # no replicas
        (name, 1): [node],                   # no such partition
        ("no-such-topic", 0): [node],
    })
    assert got == {(name, 0): 39, (name, 1): 3, ("no-such-topic", 0): 3}, got
    assert alter_reassignments(broker.bootstrap, {(name, 0): [node, node]}) == {(name, 0): 39}
    assert alter_reassignments(broker.bootstrap, {(name, 0): [node + 1000]}) == {(name, 0): 39}
    assert alter_reassignments(broker.bootstrap, {(name, 0): None}) == {(name, 0): 85}
    # Where it already is: nothing to do, and nothing in progress afterwards.
    assert alter_reassignments(broker.bootstrap, {(name, 0): [node]}) == {(name, 0): 0}
    assert alter_reassignments(broker.bootstrap, {(name, 0): None}) == {(name, 0): 85}
