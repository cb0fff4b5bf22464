"""The Java client (kafka-clients 3.9.x and 4.x, default configuration).

java/ holds ClientCheck, built by scripts/install-test-deps.sh into one jar per
client version under .deps/java/<version>/. Each version runs once per module
(one JVM start) against the shared broker and prints JSON; the tests assert on
it: admin create/list/describe (leader, replicas, ISR, topic id,
DescribeCluster)/delete and the TopicExists/InvalidTopic/InvalidPartitions
errors; the default producer (idempotent, acks=all) gets offsets 0..19 and
really wrote idempotent batches (producer id, sequences, seen by raw Fetch);
assign + seekToBeginning reads back exact keys, values, headers, CreateTime
timestamps; offsetsForTimes; and each codec round-trips and is stored
compressed. `ClientCheck ... transactions` (a run of its own) checks
exactly-once: consume-transform-produce with sendOffsetsToTransaction,
read_committed vs read_uncommitted, fencing, and the transaction Admin APIs.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import kwire
from clients import BASE_TS, CODEC_ID
from conftest import Broker

HERE = Path(__file__).resolve().parent
VERSIONS = os.environ.get("RIACHO_JAVA_CLIENT_VERSIONS", "3.9.1 4.1.1").split()
N = 20


def jar(version):
    return HERE / ".deps" / "java" / version / "clientcheck-all.jar"


@pytest.fixture(scope="module")
def java_runs(broker):
    if shutil.which("java") is None:
        pytest.skip("java not installed")
    runs = {}
    for v in VERSIONS:
        if not jar(v).is_file():
            pytest.fail(f"{jar(v)} missing: run scripts/install-test-deps.sh")
        prefix = "java" + v.replace(".", "")
        res = subprocess.run(["java", "-jar", str(jar(v)), broker.bootstrap, prefix],
                             capture_output=True, text=True, timeout=110)
        assert res.returncode == 0, f"ClientCheck {v} failed:\n{res.stderr[-3000:]}"
        out = json.loads(res.stdout.strip().splitlines()[-1])
        out["prefix"] = prefix
        out["stderr"] = res.stderr
        runs[v] = out
    return runs


def scenario(run, name):
    s = run[name]
    assert not (isinstance(s, dict) and "error" in s), f"{name}: {s.get('error')}\n{run['stderr'][-2000:]}"
    return s


@pytest.mark.parametrize("version", VERSIONS)
def test_admin(java_runs, broker, version):
    run = java_runs[version]
    assert run["version"] == version
    a = scenario(run, "admin")
    assert a["listed"] is True
    assert [p["partition"] for p in a["partitions"]] == [0, 1, 2]
    leader = a["partitions"][0]["leader"]
    assert leader >= 0
    assert all(p["leader"] == leader and p["replicas"] == [leader] and p["isr"] == [leader]
               for p in a["partitions"])
    assert a["topic_id"] not in (None, "AAAAAAAAAAAAAAAAAAAAAA")
    assert a["cluster_nodes"] == [broker.port]
    assert a["duplicate_error"] == "TopicExistsException"
    assert a["invalid_name_error"] == "InvalidTopicException"
    assert a["zero_partitions_error"] == "InvalidPartitionsException"
    assert a["deleted"] is True


@pytest.mark.parametrize("version", VERSIONS)
def test_default_producer_is_idempotent(java_runs, broker, version):
    run = java_runs[version]
    assert scenario(run, "produce")["offsets"] == list(range(N))
    batches = kwire.fetch_batches(broker.bootstrap, run["prefix"] + "-data")
    assert sum(b["count"] for b in batches) == N
    assert all(b["producer_id"] >= 0 and b["producer_epoch"] >= 0 for b in batches)
    assert batches[0]["base_sequence"] == 0
    for a, b in zip(batches, batches[1:]):
        assert b["base_sequence"] == a["base_sequence"] + a["count"]


@pytest.mark.parametrize("version", VERSIONS)
def test_assign_seek_to_beginning_consume(java_runs, version):
    c = scenario(java_runs[version], "consume")
    assert (c["beginning_offset"], c["end_offset"]) == (0, N)
    assert c["records"] == [dict(offset=i, key=f"key-{i}",
                                 value=f"java-none-value-{i}-" + "abc" * 10,
                                 headers=[["h1", f"x{i}"], ["seq", str(i)]],
                                 timestamp=BASE_TS + i * 1000, timestamp_type="CreateTime")
                            for i in range(N)]


@pytest.mark.parametrize("version", VERSIONS)
def test_offsets_for_times(java_runs, version):
    o = scenario(java_runs[version], "offsets_for_times")
    assert o == {"ts+0": [0, BASE_TS], "ts+5000": [5, BASE_TS + 5000],
                 "ts+5500": [6, BASE_TS + 6000], "ts+1000000000": None}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression(java_runs, broker, version, codec):
    run = java_runs[version]
    r = scenario(run, "compression")[codec]
    assert "error" not in r, r
    assert r["produce"]["offsets"] == list(range(10))
    assert [x["value"] for x in r["consume"]["records"]] == \
        [f"java-{codec}-value-{i}-" + "abc" * 10 for i in range(10)]
    batches = kwire.fetch_batches(broker.bootstrap, f"{run['prefix']}-{codec}")
    assert {b["compression"] for b in batches} == {CODEC_ID[codec]}


@pytest.mark.parametrize("version", [v for v in VERSIONS if v.startswith("4.")])
def test_consumer_protocol_group(java_runs, version):
    """kafka-clients 4.x with group.protocol=consumer (KIP-848): two members split three
    partitions, read 30 records exactly once, commit, and describeConsumerGroups sees a
    CONSUMER group with both members."""
    c = scenario(java_runs[version], "consumer_protocol")
    assert sorted(c["assignment_a"] + c["assignment_b"]) == [0, 1, 2]
    assert c["assignment_a"] and c["assignment_b"]
    assert c["records"] == c["distinct_records"] == 30
    assert c["group_type"] == "Consumer" and c["members"] == 2
    assert c["committed_total"] == 30


# ---------------------------------------------------------------- transactions
# `ClientCheck <bootstrap> <prefix> transactions` runs only the exactly-once scenario (one JVM
# per client version, against the module's broker): consume-transform-produce with a real
# consumer group, fencing, and the transaction Admin APIs. kafka-clients 4.x uses transactions
# V2 (KIP-890) against a broker that finalizes the transaction.version feature at 2 and V1
# otherwise; 3.9.x always V1. The assertions hold for both.


@pytest.fixture(scope="module")
def txn_broker():
    """A broker of its own that looks for timed-out transactions every 500 ms."""
    b = Broker({"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"},
               name="java-txn").start()
    yield b
    b.cleanup()


@pytest.fixture(scope="module")
def java_txn_runs(txn_broker):
    broker = txn_broker
    if shutil.which("java") is None:
        pytest.skip("java not installed")
    runs = {}
    for v in VERSIONS:
        if not jar(v).is_file():
            pytest.fail(f"{jar(v)} missing: run scripts/install-test-deps.sh")
        prefix = "jtxn" + v.replace(".", "")
        res = subprocess.run(["java", "-jar", str(jar(v)), broker.bootstrap, prefix,
                              "transactions"], capture_output=True, text=True, timeout=110)
        assert res.returncode == 0, f"ClientCheck {v} transactions failed:\n{res.stderr[-3000:]}"
        out = json.loads(res.stdout.strip().splitlines()[-1])
        assert out["version"] == v
        t = out["transactions"]
        assert "error" not in t, f"{t['error']}\n{res.stderr[-3000:]}"
        t["prefix"] = prefix
        runs[v] = t
    return runs


def by_partition(records):
    """[[partition, offset, value], ...] -> {partition: [(offset, value), ...] in offset order}"""
    out = {}
    for p, o, v in records:
        out.setdefault(p, []).append((o, v))
    for p, rs in out.items():
        assert [o for o, _ in rs] == sorted(o for o, _ in rs), f"partition {p} out of order"
    return {p: sorted(rs) for p, rs in out.items()}


def expected_ctp_layout(with_aborted):
    """Per output partition, the offsets each transaction's records take and their values.

    Input k<i> goes to output partition i % 3. Transactions: c1 (inputs 0..9, committed), ab
    (inputs 10..14, aborted), c2 (the same inputs again, committed); each transaction ends
    with one control record (its marker) in every partition it wrote, so the three groups
    are separated by one offset."""
    layout = {}
    for p in range(3):
        offset, rows = 0, []
        for tag, inputs in (("c1", range(10)), ("ab", range(10, 15)), ("c2", range(10, 15))):
            vals = sorted(f"{tag}:v{i}" for i in inputs if i % 3 == p)
            if tag != "ab" or with_aborted:
                rows.append((set(range(offset, offset + len(vals))), vals))
            offset += len(vals) + 1  # + marker
        layout[p] = rows
    return layout


def check_layout(records, with_aborted):
    got = by_partition(records)
    for p, rows in expected_ctp_layout(with_aborted).items():
        recs = got.get(p, [])
        assert {o for o, _ in recs} == set().union(*(offs for offs, _ in rows)), f"partition {p}"
        for offs, vals in rows:
            assert sorted(v for o, v in recs if o in offs) == vals, f"partition {p}"


@pytest.mark.parametrize("version", VERSIONS)
def test_transactions_consume_transform_produce(java_txn_runs, version):
    """A consumer group reads 10 inputs; the transactional producer writes them to 3
    partitions with sendOffsetsToTransaction and commits (c1); 5 more inputs are written and
    aborted together with their offsets (ab); the consumer seeks back to the committed offsets
    and the 5 go out again, committed (c2). The group's offsets move only with the commits;
    read_committed sees exactly c1 + c2 (15 records, no aborted one, no control record);
    read_uncommitted sees all 20; both end at offsets that count one marker per partition
    per transaction."""
    c = java_txn_runs[version]["ctp"]
    tin = java_txn_runs[version]["prefix"] + "-txn-in"
    tout = java_txn_runs[version]["prefix"] + "-txn-out"
    assert (c["c1_input"], c["ab_input"], c["c2_input"]) == (10, 5, 5)
    assert c["committed_after_c1"] == {f"{tin}-0": 5, f"{tin}-1": 5}
    assert c["committed_after_abort"] == {f"{tin}-0": 5, f"{tin}-1": 5}
    assert c["committed_after_c2"] == {f"{tin}-0": 8, f"{tin}-1": 7}
    committed = sorted(v for _, _, v in c["read_committed"])
    assert committed == sorted([f"c1:v{i}" for i in range(10)] + [f"c2:v{i}" for i in range(10, 15)])
    assert sorted(v for _, _, v in c["read_uncommitted"]) == sorted(
        committed + [f"ab:v{i}" for i in range(10, 15)])
    check_layout(c["read_committed"], with_aborted=False)
    check_layout(c["read_uncommitted"], with_aborted=True)
    ends = {f"{tout}-0": 9, f"{tout}-1": 10, f"{tout}-2": 10}
    assert c["end_offsets_committed"] == ends  # the LSO: no transaction left open
    assert c["end_offsets_uncommitted"] == ends


@pytest.mark.parametrize("version", VERSIONS)
def test_transactions_second_producer_fences_the_first(java_txn_runs, version):
    """Producer a begins a transaction and writes a1; producer b with the same
    transactional.id initializes (aborting a's transaction), writes b1 and commits; a's next
    send + commitTransaction fails fenced. read_committed sees only b1; read_uncommitted sees
    a1 and b1 with the abort marker between them; a2 was never written."""
    f = java_txn_runs[version]["fence"]
    assert f["old_producer_error"] in ("ProducerFencedException", "InvalidProducerEpochException")
    assert f["read_committed"] == [[0, 2, "b1"]]
    assert f["read_uncommitted"] == [[0, 0, "a1"], [0, 2, "b1"]]


@pytest.mark.parametrize("version", VERSIONS)
def test_transactions_admin_list_describe_abort(java_txn_runs, version):
    """A hanging transaction: a producer (transaction.timeout.ms=600000) writes h0 to
    hang-0 and h1 to hang-1, then is force-closed without ending it; a plain producer then
    writes "after" to hang-0. The LSO stays at the hanging transaction's first offset.
    listTransactions (all, ONGOING only, by producer id), describeTransactions and
    describeProducers report it; Admin.abortTransaction (WriteTxnMarkers) with the spec from
    describeProducers aborts it on both partitions: the LSO moves to the log end and
    read_committed sees only "after"."""
    run = java_txn_runs[version]
    a, pre = run["admin"], run["prefix"]
    hang, out = f"{pre}-txn-hang", f"{pre}-txn-out"
    ids = {k: f"{pre}-txn-{k}" for k in ("ctp", "fence", "hang")}
    assert a["lso_before"] == {f"{hang}-0": 0, f"{hang}-1": 0}
    assert a["leo_before"] == {f"{hang}-0": 2, f"{hang}-1": 1}

    d_ctp, d_hang = a["describe"]["ctp"], a["describe"]["hang"]
    hang_pid, ctp_pid = d_hang["producer_id"], d_ctp["producer_id"]
    assert a["list_all"][ids["ctp"]] == ["CompleteCommit", ctp_pid]
    assert a["list_all"][ids["hang"]] == ["Ongoing", hang_pid]
    assert a["list_all"][ids["fence"]][0] == "CompleteCommit"
    assert set(a["list_all"]) == set(ids.values())
    assert len({ctp_pid, hang_pid, a["list_all"][ids["fence"]][1]}) == 3
    assert a["list_ongoing"] == {ids["hang"]: ["Ongoing", hang_pid]}
    assert a["list_by_producer_id"] == {ids["hang"]: ["Ongoing", hang_pid]}

    assert d_hang["state"] == "Ongoing" and d_hang["producer_epoch"] == 0
    assert d_hang["timeout_ms"] == 600000
    assert d_hang["partitions"] == [f"{hang}-0", f"{hang}-1"]
    assert d_hang["start_time_ms"] is not None and d_hang["start_time_ms"] > 1_600_000_000_000
    assert d_ctp["state"] == "CompleteCommit"
    assert d_ctp["timeout_ms"] == 60000 and d_ctp["partitions"] == []

    pb = a["producers_before"]
    plain = [p for p in pb[f"{hang}-0"] if p["producer_id"] != hang_pid]
    assert len(plain) == 1 and plain[0]["txn_start_offset"] is None
    assert plain[0]["last_sequence"] == 0
    for part in (f"{hang}-0", f"{hang}-1"):
        h = [p for p in pb[part] if p["producer_id"] == hang_pid]
        assert len(h) == 1, pb
        assert (h[0]["producer_epoch"], h[0]["last_sequence"], h[0]["txn_start_offset"]) == (0, 0, 0)
        assert h[0]["coordinator_epoch"] is None  # no marker written yet
    [o] = pb[f"{out}-0"]
    assert o["producer_id"] == ctp_pid and o["txn_start_offset"] is None
    assert o["producer_epoch"] == d_ctp["producer_epoch"]
    if d_ctp["producer_epoch"] == 0:
        # Transactions V1: one epoch, sequences 0..5 for the 4 + 1 + 1 records of out-0.
        assert o["last_sequence"] == 5
    else:
        # V2 (Kafka 4.1 with kafka-clients 4.x): every EndTxn bumps the epoch and the
        # sequence restarts, so after 3 transactions: epoch 3, no record in it yet.
        assert version.startswith("4.") and (o["producer_epoch"], o["last_sequence"]) == (3, -1)

    assert a["aborted"] == [f"{hang}-0", f"{hang}-1"]
    pa = a["producers_after"]
    assert all(p["txn_start_offset"] is None for ps in pa.values() for p in ps), pa
    for part in (f"{hang}-0", f"{hang}-1"):
        [h] = [p for p in pa[part] if p["producer_id"] == hang_pid]
        assert h["producer_epoch"] == 0 and h["coordinator_epoch"] == 0
    assert a["lso_after"] == {f"{hang}-0": 3, f"{hang}-1": 2}
    assert a["read_committed_after"] == [[0, 1, "after"]]
    assert sorted(a["read_uncommitted_after"]) == [[0, 0, "h0"], [0, 1, "after"], [1, 0, "h1"]]


@pytest.mark.parametrize("version", VERSIONS)
def test_transactions_describe_completed_keeps_start_time(java_txn_runs, version):
    """describeTransactions of a CompleteCommit transactional id reports the start time of
    its last transaction (Kafka 4.1.1 does, with transactions V1 and V2)."""
    a = java_txn_runs[version]["admin"]
    d_ctp, d_hang = a["describe"]["ctp"], a["describe"]["hang"]
    assert d_ctp["start_time_ms"] is not None
    assert 1_600_000_000_000 < d_ctp["start_time_ms"] <= d_hang["start_time_ms"]


def uses_v2(run):
    """Transactions V2: each EndTxn bumped the epoch (the ctp producer ran 3 transactions)."""
    return run["admin"]["describe"]["ctp"]["producer_epoch"] > 0


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("end", ["commit", "abort"])
def test_transactions_timed_out_transaction_is_aborted_by_the_broker(java_txn_runs, version, end):
    """A producer with transaction.timeout.ms=2000 writes t1 in a transaction and waits: the
    broker aborts it (the LSO passes t1 and its abort marker) no sooner than the timeout; a
    new producer with the same transactional.id then commits t2. read_committed sees only t2,
    read_uncommitted t1 and t2."""
    t = java_txn_runs[version]["timeout"][end]
    assert t["lso_open"] == 0
    assert t["lso_after_timeout"] == 2
    assert t["aborted_after_ms_at_least_timeout"] is True
    assert t["read_committed"] == [[0, 2, "t2"]]
    assert t["read_uncommitted"] == [[0, 0, "t1"], [0, 2, "t2"]]


@pytest.mark.parametrize("version", VERSIONS)
def test_transactions_commit_after_the_timeout_abort_is_refused(java_txn_runs, version):
    """commitTransaction of the transaction the broker aborted for its timeout fails: fenced
    with transactions V1 (the epoch moved on), INVALID_TXN_STATE with V2 (Kafka recognizes
    the previous epoch as a retry, and the transaction ended in an abort)."""
    run = java_txn_runs[version]
    want = "InvalidTxnStateException" if uses_v2(run) else "ProducerFencedException"
    assert run["timeout"]["commit"]["end_error"] == want


@pytest.mark.parametrize("version", VERSIONS)
def test_transactions_abort_after_the_timeout_abort(java_txn_runs, version):
    """abortTransaction of the transaction the broker aborted for its timeout: with V2 it
    succeeds (a retry of the same outcome), with V1 it is fenced (the epoch moved on)."""
    run = java_txn_runs[version]
    want = "none" if uses_v2(run) else "ProducerFencedException"
    assert run["timeout"]["abort"]["end_error"] == want


@pytest.mark.parametrize("version", VERSIONS)
def test_transactions_protocol_version_follows_the_client(java_txn_runs, version):
    """The broker finalizes transaction.version 2 (as Kafka 4.1 does by default): the 4.x
    client bumps the epoch on every transaction (KIP-890 part 2), the 3.9 client does not."""
    assert uses_v2(java_txn_runs[version]) == version.startswith("4.")
