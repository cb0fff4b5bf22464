"""Metadata snapshots: every node snapshots its metadata image once
metadata.log.max.record.bytes.between.snapshots bytes were applied since the last one, keeps
it as `__cluster_metadata-0/<end offset>-<epoch>.checkpoint` and trims the metadata log below
it. A node that was away while the log it missed was trimmed catches up with FetchSnapshot,
and every node restarts from its snapshot plus the log after it."""
import subprocess
import time

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from conftest import RIACHO_BIN, is_kafka, wait_until
from test_cluster import Cluster, describe_quorum, metadata

pytestmark = pytest.mark.skipif(is_kafka(), reason="Riacho's multi-node startup")

# Small enough that a few topic creations pass it.
SNAPSHOT_BYTES = "2048"


def snapshots(node):
    """(end offset, epoch) of each snapshot file in the node's metadata log directory."""
    out = []
    for f in (node.data_dir / "__cluster_metadata-0").glob("*.checkpoint"):
        offset, epoch = f.stem.split("-")
        out.append((int(offset), int(epoch)))
    return sorted(out)


def topic_names(node):
    return set(metadata(node.bootstrap)["topics"])


def retention_of(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource("TOPIC", topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    return configs["retention.ms"].value


def test_a_node_away_while_the_log_was_trimmed_catches_up_from_a_snapshot():
    c = Cluster(settings={"metadata.log.max.record.bytes.between.snapshots": SNAPSHOT_BYTES})
    c.start()
    try:
        c.quorum_leader()
        away = c.nodes[2]
        away.stop()
        leader, _ = c.quorum_leader(among=c.nodes[:2])
        active = c.node_by_id(leader)
        _, _, _, _, ends = describe_quorum(active.bootstrap)
        away_end = ends[3]

        admin = AdminClient({"bootstrap.servers": c.bootstrap()})
        names = [f"snap-{i}" for i in range(12)]
        for name in names:
            admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=2,
                                          config={"retention.ms": "3600000"})])[name].result(30)
        admin.alter_configs([ConfigResource("TOPIC", "snap-0",
                                            set_config={"retention.ms": "7200000"})])[
            ConfigResource("TOPIC", "snap-0")].result(30)
        # Both live nodes snapshot and trim past what the away node has.
        for n in c.nodes[:2]:
            wait_until(lambda n=n: snapshots(n) and snapshots(n)[-1][0] > away_end + 5, 20,
                       interval=0.2, what=f"a snapshot on {n.name} past offset {away_end}")
            assert len(snapshots(n)) == 1, "only the latest snapshot is kept"

        away.start()
        wait_until(lambda: "installed the leader's metadata snapshot" in away.stderr_tail(400),
                   30, interval=0.2, what="the returning node installs the leader's snapshot")
        wait_until(lambda: set(names) <= topic_names(away), 30, interval=0.2,
                   what="every topic known on the returning node")
        assert retention_of(away.bootstrap, "snap-0") == "7200000"
        assert retention_of(away.bootstrap, "snap-5") == "3600000"
        assert snapshots(away), "the installed snapshot is kept on disk"
        # It follows the quorum again from there: a change made now reaches it.
        # (RF 3 once it is unfenced again, a moment after it fetches.)
        wait_until(lambda: admin.create_topics([NewTopic("after", num_partitions=1,
                                                         replication_factor=3)])["after"]
                   .result(30) is None, 20, interval=0.5, what="a topic on all three nodes")
        wait_until(lambda: "after" in topic_names(away), 20, interval=0.2,
                   what="a change after the snapshot reaches the returning node")
        wait_until(lambda: (lambda q: q[0] == 0 and q[4].get(3, -1) >= q[3])(
            describe_quorum(c.node_by_id(c.quorum_leader()[0]).bootstrap)), 20, interval=0.2,
            what="the returning node at the quorum's high watermark")

        # Every node restarts from its snapshot and the log after it, even after kill -9.
        p = Producer({"bootstrap.servers": c.bootstrap(), "acks": "all"})
        for i in range(20):
            p.produce("snap-3", key=str(i).encode(), value=f"v{i}".encode())
        assert p.flush(30) == 0
        for n in c.nodes:
            n.kill()
        c.start()
        c.quorum_leader()
        for n in c.nodes:
            wait_until(lambda n=n: set(names) | {"after"} <= topic_names(n), 30, interval=0.2,
                       what=f"every topic known on {n.name} after the restart")
            assert "metadata image loaded from the snapshot" in n.stderr_tail(2000)
        assert retention_of(c.bootstrap(), "snap-0") == "7200000"
        consumer = Consumer({"bootstrap.servers": c.bootstrap(), "group.id": "snap-reader",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe(["snap-3"])
        seen = set()
        deadline = time.time() + 60
        while len(seen) < 20 and time.time() < deadline:
            m = consumer.poll(0.5)
            if m is not None and m.error() is None:
                seen.add(m.value().decode())
        consumer.close()
        assert seen == {f"v{i}" for i in range(20)}
    finally:
        c.stop()


def test_snapshot_settings_are_checked(tmp_path):
    for key, value in (("metadata.log.max.record.bytes.between.snapshots", "0"),
                       ("metadata.log.max.snapshot.interval.ms", "-1"),
                       ("metadata.log.max.record.bytes.between.snapshots", "lots")):
        res = subprocess.run([RIACHO_BIN, "serve", "--set", "listeners=PLAINTEXT://127.0.0.1:0",
                              "--set", f"log.dirs={tmp_path / 'data'}", "--set",
                              f"{key}={value}"], capture_output=True, text=True, timeout=30)
        assert res.returncode != 0, (key, value)
        assert key in res.stderr, (key, value, res.stderr[-2000:])
