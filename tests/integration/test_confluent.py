"""confluent-kafka-python (librdkafka) against one shared broker.

Checks the admin APIs (create, list, describe, describe configs, create
partitions, delete, and the exact errors for a duplicate topic, an invalid
name, zero partitions and an impossible replication factor), auto-creation on a
Metadata request and on produce, and the data path: keyed records with headers
and explicit timestamps under every compression codec are read back with exact
key/value/headers/timestamp/offset from the beginning, from a given offset and
from the end; the stored batches keep the producer's codec and a valid CRC
(raw Fetch); ListOffsets by timestamp; acks 0/1/all; an idempotent producer
with many in-flight batches writes each record exactly once; and an
out-of-range fetch position is reset per auto.offset.reset.
"""
import time

import pytest
from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException,
                             Producer, TopicCollection, TopicPartition)
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

import kwire
from clients import (BASE_TS, CODEC_ID, confluent_consume, confluent_produce,
                     confluent_wait_topic, make_records, normalize_headers)
from conftest import wait_until


@pytest.fixture(scope="module")
def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create(admin, name, partitions=1, **kw):
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, **kw)],
                        operation_timeout=15)[name].result(timeout=30)
    confluent_wait_topic(admin, name, partitions)


def create_error(admin, topic):
    with pytest.raises(KafkaException) as ei:
        admin.create_topics([topic], operation_timeout=15)[topic.topic].result(timeout=30)
    return ei.value.args[0].code()


# ------------------------------------------------------------------ admin
def test_create_list_describe_delete(broker, admin, topic_name):
    t = topic_name()
    create(admin, t, partitions=3, config={"retention.ms": "3600000"})

    md = wait_until(lambda: (m := admin.list_topics(timeout=10)).topics.get(t) and m, 15,
                    what="topic in metadata")
    (broker_id,) = md.brokers.keys()
    assert md.brokers[broker_id].port == broker.port
    tm = md.topics[t]
    assert tm.error is None
    assert sorted(tm.partitions) == [0, 1, 2]
    for p in tm.partitions.values():
        assert p.leader == broker_id and p.replicas == [broker_id] and p.isrs == [broker_id]

    desc = admin.describe_topics(TopicCollection([t]))[t].result(timeout=30)
    assert desc.name == t and not desc.is_internal
    assert str(desc.topic_id) not in ("", "AAAAAAAAAAAAAAAAAAAAAA")  # a real, non-zero UUID
    assert [p.id for p in desc.partitions] == [0, 1, 2]
    assert all(p.leader.id == broker_id for p in desc.partitions)

    res = ConfigResource(ConfigResource.Type.TOPIC, t)
    configs = admin.describe_configs([res])[res].result(timeout=30)
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "delete"

    admin.create_partitions([NewPartitions(t, 5)], operation_timeout=15)[t].result(timeout=30)
    wait_until(lambda: len(admin.list_topics(topic=t, timeout=10).topics[t].partitions) == 5, 15,
               what="5 partitions after CreatePartitions")

    admin.delete_topics([t], operation_timeout=15)[t].result(timeout=30)
    wait_until(lambda: t not in admin.list_topics(timeout=10).topics, 15, what="topic deleted")


def test_create_errors(admin, topic_name):
    t = topic_name()
    create(admin, t)
    assert create_error(admin, NewTopic(t, num_partitions=1, replication_factor=1)) == \
        KafkaError.TOPIC_ALREADY_EXISTS
    assert create_error(admin, NewTopic("bad name!", num_partitions=1, replication_factor=1)) == \
        KafkaError.TOPIC_EXCEPTION  # INVALID_TOPIC_EXCEPTION (17)
    assert create_error(admin, NewTopic("x" * 250, num_partitions=1, replication_factor=1)) == \
        KafkaError.TOPIC_EXCEPTION
    assert create_error(admin, NewTopic(topic_name(), num_partitions=0, replication_factor=1)) == \
        KafkaError.INVALID_PARTITIONS
    assert create_error(admin, NewTopic(topic_name(), num_partitions=1, replication_factor=2)) == \
        KafkaError.INVALID_REPLICATION_FACTOR
    missing = topic_name("-missing")
    with pytest.raises(KafkaException) as ei:
        admin.delete_topics([missing], operation_timeout=15)[missing].result(timeout=30)
    assert ei.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_auto_create_on_metadata(broker, admin, topic_name):
    t = topic_name()

    def metadata_ok():
        with kwire.Conn(broker.bootstrap) as c:
            md = kwire.parse_metadata_v1(c.roundtrip(kwire.metadata_v1_request(7, [t])))
        assert md["corr"] == 7
        tm = md["topics"][t]
        # the first answer may be LEADER_NOT_AVAILABLE (5) while it is created
        assert tm["error"] in (0, 5), tm
        return tm if tm["error"] == 0 else None

    tm = wait_until(metadata_ok, 20, what="auto-created topic")
    assert sorted(tm["partitions"]) == [0]  # num.partitions defaults to 1
    assert t in admin.list_topics(timeout=10).topics


def test_auto_create_on_produce(broker, admin, topic_name):
    t = topic_name()
    reports = confluent_produce(broker.bootstrap, t, make_records(3), partition=-1)
    assert [(e, o) for e, o, _ in reports] == [(None, 0), (None, 1), (None, 2)]
    assert sorted(admin.list_topics(topic=t, timeout=10).topics[t].partitions) == [0]


# ------------------------------------------------------------------ data path
@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_compression(broker, admin, topic_name, codec):
    t = topic_name()
    create(admin, t)
    recs = make_records(30, tag=codec)
    reports = confluent_produce(broker.bootstrap, t, recs, conf={"compression.type": codec})
    assert [e for e, _, _ in reports] == [None] * 30
    assert sorted(o for _, o, _ in reports) == list(range(30))

    msgs = confluent_consume(broker.bootstrap, t, 0, OFFSET_BEGINNING, 30)
    assert len(msgs) == 30
    for i, (m, r) in enumerate(zip(msgs, recs)):
        assert m.offset() == i
        assert m.key() == r["key"] and m.value() == r["value"]
        assert normalize_headers(m.headers()) == r["headers"]
        assert m.timestamp() == (1, r["timestamp"])  # TIMESTAMP_CREATE_TIME

    batches = kwire.fetch_batches(broker.bootstrap, t)
    assert sum(b["count"] for b in batches) == 30
    assert all(b["magic"] == 2 and b["crc_ok"] for b in batches)
    assert {b["compression"] for b in batches} == {CODEC_ID[codec]}
    assert batches[0]["base_offset"] == 0
    for a, b in zip(batches, batches[1:]):  # contiguous offsets across batches
        assert b["base_offset"] == a["base_offset"] + a["last_offset_delta"] + 1


def test_consume_from_offset_end_and_watermarks(broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    recs = make_records(25)
    confluent_produce(broker.bootstrap, t, recs)

    msgs = confluent_consume(broker.bootstrap, t, 0, 17, 8)
    assert [m.offset() for m in msgs] == list(range(17, 25))
    assert [m.value() for m in msgs] == [r["value"] for r in recs[17:]]

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "riacho-it-assign-only",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        assert c.get_watermark_offsets(TopicPartition(t, 0), timeout=10) == (0, 25)
        c.assign([TopicPartition(t, 0, OFFSET_END)])
        # wait for the EOF event that says the consumer sits at the end (25)
        def at_end():
            m = c.poll(0.5)
            if m is not None and m.error() and m.error().code() == KafkaError._PARTITION_EOF:
                return m.offset()
            assert m is None or m.error(), f"unexpected record at offset {m.offset()}"
            return None
        assert wait_until(at_end, 20, interval=0, what="EOF at end") == 25
        confluent_produce(broker.bootstrap, t, [dict(key=b"late", value=b"after-end")])
        def next_record():
            m = c.poll(0.5)
            return m if m is not None and not m.error() else None
        m = wait_until(next_record, 20, interval=0, what="record produced after end")
        assert (m.offset(), m.key(), m.value()) == (25, b"late", b"after-end")
    finally:
        c.close()


def test_offsets_for_times(broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    confluent_produce(broker.bootstrap, t, make_records(10))
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "riacho-it-assign-only"})
    try:
        q = [TopicPartition(t, 0, ts) for ts in (BASE_TS - 1, BASE_TS + 5000, BASE_TS + 5500,
                                                  BASE_TS + 9000, BASE_TS + 10 ** 9)]
        got = [c.offsets_for_times([tp], timeout=10)[0] for tp in q]
    finally:
        c.close()
    assert [tp.error for tp in got] == [None] * 5
    # first offset whose timestamp >= the query; none later -> -1 (end)
    assert [tp.offset for tp in got] == [0, 5, 6, 9, -1]


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_acks(broker, admin, topic_name, acks):
    t = topic_name()
    create(admin, t)
    recs = make_records(20, tag=f"acks{acks}")
    reports = confluent_produce(broker.bootstrap, t, recs, conf={"acks": acks})
    assert [e for e, _, _ in reports] == [None] * 20
    if acks != "0":
        assert sorted(o for _, o, _ in reports) == list(range(20))
    msgs = confluent_consume(broker.bootstrap, t, 0, OFFSET_BEGINNING, 20)
    assert [(m.offset(), m.value()) for m in msgs] == [(i, r["value"]) for i, r in enumerate(recs)]


def test_idempotent_producer_no_duplicates(broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    n = 400
    recs = [dict(key=f"k{i % 7}".encode(), value=f"idem-{i}".encode()) for i in range(n)]
    reports = confluent_produce(broker.bootstrap, t, recs, conf={
        "enable.idempotence": True, "linger.ms": 0, "batch.num.messages": 5,
        "max.in.flight.requests.per.connection": 5})
    assert [e for e, _, _ in reports] == [None] * n
    assert sorted(o for _, o, _ in reports) == list(range(n))

    msgs = confluent_consume(broker.bootstrap, t, 0, OFFSET_BEGINNING, n)
    assert [m.value() for m in msgs] == [r["value"] for r in recs]
    assert [m.offset() for m in msgs] == list(range(n))

    batches = kwire.fetch_batches(broker.bootstrap, t)
    pids = {b["producer_id"] for b in batches}
    assert len(pids) == 1 and next(iter(pids)) >= 0
    assert batches[0]["base_sequence"] == 0
    for a, b in zip(batches, batches[1:]):
        assert b["base_sequence"] == a["base_sequence"] + a["count"]


@pytest.mark.parametrize("reset", ["earliest", "latest"])
def test_out_of_range_offset_resets(broker, admin, topic_name, reset):
    t = topic_name()
    create(admin, t)
    confluent_produce(broker.bootstrap, t, make_records(10))
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "riacho-it-assign-only",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "auto.offset.reset": reset})
    try:
        c.assign([TopicPartition(t, 0, 100)])
        first = {}

        def first_event():
            m = c.poll(0.5)
            if m is None:
                return None
            if m.error():
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                first["eof"] = m.offset()
            else:
                first["record"] = m.offset()
            return True

        wait_until(first_event, 20, interval=0, what="first event after reset")
        if reset == "earliest":
            assert first == {"record": 0}
        else:
            assert first == {"eof": 10}
            confluent_produce(broker.bootstrap, t, [dict(key=None, value=b"eleventh")])
            m = wait_until(lambda: (x := c.poll(0.5)) is not None and not x.error() and x, 20,
                           interval=0, what="new record")
            assert (m.offset(), m.value()) == (10, b"eleventh")
    finally:
        c.close()


def test_out_of_range_offset_reset_error(broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    confluent_produce(broker.bootstrap, t, make_records(3))
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "riacho-it-assign-only",
                  "enable.auto.commit": False, "auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(t, 0, 50)])
        m = wait_until(lambda: c.poll(0.5), 20, interval=0, what="consumer error")
        assert m.error() is not None
        assert m.error().code() == KafkaError._AUTO_OFFSET_RESET
    finally:
        c.close()
