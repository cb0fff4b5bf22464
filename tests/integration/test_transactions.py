"""Transactions (exactly once) with librdkafka's transactional producer
(confluent-kafka) against one broker.

Checks: a committed transaction over several partitions is seen whole by a
read_committed consumer; an aborted one is never seen by read_committed but is
by read_uncommitted, and control records never reach the application; a
read_committed consumer stops at the last stable offset while a transaction is
open and continues once it commits; consume-transform-produce with
send_offsets_to_transaction commits the group's offsets only with the
transaction; a second producer with the same transactional.id fences the first
and aborts what it left open; a transaction open past its timeout is aborted by
the broker and its producer fenced; a committed transaction survives kill -9;
kill -9 of the broker at random moments of a transaction loop (so also between
prepare and complete) leaves every transaction whole or absent and every
acknowledged one present; a producer process killed mid-transaction has its
transaction aborted at its timeout; a transactional copy pipeline (consume,
produce, send offsets, commit) killed and restarted repeatedly, and the broker
once, copies every input record exactly once; and the bad inputs (a transactional batch for a partition not in the
transaction, an unknown transactional id, a timeout above the broker's maximum)
get Kafka's error codes.
"""
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from clients import confluent_wait_topic
from conftest import Broker, wait_until

SETTINGS = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"}


@pytest.fixture(scope="module")
def txn_broker():
    b = Broker(SETTINGS, name="txn").start()
    yield b
    b.cleanup()


@pytest.fixture(scope="module")
def admin(txn_broker):
    return AdminClient({"bootstrap.servers": txn_broker.bootstrap})


def create(admin, name, partitions=1):
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                        operation_timeout=15)[name].result(timeout=30)
    confluent_wait_topic(admin, name, partitions)


def producer(broker, txn_id=None, **kw):
    conf = {"bootstrap.servers": broker.bootstrap,
            "transactional.id": txn_id or f"txn-{uuid.uuid4().hex[:8]}",
            "linger.ms": 5}
    conf.update(kw)
    p = Producer(conf)
    p.init_transactions(30)
    return p


def consume_all(broker, topic, partitions, isolation, expect=None, timeout=20.0,
                group=None, idle_s=1.5):
    """Values read from every partition of `topic` until `expect` values arrived (or, when
    expect is None, until nothing new came for idle_s)."""
    c = Consumer({"bootstrap.servers": broker.bootstrap,
                  "group.id": group or f"g-{uuid.uuid4().hex[:8]}",
                  "isolation.level": isolation,
                  "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values = []
    deadline = time.monotonic() + timeout
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                if expect is None and time.monotonic() - last_new > idle_s:
                    break
                if expect is not None and len(values) >= expect:
                    break
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(m.error())
            values.append(m.value().decode())
            last_new = time.monotonic()
    finally:
        c.close()
    return values


def test_commit_is_seen_whole_and_abort_never_by_read_committed(txn_broker, admin, topic_name):
    t = topic_name()
    create(admin, t, partitions=3)
    p = producer(txn_broker)
    p.begin_transaction()
    for i in range(30):
        p.produce(t, value=f"c{i}".encode(), key=str(i).encode(), partition=i % 3)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(30):
        p.produce(t, value=f"a{i}".encode(), partition=i % 3)
    p.flush(10)
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(9):
        p.produce(t, value=f"d{i}".encode(), partition=i % 3)
    p.commit_transaction(30)

    committed = consume_all(txn_broker, t, 3, "read_committed", expect=39)
    assert sorted(committed) == sorted([f"c{i}" for i in range(30)] + [f"d{i}" for i in range(9)])
    everything = consume_all(txn_broker, t, 3, "read_uncommitted", expect=69)
    # Control records (3 markers x 3 partitions) never reach the application.
    assert sorted(everything) == sorted([f"c{i}" for i in range(30)] + [f"a{i}" for i in range(30)]
                                        + [f"d{i}" for i in range(9)])
    # The log holds the markers: offsets past the records.
    lo, hi = Consumer({"bootstrap.servers": txn_broker.bootstrap, "group.id": "x"}) \
        .get_watermark_offsets(TopicPartition(t, 0), timeout=10)
    assert (lo, hi) == (0, 10 + 10 + 3 + 3)


def test_read_committed_stops_at_the_last_stable_offset(txn_broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    plain = Producer({"bootstrap.servers": txn_broker.bootstrap})
    plain.produce(t, value=b"before")
    plain.flush(10)
    p = producer(txn_broker)
    p.begin_transaction()
    p.produce(t, value=b"open")
    p.flush(10)
    plain.produce(t, value=b"after")  # past the open transaction's first offset
    plain.flush(10)
    assert consume_all(txn_broker, t, 1, "read_committed", idle_s=2) == ["before"]
    assert consume_all(txn_broker, t, 1, "read_uncommitted", expect=3) == \
        ["before", "open", "after"]
    # The end offset a read_committed consumer sees is the last stable offset.
    with kwire.Conn(txn_broker.bootstrap) as raw:
        lso = kwire.list_offset(raw, t, 0, -1, isolation_level=1)
        hw = kwire.list_offset(raw, t, 0, -1, isolation_level=0)
    assert (lso, hw) == (1, 3)
    p.commit_transaction(30)
    assert consume_all(txn_broker, t, 1, "read_committed", expect=3) == ["before", "open", "after"]


def test_consume_transform_produce_commits_offsets_with_the_transaction(txn_broker, admin,
                                                                          topic_name):
    src, dst = topic_name("src"), topic_name("dst")
    create(admin, src)
    create(admin, dst)
    plain = Producer({"bootstrap.servers": txn_broker.bootstrap})
    for i in range(20):
        plain.produce(src, value=f"v{i}".encode())
    plain.flush(10)
    group = f"ctp-{uuid.uuid4().hex[:8]}"
    c = Consumer({"bootstrap.servers": txn_broker.bootstrap, "group.id": group,
                  "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([src])
    p = producer(txn_broker)

    def copy_batch(n, commit):
        got = 0
        p.begin_transaction()
        deadline = time.monotonic() + 30
        while got < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            p.produce(dst, value=m.value().upper())
            got += 1
        assert got == n
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)

    copy_batch(10, commit=True)
    committed = c.committed([TopicPartition(src, 0)], timeout=10)
    assert committed[0].offset == 10
    copy_batch(10, commit=False)
    committed = c.committed([TopicPartition(src, 0)], timeout=10)
    assert committed[0].offset == 10, "aborted offsets must not be committed"
    c.close()
    out = consume_all(txn_broker, dst, 1, "read_committed", idle_s=2)
    assert out == [f"V{i}" for i in range(10)]


def test_a_new_producer_with_the_same_id_fences_the_old_and_aborts_its_transaction(
        txn_broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    txn_id = f"fence-{uuid.uuid4().hex[:8]}"
    old = producer(txn_broker, txn_id)
    old.begin_transaction()
    old.produce(t, value=b"zombie")
    old.flush(10)
    new = producer(txn_broker, txn_id)  # aborts the open transaction, bumps the epoch
    new.begin_transaction()
    new.produce(t, value=b"fresh")
    new.commit_transaction(30)
    with pytest.raises(KafkaException) as ei:
        old.produce(t, value=b"zombie2")
        old.commit_transaction(10)
    assert ei.value.args[0].code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                       KafkaError.INVALID_PRODUCER_EPOCH)
    assert consume_all(txn_broker, t, 1, "read_committed", idle_s=2) == ["fresh"]


def test_a_transaction_past_its_timeout_is_aborted_by_the_broker(txn_broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    p = producer(txn_broker, **{"transaction.timeout.ms": 2000})
    p.begin_transaction()
    p.produce(t, value=b"late")
    p.flush(10)
    # The broker aborts it (markers in the log) without the producer doing anything.
    with kwire.Conn(txn_broker.bootstrap) as raw:
        wait_until(lambda: kwire.list_offset(raw, t, 0, -1, isolation_level=1) == 2, 15,
                   what="the timed-out transaction aborted (LSO past its marker)")
    with pytest.raises(KafkaException):
        p.commit_transaction(10)
    assert consume_all(txn_broker, t, 1, "read_committed", idle_s=1) == []


def test_a_committed_transaction_survives_kill_9(broker_factory, topic_name):
    b = broker_factory(SETTINGS, name="txn-kill")
    adm = AdminClient({"bootstrap.servers": b.bootstrap})
    t = topic_name()
    create(adm, t, partitions=2)
    p = producer(b, "survivor")
    p.begin_transaction()
    for i in range(10):
        p.produce(t, value=f"k{i}".encode(), partition=i % 2)
    p.commit_transaction(30)
    p.begin_transaction()
    p.produce(t, value=b"open-at-crash", partition=0)
    p.flush(10)
    b.restart(kill=True)
    # The committed one is there; the open one stays invisible to read_committed and is
    # aborted once the restarted producer initialises (or its timeout passes).
    assert sorted(consume_all(b, t, 2, "read_committed", idle_s=2)) == \
        sorted(f"k{i}" for i in range(10))
    p2 = producer(b, "survivor")
    p2.begin_transaction()
    p2.produce(t, value=b"after", partition=0)
    p2.commit_transaction(30)
    assert sorted(consume_all(b, t, 2, "read_committed", expect=11)) == \
        sorted([f"k{i}" for i in range(10)] + ["after"])


def test_bad_transactional_input_gets_kafka_errors(txn_broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    with kwire.Conn(txn_broker.bootstrap) as raw:
        # A timeout above transaction.max.timeout.ms.
        err, _, _ = kwire.init_producer_id(raw, "bad-timeout", 10_000_000)
        assert err == 50  # INVALID_TRANSACTION_TIMEOUT
        # EndTxn for an id the coordinator never saw.
        assert kwire.end_txn(raw, "never-seen", 12345, 0, True) == 49  # INVALID_PRODUCER_ID_MAPPING
        # A transactional batch for a partition the transaction did not add.
        err, pid, epoch = kwire.init_producer_id(raw, "no-add", 60000)
        assert err == 0
        batch = kwire.record_batch([(None, b"x", [])], producer_id=pid, producer_epoch=epoch,
                                   base_sequence=0, attributes=0x10)  # transactional
        # Without the request's transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
        assert kwire.produce_error(raw, t, 0, batch) == 53
        assert kwire.produce_error(raw, t, 0, batch, transactional_id="no-add") == 48
        # EndTxn with no transaction open.
        assert kwire.end_txn(raw, "no-add", pid, epoch, True) == 48
        # An older epoch is fenced.
        err, pid2, epoch2 = kwire.init_producer_id(raw, "no-add", 60000)
        assert (err, pid2, epoch2) == (0, pid, epoch + 1)
        # PRODUCER_FENCED, which EndTxn v1 clients know as INVALID_PRODUCER_EPOCH.
        assert kwire.end_txn(raw, "no-add", pid, epoch, False) == 47


def test_kill_9_mid_transactions_keeps_each_transaction_atomic(broker_factory, topic_name):
    """A producer commits transactions of 3 x 5 records in a loop while the broker is killed
    (-9) at random moments (so also between a commit's prepare and complete). After each
    restart a new incarnation of the producer continues; in the end a read_committed consumer
    sees every transaction whose commit returned, and each transaction whole or not at all."""
    import random
    import threading
    b = broker_factory(SETTINGS, name="txn-crash")
    adm = AdminClient({"bootstrap.servers": b.bootstrap})
    t = topic_name()
    create(adm, t, partitions=3)
    acknowledged, attempted = set(), set()
    rng = random.Random(7)
    next_txn = 0
    for round_ in range(3):
        p = producer(b, "crash-loop", **{"transaction.timeout.ms": 10000,
                                         "message.timeout.ms": 10000})
        stop = threading.Event()

        def loop():
            nonlocal next_txn
            while not stop.is_set():
                i = next_txn
                next_txn += 1
                attempted.add(i)
                try:
                    p.begin_transaction()
                    for j in range(15):
                        p.produce(t, value=f"{i}-{j}".encode(), partition=j % 3)
                    p.commit_transaction(10)
                    acknowledged.add(i)
                except KafkaException:
                    return  # the broker went away mid-transaction

        th = threading.Thread(target=loop)
        th.start()
        time.sleep(0.5 + rng.random() * 1.5)
        b.restart(kill=True)
        stop.set()
        th.join(60)
        assert not th.is_alive()
    # A last incarnation aborts whatever the previous one left open.
    producer(b, "crash-loop")
    values = consume_all(b, t, 3, "read_committed", idle_s=3, timeout=60)
    by_txn = {}
    for v in values:
        i, j = map(int, v.split("-"))
        by_txn.setdefault(i, set()).add(j)
    assert acknowledged, "no transaction committed before the kills"
    assert acknowledged <= set(by_txn), f"acknowledged but missing: {acknowledged - set(by_txn)}"
    for i, js in by_txn.items():
        assert js == set(range(15)), f"transaction {i} is partial: {sorted(js)}"
    assert set(by_txn) <= attempted
    assert len(values) == 15 * len(by_txn), "a record was read twice"
    with kwire.Conn(b.bootstrap) as raw:
        for part in range(3):
            assert kwire.list_offset(raw, t, part, -1, isolation_level=1) == \
                kwire.list_offset(raw, t, part, -1, isolation_level=0), "a transaction is stuck"


def test_a_killed_producer_s_transaction_is_aborted_at_its_timeout(txn_broker, admin, topic_name,
                                                                    tmp_path):
    """A producer process killed (-9) mid-transaction: its records stay invisible to
    read_committed and the broker aborts the transaction when its timeout passes."""
    import subprocess
    import sys
    t = topic_name()
    create(admin, t)
    script = tmp_path / "producer.py"
    script.write_text(
        "import sys, time\n"
        "from confluent_kafka import Producer\n"
        "p = Producer({'bootstrap.servers': sys.argv[1], 'transactional.id': 'killed',\n"
        "              'transaction.timeout.ms': 3000})\n"
        "p.init_transactions(30)\n"
        "p.begin_transaction()\n"
        "for i in range(10):\n"
        "    p.produce(sys.argv[2], value=b'doomed')\n"
        "p.flush(10)\n"
        "print('produced', flush=True)\n"
        "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(script), txn_broker.bootstrap, t],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "produced"
    finally:
        proc.kill()
        proc.wait(10)
    with kwire.Conn(txn_broker.bootstrap) as raw:
        assert kwire.list_offset(raw, t, 0, -1, isolation_level=1) == 0
        wait_until(lambda: kwire.list_offset(raw, t, 0, -1, isolation_level=1) == 11, 20,
                   what="the killed producer's transaction aborted at its timeout")
    assert consume_all(txn_broker, t, 1, "read_committed", idle_s=1) == []
    assert len(consume_all(txn_broker, t, 1, "read_uncommitted", expect=10)) == 10


def test_kafka_transactions_tool_lists_describes_and_aborts(txn_broker, admin, topic_name):
    """Kafka's own kafka-transactions tool (org.apache.kafka.tools.TransactionsCommand from the
    oracle's jars): list, describe, describe-producers, and abort of a hanging transaction
    (which writes the ABORT marker straight to the partition with WriteTxnMarkers)."""
    import shutil
    import subprocess
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "scripts" / "apache-kafka.sh"
    cp = subprocess.run([str(script), "classpath"], capture_output=True, text=True)
    if cp.returncode != 0 or shutil.which("java") is None:
        pytest.skip("Apache Kafka jars or java missing (scripts/apache-kafka.sh fetch)")

    def tool(*args):
        res = subprocess.run(["java", "-cp", cp.stdout.strip(),
                              "org.apache.kafka.tools.TransactionsCommand",
                              "--bootstrap-server", txn_broker.bootstrap, *args],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, f"kafka-transactions {args} failed:\n{res.stderr[-2000:]}"
        return res.stdout

    t = topic_name()
    create(admin, t)
    txn_id = f"hang-{uuid.uuid4().hex[:6]}"
    p = producer(txn_broker, txn_id, **{"transaction.timeout.ms": 120000})
    p.begin_transaction()
    for _ in range(3):
        p.produce(t, value=b"hanging")
    p.flush(10)

    listed = tool("list")
    row = next(line.split() for line in listed.splitlines() if line.startswith(txn_id))
    assert row[-1] == "Ongoing", listed
    described = tool("describe", "--transactional-id", txn_id)
    assert "Ongoing" in described and f"{t}-0" in described, described
    producers = tool("describe-producers", "--topic", t, "--partition", "0")
    header, line = producers.strip().splitlines()[:2]
    fields = dict(zip(header.split(), line.split()))
    assert fields["CurrentTransactionStartOffset"] == "0", producers

    tool("abort", "--topic", t, "--partition", "0", "--start-offset", "0")
    with kwire.Conn(txn_broker.bootstrap) as raw:
        assert kwire.list_offset(raw, t, 0, -1, isolation_level=1) == 4  # past the marker
    assert consume_all(txn_broker, t, 1, "read_committed", idle_s=1) == []
    producers = tool("describe-producers", "--topic", t, "--partition", "0")
    fields = dict(zip(*[line.split() for line in producers.strip().splitlines()[:2]]))
    assert fields["CurrentTransactionStartOffset"] == "None", producers


PIPELINE = r'''
import sys
from confluent_kafka import Consumer, Producer, KafkaException, TopicPartition
bootstrap, src, dst, group = sys.argv[1:5]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
              "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
c.subscribe([src])
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "copy-" + group,
              "linger.ms": 5})
p.init_transactions(30)
print("ready", flush=True)
while True:
    msgs = [m for m in c.consume(50, 0.5) if not m.error()]
    if not msgs:
        continue
    p.begin_transaction()
    for m in msgs:
        p.produce(dst, key=m.key(), value=m.value(), partition=m.partition())
    p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
    p.commit_transaction(30)
'''


def test_a_transactional_copy_killed_and_restarted_copies_every_record_exactly_once(
        broker_factory, topic_name, tmp_path):
    """consume-transform-produce: a pipeline process copies a topic (read_committed consumer
    in a group, transactional producer, offsets sent with each transaction) while the input
    keeps growing; the pipeline is killed (-9) and restarted several times, and the broker
    once. The output must hold every input record exactly once."""
    import random
    import subprocess
    import sys
    b = broker_factory(SETTINGS, name="txn-copy")
    adm = AdminClient({"bootstrap.servers": b.bootstrap})
    src, dst = topic_name("src"), topic_name("dst")
    create(adm, src, partitions=3)
    create(adm, dst, partitions=3)
    script = tmp_path / "pipeline.py"
    script.write_text(PIPELINE)
    group = f"copy-{uuid.uuid4().hex[:6]}"
    feeder = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True,
                       "linger.ms": 2})
    rng = random.Random(11)
    sent = 0

    def feed(n):
        nonlocal sent
        for _ in range(n):
            feeder.produce(src, key=str(sent).encode(), value=f"r{sent}".encode(),
                           partition=sent % 3)
            sent += 1
        feeder.flush(30)

    def start_pipeline():
        proc = subprocess.Popen([sys.executable, str(script), b.bootstrap, src, dst, group],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout.readline().strip() == "ready"
        return proc

    proc = start_pipeline()
    try:
        for round_ in range(5):
            feed(400)
            time.sleep(0.3 + rng.random())
            proc.kill()
            proc.wait(10)
            if round_ == 2:
                feeder.flush(30)
                b.restart(kill=True)
            proc = start_pipeline()
        feed(200)
        values = wait_until(
            lambda: (v := consume_all(b, dst, 3, "read_committed", idle_s=2)) and
            len(set(v)) >= sent and v, 120, interval=1.0, what="every record copied")
    finally:
        proc.kill()
        proc.wait(10)
    assert sorted(values, key=lambda v: int(v[1:])) == [f"r{i}" for i in range(sent)], \
        "a record was lost or copied twice"


def java_string_hash(s: str) -> int:
    h = 0
    for unit in s.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def test_a_crash_between_prepare_commit_and_the_markers_is_completed_at_start(
        broker_factory, topic_name):
    """kill -9 between PrepareCommit and the markers, made deterministic: the broker is killed
    with a transaction open, then the PrepareCommit record the coordinator would have written
    next is appended to __transaction_state (Kafka's record format, a valid batch at the log
    end) before the restart. The restarted coordinator must finish the commit: the markers
    appear and read_committed consumers see the transaction's records."""
    import struct
    b = broker_factory(SETTINGS, name="txn-prepared")
    adm = AdminClient({"bootstrap.servers": b.bootstrap})
    t = topic_name()
    create(adm, t, partitions=2)
    txn_id = "prepared-" + uuid.uuid4().hex[:6]
    p = producer(b, txn_id, **{"transaction.timeout.ms": 600000})
    p.begin_transaction()
    for i in range(6):
        p.produce(t, value=f"p{i}".encode(), partition=i % 2)
    p.flush(10)
    assert consume_all(b, t, 2, "read_committed", idle_s=1) == []
    b.kill()

    # The Ongoing record the coordinator wrote last, in its partition of __transaction_state.
    h = java_string_hash(txn_id)
    state_dir = b.log_dir / f"__transaction_state-{(0 if h == -(1 << 31) else abs(h)) % 50}"
    segment = sorted(state_dir.glob("*.log"))[-1]
    batches = kwire.parse_batches(segment.read_bytes())
    key = kwire.i16(0) + kwire.string(txn_id)
    ongoing = [r["value"] for bt in batches for r in bt["records"] if r["key"] == key][-1]
    version, pid, epoch, timeout, status = struct.unpack(">hqhib", ongoing[:17])
    # v1 (flexible) as Kafka 4 writes it once transaction.version >= 1.
    assert (version, status) == (1, 1), f"not an Ongoing TransactionLogValue v1: {ongoing}"
    prepared = ongoing[:16] + kwire.i8(2) + ongoing[17:]  # status 2 = PrepareCommit
    last = batches[-1]
    batch = bytearray(kwire.record_batch([(key, prepared, [])], base_ts=int(time.time() * 1000)))
    batch[0:8] = kwire.i64(last["base_offset"] + last["last_offset_delta"] + 1)
    with open(segment, "ab") as f:
        f.write(bytes(batch))

    b.start()
    values = consume_all(b, t, 2, "read_committed", expect=6, timeout=30)
    assert sorted(values) == [f"p{i}" for i in range(6)]
    with kwire.Conn(b.bootstrap) as raw:
        for part in range(2):
            assert kwire.list_offset(raw, t, part, -1, isolation_level=1) == 4  # 3 + marker
