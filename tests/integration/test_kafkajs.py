"""kafkajs (pure JavaScript client) against one shared broker.

node/clientcheck.js runs once per module and prints JSON; the tests assert on
it and read what it wrote back with librdkafka and raw Fetch: admin
create/list/metadata/delete (kafkajs answers false for an existing topic) and
the INVALID_TOPIC_EXCEPTION / INVALID_PARTITIONS errors; a keyed produce with
headers and timestamps lands at offsets 0..19 with exact content; an
idempotent producer writes sequenced batches; fetchTopicOffsets and
fetchTopicOffsetsByTimestamp; each codec (gzip, snappy via kafkajs-snappy,
lz4 via lz4js, zstd via zstd-codec) is stored compressed and reads back. kafkajs
consumers need a consumer group, so consuming through kafkajs joins a group.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING

import kwire
from clients import BASE_TS, CODEC_ID, confluent_consume, normalize_headers

NODE_DIR = Path(__file__).resolve().parent / "node"
N = 20
PREFIX = "kafkajs"


def run_node(broker, *args, timeout=100):
    res = subprocess.run(["node", "clientcheck.js", broker.bootstrap, PREFIX, *args],
                         cwd=NODE_DIR, capture_output=True, text=True, timeout=timeout,
                         env=dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1"))
    assert res.returncode == 0, f"clientcheck.js failed:\n{res.stderr[-3000:]}"
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["stderr"] = res.stderr
    return out


@pytest.fixture(scope="module")
def js(broker):
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    if not (NODE_DIR / "node_modules" / "kafkajs").is_dir():
        pytest.fail("node_modules missing: run scripts/install-test-deps.sh")
    return run_node(broker)


def scenario(run, name):
    s = run[name]
    assert "error" not in s, f"{name}: {s['error']}\n{run['stderr'][-2000:]}"
    return s


def expected(tag, i):
    return dict(key=f"key-{i}".encode(), value=(f"kafkajs-{tag}-value-{i}-" + "abc" * 10).encode(),
                headers=[("h1", f"x{i}".encode()), ("seq", str(i).encode())],
                timestamp=BASE_TS + i * 1000)


def read_back(broker, topic, tag, n=N):
    msgs = confluent_consume(broker.bootstrap, topic, 0, OFFSET_BEGINNING, n)
    return [dict(key=m.key(), value=m.value(), headers=normalize_headers(m.headers()),
                 timestamp=m.timestamp()[1]) for m in msgs] == [expected(tag, i) for i in range(n)]


def test_admin(js):
    a = scenario(js, "admin")
    assert a["created"] is True and a["listed"] is True
    assert [p["partition"] for p in a["partitions"]] == [0, 1, 2]
    leader = a["partitions"][0]["leader"]
    assert all(p["leader"] == leader and p["replicas"] == [leader] and p["isr"] == [leader]
               for p in a["partitions"])
    assert a["already_exists_result"] is False
    assert a["invalid_name_error"] == "INVALID_TOPIC_EXCEPTION"
    assert a["zero_partitions_error"] == "INVALID_PARTITIONS"
    assert a["deleted"] is True


def test_produce_keyed_headers_timestamps(js, broker):
    assert scenario(js, "produce") == {"base_offsets": [0]}
    assert read_back(broker, f"{PREFIX}-data", "none")


def test_idempotent_producer(js, broker):
    assert scenario(js, "idempotent") == {"base_offsets": [0, 5, 10, 15]}
    batches = kwire.fetch_batches(broker.bootstrap, f"{PREFIX}-idem")
    assert [(b["base_offset"], b["count"], b["base_sequence"]) for b in batches] == \
        [(0, 5, 0), (5, 5, 5), (10, 5, 10), (15, 5, 15)]
    assert len({b["producer_id"] for b in batches}) == 1 and batches[0]["producer_id"] >= 0
    assert read_back(broker, f"{PREFIX}-idem", "idem")


def test_offsets_and_offsets_by_timestamp(js):
    o = scenario(js, "offsets")
    assert o["topic_offsets"] == [{"partition": 0, "low": 0, "high": N}]
    # kafkajs maps "no offset at or after the timestamp" (-1) to the high watermark
    assert (o["ts+0"], o["ts+5000"], o["ts+5500"], o["ts+1000000000"]) == ([0], [5], [6], [N])


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression(js, broker, codec):
    assert scenario(js, "compression")[codec] == {"base_offsets": [0]}
    batches = kwire.fetch_batches(broker.bootstrap, f"{PREFIX}-{codec}")
    assert {b["compression"] for b in batches} == {CODEC_ID[codec]}
    assert read_back(broker, f"{PREFIX}-{codec}", codec)


def test_group_consume(js, broker):
    g = scenario(run_node(broker, "group-consume"), "group_consume")
    assert g["records"] == [dict(offset=i, key=f"key-{i}",
                                 value=f"kafkajs-none-value-{i}-" + "abc" * 10,
                                 timestamp=BASE_TS + i * 1000,
                                 headers={"h1": f"x{i}", "seq": str(i)}) for i in range(N)]
