"""Kafka's production layout: dedicated controllers (process.roles=controller, the voters of
the metadata quorum) and broker-only nodes (process.roles=broker, observers of the quorum
that fetch the metadata log without voting). Clients see only the brokers; the brokers follow
whichever controller is active, and their metadata fetches are their heartbeats."""
import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from conftest import is_kafka, wait_until
from test_cluster import Cluster, consume_all, metadata, partitions_of

pytestmark = pytest.mark.skipif(is_kafka(), reason="Riacho's multi-node startup")


def quorum_members(addr):
    """DescribeQuorum v0 of __cluster_metadata-0: (leader, {voter: end}, {observer: end})."""
    body = (kwire.uvarint(2) + kwire.compact_string("__cluster_metadata")
            + kwire.uvarint(2) + kwire.i32(0) + kwire.uvarint(0) + kwire.uvarint(0)
            + kwire.uvarint(0))
    with kwire.Conn(addr, timeout=5) as c:
        r = kwire.Reader(c.roundtrip(kwire.request(55, 0, 9, body, flexible=True)))
    assert r.i32() == 9
    r.tags()
    assert r.i16() == 0
    assert r.uvarint() - 1 == 1 and r.compact_string() == "__cluster_metadata"
    assert r.uvarint() - 1 == 1
    r.i32()
    error, leader = r.i16(), r.i32()
    r.i32(), r.i64()  # epoch, high watermark
    members = []
    for _ in range(2):
        seen = {}
        for _ in range(r.uvarint() - 1):
            replica, end = r.i32(), r.i64()
            r.tags()
            seen[replica] = end
        members.append(seen)
    return (leader if error == 0 else -1), members[0], members[1]


def test_dedicated_controllers_and_broker_only_nodes():
    c = Cluster(size=5, roles=["controller"] * 3 + ["broker"] * 2).start()
    controllers, brokers = c.nodes[:3], c.nodes[3:]
    try:
        wait_until(lambda: sorted(b[0] for b in metadata(brokers[0].bootstrap)["brokers"]) ==
                   [4, 5], 30, interval=0.2, what="only the brokers registered")
        leader, _ = c.quorum_leader(among=controllers)
        assert leader in (1, 2, 3)
        active = c.node_by_id(leader)
        wait_until(lambda: (lambda q: q[0] == leader and sorted(q[1]) == [1, 2, 3] and
                            sorted(q[2]) == [4, 5])(quorum_members(active.bootstrap)), 20,
                   interval=0.2, what="voters 1-3 and observers 4, 5")

        admin = AdminClient({"bootstrap.servers": c.bootstrap()})
        admin.create_topics([NewTopic("split", num_partitions=2, replication_factor=2,
                                      config={"min.insync.replicas": "2"})])["split"].result(30)
        for b in brokers:
            wait_until(lambda: partitions_of(b, "split"), 20, interval=0.1, what="topic known")
        parts = partitions_of(brokers[0], "split")
        assert all(sorted(p["replicas"]) == [4, 5] for p in parts.values()), parts
        producer = Producer({"bootstrap.servers": c.bootstrap(), "acks": "all",
                             "enable.idempotence": True})
        for i in range(200):
            producer.produce("split", key=f"k{i}", value=f"v{i}")
        assert producer.flush(30) == 0

        # The active controller dies: another takes over, the brokers follow it, and metadata
        # changes made through a broker still go through.
        active.kill()
        new_leader, _ = c.quorum_leader(among=[n for n in controllers if n.alive()],
                                        not_node=leader)
        assert new_leader in (1, 2, 3) and new_leader != leader
        # Right after the failover the new controller may not count both brokers yet
        # (INVALID_REPLICATION_FACTOR, seen under the sanitizers): the change goes through
        # once it does.
        def create_after():
            try:
                admin.create_topics([NewTopic("after", num_partitions=1, replication_factor=2)])[
                    "after"].result(30)
                return True
            except KafkaException as e:
                if e.args[0].code() != KafkaError.INVALID_REPLICATION_FACTOR:
                    raise
                return False
        wait_until(create_after, 30, interval=0.5, what="topic 'after' created")
        for b in brokers:
            wait_until(lambda: partitions_of(b, "after"), 20, interval=0.1,
                       what=f"{b.name} applied a change the new controller recorded")

        # A broker dies: its fetches stop, the controller fences it and the other broker leads
        # everything; the records are all there.
        brokers[0].kill()
        wait_until(lambda: all(p["leader"] == 5 and p["isr"] == [5] for p in
                               partitions_of(brokers[1], "split").values()), 30, interval=0.2,
                   what="broker 5 leads every partition")
        got = consume_all(brokers[1].bootstrap, "split", 200, partitions=2, timeout=30)
        assert sorted(v for _, _, _, v in got) == sorted(f"v{i}" for i in range(200))
        # Back: it rejoins the ISR.
        brokers[0].start()
        wait_until(lambda: all(sorted(p["isr"]) == [4, 5] for p in
                               partitions_of(brokers[1], "split").values()), 60, interval=0.3,
                   what="broker 4 back in sync")
    finally:
        c.stop()
