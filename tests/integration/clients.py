"""Small helpers shared by the Python-client tests (confluent-kafka and kafka-python)."""
from __future__ import annotations

import time

BASE_TS = 1_700_000_000_000  # explicit record timestamps: BASE_TS + i * 1000

# librdkafka/kafka-python codec names -> RecordBatch attribute compression id
CODEC_ID = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def make_records(n, tag="r"):
    """n keyed records with headers (including an empty and a null value) and
    explicit timestamps; values are compressible so every codec really compresses."""
    out = []
    for i in range(n):
        out.append(dict(
            key=f"key-{i:04d}".encode(),
            value=(f"{tag}-value-{i:04d}-" * 8).encode(),
            headers=[("h1", f"x{i}".encode()), ("seq", str(i).encode()), ("empty", b""),
                     ("nil", None)],
            timestamp=BASE_TS + i * 1000,
        ))
    return out


def confluent_consume(bootstrap, topic, partition, offset, expect, timeout=30.0, extra=None):
    """Reads from (topic, partition) starting at `offset` (an int or a
    confluent_kafka OFFSET_* constant) until `expect` records arrived or the
    partition end was reached after at least one EOF. Returns the messages."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    conf = {"bootstrap.servers": bootstrap, "group.id": "riacho-it-assign-only",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "enable.partition.eof": True, "auto.offset.reset": "earliest"}
    conf.update(extra or {})
    c = Consumer(conf)
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        msgs = []
        deadline = time.monotonic() + timeout
        while len(msgs) < expect and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if len(msgs) >= expect:
                        break
                    continue
                raise AssertionError(f"consumer error: {m.error()}")
            msgs.append(m)
        return msgs
    finally:
        c.close()


def confluent_produce(bootstrap, topic, records, partition=0, conf=None, timeout=30.0):
    """Produces records and returns the delivery reports [(err, offset, key)] in
    callback order; fails if any report is missing after flush."""
    from confluent_kafka import Producer

    reports = []

    def on_delivery(err, msg):
        reports.append((err, msg.offset(), msg.key()))

    conf = dict(conf or {})
    if not conf.get("enable.idempotence"):
        # one request in flight keeps order across retries (as Kafka needs it to)
        conf.setdefault("max.in.flight.requests.per.connection", 1)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    for r in records:
        p.produce(topic, value=r["value"], key=r["key"], headers=r.get("headers"),
                  timestamp=r.get("timestamp", 0), partition=partition, on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(timeout)
    assert left == 0, f"{left} records not delivered within {timeout}s"
    assert len(reports) == len(records)
    return reports


def normalize_headers(h):
    """Header list as [(str, bytes|None)] regardless of client representation."""
    return [(k, None if v is None else bytes(v)) for k, v in (h or [])]


def confluent_wait_topic(admin, topic, partitions, timeout=30.0):
    """Waits until metadata lists every partition of a just-created topic with a
    leader (a KRaft broker may briefly not know a topic it has just created)."""
    from conftest import wait_until

    def ready():
        tm = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
        return (tm is not None and tm.error is None and len(tm.partitions) == partitions
                and all(p.leader >= 0 for p in tm.partitions.values()))

    wait_until(ready, timeout, interval=0.05, what=f"topic {topic} ready")
