"""kafka-python (pure-Python client, its own protocol code) against one shared broker.

kafka-python negotiates differently from librdkafka (it probes versions and
pipelines ApiVersions with Metadata), so the same behaviours are checked again
through it: admin create/list/describe/delete and the duplicate, invalid-name
and zero-partition errors; auto-creation when the producer asks for metadata;
keyed records with headers and explicit timestamps under each codec read back
exactly from the beginning, a given offset and the end; beginning/end offsets
and offsets_for_times; acks 0/1/all; the idempotent producer; and an
out-of-range position reset per auto_offset_reset.
"""
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewPartitions, NewTopic
from kafka.errors import (InvalidPartitionsError, InvalidTopicError, TopicAlreadyExistsError,
                          UnknownTopicOrPartitionError)

import kwire
from clients import BASE_TS, CODEC_ID, make_records, normalize_headers
from conftest import wait_until


@pytest.fixture(scope="module")
def admin(broker):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    yield a
    a.close()


def create(admin, name, partitions=1):
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                        timeout_ms=15000)

    def ready():  # a KRaft broker may briefly not know a topic it has just created
        (d,) = admin.describe_topics([name])
        return d["error_code"] == 0 and len(d["partitions"]) == partitions and \
            all(p["leader_id"] >= 0 for p in d["partitions"])

    wait_until(ready, 30, what=f"topic {name} ready")


def produce(bootstrap, topic, records, partition=0, **conf):
    defaults = {"linger_ms": 5}
    if not conf.get("enable_idempotence"):
        defaults["max_in_flight_requests_per_connection"] = 1  # order across retries
    p = KafkaProducer(bootstrap_servers=bootstrap, **{**defaults, **conf})
    try:
        futs = [p.send(topic, value=r["value"], key=r["key"], headers=r.get("headers"),
                       timestamp_ms=r.get("timestamp"), partition=partition) for r in records]
        p.flush(timeout=30)
        return [f.get(timeout=30) for f in futs]
    finally:
        p.close(timeout=10)


def consumer(bootstrap, **conf):
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         **conf)


def poll_n(c, n, timeout=30.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=500).values():
            out.extend(recs)
    return out


def kp_headers(r):
    """kafka-python header values must be bytes: drop the null-valued header."""
    return [(k, v) for k, v in r["headers"] if v is not None]


def test_admin_create_list_describe_delete(admin, topic_name):
    t = topic_name()
    create(admin, t, partitions=3)
    assert t in admin.list_topics()
    (desc,) = admin.describe_topics([t])
    assert desc.get("name", desc.get("topic")) == t and desc["error_code"] == 0
    assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2]
    admin.create_partitions({t: NewPartitions(total_count=4)})
    wait_until(lambda: len(admin.describe_topics([t])[0]["partitions"]) == 4, 15,
               what="4 partitions")
    admin.delete_topics([t], timeout_ms=15000)
    wait_until(lambda: t not in admin.list_topics(), 15, what="topic deleted")


def test_admin_errors(admin, topic_name):
    t = topic_name()
    create(admin, t)
    with pytest.raises(TopicAlreadyExistsError):
        create(admin, t)
    with pytest.raises(InvalidTopicError):
        create(admin, "bad name!")
    with pytest.raises(InvalidPartitionsError):
        create(admin, topic_name(), partitions=0)
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_topics([topic_name("-missing")], timeout_ms=15000)


def test_auto_create_on_producer_metadata(broker, admin, topic_name):
    t = topic_name()
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)
    try:
        # partitions_for() sends Metadata for the topic, which creates it
        assert wait_until(lambda: p.partitions_for(t), 30, what="partitions_for") == {0}
    finally:
        p.close(timeout=10)
    assert t in admin.list_topics()


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_compression(broker, admin, topic_name, codec):
    t = topic_name()
    create(admin, t)
    recs = make_records(30, tag=str(codec))
    for r in recs:
        r["headers"] = kp_headers(r)
    md = produce(broker.bootstrap, t, recs, compression_type=codec)
    assert [m.offset for m in md] == list(range(30))

    c = consumer(broker.bootstrap)
    try:
        tp = TopicPartition(t, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        got = poll_n(c, 30)
    finally:
        c.close()
    assert len(got) == 30
    for i, (m, r) in enumerate(zip(got, recs)):
        assert (m.offset, m.key, m.value) == (i, r["key"], r["value"])
        assert normalize_headers(m.headers) == r["headers"]
        assert (m.timestamp, m.timestamp_type) == (r["timestamp"], 0)  # CreateTime

    batches = kwire.fetch_batches(broker.bootstrap, t)
    assert {b["compression"] for b in batches} == {CODEC_ID[codec or "none"]}
    assert all(b["crc_ok"] for b in batches)


def test_offsets_seek_and_times(broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    recs = make_records(12)
    for r in recs:
        r["headers"] = kp_headers(r)
    produce(broker.bootstrap, t, recs)
    tp = TopicPartition(t, 0)
    c = consumer(broker.bootstrap)
    try:
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 12}
        found = c.offsets_for_times({tp: BASE_TS + 4000})[tp]
        assert (found.offset, found.timestamp) == (4, BASE_TS + 4000)
        found = c.offsets_for_times({tp: BASE_TS + 4001})[tp]
        assert (found.offset, found.timestamp) == (5, BASE_TS + 5000)
        assert c.offsets_for_times({tp: BASE_TS + 10 ** 9})[tp] is None

        c.assign([tp])
        c.seek(tp, 9)
        got = poll_n(c, 3)
        assert [(m.offset, m.value) for m in got] == [(i, recs[i]["value"]) for i in (9, 10, 11)]

        c.seek_to_end(tp)
        assert c.position(tp) == 12
        produce(broker.bootstrap, t, [dict(key=b"late", value=b"after-end")])
        got = poll_n(c, 1)
        assert [(m.offset, m.key, m.value) for m in got] == [(12, b"late", b"after-end")]
    finally:
        c.close()


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_acks(broker, admin, topic_name, acks):
    t = topic_name()
    create(admin, t)
    recs = [dict(key=None, value=f"acks-{acks}-{i}".encode()) for i in range(20)]
    md = produce(broker.bootstrap, t, recs, acks=acks)
    if acks != 0:
        assert [m.offset for m in md] == list(range(20))
    c = consumer(broker.bootstrap, auto_offset_reset="earliest")
    try:
        c.assign([TopicPartition(t, 0)])
        got = poll_n(c, 20)
    finally:
        c.close()
    assert [(m.offset, m.value) for m in got] == [(i, r["value"]) for i, r in enumerate(recs)]


def test_idempotent_producer(broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    n = 300
    recs = [dict(key=b"k", value=f"kp-idem-{i}".encode()) for i in range(n)]
    md = produce(broker.bootstrap, t, recs, enable_idempotence=True, acks="all",
                 batch_size=512, linger_ms=0)
    assert [m.offset for m in md] == list(range(n))
    batches = kwire.fetch_batches(broker.bootstrap, t)
    assert len(batches) > 1
    assert len({b["producer_id"] for b in batches}) == 1 and batches[0]["producer_id"] >= 0
    assert sum(b["count"] for b in batches) == n


@pytest.mark.parametrize("reset", ["earliest", "latest"])
def test_out_of_range_reset(broker, admin, topic_name, reset):
    t = topic_name()
    create(admin, t)
    produce(broker.bootstrap, t, [dict(key=None, value=f"v{i}".encode()) for i in range(5)])
    tp = TopicPartition(t, 0)
    c = consumer(broker.bootstrap, auto_offset_reset=reset)
    try:
        c.assign([tp])
        c.seek(tp, 1000)
        if reset == "earliest":
            got = poll_n(c, 1)
            assert [(m.offset, m.value) for m in got[:1]] == [(0, b"v0")]
        else:
            wait_until(lambda: c.poll(timeout_ms=200) == {} and c.position(tp) == 5, 20,
                       interval=0, what="position reset to end")
            produce(broker.bootstrap, t, [dict(key=None, value=b"v5")])
            got = poll_n(c, 1)
            assert [(m.offset, m.value) for m in got] == [(5, b"v5")]
    finally:
        c.close()
