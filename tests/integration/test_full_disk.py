"""A full disk: Riacho keeps serving and loses nothing.

The broker's data dir is a small tmpfs mount this test creates (it needs root; skipped
otherwise), partly filled by a filler file. Raw acks=all produces run until the disk is
full: each then gets KAFKA_STORAGE_ERROR (56), the broker stays up, answers ApiVersions and
Fetch, and every acknowledged batch reads back intact at its offset. When the filler is
removed, produce works again at the next offset (no gap, no torn batch), and after a restart
everything is still there. Also: a partition whose log cannot be opened answers
KAFKA_STORAGE_ERROR while the rest keeps serving. Riacho only: Apache Kafka takes a full log
dir offline and, with one dir, shuts the broker down.
"""
import os
import subprocess

import pytest

import kwire
from conftest import Broker, is_kafka, wait_until

pytestmark = pytest.mark.skipif(is_kafka(), reason="Kafka stops on a full single log dir")

DISK_BYTES = 8 << 20
FILLER_BYTES = 4 << 20


@pytest.fixture
def small_disk_broker():
    b = Broker({"log.segment.bytes": 1 << 20}, name="fulldisk")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs",
                              str(b.data_dir)], capture_output=True, text=True)
    if mounted.returncode != 0:
        b.cleanup()
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        b.start()
        yield b
    finally:
        b.stop()
        subprocess.run(["umount", str(b.data_dir)], check=False)
        b.cleanup()


def produce(addr, topic, corr, payload):
    batch = kwire.record_batch([(b"k%d" % corr, payload, []) for _ in range(10)])
    with kwire.Conn(addr) as c:
        _, res = kwire.parse_produce_v7(c.roundtrip(kwire.produce_v7_request(corr, topic, 0, batch,
                                                                             acks=-1)))
    return res[(topic, 0)]


def test_full_disk_refuses_writes_keeps_serving_and_recovers(small_disk_broker):
    b = small_disk_broker
    topic = "full-disk"
    with kwire.Conn(b.bootstrap) as c:
        c.roundtrip(kwire.metadata_v1_request(1, [topic]))  # auto-creates it
    wait_until(lambda: produce(b.bootstrap, topic, 2, b"warm-up")["error"] == 0, 20,
               what="topic to accept writes")
    with open(b.data_dir / "filler", "wb") as f:
        f.write(b"\0" * FILLER_BYTES)

    acked = {}  # base offset -> payload of each acknowledged batch
    errors = []
    payload = os.urandom(1000)
    for corr in range(10, 2000):
        r = produce(b.bootstrap, topic, corr, payload)
        if r["error"] == 0:
            acked[r["base_offset"]] = payload
        else:
            errors.append(r["error"])
            if len(errors) >= 5:
                break
    assert len(acked) > 50, f"only {len(acked)} batches written before the disk filled up"
    assert errors and set(errors) == {56}, f"expected KAFKA_STORAGE_ERROR, got {errors}"

    # Still serving: metadata, and every acknowledged batch intact at its offset.
    kwire_ok = kwire.parse_api_versions(
        kwire.Conn(b.bootstrap).roundtrip(kwire.api_versions_request(7, 0)), 0)
    assert kwire_ok[1] == 0
    batches = kwire.fetch_batches(b.bootstrap, topic, 0, 0)
    assert all(x["crc_ok"] for x in batches)
    stored = {x["base_offset"]: x["records"][0]["value"] for x in batches}
    for base, value in acked.items():
        assert stored.get(base) == value
    next_offset = max(acked) + 10

    # Space returns: writes continue at the next offset.
    os.remove(b.data_dir / "filler")
    r = wait_until(lambda: (lambda r: r if r["error"] == 0 else None)(
        produce(b.bootstrap, topic, 3000, b"after")), 20, what="writes to resume")
    assert r["base_offset"] == next_offset

    b.stop()
    b.start()
    after = kwire.fetch_batches(b.bootstrap, topic, 0, 0)
    assert [x["base_offset"] for x in after] == [x["base_offset"] for x in batches] + \
        [next_offset]
    assert all(x["crc_ok"] for x in after)


def test_a_partition_whose_log_cannot_open_answers_kafka_storage_error(broker_factory,
                                                                       topic_name):
    """A partition directory that cannot be opened (here a plain file where the directory
    should be) makes that partition answer KAFKA_STORAGE_ERROR to produce and fetch, as an
    offline log dir does in Kafka, while the broker and its other partitions keep serving."""
    b = broker_factory(name="badlog")
    t = topic_name()
    with kwire.Conn(b.bootstrap) as c:
        kwire.parse_metadata_v1(c.roundtrip(kwire.metadata_v1_request(1, [t])))  # auto-create
    wait_until(lambda: produce(b.bootstrap, t, 1, b"v")["error"] == 0, 15, what="first write")
    b.stop()
    partition_dir = b.data_dir / f"{t}-0"
    subprocess.run(["rm", "-rf", str(partition_dir)], check=True)
    partition_dir.write_bytes(b"not a directory")
    b.start()
    assert produce(b.bootstrap, t, 2, b"v")["error"] == 56
    with kwire.Conn(b.bootstrap) as c:
        _, res = kwire.parse_fetch_v4(c.roundtrip(kwire.fetch_v4_request(3, t, 0, 0)))
    assert res[(t, 0)]["error"] == 56
    other = topic_name("other")
    with kwire.Conn(b.bootstrap) as c:
        kwire.parse_metadata_v1(c.roundtrip(kwire.metadata_v1_request(4, [other])))
    wait_until(lambda: produce(b.bootstrap, other, 5, b"v")["error"] == 0, 15,
               what="another partition still writable")
    assert b.alive()
