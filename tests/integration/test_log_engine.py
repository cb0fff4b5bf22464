"""Topic configs changed at runtime, DeleteRecords and retention, through confluent-kafka's
admin client (librdkafka), the way operators and kafka-configs / kafka-delete-records use them.

One broker checks retention every 300 ms. IncrementalAlterConfigs SET/DELETE/APPEND/SUBTRACT
and AlterConfigs (which replaces every override) are read back through DescribeConfigs with
their sources; bad values, unknown keys, APPEND to a non-list and unknown topics get errors and
change nothing; validate_only changes nothing. DeleteRecords moves the low watermark (kept
across a restart); reads below it reset to it; past the high watermark is
OFFSET_OUT_OF_RANGE; compacted topics refuse with POLICY_VIOLATION. retention.bytes and
retention.ms delete whole old segments and move the log start offset while the newest data
stays readable. A compacted topic ends up with the latest value of every key at its original
offset, and refuses records without a key (INVALID_RECORD). A topic's compression.type other
than `producer` stores batches recompressed with it; CreateTime timestamps beyond
message.timestamp.after.max.ms (default 1 hour) or before.max.ms get INVALID_TIMESTAMP.
Dynamic broker configs (cluster default and per broker) change the defaults of every topic
without its own override, show their source in DescribeConfigs, survive a restart, and
static settings refuse to change.
"""
import ctypes
import mmap
import os
import shutil
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource, NewTopic, OffsetSpec, ResourceType)

import kwire
from conftest import KAFKA_SCRIPT, Broker, is_kafka, wait_until

SEGMENT_BYTES = 1048576  # Kafka 4's minimum segment.bytes, so the oracle runs this too
RECORD = b"r" * 1000


@pytest.fixture(scope="module")
def engine():
    settings = {"log.retention.check.interval.ms": 300, "log.cleaner.backoff.ms": 300}
    if is_kafka():
        settings["log.initial.task.delay.ms"] = 0  # Kafka waits 30 s before its first check
    b = Broker(settings, name="engine").start()
    yield b
    b.cleanup()


_admins = {}


def admin(b):
    # Kept alive: a collected AdminClient fails the futures it handed out.
    if b.bootstrap not in _admins:
        _admins[b.bootstrap] = AdminClient({"bootstrap.servers": b.bootstrap})
    return _admins[b.bootstrap]


def create(b, name, partitions=1, **configs):
    configs = {k.replace("_", "."): str(v) for k, v in configs.items()}
    admin(b).create_topics([NewTopic(name, partitions, 1, config=configs)],
                           operation_timeout=15)[name].result(timeout=30)
    wait_until(lambda: name in admin(b).list_topics(timeout=10).topics, 15, what="topic")


def describe(b, topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    return admin(b).describe_configs([res])[res].result(timeout=30)


def incremental(b, topic, *ops, validate_only=False):
    entries = [ConfigEntry(name, value, incremental_operation=op) for name, value, op in ops]
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    return admin(b).incremental_alter_configs([res], validate_only=validate_only)[res].result(
        timeout=30)


def error_of(fn):
    with pytest.raises(KafkaException) as e:
        fn()
    return e.value.args[0]


def produce(b, topic, count, timestamp_ms=None, partition=0):
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
    for i in range(count):
        kw = {"timestamp": timestamp_ms} if timestamp_ms is not None else {}
        p.produce(topic, RECORD, key=str(i).encode(), partition=partition, **kw)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0


def offsets(b, topic, spec):
    tp = TopicPartition(topic, 0)
    return admin(b).list_offsets({tp: spec})[tp].result(timeout=30).offset


def first_offset_read(b, topic, start):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "unused",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, start)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                return m.offset()
        raise AssertionError(f"nothing read from {topic} starting at {start}")
    finally:
        c.close()


def test_incremental_alter_configs_read_back_with_sources(engine, topic_name):
    t = topic_name()
    create(engine, t, retention_ms=123456)
    incremental(engine, t, ("segment.ms", "60000", AlterConfigOpType.SET),
                ("retention.ms", None, AlterConfigOpType.DELETE))
    got = describe(engine, t)
    assert got["segment.ms"].value == "60000"
    assert got["segment.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert got["retention.ms"].value == "604800000"
    assert got["retention.ms"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    # (Kafka applies a change asynchronously, so a describe right after may not show it yet.)
    incremental(engine, t, ("cleanup.policy", "compact", AlterConfigOpType.APPEND))
    wait_until(lambda: describe(engine, t)["cleanup.policy"].value == "delete,compact", 15,
               what="APPEND to show")
    incremental(engine, t, ("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT))
    wait_until(lambda: describe(engine, t)["cleanup.policy"].value == "compact", 15,
               what="SUBTRACT to show")

    incremental(engine, t, ("max.message.bytes", "5000", AlterConfigOpType.SET),
                validate_only=True)
    assert describe(engine, t)["max.message.bytes"].source != \
        ConfigSource.DYNAMIC_TOPIC_CONFIG.value


def test_alter_configs_refuses_bad_input_and_changes_nothing(engine, topic_name):
    t = topic_name()
    create(engine, t, segment_ms=60000)
    bad = [("retention.ms", "soon"), ("no.such.config", "1"), ("cleanup.policy", "sometimes"),
           ("segment.bytes", "12")]
    for name, value in bad:
        err = error_of(lambda: incremental(engine, t, (name, value, AlterConfigOpType.SET)))
        assert err.code() == 40, (name, err)  # INVALID_CONFIG
    err = error_of(lambda: incremental(engine, t, ("segment.ms", "9", AlterConfigOpType.APPEND)))
    assert err.code() == 40  # APPEND on a non-list config
    err = error_of(lambda: incremental(engine, topic_name("-missing"),
                                       ("segment.ms", "1", AlterConfigOpType.SET)))
    assert err.code() == 3  # UNKNOWN_TOPIC_OR_PARTITION
    got = describe(engine, t)
    assert got["segment.ms"].value == "60000" and got["retention.ms"].value == "604800000"


def test_legacy_alter_configs_replaces_every_override(engine, topic_name):
    t = topic_name()
    create(engine, t, segment_ms=60000)
    res = ConfigResource(ResourceType.TOPIC, t, set_config={"max.message.bytes": "5000"})
    admin(engine).alter_configs([res])[res].result(timeout=30)
    got = describe(engine, t)
    assert got["max.message.bytes"].value == "5000"
    assert got["max.message.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert got["segment.ms"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value


def test_delete_records_moves_the_low_watermark(engine, topic_name):
    t = topic_name()
    create(engine, t)
    produce(engine, t, 100)
    a = admin(engine)
    tp = TopicPartition(t, 0, 40)
    assert a.delete_records([tp])[tp].result(timeout=30).low_watermark == 40
    assert offsets(engine, t, OffsetSpec.earliest()) == 40
    # Below the new start: OFFSET_OUT_OF_RANGE, which the consumer resets to the start.
    assert first_offset_read(engine, t, 10) == 40
    # Moving it back changes nothing; past the high watermark is refused.
    tp = TopicPartition(t, 0, 20)
    assert a.delete_records([tp])[tp].result(timeout=30).low_watermark == 40
    tp = TopicPartition(t, 0, 101)
    err = error_of(lambda: a.delete_records([tp])[tp].result(timeout=30))
    assert err.code() == 1  # OFFSET_OUT_OF_RANGE
    assert offsets(engine, t, OffsetSpec.earliest()) == 40

    engine.restart()
    _admins.pop(engine.bootstrap, None)  # a fresh client: leader epochs may have moved
    assert wait_until(lambda: offsets(engine, t, OffsetSpec.earliest()), 30,
                      what="offsets after the restart") == 40
    tp = TopicPartition(t, 0, -1)  # everything up to the high watermark
    assert admin(engine).delete_records([tp])[tp].result(timeout=30).low_watermark == 100
    produce(engine, t, 1)
    assert first_offset_read(engine, t, 0) == 100


def test_delete_records_refused_on_compacted_topic(engine, topic_name):
    t = topic_name()
    create(engine, t, cleanup_policy="compact")
    produce(engine, t, 5)
    tp = TopicPartition(t, 0, 2)
    err = error_of(lambda: admin(engine).delete_records([tp])[tp].result(timeout=30))
    assert err.code() == 44  # POLICY_VIOLATION
    assert offsets(engine, t, OffsetSpec.earliest()) == 0


def test_retention_bytes_deletes_the_oldest_segments(engine, topic_name):
    t = topic_name()
    create(engine, t, segment_bytes=SEGMENT_BYTES)
    produce(engine, t, 5000)  # about 5 segments
    end = offsets(engine, t, OffsetSpec.latest())
    assert end == 5000 and offsets(engine, t, OffsetSpec.earliest()) == 0
    incremental(engine, t, ("retention.bytes", str(2 * SEGMENT_BYTES), AlterConfigOpType.SET))
    start = wait_until(lambda: offsets(engine, t, OffsetSpec.earliest()), 30,
                       what="retention to move the log start")
    # Whole segments only, at least the limit kept, the newest records still readable.
    assert 1000 < start < end - 1500
    assert first_offset_read(engine, t, 0) == start
    assert first_offset_read(engine, t, end - 1) == end - 1


def test_retention_ms_deletes_segments_whose_records_expired(engine, topic_name):
    t = topic_name()
    create(engine, t, segment_bytes=SEGMENT_BYTES)
    hour_ago_ms = int(time.time() * 1000) - 3600 * 1000
    produce(engine, t, 3000, timestamp_ms=hour_ago_ms)
    produce(engine, t, 10)  # now: the newest segment stays
    incremental(engine, t, ("retention.ms", str(600000), AlterConfigOpType.SET))
    start = wait_until(lambda: offsets(engine, t, OffsetSpec.earliest()), 30,
                       what="retention to move the log start")
    assert 0 < start <= 3000
    assert first_offset_read(engine, t, 0) == start
    assert first_offset_read(engine, t, 3009) == 3009


def read_all(b, topic, end):
    """Every record from the log start to `end`: (offset, key, value)."""
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "unused",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    out = []
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out or out[-1][0] < end - 1):
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append((m.offset(), m.key(), m.value()))
    finally:
        c.close()
    return out


def test_compaction_keeps_the_latest_value_of_every_key(engine, topic_name):
    t = topic_name()
    create(engine, t, cleanup_policy="compact", segment_bytes=SEGMENT_BYTES,
           min_cleanable_dirty_ratio="0.01")
    p = Producer({"bootstrap.servers": engine.bootstrap, "linger.ms": 5})
    versions, keys = 20, 150  # ~3 MiB: a few segments below the active one
    for v in range(versions):
        for k in range(keys):
            p.produce(t, f"{k}:{v}".encode() + RECORD, key=f"key-{k}".encode(), partition=0)
        p.poll(0)
    assert p.flush(60) == 0
    end = versions * keys

    def compacted():
        records = read_all(engine, t, end)
        return records if len(records) < end // 2 else None

    records = wait_until(compacted, 60, interval=1, what="the cleaner to compact the topic")
    offsets = [o for o, _, _ in records]
    assert offsets == sorted(offsets) and offsets[-1] == end - 1  # offsets kept, with gaps
    latest = {}
    for o, k, v in records:
        latest[k] = v
    assert len(latest) == keys
    for k in range(keys):  # every key's last value is its newest version
        assert latest[f"key-{k}".encode()].startswith(f"{k}:{versions - 1}".encode())


def test_compacted_topic_refuses_records_without_a_key(engine, topic_name):
    t = topic_name()
    create(engine, t, cleanup_policy="compact")
    errors = []
    p = Producer({"bootstrap.servers": engine.bootstrap, "retries": 0})
    p.produce(t, b"no key", partition=0, on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(30) == 0
    p.produce(t, b"keyed", key=b"k", partition=0)  # its own batch: the one above is refused whole
    assert p.flush(30) == 0
    assert errors and errors[0] is not None and errors[0].code() == KafkaError.INVALID_RECORD
    assert offsets(engine, t, OffsetSpec.latest()) == 1


def test_topic_compression_type_recompresses_what_producers_send(engine, topic_name):
    t = topic_name()
    create(engine, t, compression_type="zstd")
    p = Producer({"bootstrap.servers": engine.bootstrap, "compression.type": "gzip"})
    for i in range(20):
        p.produce(t, b"value-%d" % i + RECORD, key=b"k%d" % i, partition=0)
    assert p.flush(30) == 0
    batches = kwire.fetch_batches(engine.bootstrap, t)
    assert batches and all(b["compression"] == 4 and b["crc_ok"] for b in batches)  # zstd
    assert sum(b["count"] for b in batches) == 20
    c = Consumer({"bootstrap.servers": engine.bootstrap, "group.id": "unused",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(t, 0, 0)])
    values = []
    deadline = time.monotonic() + 30
    while len(values) < 20 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            values.append(m.value())
    c.close()
    assert values == [b"value-%d" % i + RECORD for i in range(20)]


def test_timestamps_too_far_from_now_are_refused(engine, topic_name):
    t = topic_name()
    create(engine, t)
    now_ms = int(time.time() * 1000)
    errors = []
    p = Producer({"bootstrap.servers": engine.bootstrap, "retries": 0})
    p.produce(t, b"future", partition=0, timestamp=now_ms + 2 * 3600 * 1000,
              on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(30) == 0
    assert errors[0] is not None and errors[0].code() == KafkaError.INVALID_TIMESTAMP
    p.produce(t, b"old", partition=0, timestamp=now_ms - 3600 * 1000)
    assert p.flush(30) == 0
    assert offsets(engine, t, OffsetSpec.latest()) == 1  # the past is fine by default

    incremental(engine, t, ("message.timestamp.before.max.ms", "60000", AlterConfigOpType.SET))
    def refused():
        errors.clear()
        p.produce(t, b"old", partition=0, timestamp=int(time.time() * 1000) - 3600 * 1000,
                  on_delivery=lambda err, msg: errors.append(err))
        p.flush(30)
        return errors[0] is not None and errors[0].code() == KafkaError.INVALID_TIMESTAMP
    wait_until(refused, 15, interval=0.5, what="before.max.ms to refuse an hour-old record")


def broker_describe(b, name):
    res = ConfigResource(ResourceType.BROKER, name)
    return admin(b).describe_configs([res])[res].result(timeout=30)


def broker_incremental(b, name, *ops):
    entries = [ConfigEntry(k, v, incremental_operation=op) for k, v, op in ops]
    res = ConfigResource(ResourceType.BROKER, name, incremental_configs=entries)
    return admin(b).incremental_alter_configs([res])[res].result(timeout=30)


def test_dynamic_broker_configs_change_topic_defaults(engine, topic_name):
    node = str(next(iter(admin(engine).list_topics(timeout=10).brokers)))
    got = broker_describe(engine, node)
    assert got["log.retention.ms"].is_read_only is False
    assert got["node.id"].is_read_only is True
    for key, value in (("node.id", "7"), ("log.retention.ms", "soon")):
        err = error_of(lambda: broker_incremental(engine, node, (key, value,
                                                                 AlterConfigOpType.SET)))
        assert err.code() == 42, (key, err)  # INVALID_REQUEST, as Kafka answers

    t = topic_name()
    create(engine, t, segment_bytes=SEGMENT_BYTES)
    produce(engine, t, 4000)
    try:
        broker_incremental(engine, node, ("log.retention.bytes", str(2 * SEGMENT_BYTES),
                                          AlterConfigOpType.SET))
        wait_until(lambda: describe(engine, t)["retention.bytes"].value == str(2 * SEGMENT_BYTES),
                   15, what="the topic to see the broker's value")
        assert describe(engine, t)["retention.bytes"].source == \
            ConfigSource.DYNAMIC_BROKER_CONFIG.value
        assert broker_describe(engine, node)["log.retention.bytes"].source == \
            ConfigSource.DYNAMIC_BROKER_CONFIG.value
        start = wait_until(lambda: offsets(engine, t, OffsetSpec.earliest()), 30,
                           what="retention from the dynamic broker config")
        assert 0 < start < 4000 - 1500
        if not is_kafka():
            engine.restart()
            _admins.pop(engine.bootstrap, None)
            assert wait_until(lambda: describe(engine, t)["retention.bytes"].value, 30,
                              what="describe after the restart") == str(2 * SEGMENT_BYTES)
    finally:
        broker_incremental(engine, node, ("log.retention.bytes", None, AlterConfigOpType.DELETE))
    wait_until(lambda: describe(engine, t)["retention.bytes"].value == "-1", 15,
               what="the default back")


def kafka_configs(b, *args):
    """Kafka's own kafka-configs tool (kafka.admin.ConfigCommand from the oracle's jars)."""
    cp = subprocess.run([str(KAFKA_SCRIPT), "classpath"], capture_output=True, text=True)
    if cp.returncode != 0 or not cp.stdout.strip():
        pytest.skip("Apache Kafka jars missing (scripts/apache-kafka.sh fetch)")
    res = subprocess.run(["java", "-cp", cp.stdout.strip(), "kafka.admin.ConfigCommand",
                          "--bootstrap-server", b.bootstrap, *args],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"kafka-configs {args} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def test_kafka_configs_tool_reads_and_changes_topic_and_broker_configs(engine, topic_name):
    if shutil.which("java") is None:
        pytest.skip("java missing")
    t = topic_name()
    create(engine, t)
    kafka_configs(engine, "--entity-type", "topics", "--entity-name", t, "--alter",
                  "--add-config", "retention.ms=123456,cleanup.policy=[delete,compact]")
    out = kafka_configs(engine, "--entity-type", "topics", "--entity-name", t, "--describe")
    assert "retention.ms=123456" in out and "cleanup.policy=delete,compact" in out
    kafka_configs(engine, "--entity-type", "topics", "--entity-name", t, "--alter",
                  "--delete-config", "retention.ms")
    assert "retention.ms=" not in kafka_configs(engine, "--entity-type", "topics",
                                                "--entity-name", t, "--describe")
    # The cluster-wide default of every broker, then back.
    try:
        kafka_configs(engine, "--entity-type", "brokers", "--entity-default", "--alter",
                      "--add-config", "log.retention.ms=7200000")
        wait_until(lambda: describe(engine, t)["retention.ms"].value == "7200000", 15,
                   what="the cluster default to reach the topic")
        assert describe(engine, t)["retention.ms"].source == \
            ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
        out = kafka_configs(engine, "--entity-type", "brokers", "--entity-default", "--describe")
        assert "log.retention.ms=7200000" in out
    finally:
        kafka_configs(engine, "--entity-type", "brokers", "--entity-default", "--alter",
                      "--delete-config", "log.retention.ms")
    wait_until(lambda: describe(engine, t)["retention.ms"].value == "604800000", 15,
               what="the default back")


def test_disk_blocks_reserved_ahead_of_produces_are_given_back_at_shutdown():
    """The active segment reserves disk blocks past its end while producers write (invisible in
    the file's size) and a clean shutdown gives them back; the records are all there after."""
    if is_kafka():
        pytest.skip("Riacho's segment preallocation")
    topic = "reserved"
    b = Broker(name="prealloc").start()
    try:
        create(b, topic)
        produce(b, topic, 200)
        log = b.log_dir / f"{topic}-0" / "00000000000000000000.log"
        size = log.stat().st_size
        assert size > 200 * len(RECORD)
        if log.stat().st_blocks * 512 <= size:
            pytest.skip("this filesystem does not preallocate (fallocate unsupported)")
        b.stop()
        assert log.stat().st_size == size
        assert log.stat().st_blocks * 512 <= (size + 4095) // 4096 * 4096 + 2 * 4096
        _admins.pop(b.bootstrap, None)  # the client of the stopped process
        b.start()
        assert first_offset_read(b, topic, 0) == 0  # waits until the log serves again
        assert offsets(b, topic, OffsetSpec.latest()) == 200
    finally:
        b.cleanup()


def resident_pages(path, length):
    """Pages of the first `length` bytes of `path` in the page cache (mincore(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    page = os.sysconf("SC_PAGE_SIZE")
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
    finally:
        os.close(fd)
    in_core = ctypes.create_string_buffer((length + page - 1) // page)
    try:
        assert libc.mincore(addr, length, in_core) == 0, os.strerror(ctypes.get_errno())
    finally:
        libc.munmap(addr, length)
    return sum(c & 1 for c in in_core.raw)


def test_records_whose_pages_left_the_cache_are_served_from_disk(broker_factory, topic_name):
    """With a small riacho.log.written.cache.max.bytes the broker drops the pages of what it
    wrote once more than that was written after them; consumers still read every record (from
    disk), in order."""
    if is_kafka():
        pytest.skip("a Riacho setting")
    b = broker_factory({"riacho.log.written.cache.max.bytes": str(16 << 20)})
    t = topic_name()
    create(b, t)
    count = 40_000  # about 40 MB: writeback ranges of 8 MiB, most of them dropped
    produce(b, t, count)
    segment = b.log_dir / f"{t}-0" / "00000000000000000000.log"
    # Nothing has read the log: the first 8 MiB are out of the page cache once dropped.
    wait_until(lambda: resident_pages(segment, 8 << 20) == 0, 20, interval=0.2,
               what="the oldest written pages dropped")
    got = read_all(b, t, count)
    assert [o for o, _, _ in got] == list(range(count))
    assert all(k == str(o).encode() and v == RECORD for o, k, v in got)
