"""kcat (Debian's package, librdkafka 2.0.x) as a subprocess against one shared broker.

kcat is what operators type first, and its older librdkafka enables features
from the broker's advertised version ranges (compression needs Produce v0 in
range, fact sheet 5.4), so it catches advertisement mistakes that newer clients
forgive. Checks: -L -J metadata lists the broker and a topic's partitions;
-P with -K key delimiter and -H headers, then -C -o beginning -e with a -f
format returns exactly the keys, values, headers, offsets and partitions; each
-z codec really reaches the log compressed (raw Fetch of the stored batches);
-o <offset> and -o -N (relative to the end) start where asked.
"""
import json
import shutil
import subprocess

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import kwire
from clients import CODEC_ID, confluent_wait_topic

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat not installed")

FMT = "%p|%o|%k|%s|%h\\n"


def kcat(broker, *args, stdin=None, timeout=60):
    res = subprocess.run([KCAT, "-b", broker.bootstrap, "-q", *args], input=stdin,
                         capture_output=True, timeout=timeout)
    assert res.returncode == 0, f"kcat {args} failed ({res.returncode}): {res.stderr.decode()}"
    return res.stdout.decode()


@pytest.fixture(scope="module")
def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def create(admin, name, partitions=1):
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                        operation_timeout=15)[name].result(timeout=30)
    confluent_wait_topic(admin, name, partitions)


def test_metadata_json(broker, admin, topic_name):
    t = topic_name()
    create(admin, t, partitions=2)
    md = json.loads(kcat(broker, "-L", "-J", "-t", t))
    assert [b["name"] for b in md["brokers"]] == [broker.bootstrap]
    (topic,) = md["topics"]
    assert topic["topic"] == t and "error" not in topic
    assert sorted(p["partition"] for p in topic["partitions"]) == [0, 1]
    broker_id = md["brokers"][0]["id"]
    assert all(p["leader"] == broker_id for p in topic["partitions"])


def test_produce_key_headers_consume_format(broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    lines = "".join(f"key{i}:value {i}\n" for i in range(10))
    kcat(broker, "-P", "-t", t, "-p", "0", "-K", ":", "-H", "h1=v1", "-H", "trace=abc",
         stdin=lines.encode())
    out = kcat(broker, "-C", "-t", t, "-o", "beginning", "-e", "-f", FMT)
    assert out.splitlines() == [f"0|{i}|key{i}|value {i}|h1=v1,trace=abc" for i in range(10)]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_codecs(broker, admin, topic_name, codec):
    t = topic_name()
    create(admin, t)
    lines = "".join(f"k{i}:{codec}-payload-{i}-{'abc' * 20}\n" for i in range(50))
    kcat(broker, "-P", "-t", t, "-p", "0", "-K", ":", "-z", codec, stdin=lines.encode())
    out = kcat(broker, "-C", "-t", t, "-o", "beginning", "-e", "-f", "%o|%k|%s\\n")
    assert out.splitlines() == [f"{i}|k{i}|{codec}-payload-{i}-{'abc' * 20}" for i in range(50)]
    batches = kwire.fetch_batches(broker.bootstrap, t)
    assert {b["compression"] for b in batches} == {CODEC_ID[codec]}
    assert all(b["crc_ok"] for b in batches)


def test_consume_from_offsets(broker, admin, topic_name):
    t = topic_name()
    create(admin, t)
    kcat(broker, "-P", "-t", t, "-p", "0", stdin="".join(f"m{i}\n" for i in range(20)).encode())
    assert kcat(broker, "-C", "-t", t, "-o", "15", "-e", "-f", "%o:%s\\n").splitlines() == \
        [f"{i}:m{i}" for i in range(15, 20)]
    assert kcat(broker, "-C", "-t", t, "-o", "-3", "-e", "-f", "%o:%s\\n").splitlines() == \
        [f"{i}:m{i}" for i in range(17, 20)]
    assert kcat(broker, "-C", "-t", t, "-o", "end", "-e", "-f", "%o:%s\\n") == ""
