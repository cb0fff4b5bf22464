"""franz-go (kgo + kadm, default configuration) against one shared broker.

go/ holds clientcheck, built by scripts/install-test-deps.sh into
.deps/go/clientcheck (or built here on first use when Go is available). It runs
once per module and prints JSON: kadm create/list/describe/delete with the
TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION and INVALID_PARTITIONS errors;
the default kgo producer (idempotent, acks=all) gets offsets 0..19 and writes
sequenced batches (raw Fetch); ConsumePartitions from the start (no group)
reads back exact keys, values, headers and timestamps; start/end offsets and
ListOffsetsAfterMilli; every codec round-trips and is stored compressed.
`clientcheck ... transactions` (a run of its own) checks transactions:
commit/abort with kgo.TransactionalID, exact offsets with one marker per
partition per transaction, the LSO while one is open, read_committed vs
read_uncommitted, fencing by a second client, a transaction aborted by the
broker past its timeout, kadm DescribeTransactions.
"""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import kwire
from clients import BASE_TS, CODEC_ID
from conftest import Broker

HERE = Path(__file__).resolve().parent
BIN = HERE / ".deps" / "go" / "clientcheck"
N = 20
PREFIX = "franzgo"


def clientcheck_binary():
    """The franz-go client program, built when missing or older than its source."""
    sources = [HERE / "go" / name for name in ("main.go", "go.mod", "go.sum")]
    newest = max(p.stat().st_mtime for p in sources)
    if not BIN.is_file() or BIN.stat().st_mtime < newest:
        if shutil.which("go") is None:
            pytest.skip("go not installed and clientcheck not built")
        subprocess.run(["go", "build", "-o", str(BIN), "."], cwd=HERE / "go", check=True,
                       timeout=600)
    return BIN


@pytest.fixture(scope="module")
def fg(broker):
    clientcheck_binary()
    res = subprocess.run([str(BIN), broker.bootstrap, PREFIX], capture_output=True, text=True,
                         timeout=110)
    assert res.returncode == 0, f"clientcheck failed:\n{res.stderr[-3000:]}"
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["stderr"] = res.stderr
    return out


def scenario(run, name):
    s = run[name]
    assert "error" not in s, f"{name}: {s['error']}\n{run['stderr'][-2000:]}"
    return s


def records(tag, n):
    return [dict(offset=i, key=f"key-{i}", value=f"franz-{tag}-value-{i}-" + "abc" * 10,
                 headers=[["h1", f"x{i}"], ["seq", str(i)]], timestamp=BASE_TS + i * 1000)
            for i in range(n)]


def test_admin(fg, broker):
    a = scenario(fg, "admin")
    assert a["listed"] is True and a["deleted"] is True
    assert [p["partition"] for p in a["partitions"]] == [0, 1, 2]
    leader = a["partitions"][0]["leader"]
    assert all(p["leader"] == leader and p["replicas"] == [leader] and p["isr"] == [leader]
               for p in a["partitions"])
    assert a["topic_id"].strip("A=") != ""  # non-zero topic id
    assert a["broker_ports"] == [broker.port]
    assert a["duplicate_error"] == "TOPIC_ALREADY_EXISTS"
    assert a["invalid_name_error"] == "INVALID_TOPIC_EXCEPTION"
    assert a["zero_partitions_error"] == "INVALID_PARTITIONS"


def test_default_producer_idempotent(fg, broker):
    assert scenario(fg, "produce") == {"offsets": list(range(N))}
    batches = kwire.fetch_batches(broker.bootstrap, f"{PREFIX}-data")
    assert sum(b["count"] for b in batches) == N
    assert all(b["producer_id"] >= 0 for b in batches)
    assert batches[0]["base_sequence"] == 0


def test_consume_partitions_from_start(fg):
    assert scenario(fg, "consume") == {"records": records("none", N)}


def test_offsets(fg):
    o = scenario(fg, "offsets")
    assert (o["start"], o["end"]) == (0, N)
    assert o["ts+0"] == [0, BASE_TS]
    assert o["ts+5000"] == [5, BASE_TS + 5000]
    assert o["ts+5500"] == [6, BASE_TS + 6000]
    # no record at or after the timestamp: kadm reports the end offset, timestamp -1
    assert o["ts+1000000000"] == [N, -1]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression(fg, broker, codec):
    c = scenario(fg, "compression")[codec]
    assert c["produce"] == {"offsets": list(range(10))}
    assert c["consume"] == {"records": records(codec, 10)}
    batches = kwire.fetch_batches(broker.bootstrap, f"{PREFIX}-{codec}")
    assert {b["compression"] for b in batches} == {CODEC_ID[codec]}


# ---------------------------------------------------------------- transactions
TXN_PREFIX = "franzgotxn"


@pytest.fixture(scope="module")
def txn_broker():
    """A broker of its own that looks for timed-out transactions every 500 ms."""
    b = Broker({"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"},
               name="franz-txn").start()
    yield b
    b.cleanup()


@pytest.fixture(scope="module")
def fg_txn(txn_broker):
    """`clientcheck <bootstrap> <prefix> transactions`: the transactional scenario alone."""
    broker = txn_broker
    clientcheck_binary()
    res = subprocess.run([str(BIN), broker.bootstrap, TXN_PREFIX, "transactions"],
                         capture_output=True, text=True, timeout=110)
    assert res.returncode == 0, f"clientcheck transactions failed:\n{res.stderr[-3000:]}"
    t = json.loads(res.stdout.strip().splitlines()[-1])["transactions"]
    assert "error" not in t, f"{t['error']}\n{res.stderr[-3000:]}"
    return t


def per_partition(recs):
    out = {}
    for p, o, v in recs:
        out.setdefault(p, []).append([o, v])
    return {p: sorted(rs) for p, rs in out.items()}


def test_transactions_commit_abort_read_committed(fg_txn):
    """One kgo.TransactionalID client: BeginTransaction + ProduceSync + EndTransaction
    commits c1 (9 records, value i to partition i % 3), aborts ab (6), commits c2 (3), then
    c3 (1 record on partition 0) stays open while the offsets are listed. Each transaction
    ends with one marker per partition, so the offsets are exact; a read_committed consumer
    (kgo.FetchIsolationLevel(kgo.ReadCommitted())) sees exactly c1 + c2 + c3 in offset order,
    read_uncommitted also the aborted ab, and no control record reaches either."""
    t = fg_txn
    # partition p: c1 at 0..2, marker 3, ab at 4..5, marker 6, c2 at 7, marker 8, c3 at 9 (p0)
    assert sorted(t["c1_offsets"]) == [[p, o] for p in range(3) for o in range(3)]
    assert sorted(t["ab_offsets"]) == [[p, o] for p in range(3) for o in (4, 5)]
    assert sorted(t["c2_offsets"]) == [[p, 7] for p in range(3)]
    assert t["c3_offsets"] == [[0, 9]]
    # While c3 is open the last stable offset of partition 0 stays at its first record.
    assert t["lso_open"] == [9, 9, 9] and t["end_open"] == [10, 9, 9]
    assert t["lso_closed"] == t["end_closed"] == [11, 9, 9]

    def expected(with_aborted):
        exp = {}
        for p in range(3):
            rows = [[o, f"c1-{p + 3 * o}"] for o in range(3)]
            if with_aborted:
                rows += [[4 + k, f"ab-{p + 3 * k}"] for k in range(2)]
            rows.append([7, f"c2-{p}"])
            if p == 0:
                rows.append([9, "c3-0"])
            exp[p] = rows
        return exp

    assert per_partition(t["read_committed"]) == expected(with_aborted=False)
    assert per_partition(t["read_uncommitted"]) == expected(with_aborted=True)
    for recs in (t["read_committed"], t["read_uncommitted"]):  # offset order per partition
        for p in range(3):
            offs = [o for q, o, _ in recs if q == p]
            assert offs == sorted(offs)


def test_transactions_second_client_fences_the_first(fg_txn):
    """Client a begins a transaction and writes a1; client b with the same transactional id
    writes b1 and commits (its InitProducerID aborts a's transaction); a's EndTransaction
    commit is refused as fenced. read_committed sees only b1; read_uncommitted a1 and b1."""
    t = fg_txn
    assert t["old_commit_error"] in ("PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH")
    assert t["fence_read_committed"] == [[0, 2, "b1"]]
    assert t["fence_read_uncommitted"] == [[0, 0, "a1"], [0, 2, "b1"]]


def test_transactions_described_by_kadm(fg_txn):
    """kadm DescribeTransactions: both ids CompleteCommit, no partitions left, franz-go's
    default transaction timeout (40 s), distinct producer ids."""
    d = fg_txn["describe"]
    ids = [f"{TXN_PREFIX}-txn", f"{TXN_PREFIX}-txn-fence"]
    assert sorted(d) == ids
    for i in ids:
        assert (d[i]["state"], d[i]["timeout_ms"], d[i]["partitions"]) == \
            ("CompleteCommit", 40000, 0)
    assert d[ids[0]]["producer_id"] != d[ids[1]]["producer_id"]


def test_transactions_describe_completed_keeps_start_time(fg_txn):
    """DescribeTransactions of a completed transactional id reports when its last
    transaction started (Kafka 4.1.1 does), not -1."""
    for d in fg_txn["describe"].values():
        assert d["start_ms"] > 1_600_000_000_000, d


def test_transactions_timed_out_transaction_is_aborted_by_the_broker(fg_txn):
    """kgo.TransactionTimeout(2s): t1 written in a transaction left open is aborted by the
    broker (the LSO passes t1 and its marker); a new client with the same transactional id
    commits t2; read_committed sees only t2, read_uncommitted t1 and t2."""
    t = fg_txn
    assert (t["timeout_lso_open"], t["timeout_lso_after"]) == (0, 2)
    assert t["timeout_read_committed"] == [[0, 2, "t2"]]
    assert t["timeout_read_uncommitted"] == [[0, 0, "t1"], [0, 2, "t2"]]


def test_transactions_commit_after_the_timeout_abort_is_refused(fg_txn):
    """EndTransaction(TryCommit) of the transaction the broker aborted for its timeout:
    franz-go 1.22 uses transactions V2 with Kafka 4.1, which recognizes the previous epoch
    as a retry and refuses the commit of an aborted transaction with INVALID_TXN_STATE."""
    assert fg_txn["timeout_commit_error"] == "INVALID_TXN_STATE"
