"""How fast the active controller notices a dead broker. A process that dies closes its
sockets at once, so the controller treats a broker whose metadata-fetch connection closed and
did not come back within 500 ms as gone, without waiting out broker.session.timeout.ms; a
broker that is merely frozen (SIGSTOP: its connections stay open) keeps its whole session.
Here the session is 30 s, so only the closed connection can explain a fast failover."""
import os
import signal
import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import is_kafka, wait_until
from test_cluster import Cluster, partitions_of

pytestmark = pytest.mark.skipif(is_kafka(), reason="Riacho's multi-node startup")


def leader_of(node, topic):
    part = (partitions_of(node, topic) or {}).get(0)
    return part["leader"] if part else None


def test_a_killed_broker_loses_leadership_long_before_its_session_ends():
    c = Cluster(settings={"broker.session.timeout.ms": "30000"}).start()
    try:
        controller, _ = c.quorum_leader()
        admin = AdminClient({"bootstrap.servers": c.bootstrap()})
        # Leaders on every node, so one is on a node that is not the active controller.
        admin.create_topics([NewTopic(f"crash-{i}", num_partitions=1, replication_factor=3)
                             for i in range(3)])
        for i in range(3):
            wait_until(lambda i=i: leader_of(c.node_by_id(controller), f"crash-{i}") is not None,
                       20, interval=0.2, what="a leader")
        victim_topic = next(f"crash-{i}" for i in range(3)
                            if leader_of(c.node_by_id(controller), f"crash-{i}") != controller)
        victim = c.node_by_id(leader_of(c.node_by_id(controller), victim_topic))
        watcher = c.node_by_id(controller)

        # Frozen, it keeps its leadership: no socket closed, and the session is 30 s.
        os.kill(victim.pid, signal.SIGSTOP)
        try:
            time.sleep(4)
            assert leader_of(watcher, victim_topic) == int(victim.name[4:])
        finally:
            os.kill(victim.pid, signal.SIGCONT)

        # Killed, its connections close: another replica leads within a few seconds.
        killed_at = time.monotonic()
        victim.kill()
        wait_until(lambda: leader_of(watcher, victim_topic) not in (None, int(victim.name[4:])),
                   10, interval=0.1, what="a new leader after kill -9")
        assert time.monotonic() - killed_at < 5
    finally:
        c.stop()


def test_a_killed_active_controller_loses_its_partitions_without_waiting_a_session():
    """The victim leads a partition and the metadata quorum. The followers' requests to it fail
    at once (its process is gone), so whichever of them is elected treats it as disconnected
    from that moment: its partition moves after the quorum's election (its fetch timeout of
    2 s and the election), not after the 30 s session a new controller would otherwise give
    every broker it has not heard from yet."""
    c = Cluster(settings={"broker.session.timeout.ms": "30000"}).start()
    try:
        controller, _ = c.quorum_leader()
        others = [n for n in (1, 2, 3) if n != controller]
        admin = AdminClient({"bootstrap.servers": c.bootstrap()})
        admin.create_topics([NewTopic("crash-controller", num_partitions=1,
                                      replication_factor=-1,
                                      replica_assignment=[[controller, *others]])])[
            "crash-controller"].result(30)
        watcher = c.node_by_id(others[0])
        wait_until(lambda: leader_of(watcher, "crash-controller") == controller, 20,
                   interval=0.2, what="the controller leading the partition")
        killed_at = time.monotonic()
        c.node_by_id(controller).kill()
        wait_until(lambda: leader_of(watcher, "crash-controller") in others, 20, interval=0.1,
                   what="a new leader after kill -9 of the active controller")
        took = time.monotonic() - killed_at
        new_controller, _ = c.quorum_leader()
        assert new_controller in others
        assert took < 10, f"the partition moved {took:.1f} s after the kill"
        print(f"partition moved {took:.2f} s after kill -9 of the active controller")
    finally:
        c.stop()
