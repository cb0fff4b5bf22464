"""franz-go (kgo + kadm, default configuration) against one shared broker.

go/ holds clientcheck, built by scripts/install-test-deps.sh into
.deps/go/clientcheck (or built here on first use when Go is available). It runs
once per module and prints JSON: kadm create/list/describe/delete with the
TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION and INVALID_PARTITIONS errors;
the default kgo producer (idempotent, acks=all) gets offsets 0..19 and writes
sequenced batches (raw Fetch); ConsumePartitions from the start (no group)
reads back exact keys, values, headers and timestamps; start/end offsets and
ListOffsetsAfterMilli; every codec round-trips and is stored compressed.
"""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import kwire
from clients import BASE_TS, CODEC_ID

HERE = Path(__file__).resolve().parent
BIN = HERE / ".deps" / "go" / "clientcheck"
N = 20
PREFIX = "franzgo"


@pytest.fixture(scope="module")
def fg(broker):
    if not BIN.is_file():
        if shutil.which("go") is None:
            pytest.skip("go not installed and clientcheck not built")
        subprocess.run(["go", "build", "-o", str(BIN), "."], cwd=HERE / "go", check=True,
                       timeout=600)
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
