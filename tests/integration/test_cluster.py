"""A three-node Riacho cluster: three `riacho serve` processes on loopback, each with its own
data dir, node.id and the same controller.quorum.voters. They elect a metadata controller,
replicate the metadata log, register as brokers and spread partition leaders over each other;
clients bootstrap from any node. The active controller is killed with SIGKILL and the others
carry on. Partitions are replicated (RF 3) with followers fetching from leaders, the ISR, the high watermark and acks=-1 are exercised
through a leader's kill -9."""
import concurrent.futures
import json
import os
import signal
import subprocess
import time

import pytest
from confluent_kafka import Consumer, ElectionType, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from conftest import KAFKA_SCRIPT, RIACHO_BIN, Broker, free_port, is_kafka, wait_until

pytestmark = pytest.mark.skipif(is_kafka(),
                                reason="Riacho's multi-node startup")


def describe_quorum(addr):
    """DescribeQuorum v0 for __cluster_metadata-0: (error, leader, epoch, high watermark,
    {voter id: log end offset})."""
    body = (kwire.uvarint(2) + kwire.compact_string("__cluster_metadata")
            + kwire.uvarint(2) + kwire.i32(0) + kwire.uvarint(0) + kwire.uvarint(0)
            + kwire.uvarint(0))
    with kwire.Conn(addr, timeout=5) as c:
        r = kwire.Reader(c.roundtrip(kwire.request(55, 0, 7, body, flexible=True)))
    assert r.i32() == 7
    r.tags()
    top_error = r.i16()
    topics = r.uvarint() - 1
    assert topics == 1, "one topic in the answer"
    assert r.compact_string() == "__cluster_metadata"
    assert r.uvarint() - 1 == 1
    assert r.i32() == 0
    error = r.i16() or top_error
    leader, epoch, hw = r.i32(), r.i32(), r.i64()
    voters = {}
    for _ in range(r.uvarint() - 1):
        voter, end = r.i32(), r.i64()
        r.tags()
        voters[voter] = end
    return error, leader, epoch, hw, voters


def metadata(addr, topics=None):
    with kwire.Conn(addr, timeout=5) as c:
        return kwire.parse_metadata_v1(c.roundtrip(kwire.metadata_v1_request(1, topics)))


class Cluster:
    def __init__(self, size=3, settings=None, network=None, roles=None):
        """`network`: a netns.Network to put each node in a namespace of its own (its own
        address, same ports); else every node is on 127.0.0.1. `roles`: each node's
        process.roles (default: broker,controller); the controllers are the voters."""
        hosts = [network.host(i) for i in range(size)] if network else ["127.0.0.1"] * size
        roles = roles or ["broker,controller"] * size
        self.controller_ports = [9093 if network else free_port() for _ in range(size)]
        voters = ",".join(f"{i + 1}@{hosts[i]}:{p}" for i, p in enumerate(self.controller_ports)
                          if "controller" in roles[i])
        self.nodes = [Broker({"node.id": str(i + 1), "controller.quorum.voters": voters,
                              "process.roles": roles[i],
                              # fence a silent broker after 3 s (Kafka: 9 s)
                              "broker.session.timeout.ms": "3000", **(settings or {})},
                             name=f"node{i + 1}", host=hosts[i],
                             command_prefix=network.prefix(i) if network else (),
                             serves_clients="broker" in roles[i])
                      for i in range(size)]

    def start(self, nodes=None):
        # A node serves only once the quorum has a leader: start them together.
        nodes = nodes or self.nodes
        with concurrent.futures.ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(lambda n: n.start(), nodes))
        return self

    def node_by_id(self, node_id):
        return self.nodes[node_id - 1]

    def bootstrap(self):
        return ",".join(n.bootstrap for n in self.nodes if n.alive() and n.serves_clients)

    def quorum_leader(self, among=None, not_node=None):
        """The leader every live node agrees on, once they do (and it is not `not_node`)."""
        nodes = among or [n for n in self.nodes if n.alive()]

        def agreed():
            seen = set()
            for n in nodes:
                error, leader, epoch, _, _ = describe_quorum(n.bootstrap)
                if leader < 0 or leader == not_node:
                    return None
                seen.add((leader, epoch))
            return seen.pop() if len(seen) == 1 else None

        return wait_until(agreed, 30, interval=0.1, what="one quorum leader on every node")

    def stop(self):
        for n in self.nodes:
            n.retire()


@pytest.fixture
def cluster():
    c = Cluster().start()
    # A node serves once the quorum has a leader, which can be a moment before the other
    # brokers' registrations are committed; tests that create RF 3 topics at once (as
    # franz-go's failover test does) need all three (INVALID_REPLICATION_FACTOR otherwise:
    # seen once under the sanitizers).
    for n in c.nodes:
        wait_until(lambda n=n: len(metadata(n.bootstrap)["brokers"]) == 3, 20, interval=0.05,
                   what="three brokers registered")
    yield c
    c.stop()


def test_three_nodes_form_one_cluster(cluster):
    leader, epoch = cluster.quorum_leader()
    assert leader in (1, 2, 3) and epoch >= 1
    ports = {n.port for n in cluster.nodes}
    for n in cluster.nodes:
        md = wait_until(lambda n=n: (lambda md: len(md["brokers"]) == 3 and md)(
            metadata(n.bootstrap)), 10, what="three brokers registered")
        assert {b[2] for b in md["brokers"]} == ports, "every node lists every broker"
        assert {b[0] for b in md["brokers"]} == {1, 2, 3}
    # The leader answers DescribeQuorum with every voter caught up to its high watermark.
    error, _, _, hw, voters = describe_quorum(cluster.node_by_id(leader).bootstrap)
    assert error == 0
    assert set(voters) == {1, 2, 3}
    wait_until(lambda: all(end >= hw for end in describe_quorum(
        cluster.node_by_id(leader).bootstrap)[4].values()), 10, what="voters caught up")
    # A follower answers NOT_LEADER_OR_FOLLOWER (6) and names the leader.
    follower = next(n for n in cluster.nodes if n is not cluster.node_by_id(leader))
    error, named, _, _, _ = describe_quorum(follower.bootstrap)
    assert (error, named) == (6, leader)


def test_topics_spread_over_nodes_and_clients_use_every_leader(cluster):
    # Created through one node (forwarded to the active controller when that is another).
    admin = AdminClient({"bootstrap.servers": cluster.nodes[1].bootstrap})
    futures = admin.create_topics([NewTopic("spread", num_partitions=6, replication_factor=1)])
    futures["spread"].result(30)
    # Every node learns it, with leaders on all three brokers.
    for n in cluster.nodes:
        def seen(n=n):
            t = metadata(n.bootstrap, ["spread"])["topics"].get("spread")
            return t and t["error"] == 0 and len(t["partitions"]) == 6 and t
        topic = wait_until(seen, 10, what=f"topic on node {n.name}")
        assert {p["leader"] for p in topic["partitions"].values()} == {1, 2, 3}

    # Produce keyed records through a client bootstrapped on one node: it finds each
    # partition's leader from Metadata.
    producer = Producer({"bootstrap.servers": cluster.nodes[2].bootstrap, "acks": "all",
                         "enable.idempotence": True})
    sent = {f"k{i}": f"v{i}" for i in range(600)}
    errors = []
    for k, v in sent.items():
        producer.produce("spread", key=k, value=v,
                         on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0
    assert not errors, errors

    consumer = Consumer({"bootstrap.servers": cluster.nodes[0].bootstrap,
                         "group.id": "spread-readers", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe(["spread"])
    got = {}
    deadline = time.monotonic() + 60
    while len(got) < len(sent) and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is None or m.error():
            continue
        got[m.key().decode()] = m.value().decode()
    consumer.commit(asynchronous=False)
    committed = consumer.committed([TopicPartition("spread", p) for p in range(6)], timeout=10)
    consumer.close()
    assert got == sent
    assert sum(tp.offset for tp in committed) == len(sent), "offsets committed on the coordinator"


def test_a_group_keeps_its_offsets_when_its_coordinator_dies(cluster):
    """__consumer_offsets is replicated like any topic and a group's coordinator is the leader
    of the group's partition of it: kill -9 that node and the group carries on at the
    partition's new leader, from the offsets it committed."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("tracked", num_partitions=3, replication_factor=3)])[
        "tracked"].result(30)
    wait_known_everywhere(cluster.nodes, "tracked")
    producer = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all"})
    sent = {f"v{i}" for i in range(300)}
    for v in sorted(sent):
        producer.produce("tracked", key=v, value=v)
    assert producer.flush(30) == 0

    def consume(bootstrap, wanted, timeout_s=90):
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "survivors",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.subscribe(["tracked"])
        got = []
        deadline = time.monotonic() + timeout_s
        while len(got) < wanted and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and not m.error():
                got.append(m.value().decode())
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition("tracked", p) for p in range(3)],
                                       timeout=10)
        consumer.close()
        return got, sum(max(tp.offset, 0) for tp in committed)

    first, committed = consume(cluster.bootstrap(), 100)
    assert len(first) == 100 and committed == 100
    offsets_topic = partitions_of(cluster.nodes[0], "__consumer_offsets")
    assert offsets_topic and all(len(p["replicas"]) == 3 for p in offsets_topic.values())
    def coordinator_id(bootstrap):
        client = AdminClient({"bootstrap.servers": bootstrap})  # lives until the answer
        try:
            return client.describe_consumer_groups(["survivors"])["survivors"].result(
                5).coordinator.id
        except Exception:  # a client still trying the dead node: ask again
            return None

    old_coordinator = coordinator_id(cluster.bootstrap())
    victim = cluster.node_by_id(old_coordinator)
    victim.kill()
    survivors = [n for n in cluster.nodes if n is not victim]
    rest, committed = consume(",".join(n.bootstrap for n in survivors), 200)
    assert not set(first) & set(rest), "the new coordinator resumed from the committed offsets"
    assert set(first) | set(rest) == sent and committed == 300
    new_coordinator = wait_until(lambda: coordinator_id(survivors[0].bootstrap), 30,
                                 what="the group described at its new coordinator")
    assert new_coordinator != old_coordinator


def test_a_node_that_does_not_lead_a_partition_refuses_it(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("owned", num_partitions=3, replication_factor=1)])["owned"] \
        .result(30)
    topic = wait_until(lambda: (lambda t: t and t["error"] == 0 and len(t["partitions"]) == 3
                                and t)(metadata(cluster.nodes[0].bootstrap, ["owned"])
                                       ["topics"].get("owned")), 10, what="topic")
    leader = topic["partitions"][0]["leader"]
    other = next(n for n in cluster.nodes if n.name != f"node{leader}")
    wait_known_everywhere([other], "owned")
    batch = kwire.record_batch([(None, b"x", [])])
    with kwire.Conn(other.bootstrap) as c:
        _, resp = kwire.parse_produce_v7(c.roundtrip(
            kwire.produce_v7_request(3, "owned", 0, batch)))
    assert resp[("owned", 0)]["error"] == 6, "NOT_LEADER_OR_FOLLOWER from a non-leader"


def test_the_cluster_survives_the_loss_of_its_active_controller(cluster):
    leader, epoch = cluster.quorum_leader()
    victim = cluster.node_by_id(leader)
    os.kill(victim.pid, signal.SIGKILL)
    victim._wait_exit(10)
    survivors = [n for n in cluster.nodes if n is not victim]
    t0 = time.monotonic()
    new_leader, new_epoch = cluster.quorum_leader(survivors, not_node=leader)
    elected_after_s = time.monotonic() - t0
    assert new_leader != leader and new_epoch > epoch
    assert elected_after_s < 10, f"a new controller took {elected_after_s:.1f} s"
    print(f"new controller after kill -9: {elected_after_s:.2f} s")

    # Admin changes keep working through any survivor.
    admin = AdminClient({"bootstrap.servers": survivors[0].bootstrap})
    admin.create_topics([NewTopic("after-failover", num_partitions=2,
                                  replication_factor=1)])["after-failover"].result(30)
    # The old controller comes back as a follower and catches up with what it missed.
    victim.start()
    topic = wait_until(lambda: (lambda t: t and t["error"] == 0 and t)(
        metadata(victim.bootstrap, ["after-failover"])["topics"].get("after-failover")),
        20, what="restarted node catches up")
    assert len(topic["partitions"]) == 2
    assert cluster.quorum_leader()[0] == new_leader


def test_a_controlled_shutdown_hands_everything_over_quickly(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("handover", num_partitions=3, replication_factor=3)])[
        "handover"].result(30)
    wait_until(lambda: (lambda ps: ps and all(len(p["isr"]) == 3 for p in ps.values()))(
        partitions_of(cluster.nodes[0], "handover")), 20, what="topic in sync")
    leader, epoch = cluster.quorum_leader()
    victim = cluster.node_by_id(leader)
    survivors = [n for n in cluster.nodes if n is not victim]
    os.kill(victim.pid, signal.SIGTERM)
    t0 = time.monotonic()
    # Its partitions are led elsewhere before it stops (no waiting for the session timeout).
    wait_until(lambda: (lambda ps: ps and all(p["leader"] not in (-1, leader)
                                              for p in ps.values()))(
        partitions_of(survivors[0], "handover")), 10, interval=0.05, what="leaders moved")
    moved_after_s = time.monotonic() - t0
    new_leader, new_epoch = cluster.quorum_leader(survivors, not_node=leader)
    handed_over_after_s = time.monotonic() - t0
    assert new_epoch > epoch
    # EndQuorumEpoch lets the others elect at once instead of after the fetch timeout (2 s)
    # plus an election timeout (1-2 s) that a kill -9 costs; partitions move before that.
    assert moved_after_s < 2.0, f"partitions moved after {moved_after_s:.2f} s"
    assert handed_over_after_s < 2.0, f"controller handed over after {handed_over_after_s:.2f} s"
    print(f"controlled shutdown: partitions moved {moved_after_s:.2f} s, controller "
          f"{handed_over_after_s:.2f} s after SIGTERM")
    assert victim._wait_exit(30), "the old controller exits"


def partitions_of(node, topic):
    t = metadata(node.bootstrap, [topic])["topics"].get(topic)
    return t["partitions"] if t and t["error"] == 0 else None


def wait_known_everywhere(nodes, topic, timeout_s=20):
    """Each node applies the metadata log at its own pace: one node's answer says nothing
    about whether another already hosts (or knows it does not lead) the topic."""
    for node in nodes:
        wait_until(lambda: partitions_of(node, topic), timeout_s, interval=0.1,
                   what=f"{node.name} knows topic {topic}")


def consume_all(bootstrap, topic, expect_at_least, partitions=3, timeout=60):
    # Assigned, not subscribed: no rebalance to wait for, no offsets to keep.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < expect_at_least and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is None or m.error():
            continue
        got.append((m.partition(), m.offset(), m.key() and m.key().decode(),
                    m.value().decode()))
    consumer.close()
    return got


def test_replicated_partitions_survive_the_loss_of_a_leader(cluster):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("replicated", num_partitions=3, replication_factor=3,
                                  config={"min.insync.replicas": "2"})])["replicated"].result(30)
    parts = wait_until(lambda: partitions_of(cluster.nodes[0], "replicated"), 10, what="topic")
    for p in parts.values():
        assert sorted(p["replicas"]) == [1, 2, 3] and sorted(p["isr"]) == [1, 2, 3]
    assert {p["leader"] for p in parts.values()} == {1, 2, 3}, "leaders spread"
    # Every replica has a log of its own (once its node applied the topic).
    wait_known_everywhere(cluster.nodes, "replicated")
    for n in cluster.nodes:
        for i in range(3):
            assert (n.log_dir / f"replicated-{i}").is_dir()

    acked = set()

    def produce(prefix, count):
        producer = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all",
                             "enable.idempotence": True, "linger.ms": 5,
                             "message.timeout.ms": 60000})
        failures = []

        def report(err, msg):
            if err:
                failures.append(err)
            else:
                acked.add(msg.key().decode())
        for i in range(count):
            producer.produce("replicated", key=f"{prefix}{i}", value=f"v-{prefix}{i}",
                             on_delivery=report)
            producer.poll(0)
        assert producer.flush(90) == 0
        return failures

    assert produce("a", 1500) == []
    # Kill the leader of partition 0 (maybe the active controller too).
    victim = cluster.node_by_id(parts[0]["leader"])
    os.kill(victim.pid, signal.SIGKILL)
    victim._wait_exit(10)
    t0 = time.monotonic()
    survivors = [n for n in cluster.nodes if n is not victim]
    moved = wait_until(lambda: (lambda ps: ps and all(p["leader"] not in (-1, victim_id(victim))
                                                      for p in ps.values()) and ps)(
        partitions_of(survivors[0], "replicated")), 30, what="new leaders")
    print(f"partition leaders moved {time.monotonic() - t0:.2f} s after kill -9")
    for p in moved.values():
        assert victim_id(victim) not in p["isr"]
    # The survivors keep taking acks=all writes (ISR 2 >= min.insync.replicas 2).
    assert produce("b", 1500) == []
    got = consume_all(survivors[0].bootstrap, "replicated", len(acked))
    keys = [k for _, _, k, _ in got]
    assert set(keys) >= acked, f"{len(acked - set(keys))} acknowledged records lost"
    assert len(keys) == len(set(keys)), "no duplicates (idempotent producer across failover)"
    # The old leader returns, truncates what was not committed, catches up, rejoins the ISR.
    victim.start()
    wait_until(lambda: (lambda ps: ps and all(sorted(p["isr"]) == [1, 2, 3]
                                              for p in ps.values()))(
        partitions_of(survivors[0], "replicated")), 60, interval=0.5,
        what="the returned broker back in every ISR")


def victim_id(node):
    return int(node.name.removeprefix("node"))


def test_acks_all_needs_min_insync_replicas():
    cluster = Cluster(settings={"replica.lag.time.max.ms": "2000"}).start()
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
        admin.create_topics([NewTopic("strict", num_partitions=1, replication_factor=2,
                                      config={"min.insync.replicas": "2"})])["strict"].result(30)
        part = wait_until(lambda: (partitions_of(cluster.nodes[0], "strict") or {}).get(0),
                          10, what="topic")
        leader = cluster.node_by_id(part["leader"])
        follower = cluster.node_by_id(next(r for r in part["replicas"] if r != part["leader"]))
        wait_known_everywhere((leader, follower), "strict")
        batch = kwire.record_batch([(None, b"x", [])])

        def produce_error(acks):
            with kwire.Conn(leader.bootstrap) as c:
                _, resp = kwire.parse_produce_v7(c.roundtrip(
                    kwire.produce_v7_request(3, "strict", 0, batch, acks=acks, timeout_ms=3000)))
            return resp[("strict", 0)]["error"]

        assert produce_error(-1) == 0
        # SIGSTOP the follower: it stops fetching, leaves the ISR after the lag time (or is
        # fenced), and acks=-1 writes are refused with NOT_ENOUGH_REPLICAS (19).
        os.kill(follower.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: len(partitions_of(leader, "strict")[0]["isr"]) == 1, 30,
                       interval=0.2, what="ISR shrink")
            assert produce_error(-1) == 19
            assert produce_error(1) == 0, "acks=1 needs the leader only"
        finally:
            os.kill(follower.pid, signal.SIGCONT)
        # Back: it catches up and rejoins; acks=-1 works again.
        wait_until(lambda: len(partitions_of(leader, "strict")[0]["isr"]) == 2, 30,
                   interval=0.2, what="ISR expand")
        assert produce_error(-1) == 0
    finally:
        cluster.stop()


def test_bad_quorum_settings_are_refused_with_a_message(tmp_path):
    cases = [
        ({"controller.quorum.voters": "1@localhost"}, "controller.quorum.voters"),
        ({"controller.quorum.voters": "x@localhost:9093"}, "controller.quorum.voters"),
        ({"controller.quorum.voters": "2@127.0.0.1:19093,3@127.0.0.1:19094"},
         "node.id 1 is not listed"),
        ({"controller.quorum.voters": "1@127.0.0.1:19093,1@127.0.0.1:19094"}, "listed twice"),
        ({"process.roles": "broker"}, "process.roles"),
        ({"process.roles": "broker", "controller.quorum.voters": "1@127.0.0.1:19093"},
         "must not be a voter"),
        ({"process.roles": "broker,admin"}, "process.roles"),
        ({"process.roles": "controller,controller"}, "distinct roles"),
    ]
    for settings, expected in cases:
        args = [RIACHO_BIN, "serve", "--set", "listeners=PLAINTEXT://127.0.0.1:0",
                "--set", f"log.dirs={tmp_path / 'data'}"]
        for k, v in settings.items():
            args += ["--set", f"{k}={v}"]
        res = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert res.returncode != 0, settings
        assert expected in res.stderr, (settings, res.stderr[-2000:])


def test_a_returning_leader_cuts_its_divergent_tail_by_leader_epoch(cluster):
    """acks=1 records the followers did not have when the leader died are not on the new
    leader; the new leader writes others at those offsets in a new epoch. The old leader
    returns, learns from its first fetch where its log left the leader's (DivergingEpoch),
    cuts its tail there and copies the leader's records instead."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("diverge", num_partitions=1, replication_factor=2,
                                  config={"min.insync.replicas": "1"})])["diverge"].result(30)
    part = wait_until(lambda: (lambda ps: ps and len(ps[0]["isr"]) == 2 and ps[0])(
        partitions_of(cluster.nodes[0], "diverge")), 20, what="topic in sync")
    old = cluster.node_by_id(part["leader"])
    new = cluster.node_by_id(next(r for r in part["replicas"] if r != part["leader"]))
    wait_known_everywhere((old, new), "diverge")
    # The follower stops fetching for a moment; acks=1 records land on the leader only.
    batch = lambda tag: kwire.record_batch([(None, f"{tag}{i}".encode(), []) for i in range(5)])
    with kwire.Conn(old.bootstrap) as c:
        for i in range(3):
            _, r = kwire.parse_produce_v7(c.roundtrip(
                kwire.produce_v7_request(i, "diverge", 0, batch(f"both{i}-"), acks=-1)))
            assert r[("diverge", 0)]["error"] == 0
    os.kill(new.pid, signal.SIGSTOP)
    # Its fetch parked on the leader ends empty after max_wait (500 ms); only then are there
    # records it cannot have (a response already in its socket would still reach it).
    time.sleep(1.0)
    with kwire.Conn(old.bootstrap) as c:
        for i in range(4):
            _, r = kwire.parse_produce_v7(c.roundtrip(
                kwire.produce_v7_request(10 + i, "diverge", 0, batch(f"old-only{i}-"), acks=1)))
            assert r[("diverge", 0)]["error"] == 0
    os.kill(old.pid, signal.SIGKILL)
    old._wait_exit(10)
    os.kill(new.pid, signal.SIGCONT)
    # The follower leads now (it was in the ISR), in a new epoch, and takes other records.
    wait_until(lambda: partitions_of(new, "diverge")[0]["leader"] == victim_id(new), 30,
               interval=0.2, what="the follower leads")
    with kwire.Conn(new.bootstrap) as c:
        for i in range(6):
            _, r = kwire.parse_produce_v7(c.roundtrip(
                kwire.produce_v7_request(20 + i, "diverge", 0, batch(f"new{i}-"), acks=1)))
            assert r[("diverge", 0)]["error"] == 0
    expected = consume_all(new.bootstrap, "diverge", 45, partitions=1)
    assert len(expected) == 45 and not any(v.startswith("old-only") for *_, v in expected)
    # The old leader returns as a follower, rejoins the ISR...
    old.start()
    wait_until(lambda: len(partitions_of(new, "diverge")[0]["isr"]) == 2, 60, interval=0.2,
               what="the old leader back in the ISR")
    assert "diverging from the leader's log" in old.stderr_path.read_text()
    # ... and once it leads again (the other stops), it serves exactly the leader's records.
    new.stop()
    wait_until(lambda: partitions_of(old, "diverge")[0]["leader"] == victim_id(old), 30,
               interval=0.2, what="the old leader leads again")
    assert consume_all(old.bootstrap, "diverge", 45, partitions=1) == expected


def test_a_producers_retry_on_a_new_leader_does_not_move_where_the_old_epoch_ends(cluster):
    """An idempotent batch the follower already copied is sent again to it once it leads (the
    producer never heard the old leader's answer): a duplicate, answered with its first
    offsets and written nowhere. It stays the old epoch's batch: the new leader's epochs say
    the old epoch ends after it, so the old leader, back as a follower, keeps it and rejoins
    the ISR (it used to be told to cut it, copied it back in the old epoch and was told
    again, for ever)."""
    wait_until(lambda: len(metadata(cluster.nodes[0].bootstrap)["brokers"]) == 3, 10,
               what="every broker registered")
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("retried", num_partitions=1, replication_factor=-1,
                                  replica_assignment=[[2, 3]],
                                  config={"min.insync.replicas": "1"})])["retried"].result(30)
    wait_until(lambda: (lambda ps: ps and ps[0]["leader"] == 2 and len(ps[0]["isr"]) == 2)(
        partitions_of(cluster.nodes[0], "retried")), 20, interval=0.1, what="topic in sync")
    old, new = cluster.node_by_id(2), cluster.node_by_id(3)
    wait_known_everywhere((old, new), "retried")
    with kwire.Conn(old.bootstrap) as c:
        error, producer_id, producer_epoch = kwire.init_producer_id(c, None, 60000)
    assert error == 0
    batch = lambda seq: kwire.record_batch(
        [(None, f"r{seq + i}".encode(), []) for i in range(3)], producer_id=producer_id,
        producer_epoch=producer_epoch, base_sequence=seq)

    def produce(node, seq, acks):
        with kwire.Conn(node.bootstrap) as c:
            _, r = kwire.parse_produce_v7(c.roundtrip(
                kwire.produce_v7_request(1, "retried", 0, batch(seq), acks=acks)))
        assert r[("retried", 0)]["error"] == 0, r
        return r[("retried", 0)]["base_offset"]

    assert produce(old, 0, acks=-1) == 0  # on both replicas, in epoch 0
    old.kill()
    wait_until(lambda: partitions_of(new, "retried")[0]["leader"] == 3, 30, interval=0.2,
               what="the follower leads")
    assert produce(new, 0, acks=1) == 0  # the retry: a duplicate, its first offset
    assert produce(new, 3, acks=1) == 3  # the first batch of the new epoch

    # The leader's answer to a follower holding the retried batch from epoch 0: no divergence.
    with kwire.Conn(new.bootstrap) as c:
        _, res = kwire.parse_fetch_v12(c.roundtrip(kwire.replica_fetch_v12_request(
            2, 2, "retried", 0, fetch_offset=3, last_fetched_epoch=0)))
    part = res[("retried", 0)]
    assert part["error"] == 0 and part["diverging"] is None, part

    old.start()
    wait_until(lambda: sorted(partitions_of(new, "retried")[0]["isr"]) == [2, 3], 30,
               interval=0.2, what="the old leader back in the ISR")
    assert "diverging from the leader's log" not in old.stderr_path.read_text()
    got = consume_all(new.bootstrap, "retried", 6, partitions=1)
    assert [v for *_, v in got] == [f"r{i}" for i in range(6)], got


def test_unclean_and_preferred_leader_elections(cluster):
    """No in-sync replica alive: with unclean.leader.election.enable the controller makes a live
    out-of-sync replica leader (the records only the dead ISR had are lost); without it the
    partition stays offline until an operator asks for an unclean election (ElectLeaders, as
    kafka-leader-election --election-type unclean does). When the preferred replica is back
    in sync, a preferred election hands leadership back to it."""
    wait_until(lambda: len(metadata(cluster.nodes[0].bootstrap)["brokers"]) == 3, 10,
               what="every broker registered")
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    # Both on brokers 2 (preferred leader) and 3, so one fault hits both alike.
    topics = {"unclean-auto": {"unclean.leader.election.enable": "true"}, "unclean-manual": {}}
    for f in admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=-1,
                                           replica_assignment=[[2, 3]], config=config)
                                  for name, config in topics.items()]).values():
        f.result(30)
    for name in topics:
        wait_until(lambda: (lambda ps: ps and ps[0]["leader"] == 2 and len(ps[0]["isr"]) == 2)(
            partitions_of(cluster.nodes[0], name)), 20, interval=0.1, what=f"{name} in sync")
    wait_known_everywhere(cluster.nodes[1:], "unclean-manual")
    leader, follower = cluster.node_by_id(2), cluster.node_by_id(3)
    batch = lambda tag: kwire.record_batch([(None, f"{tag}{i}".encode(), []) for i in range(5)])

    def produce(tag):
        with kwire.Conn(leader.bootstrap) as c:
            for name in topics:
                _, r = kwire.parse_produce_v7(c.roundtrip(
                    kwire.produce_v7_request(1, name, 0, batch(tag), acks=-1)))
                assert r[(name, 0)]["error"] == 0, (name, r)

    produce("both")
    # The follower goes silent: fenced after the session timeout, it leaves both ISRs and the
    # leader alone acknowledges what comes next.
    os.kill(follower.pid, signal.SIGSTOP)
    try:
        for name in topics:
            wait_until(lambda: partitions_of(cluster.nodes[0], name)[0]["isr"] == [2], 30,
                       interval=0.2, what=f"{name}: ISR shrinks to the leader")
        produce("leader-only")
        leader.kill()
    finally:
        os.kill(follower.pid, signal.SIGCONT)
    node1 = cluster.nodes[0]
    wait_until(lambda: partitions_of(node1, "unclean-auto")[0]["leader"] == 3, 30, interval=0.2,
               what="unclean election of the live out-of-sync replica")
    assert partitions_of(node1, "unclean-auto")[0]["isr"] == [3]
    # Without the setting it goes offline (a controller that just took over first gives every
    # broker one session to be heard from) and stays so.
    wait_until(lambda: partitions_of(node1, "unclean-manual")[0]["leader"] == -1, 15,
               interval=0.2, what="unclean-manual offline")
    time.sleep(1.5)  # three liveness rounds of the controller
    assert partitions_of(node1, "unclean-manual")[0]["leader"] == -1, "offline without the setting"

    # A preferred election cannot help (broker 2 is dead); an unclean one does.
    elections = AdminClient({"bootstrap.servers": node1.bootstrap})
    tp = TopicPartition("unclean-manual", 0)
    errors = elections.elect_leaders(ElectionType.PREFERRED, [tp]).result(30)
    assert errors[tp] is not None and errors[tp].code() == 80, errors  # PREFERRED_LEADER_NOT_AVAILABLE
    errors = elections.elect_leaders(ElectionType.UNCLEAN, [tp]).result(30)
    assert errors[tp] is None, errors
    wait_until(lambda: partitions_of(node1, "unclean-manual")[0]["leader"] == 3, 10,
               interval=0.2, what="the operator's unclean election")
    for name in topics:
        got = consume_all(follower.bootstrap, name, 5, partitions=1, timeout=20)
        assert [v for *_, v in got] == [f"both{i}" for i in range(5)], (name, got)

    # Broker 2 returns, truncates what the others never had, rejoins the ISR; a preferred
    # election makes it leader again, and a second one has nothing to do.
    leader.start()
    for name in topics:
        wait_until(lambda: len(partitions_of(node1, name)[0]["isr"]) == 2, 60, interval=0.2,
                   what=f"{name}: broker 2 back in sync")
    asked = [TopicPartition(name, 0) for name in topics]
    errors = elections.elect_leaders(ElectionType.PREFERRED, asked).result(30)
    assert all(e is None for e in errors.values()), errors
    for name in topics:
        wait_until(lambda: partitions_of(node1, name)[0]["leader"] == 2, 10, interval=0.2,
                   what=f"{name}: led by its preferred replica")
    errors = elections.elect_leaders(ElectionType.PREFERRED, asked).result(30)
    assert all(e is not None and e.code() == 84 for e in errors.values()), errors  # ELECTION_NOT_NEEDED


def test_describe_log_dirs_lists_each_brokers_replicas(cluster):
    """kafka-log-dirs / describeLogDirs: every broker names its log directory, the partitions
    it holds a replica of, their size on disk and how far each is behind the high watermark."""
    from kafka.admin import KafkaAdminClient
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("dirs", num_partitions=2, replication_factor=3)])[
        "dirs"].result(30)
    wait_known_everywhere(cluster.nodes, "dirs")
    producer = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all"})
    for i in range(100):
        producer.produce("dirs", key=f"k{i}", value="x" * 100)
    assert producer.flush(30) == 0
    client = KafkaAdminClient(bootstrap_servers=cluster.bootstrap())
    try:
        def described(asked):
            out = {}
            for r in client.describe_log_dirs(topic_partitions=asked):
                (d,) = r["log_dirs"]
                assert d["error_code"] == 0 and os.path.isabs(d["log_dir"]), d
                assert 0 < d["usable_bytes"] <= d["total_bytes"], d
                out[r["broker"]] = {(t["name"], p["partition_index"]): p
                                    for t in d["topics"] for p in t["partitions"]}
            return out

        # acks=all: every replica has the records; all are listed, none behind.
        got = described({"dirs": [0, 1]})
        assert set(got) == {1, 2, 3}, got
        for broker, parts in got.items():
            assert set(parts) == {("dirs", 0), ("dirs", 1)}, (broker, parts)
            assert all(p["partition_size"] > 0 and p["offset_lag"] == 0
                       for p in parts.values()), (broker, parts)
        sizes = {broker: sum(p["partition_size"] for p in parts.values())
                 for broker, parts in got.items()}
        assert len(set(sizes.values())) == 1, f"replicas hold the same bytes: {sizes}"
        only = described({"dirs": [1]})
        assert all(set(parts) == {("dirs", 1)} for parts in only.values()), only
    finally:
        client.close()


def test_deleted_records_stay_deleted_and_a_replica_left_behind_restarts_its_log(cluster):
    """DeleteRecords goes to the leader; followers move their log start after it, so a
    failover does not bring deleted records back. A replica that was away while the leader's
    log start passed its whole log restarts its log there and rejoins the ISR."""
    wait_until(lambda: len(metadata(cluster.nodes[0].bootstrap)["brokers"]) == 3, 10,
               what="every broker registered")
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    # Broker 1 leads both; the next in line is 3 (which falls behind) for one, 2 for the other.
    orders = {"trim-behind": [1, 3, 2], "trim-in-sync": [1, 2, 3]}
    for f in admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=-1,
                                           replica_assignment=[r]) for t, r in orders.items()
                                  ]).values():
        f.result(30)
    for t in orders:
        wait_until(lambda: (lambda ps: ps and len(ps[0]["isr"]) == 3)(
            partitions_of(cluster.nodes[0], t)), 20, interval=0.1, what=f"{t} in sync")
    leader, behind = cluster.node_by_id(1), cluster.node_by_id(3)
    for t in orders:
        wait_known_everywhere(cluster.nodes, t)
    batch = lambda tag: kwire.record_batch([(None, f"{tag}{i}".encode(), []) for i in range(10)])

    def produce(tag, times):
        with kwire.Conn(leader.bootstrap) as c:
            for i in range(times):
                for t in orders:
                    _, r = kwire.parse_produce_v7(c.roundtrip(
                        kwire.produce_v7_request(i, t, 0, batch(f"{tag}{i}-"), acks=-1)))
                    assert r[(t, 0)]["error"] == 0, r

    produce("early", 10)  # offsets 0-99 everywhere
    os.kill(behind.pid, signal.SIGSTOP)
    try:
        for t in orders:
            wait_until(lambda: len(partitions_of(cluster.nodes[0], t)[0]["isr"]) == 2, 30,
                       interval=0.2, what=f"{t}: broker 3 out of the ISR")
        produce("late", 10)  # offsets 100-199 on brokers 1 and 2 only
        asked = [TopicPartition(t, 0, 150) for t in orders]
        # A client of its own, on the leader: one that picked the stopped node for metadata
        # would wait for its request timeout.
        deleter = AdminClient({"bootstrap.servers": leader.bootstrap})
        for tp, f in deleter.delete_records(asked).items():
            deleted = f.result(30)
            assert deleted.low_watermark == 150, (tp, deleted)
        with kwire.Conn(cluster.node_by_id(2).bootstrap) as c:
            _, r = kwire.parse_produce_v7(c.roundtrip(kwire.produce_v7_request(
                1, "trim-in-sync", 0, batch("x"), acks=-1)))
            assert r[("trim-in-sync", 0)]["error"] == 6, "only the leader takes writes"
    finally:
        os.kill(behind.pid, signal.SIGCONT)
    for t in orders:
        wait_until(lambda: len(partitions_of(cluster.nodes[0], t)[0]["isr"]) == 3, 60,
                   interval=0.2, what=f"{t}: broker 3 back in the ISR")
    assert "restarting the log there" in behind.stderr_path.read_text()
    # The leader dies: 3 leads one topic, 2 the other; neither has the deleted records.
    leader.kill()
    for t, replicas in orders.items():
        new = cluster.node_by_id(replicas[1])
        wait_until(lambda: partitions_of(new, t)[0]["leader"] == replicas[1], 30, interval=0.2,
                   what=f"{t} led by broker {replicas[1]}")
        with kwire.Conn(new.bootstrap) as c:
            offsets = kwire.list_offset(c, t, 0, -2), kwire.list_offset(c, t, 0, -1)
        assert offsets == (150, 200), (t, offsets, new.stderr_path.read_text()[-3000:])
        batches = kwire.fetch_batches(new.bootstrap, t, 0, 150)
        assert [b["base_offset"] for b in batches] == list(range(150, 200, 10)), t


def find_coordinator(addr, key, key_type):
    """FindCoordinator v1: the coordinator's node id (-1 with an error)."""
    body = kwire.string(key) + kwire.i8(key_type)
    with kwire.Conn(addr, timeout=10) as c:
        r = kwire.Reader(c.roundtrip(kwire.request(10, 1, 1, body)))
    r.i32(); r.i32()  # correlation, throttle
    error, _ = r.i16(), r.string()
    node = r.i32()
    return node if error == 0 else -1


def test_transactions_span_partitions_led_by_other_brokers(cluster):
    """Exactly once across the cluster: a transaction writes to partitions led by all three
    brokers and commits consumed offsets of a group coordinated on another node than the
    transaction. Its coordinator writes markers itself where it leads and with WriteTxnMarkers
    elsewhere; the group's coordinator verifies the offsets with the transaction's coordinator
    (AddPartitionsToTxn). read_committed readers see the committed transaction whole and
    nothing of the aborted one."""
    from confluent_kafka import KafkaException
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    for f in admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=3)
                                  for t in ("eos-in", "eos-out")]).values():
        f.result(30)
    wait_known_everywhere(cluster.nodes, "eos-out")
    assert {p["leader"] for p in partitions_of(cluster.nodes[0], "eos-out").values()} == \
        {1, 2, 3}
    source = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all"})
    for i in range(30):
        source.produce("eos-in", key=f"k{i}", value=f"in{i}")
    assert source.flush(30) == 0
    txn_id = "eos-cluster"
    txn_node = wait_until(lambda: (lambda n: n > 0 and n)(
        find_coordinator(cluster.nodes[0].bootstrap, txn_id, 1)), 20, what="transaction coordinator")
    group = next(g for g in (f"eos-group-{i}" for i in range(100))
                 if find_coordinator(cluster.nodes[0].bootstrap, g, 0) not in (-1, txn_node))

    consumer = Consumer({"bootstrap.servers": cluster.bootstrap(), "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed"})
    consumer.subscribe(["eos-in"])
    consumed = []
    deadline = time.monotonic() + 60
    while len(consumed) < 30 and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and not m.error():
            consumed.append(m)
    assert len(consumed) == 30
    producer = Producer({"bootstrap.servers": cluster.bootstrap(), "transactional.id": txn_id})
    producer.init_transactions(30)
    producer.begin_transaction()
    for m in consumed:
        producer.produce("eos-out", key=m.key(), value=m.value().replace(b"in", b"out"))
    producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                         consumer.consumer_group_metadata(), 30)
    producer.commit_transaction(30)
    producer.begin_transaction()
    for i in range(15):
        producer.produce("eos-out", key=f"a{i}", value=f"aborted{i}")
    producer.flush(30)
    producer.abort_transaction(30)
    consumer.close()

    reader = Consumer({"bootstrap.servers": cluster.bootstrap(), "group.id": "eos-reader",
                       "enable.auto.commit": False, "isolation.level": "read_committed"})
    reader.assign([TopicPartition("eos-out", p, 0) for p in range(3)])
    got = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = reader.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value().decode())
        elif got and len(got) >= 30:
            break
    reader.close()
    assert sorted(got) == sorted(f"out{i}" for i in range(30)), got
    check = Consumer({"bootstrap.servers": cluster.bootstrap(), "group.id": group})
    committed = check.committed([TopicPartition("eos-in", p) for p in range(3)], timeout=10)
    check.close()
    assert sum(tp.offset for tp in committed) == 30, committed
    logs = "".join(n.stderr_path.read_text() for n in cluster.nodes)
    assert "wrote COMMIT marker" in logs and "wrote ABORT marker" in logs, \
        "markers sent to other brokers with WriteTxnMarkers"


def test_a_transaction_survives_the_loss_of_its_coordinator(cluster):
    """__transaction_state is replicated and a transactional id's coordinator is the leader of
    its partition: kill -9 that node mid-transaction and the producer commits at the new
    coordinator, which loaded the open transaction from its replica."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("txn-moves", num_partitions=3, replication_factor=3)])[
        "txn-moves"].result(30)
    wait_known_everywhere(cluster.nodes, "txn-moves")
    txn_id = "mover"
    old = wait_until(lambda: (lambda n: n > 0 and n)(
        find_coordinator(cluster.nodes[0].bootstrap, txn_id, 1)), 20,
        what="transaction coordinator")
    state = partitions_of(cluster.nodes[0], "__transaction_state")
    assert state and all(len(p["replicas"]) == 3 for p in state.values())
    producer = Producer({"bootstrap.servers": cluster.bootstrap(), "transactional.id": txn_id,
                         "transaction.timeout.ms": 60000})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce("txn-moves", key=f"k{i}", value=f"first{i}")
    producer.commit_transaction(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce("txn-moves", key=f"k{i}", value=f"second{i}")
    assert producer.flush(30) == 0
    cluster.node_by_id(old).kill()
    survivors = [n for n in cluster.nodes if n.name != f"node{old}"]
    new = wait_until(lambda: (lambda n: n not in (-1, old) and n)(
        find_coordinator(survivors[0].bootstrap, txn_id, 1)), 30, interval=0.2,
        what="a new transaction coordinator")
    producer.commit_transaction(60)
    reader = Consumer({"bootstrap.servers": ",".join(n.bootstrap for n in survivors),
                       "group.id": "txn-moves-reader", "enable.auto.commit": False,
                       "isolation.level": "read_committed"})
    reader.assign([TopicPartition("txn-moves", p, 0) for p in range(3)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 20 and time.monotonic() < deadline:
        m = reader.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value().decode())
    reader.close()
    assert sorted(got) == sorted([f"first{i}" for i in range(10)] +
                                 [f"second{i}" for i in range(10)]), (new, got)
    logs = cluster.node_by_id(new).stderr_path.read_text()
    assert "__transaction_state-" in logs and "loaded" in logs, "state loaded by the new leader"


def kafka_tool(main_class, *args):
    """Runs one of Apache Kafka's own command-line tools (the oracle's jars) to completion."""
    import shutil
    cp = subprocess.run([str(KAFKA_SCRIPT), "classpath"], capture_output=True, text=True)
    if cp.returncode != 0 or shutil.which("java") is None:
        pytest.skip("Apache Kafka jars or java missing (scripts/apache-kafka.sh fetch)")
    return subprocess.run(["java", "-cp", cp.stdout.strip(), main_class, *args],
                          capture_output=True, text=True, timeout=120)


def test_kafkas_operator_tools_describe_log_dirs_elect_and_unregister(cluster):
    """kafka-log-dirs, kafka-leader-election and kafka-cluster unregister, Kafka's own tools,
    against a three-node Riacho cluster."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("ops", num_partitions=2, replication_factor=3)])[
        "ops"].result(30)
    wait_known_everywhere(cluster.nodes, "ops")
    producer = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all"})
    for i in range(50):
        producer.produce("ops", key=f"k{i}", value="v")
    assert producer.flush(30) == 0
    bootstrap = cluster.nodes[0].bootstrap

    dirs = kafka_tool("org.apache.kafka.tools.LogDirsCommand", "--bootstrap-server", bootstrap,
                      "--describe", "--topic-list", "ops")
    assert dirs.returncode == 0, dirs.stderr[-2000:]
    report = json.loads(next(line for line in dirs.stdout.splitlines() if line.startswith("{")))
    assert {b["broker"] for b in report["brokers"]} == {1, 2, 3}, report
    for b in report["brokers"]:
        (log_dir,) = b["logDirs"]
        assert log_dir["error"] is None and log_dir["logDir"].endswith("/data"), log_dir
        sizes = {p["partition"]: p["size"] for p in log_dir["partitions"]}
        assert set(sizes) == {"ops-0", "ops-1"} and all(v > 0 for v in sizes.values()), b

    elected = kafka_tool("org.apache.kafka.tools.LeaderElectionCommand", "--bootstrap-server",
                         bootstrap, "--election-type", "PREFERRED", "--topic", "ops",
                         "--partition", "0")
    assert "Valid replica already elected for partitions ops-0" in elected.stdout, \
        (elected.stdout, elected.stderr[-2000:])

    def unregister(broker_id):
        return kafka_tool("org.apache.kafka.tools.ClusterTool", "unregister",
                          "--bootstrap-server", bootstrap, "--id", str(broker_id))

    refused = unregister(2)
    assert refused.returncode != 0 and "alive" in refused.stderr, refused.stderr[-2000:]
    victim = cluster.node_by_id(3)
    victim.kill()
    wait_until(lambda: 3 not in {b[0] for b in metadata(bootstrap)["brokers"]}, 20,
               interval=0.2, what="broker 3 fenced")
    done = unregister(3)
    assert done.returncode == 0, done.stderr[-2000:]
    again = unregister(3)
    assert again.returncode != 0 and "not currently registered" in again.stderr, \
        again.stderr[-2000:]
    # Back: it registers again when it starts.
    victim.start()
    wait_until(lambda: 3 in {b[0] for b in metadata(bootstrap)["brokers"]}, 30, interval=0.2,
               what="broker 3 registered again")


def test_franz_go_keeps_producing_through_a_leader_failover(cluster):
    """franz-go's default producer (idempotent, acks=all) writes while the leader of a
    replicated partition is killed; afterwards every acknowledged record is in the log once."""
    from test_franz_go import clientcheck_binary
    binary = clientcheck_binary()
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("fg-failover", num_partitions=3, replication_factor=3,
                                  config={"min.insync.replicas": "2"})])["fg-failover"] \
        .result(30)
    parts = wait_until(lambda: (lambda ps: ps and all(len(p["isr"]) == 3 for p in ps.values())
                                and ps)(partitions_of(cluster.nodes[0], "fg-failover")), 20,
                       what="topic in sync")
    proc = subprocess.Popen([str(binary), cluster.bootstrap(), "fg-failover", "failover", "12"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    victim = cluster.node_by_id(parts[0]["leader"])
    victim.kill()
    out, err = proc.communicate(timeout=150)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])["failover"]
    assert "error" not in result, result
    assert result["acked"] > 1000, result
    assert result["missing"] == 0, result
    assert result["duplicates"] == 0, result


def test_the_java_client_produces_and_consumes_in_a_group_through_a_failover(cluster):
    """The Java client's default producer (idempotent, acks=all) and a consumer in a group keep
    going while the broker leading a partition and coordinating the group is killed: every
    acknowledged record is in the log once and reached the group's consumer."""
    from test_java import VERSIONS, jar
    version = VERSIONS[-1]
    if not jar(version).exists():
        pytest.skip(f"Java client {version} jar missing (scripts/install-test-deps.sh)")
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap()})
    admin.create_topics([NewTopic("java-failover", num_partitions=3, replication_factor=3,
                                  config={"min.insync.replicas": "2"})])["java-failover"] \
        .result(30)
    wait_known_everywhere(cluster.nodes, "java-failover")
    proc = subprocess.Popen(["java", "-jar", str(jar(version)), cluster.bootstrap(),
                             "java-failover", "failover", "12"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    group = "java-failover-java-group"
    # The victim coordinates the group (once it exists) and leads some partition.
    coordinator = wait_until(lambda: (lambda n: n > 0 and n)(
        find_coordinator(cluster.nodes[0].bootstrap, group, 0)), 20, what="group coordinator")
    time.sleep(4)
    cluster.node_by_id(coordinator).kill()
    out, err = proc.communicate(timeout=100)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])["failover"]
    assert "error" not in result, result
    assert result["acked"] > 1000, result
    assert result["missing"] == 0 and result["duplicates"] == 0, result
    assert result["group_missed"] == 0, result
