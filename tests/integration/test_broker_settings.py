"""Broker settings take Kafka's property names and effect.

One broker started with message.max.bytes=10000, num.partitions=3 and
auto.create.topics.enable=false checks: a record batch over the limit gets
MESSAGE_TOO_LARGE (raw Produce error 10, librdkafka and kafka-python delivery
errors) while one under it is stored; CreateTopics without a partition count
uses num.partitions; Metadata for an unknown topic answers
UNKNOWN_TOPIC_OR_PARTITION and creates nothing. Riacho only (skipped on Kafka,
whose startup the oracle script owns): an unknown key or an invalid value on
the command line stops startup with a non-zero exit and a message naming the
key, and `--config server.properties` is read with `--set` overriding it.
"""
import os
import subprocess

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError

import kwire
from conftest import RIACHO_BIN, Broker, is_kafka, wait_until

SETTINGS = {"message.max.bytes": 10000, "num.partitions": 3, "auto.create.topics.enable": "false"}


@pytest.fixture(scope="module")
def limited():
    b = Broker(SETTINGS, name="settings").start()
    yield b
    b.cleanup()


@pytest.fixture(scope="module")
def topic(limited):
    a = AdminClient({"bootstrap.servers": limited.bootstrap})
    a.create_topics([NewTopic("limited", replication_factor=1)],
                    operation_timeout=15)["limited"].result(timeout=30)
    wait_until(lambda: "limited" in a.list_topics(timeout=10).topics, 15, what="topic")
    return "limited"


def test_default_partition_count_from_num_partitions(limited, topic):
    a = AdminClient({"bootstrap.servers": limited.bootstrap})
    assert sorted(a.list_topics(topic=topic, timeout=10).topics[topic].partitions) == [0, 1, 2]


def test_auto_create_disabled(limited):
    with kwire.Conn(limited.bootstrap) as c:
        for corr in (1, 2):
            md = kwire.parse_metadata_v1(c.roundtrip(kwire.metadata_v1_request(corr, ["nope"])))
            assert md["topics"]["nope"]["error"] == 3  # UNKNOWN_TOPIC_OR_PARTITION
        md = kwire.parse_metadata_v1(c.roundtrip(kwire.metadata_v1_request(3)))
    assert "nope" not in md["topics"]


def test_message_too_large_raw(limited, topic):
    big = kwire.record_batch([(b"k", os.urandom(12000), [])])
    small = kwire.record_batch([(b"k", os.urandom(5000), [])])
    with kwire.Conn(limited.bootstrap) as c:
        _, res = kwire.parse_produce_v7(c.roundtrip(kwire.produce_v7_request(1, topic, 0, big)))
        assert res[(topic, 0)]["error"] == 10  # MESSAGE_TOO_LARGE
        _, res = kwire.parse_produce_v7(c.roundtrip(kwire.produce_v7_request(2, topic, 0, small)))
        assert res[(topic, 0)]["error"] == 0
        first = res[(topic, 0)]["base_offset"]
    batches = kwire.fetch_batches(limited.bootstrap, topic, 0, first)
    assert [(b["base_offset"], b["count"]) for b in batches] == [(first, 1)]


def test_message_too_large_confluent(limited, topic):
    reports = []
    p = Producer({"bootstrap.servers": limited.bootstrap, "compression.type": "none",
                  "message.send.max.retries": 0})
    p.produce(topic, value=os.urandom(20000), partition=1,
              on_delivery=lambda err, msg: reports.append(err))
    assert p.flush(30) == 0
    assert len(reports) == 1 and reports[0] is not None
    assert reports[0].code() == KafkaError.MSG_SIZE_TOO_LARGE


def test_message_too_large_kafka_python(limited, topic):
    p = KafkaProducer(bootstrap_servers=limited.bootstrap, retries=0)
    try:
        with pytest.raises(MessageSizeTooLargeError):
            p.send(topic, value=os.urandom(20000), partition=2).get(timeout=30)
        assert p.send(topic, value=b"fits", partition=2).get(timeout=30).offset == 0
    finally:
        p.close(timeout=10)


# ------------------------------------------------------------------ riacho startup errors
riacho_only = pytest.mark.skipif(is_kafka(), reason="Riacho command-line behaviour")


def serve_fails(tmp_path, *sets):
    args = [RIACHO_BIN, "serve", "--set", "listeners=PLAINTEXT://127.0.0.1:0",
            "--set", f"log.dirs={tmp_path / 'data'}", "--ready-file", str(tmp_path / "ready")]
    for s in sets:
        args += ["--set", s]
    try:
        res = subprocess.run(args, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"riacho kept running with {sets}")
    assert not (tmp_path / "ready").exists()
    return res


@riacho_only
@pytest.mark.parametrize("setting,key", [
    ("no.such.setting=1", "no.such.setting"),
    ("num.partitions=abc", "num.partitions"),
    ("num.partitions=0", "num.partitions"),
    ("message.max.bytes=-1", "message.max.bytes"),
    ("auto.create.topics.enable=maybe", "auto.create.topics.enable"),
    ("riacho.log.written.cache.max.bytes=-2", "riacho.log.written.cache.max.bytes"),
])
def test_invalid_setting_stops_startup(tmp_path, setting, key):
    res = serve_fails(tmp_path, setting)
    assert res.returncode != 0
    assert key in (res.stderr + res.stdout), res.stderr


@riacho_only
def test_config_file_with_override(broker_factory, tmp_path):
    props = tmp_path / "server.properties"
    props.write_text("# a Kafka-style properties file\nnum.partitions=2\n"
                     "auto.create.topics.enable=true\nmessage.max.bytes=50000\n")
    b = broker_factory({"num.partitions": 4}, name="config",
                       extra_args=["--config", str(props)])

    def created():
        with kwire.Conn(b.bootstrap) as c:
            md = kwire.parse_metadata_v1(c.roundtrip(kwire.metadata_v1_request(1, ["auto"])))
        return md["topics"]["auto"] if md["topics"]["auto"]["error"] == 0 else None

    assert sorted(wait_until(created, 20, what="auto topic")["partitions"]) == [0, 1, 2, 3]
