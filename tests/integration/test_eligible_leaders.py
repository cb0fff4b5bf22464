"""Eligible leader replicas (KIP-966, on in Kafka 4.1's new clusters) on a five-node Riacho
cluster (five voters, so two nodes can be down and the metadata quorum still decides): a
replica that leaves an ISR below min.insync.replicas keeps every record below the high
watermark (which stops moving: "strict min ISR"), is listed as eligible, and leads cleanly
when the ISR is gone. Kafka's own kafka-topics --describe shows the ELR (DescribeTopicPartitions)."""

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewTopic, ResourceType)

import kwire
from conftest import is_kafka, wait_until
from test_cluster import Cluster, consume_all, kafka_tool, metadata, partitions_of

riacho_only = pytest.mark.skipif(is_kafka(),
                                 reason="Riacho's multi-node startup")


def describe_topic_partitions(addr, topics, limit=2000, cursor=None):
    """DescribeTopicPartitions v0: ({topic: {partition: fields}}, next cursor or None)."""
    body = kwire.uvarint(len(topics) + 1)
    for t in topics:
        body += kwire.compact_string(t) + kwire.uvarint(0)
    body += kwire.i32(limit)
    if cursor is None:
        body += kwire.i8(-1)
    else:
        body += kwire.i8(1) + kwire.compact_string(cursor[0]) + kwire.i32(cursor[1]) + \
            kwire.uvarint(0)
    body += kwire.uvarint(0)
    with kwire.Conn(addr, timeout=10) as c:
        r = kwire.Reader(c.roundtrip(kwire.request(75, 0, 5, body, flexible=True)))
    assert r.i32() == 5
    r.tags()
    r.i32()  # throttle

    def ints():
        n = r.uvarint() - 1
        return None if n < 0 else [r.i32() for _ in range(n)]

    out = {}
    for _ in range(r.uvarint() - 1):
        error, name = r.i16(), r.compact_string()
        r.take(16)  # topic id
        r.i8()  # internal
        parts = {}
        for _ in range(r.uvarint() - 1):
            p = dict(error=r.i16(), partition=r.i32(), leader=r.i32(), epoch=r.i32(),
                     replicas=ints(), isr=ints(), elr=ints(), last_known_elr=ints(),
                     offline=ints())
            r.tags()
            parts[p["partition"]] = p
        r.i32()  # authorized operations
        r.tags()
        out[name] = dict(error=error, partitions=parts)
    next_cursor = None
    if r.i8() >= 0:
        next_cursor = (r.compact_string(), r.i32())
        r.tags()
    return out, next_cursor


def test_describe_topic_partitions_pages_with_a_cursor(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic("pages-a", num_partitions=3, replication_factor=1),
                                  NewTopic("pages-b", num_partitions=2,
                                           replication_factor=1)]).values():
        f.result(30)
    addr = broker.bootstrap
    wait_until(lambda: partitions_of(broker, "pages-b"), 20, what="topics known")
    got, cursor = describe_topic_partitions(addr, ["pages-b", "pages-a", "nope"], limit=2)
    assert list(got) == ["nope", "pages-a"] or list(got) == ["pages-a"], got
    assert sorted(got["pages-a"]["partitions"]) == [0, 1] and cursor == ("pages-a", 2), cursor
    seen = [("pages-a", p) for p in got["pages-a"]["partitions"]]
    while cursor:
        got, cursor = describe_topic_partitions(addr, ["pages-b", "pages-a", "nope"], limit=2,
                                                cursor=cursor)
        seen += [(t, p) for t, d in got.items() for p in d["partitions"]]
    assert seen == [("pages-a", 0), ("pages-a", 1), ("pages-a", 2), ("pages-b", 0),
                    ("pages-b", 1)], seen
    unknown, _ = describe_topic_partitions(addr, ["nope"])
    assert unknown["nope"]["error"] == 3 and not unknown["nope"]["partitions"]
    (p,) = describe_topic_partitions(addr, ["pages-b"], limit=1)[0]["pages-b"]["partitions"]\
        .values()
    assert p["elr"] == [] and p["last_known_elr"] == [] and p["offline"] == [], p


@riacho_only
def test_an_eligible_replica_leads_when_the_isr_is_gone():
    c = Cluster(size=5).start()
    try:
        wait_until(lambda: len(metadata(c.nodes[0].bootstrap)["brokers"]) == 5, 30,
                   what="five brokers registered")
        admin = AdminClient({"bootstrap.servers": c.bootstrap()})
        admin.create_topics([NewTopic("elr", num_partitions=1, replication_factor=-1,
                                      replica_assignment=[[1, 2]],
                                      config={"min.insync.replicas": "2"})])["elr"].result(30)
        watcher = c.node_by_id(5)
        state = lambda: describe_topic_partitions(watcher.bootstrap, ["elr"])[0]["elr"][
            "partitions"].get(0)
        wait_until(lambda: (lambda p: p and sorted(p["isr"]) == [1, 2])(state()), 20,
                   interval=0.2, what="elr in sync")
        producer = Producer({"bootstrap.servers": c.bootstrap(), "acks": "all"})
        for i in range(100):
            producer.produce("elr", value=f"acked{i}")
        assert producer.flush(30) == 0

        # Broker 2 goes: the ISR [1] is below min.insync.replicas, so 2 becomes eligible and
        # the high watermark stops where it is.
        c.node_by_id(2).kill()
        wait_until(lambda: (lambda p: p["isr"] == [1] and p["elr"] == [2])(state()), 30,
                   interval=0.2, what="broker 2 eligible")
        with kwire.Conn(c.node_by_id(1).bootstrap) as conn:
            _, r = kwire.parse_produce_v7(conn.roundtrip(kwire.produce_v7_request(
                1, "elr", 0, kwire.record_batch([(None, b"acks-one", [])]), acks=1)))
            assert r[("elr", 0)]["error"] == 0, r
            assert kwire.list_offset(conn, "elr", 0, -1) == 100, "strict min ISR: HW stays"

        described = kafka_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                               watcher.bootstrap, "--describe", "--topic", "elr")
        assert "Elr: 2" in described.stdout, described.stdout + described.stderr[-2000:]

        # Broker 1 goes too: the ISR is empty, both are eligible, nobody leads.
        c.node_by_id(1).kill()
        wait_until(lambda: (lambda p: p["leader"] == -1 and p["isr"] == [] and
                            sorted(p["elr"]) == [1, 2])(state()), 30, interval=0.2,
                   what="both eligible, partition offline")
        # Broker 2 comes back first: it leads (a clean election: it has every acknowledged
        # record), which without ELR would have waited for broker 1.
        c.node_by_id(2).start()
        wait_until(lambda: (lambda p: p["leader"] == 2 and p["isr"] == [2] and
                            p["elr"] == [1])(state()), 30, interval=0.2,
                   what="broker 2 leads from the ELR")
        # Broker 1 returns: back in the ISR (it drops the acks=1 record 2 never had), which
        # is at min.insync.replicas again, so the ELR is cleared and the high watermark moves
        # (until then it stays where broker 2 last knew it: strict min ISR).
        c.node_by_id(1).start()
        wait_until(lambda: (lambda p: sorted(p["isr"]) == [1, 2] and p["elr"] == [])(state()),
                   60, interval=0.3, what="ISR whole again, ELR cleared")
        got = consume_all(c.bootstrap(), "elr", 100, partitions=1, timeout=30)
        assert [v for _, _, _, v in got] == [f"acked{i}" for i in range(100)]
        assert state()["leader"] == 2
    finally:
        c.stop()


def test_a_broker_level_min_isr_change_clears_the_eligible_replicas():
    """Kafka clears the ELR of every partition a min.insync.replicas change reaches: here a
    broker-level value (a dynamic config of broker 1, the leader), which a topic without its
    own value follows. With the ISR [1] at the new minimum of 1, the high watermark moves."""
    c = Cluster(settings={"min.insync.replicas": "2"}).start()
    try:
        wait_until(lambda: len(metadata(c.nodes[0].bootstrap)["brokers"]) == 3, 30,
                   what="three brokers registered")
        admin = AdminClient({"bootstrap.servers": c.bootstrap()})
        admin.create_topics([NewTopic("elr-default", num_partitions=1, replication_factor=-1,
                                      replica_assignment=[[1, 2]])])["elr-default"].result(30)
        watcher = c.node_by_id(3)
        state = lambda: describe_topic_partitions(watcher.bootstrap, ["elr-default"])[0][
            "elr-default"]["partitions"].get(0)
        wait_until(lambda: (lambda p: p and sorted(p["isr"]) == [1, 2])(state()), 20,
                   interval=0.2, what="in sync")
        producer = Producer({"bootstrap.servers": c.bootstrap(), "acks": "all"})
        for i in range(50):
            producer.produce("elr-default", value=f"acked{i}")
        assert producer.flush(30) == 0

        c.node_by_id(2).kill()
        wait_until(lambda: (lambda p: p["isr"] == [1] and p["elr"] == [2])(state()), 30,
                   interval=0.2, what="broker 2 eligible under the brokers' minimum of 2")
        with kwire.Conn(c.node_by_id(1).bootstrap) as conn:
            kwire.parse_produce_v7(conn.roundtrip(kwire.produce_v7_request(
                1, "elr-default", 0, kwire.record_batch([(None, b"acks-one", [])]), acks=1)))
            assert kwire.list_offset(conn, "elr-default", 0, -1) == 50, "strict min ISR"

        res = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
            ConfigEntry("min.insync.replicas", "1",
                        incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([res])[res].result(30)
        wait_until(lambda: state()["elr"] == [], 20, interval=0.2,
                   what="the ELR cleared by the broker-level change")
        with kwire.Conn(c.node_by_id(1).bootstrap) as conn:
            wait_until(lambda: kwire.list_offset(conn, "elr-default", 0, -1) == 51, 20,
                       interval=0.2, what="the high watermark moving at the new minimum")
    finally:
        c.stop()
