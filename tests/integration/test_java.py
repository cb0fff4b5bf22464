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
compressed.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import kwire
from clients import BASE_TS, CODEC_ID

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
