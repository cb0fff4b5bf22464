"""DeleteRecords on a replicated partition answers, as Kafka does, once every replica on a live
broker has moved its log start to the requested offset (the low watermark it returns), and
REQUEST_TIMED_OUT when one has not within the request's timeout. A frozen follower (SIGSTOP)
is still a live broker for its session (30 s here), so it holds the answer back."""
import os
import signal

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from conftest import is_kafka, wait_until
from test_cluster import Cluster, partitions_of

pytestmark = pytest.mark.skipif(is_kafka(), reason="Riacho's multi-node startup")


def delete_records(addr, topic, offset, timeout_ms):
    """DeleteRecords v1 for partition 0: (error code, low watermark)."""
    body = (kwire.i32(1) + kwire.string(topic) + kwire.i32(1) + kwire.i32(0) + kwire.i64(offset)
            + kwire.i32(timeout_ms))
    with kwire.Conn(addr, timeout=timeout_ms / 1000 + 10) as c:
        r = kwire.Reader(c.roundtrip(kwire.request(21, 1, 5, body)))
    assert r.i32() == 5
    r.i32()  # throttle
    assert r.i32() == 1 and r.string() == topic
    assert r.i32() == 1 and r.i32() == 0
    low_watermark, error = r.i64(), r.i16()
    return error, low_watermark


def test_delete_records_waits_for_every_live_replica():
    c = Cluster(settings={"broker.session.timeout.ms": "30000"}).start()
    try:
        c.quorum_leader()
        admin = AdminClient({"bootstrap.servers": c.bootstrap()})
        admin.create_topics([NewTopic("low-wm", num_partitions=1,
                                      replication_factor=3)])["low-wm"].result(30)
        part = wait_until(lambda: (lambda ps: ps and len(ps[0]["isr"]) == 3 and ps[0])(
            partitions_of(c.nodes[0], "low-wm")), 20, interval=0.1, what="in sync")
        leader = c.node_by_id(part["leader"])
        follower = c.node_by_id(next(r for r in part["replicas"] if r != part["leader"]))
        batch = kwire.record_batch([(None, b"v%d" % i, []) for i in range(10)])
        with kwire.Conn(leader.bootstrap) as conn:
            for i in range(5):
                _, r = kwire.parse_produce_v7(conn.roundtrip(
                    kwire.produce_v7_request(i, "low-wm", 0, batch, acks=-1)))
                assert r[("low-wm", 0)]["error"] == 0

        # Every replica follows: the answer carries the new low watermark.
        assert delete_records(leader.bootstrap, "low-wm", 10, 10000) == (0, 10)

        os.kill(follower.pid, signal.SIGSTOP)
        try:
            # A live replica that cannot move its log start holds the answer back.
            assert delete_records(leader.bootstrap, "low-wm", 20, 1500) == (7, -1)
        finally:
            os.kill(follower.pid, signal.SIGCONT)
        # Back, it catches up with the leader's log start; asked again, the answer comes.
        assert delete_records(leader.bootstrap, "low-wm", 20, 10000) == (0, 20)
        # A follower is never asked.
        error, _ = delete_records(follower.bootstrap, "low-wm", 30, 1000)
        assert error == 6
    finally:
        c.stop()
