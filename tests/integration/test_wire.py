"""Raw-socket protocol tests: good and bad input at the wire level.

Uses the independent encoder in kwire.py (not any client library) to check what
clients rely on and what hostile input gets: ApiVersions v0 and v3 answers
(response header v0, flexible v3 body), the KIP-511 answer to an unknown
ApiVersions version (error 35 plus only the {18, 0, 4} entry), INVALID_REQUEST
for a malformed client software name, pipelined requests answered in order, an
acks=0 produce answered with nothing, a produced batch stored verbatim (raw
Fetch returns the same records, offsets assigned), CORRUPT_MESSAGE for a bad
CRC, each codec's batch (snappy both raw and xerial-framed) stored verbatim and an
undecodable compressed payload rejected with Kafka's error (UNKNOWN_SERVER_ERROR),
acks=-1 with min.insync.replicas above the replica count (capped at it), pipelined acks=-1
produces answered in order,
OFFSET_OUT_OF_RANGE and UNKNOWN_TOPIC_OR_PARTITION on fetch (empty, not null,
records), ListOffsets
earliest/latest, and connection closes (no reply) for an unknown api key, an
unsupported version of another API, an oversized frame, a negative size and a
truncated or garbage body — after all of which the broker keeps serving other
connections. Every expectation here was checked against Apache Kafka 4.x.
"""
import os
import socket
import struct
import time

import pytest

import kwire
from kwire import Conn, i16, i32, string


def api_versions(broker, version, corr=11, **kw):
    with Conn(broker.bootstrap) as c:
        return kwire.parse_api_versions(c.roundtrip(kwire.api_versions_request(corr, version, **kw)),
                                        version)


def assert_still_serving(broker):
    corr, err, apis, _ = api_versions(broker, 0, corr=4242)
    assert (corr, err) == (4242, 0) and 18 in apis


# ------------------------------------------------------------------ ApiVersions
def test_api_versions_v0(broker):
    corr, err, apis, throttle = api_versions(broker, 0, corr=1234)
    assert (corr, err, throttle) == (1234, 0, None)
    assert apis[18][0] == 0 and apis[18][1] >= 4
    for key, need in {0: 3, 1: 4, 2: 1, 3: 1, 19: 2, 20: 1, 22: 0}.items():
        lo, hi = apis[key]  # Produce, Fetch, ListOffsets, Metadata, Create/DeleteTopics, InitPid
        assert lo <= need <= hi, (key, lo, hi)
    assert apis[0][0] == 0  # Produce advertised from v0 (old librdkafka compression check)


def test_api_versions_v3_flexible(broker):
    corr, err, apis, throttle = api_versions(broker, 3, corr=99)
    assert (corr, err, throttle) == (99, 0, 0)
    assert apis == api_versions(broker, 0)[2]  # the same table in every version


def test_api_versions_unknown_version_kip511(broker):
    with Conn(broker.bootstrap) as c:
        # v99: header v2 (flexible), a body this broker cannot know
        resp = c.roundtrip(kwire.request(18, 99, 77, b"\x05junk\x00garbage", flexible=True))
        r = kwire.Reader(resp)
        assert r.i32() == 77
        assert r.i16() == 35  # UNSUPPORTED_VERSION
        assert r.i32() == 1
        assert (r.i16(), r.i16(), r.i16()) == (18, 0, 4)
        assert r.rest() == b""  # v0 layout: no throttle field
        # the connection stays usable: the client retries at v3
        corr, err, apis, _ = kwire.parse_api_versions(
            c.roundtrip(kwire.api_versions_request(78, 3)), 3)
        assert (corr, err) == (78, 0) and 0 in apis


def test_api_versions_invalid_software_name(broker):
    corr, err, apis, _ = api_versions(broker, 3, software=("bad name!", "1.0"))
    assert (corr, err) == (11, 42)  # INVALID_REQUEST, answered in v3 layout


def test_pipelined_requests_answered_in_order(broker):
    # kafka-python sends ApiVersions v0 then Metadata v0 back-to-back
    with Conn(broker.bootstrap) as c:
        c.send(kwire.api_versions_request(1, 0) + kwire.request(3, 0, 2, i32(0))
               + kwire.api_versions_request(3, 3))
        corrs = [struct.unpack(">i", c.recv_frame()[:4])[0] for _ in range(3)]
    assert corrs == [1, 2, 3]


# ------------------------------------------------------------------ produce / fetch
@pytest.fixture(scope="module")
def wire_topic(broker):
    """A 1-partition topic created by auto-creation via Metadata v1."""
    return auto_created_topic(broker, "wire-topic")


def auto_created_topic(broker, name):
    """`name`, once a Metadata v1 request for it has auto-created it."""
    from conftest import wait_until

    def ready():
        with Conn(broker.bootstrap) as c:
            md = kwire.parse_metadata_v1(c.roundtrip(kwire.metadata_v1_request(5, [name])))
        return md["topics"][name]["error"] == 0

    wait_until(ready, 20, what=name)
    return name


def test_produce_then_fetch_verbatim(broker, wire_topic):
    recs = [(b"k%d" % i, b"v%d" % i, [("h", b"x%d" % i)]) for i in range(5)]
    with Conn(broker.bootstrap) as c:
        corr, res = kwire.parse_produce_v7(c.roundtrip(
            kwire.produce_v7_request(21, wire_topic, 0, kwire.record_batch(recs))))
        assert corr == 21
        first = res[(wire_topic, 0)]
        assert first["error"] == 0 and first["log_start"] == 0
        corr, res = kwire.parse_produce_v7(c.roundtrip(
            kwire.produce_v7_request(22, wire_topic, 0, kwire.record_batch(recs[:2]))))
        assert res[(wire_topic, 0)]["base_offset"] == first["base_offset"] + 5

        corr, res = kwire.parse_fetch_v4(c.roundtrip(
            kwire.fetch_v4_request(23, wire_topic, 0, first["base_offset"])))
    part = res[(wire_topic, 0)]
    assert part["error"] == 0 and part["high_watermark"] == first["base_offset"] + 7
    b1, b2 = kwire.parse_batches(part["records"])[:2]
    assert b1["crc_ok"] and b2["crc_ok"]
    assert (b1["base_offset"], b1["count"], b2["base_offset"]) == \
        (first["base_offset"], 5, first["base_offset"] + 5)
    assert [(r["offset"], r["key"], r["value"], r["headers"]) for r in b1["records"]] == \
        [(first["base_offset"] + i, k, v, h) for i, (k, v, h) in enumerate(recs)]
    assert [r["timestamp"] for r in b1["records"]] == [1_700_000_000_000 + i for i in range(5)]


def test_produce_acks0_no_response(broker, wire_topic):
    with Conn(broker.bootstrap) as c:
        c.send(kwire.produce_v7_request(31, wire_topic, 0,
                                        kwire.record_batch([(None, b"fire-and-forget", [])]),
                                        acks=0))
        corr = kwire.parse_api_versions(c.roundtrip(kwire.api_versions_request(32, 0)), 0)[0]
    assert corr == 32  # the next response is the ApiVersions one: acks=0 got none


def test_min_insync_replicas_above_the_replica_count_is_capped(broker):
    """Kafka caps min.insync.replicas at the partition's replica count for acks=-1 (its
    effectiveMinIsr): on one broker an RF 1 topic with min.insync.replicas=2 takes acks=-1."""
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("capped-min-isr", num_partitions=1, replication_factor=1,
                                  config={"min.insync.replicas": "2"})])[
        "capped-min-isr"].result(30)
    with Conn(broker.bootstrap) as c:
        _, res = kwire.parse_produce_v7(c.roundtrip(kwire.produce_v7_request(
            41, "capped-min-isr", 0, kwire.record_batch([(None, b"safe enough", [])]),
            acks=-1, timeout_ms=5000)))
    assert res[("capped-min-isr", 0)]["error"] == 0


def test_pipelined_acks_all_produces_are_answered_in_order(broker, wire_topic):
    """acks=-1 produces sent back to back on one connection, with a Metadata request and an
    acks=1 produce behind them: every answer comes, in request order, the batches at
    consecutive offsets (Riacho appends the next while the previous waits for its flush)."""
    batches = [kwire.record_batch([(None, b"pipelined-%d-%d" % (i, j), []) for j in range(3)])
               for i in range(6)]
    with Conn(broker.bootstrap) as c:
        frames = [kwire.produce_v7_request(100 + i, wire_topic, 0, b, acks=-1, timeout_ms=5000)
                  for i, b in enumerate(batches[:5])]
        frames.append(kwire.metadata_v1_request(105, [wire_topic]))
        frames.append(kwire.produce_v7_request(106, wire_topic, 0, batches[5], acks=1))
        c.send(b"".join(frames))
        answers = [c.recv_frame() for _ in frames]
    offsets = []
    for i, frame in enumerate(answers):
        if i == 5:
            assert kwire.parse_metadata_v1(frame)["corr"] == 105
            continue
        corr, res = kwire.parse_produce_v7(frame)
        assert corr == 100 + i
        assert res[(wire_topic, 0)]["error"] == 0
        offsets.append(res[(wire_topic, 0)]["base_offset"])
    assert offsets == [offsets[0] + 3 * i for i in range(6)]


def test_produce_bad_crc_is_corrupt_message(broker, wire_topic):
    with Conn(broker.bootstrap) as c:
        corr, res = kwire.parse_produce_v7(c.roundtrip(kwire.produce_v7_request(
            41, wire_topic, 0, kwire.record_batch([(b"k", b"v", [])], corrupt_crc=True))))
        assert res[(wire_topic, 0)]["error"] == 2  # CORRUPT_MESSAGE
        _, before = kwire.parse_list_offsets_v1(c.roundtrip(
            kwire.list_offsets_v1_request(42, wire_topic, 0, -1)))
        # the log did not grow and later produces still work
        corr, res = kwire.parse_produce_v7(c.roundtrip(kwire.produce_v7_request(
            43, wire_topic, 0, kwire.record_batch([(b"k", b"ok", [])]))))
        assert res[(wire_topic, 0)]["error"] == 0
        assert res[(wire_topic, 0)]["base_offset"] == before[(wire_topic, 0)]["offset"]


def _codecs():
    import gzip

    import lz4.frame
    import snappy
    import zstandard
    return {
        "gzip": (1, gzip.compress),
        "snappy-raw": (2, snappy.compress),
        "snappy-xerial": (2, kwire.xerial_snappy),
        "lz4": (3, lambda b: lz4.frame.compress(b, block_linked=False, content_checksum=False)),
        "zstd": (4, lambda b: zstandard.ZstdCompressor().compress(b)),
    }


@pytest.mark.parametrize("codec", ["gzip", "snappy-raw", "snappy-xerial", "lz4", "zstd"])
def test_produce_compressed_batch_stored_verbatim(broker, wire_topic, codec):
    """Both snappy streams (raw: librdkafka/franz-go, framed: Java) and every
    other codec are accepted, and Fetch returns the batch byte-for-byte except
    the base offset (and the leader epoch) the broker assigns."""
    recs = [(b"k%d" % i, (b"%s-%d-" % (codec.encode(), i)) * 20, [("h", b"v")]) for i in range(7)]
    batch = kwire.record_batch(recs, compress=_codecs()[codec])
    with Conn(broker.bootstrap) as c:
        _, res = kwire.parse_produce_v7(c.roundtrip(kwire.produce_v7_request(71, wire_topic, 0, batch)))
        assert res[(wire_topic, 0)]["error"] == 0
        base = res[(wire_topic, 0)]["base_offset"]
        _, res = kwire.parse_fetch_v4(c.roundtrip(kwire.fetch_v4_request(72, wire_topic, 0, base)))
    got = res[(wire_topic, 0)]["records"]
    (b, *_) = kwire.parse_batches(got)
    assert (b["base_offset"], b["count"], b["compression"], b["crc_ok"]) == \
        (base, 7, _codecs()[codec][0], True)
    stored = got[:12 + b["length"]]
    assert stored[8:12] == batch[8:12] and stored[16:] == batch[16:]  # only offset/epoch differ


@pytest.mark.parametrize("codec", ["gzip", "snappy-raw", "lz4", "zstd"])
def test_produce_undecodable_compressed_batch_rejected(broker, wire_topic, codec):
    codec_id = _codecs()[codec][0]
    garbage = (codec_id, lambda b: b"\x00\x01not-a-compressed-stream" * 3)
    batch = kwire.record_batch([(b"k", b"v", [])], compress=garbage)
    with Conn(broker.bootstrap) as c:
        _, before = kwire.parse_list_offsets_v1(c.roundtrip(
            kwire.list_offsets_v1_request(81, wire_topic, 0, -1)))
        _, res = kwire.parse_produce_v7(c.roundtrip(kwire.produce_v7_request(82, wire_topic, 0, batch)))
        err = res[(wire_topic, 0)]["error"]
        _, after = kwire.parse_list_offsets_v1(c.roundtrip(
            kwire.list_offsets_v1_request(83, wire_topic, 0, -1)))
    assert err == EXPECTED_UNDECODABLE_ERROR[codec], err
    assert after[(wire_topic, 0)]["offset"] == before[(wire_topic, 0)]["offset"]


# Apache Kafka 4.1 answers a batch whose compressed payload cannot be decoded with
# UNKNOWN_SERVER_ERROR (-1), not CORRUPT_MESSAGE (2); clients treat -1 as fatal for the
# batch (Java: not retriable), so the same code keeps client behaviour identical.
EXPECTED_UNDECODABLE_ERROR = {"gzip": -1, "snappy-raw": -1, "lz4": -1, "zstd": -1}


def test_a_followers_diverging_fetch_is_answered_at_once(broker):
    # A follower whose log goes past where its last epoch ends on the leader (a tail the old
    # leader never committed) is told where to cut back (DivergingEpoch) at once: holding
    # that answer for max_wait_ms would add a long poll to every truncation round of a
    # failover. A follower that agrees with the leader is held as usual.
    name = auto_created_topic(broker, "wire-diverging")
    with Conn(broker.bootstrap) as c:
        _, res = kwire.parse_produce_v7(c.roundtrip(kwire.produce_v7_request(
            31, name, 0, kwire.record_batch([(None, b"v%d" % i, []) for i in range(3)]))))
        assert res[(name, 0)]["error"] == 0
        end = res[(name, 0)]["base_offset"] + 3

        started = time.monotonic()
        _, res = kwire.parse_fetch_v12(c.roundtrip(kwire.replica_fetch_v12_request(
            32, 7, name, 0, fetch_offset=end + 10, last_fetched_epoch=0, max_wait_ms=5000)))
        diverged_after_s = time.monotonic() - started
        part = res[(name, 0)]
        assert part["error"] == 0 and part["records"] == b""
        assert part["diverging"] == (0, end)
        assert diverged_after_s < 2.0, diverged_after_s

        started = time.monotonic()
        _, res = kwire.parse_fetch_v12(c.roundtrip(kwire.replica_fetch_v12_request(
            33, 7, name, 0, fetch_offset=end, last_fetched_epoch=0, max_wait_ms=500)))
        held_s = time.monotonic() - started
        part = res[(name, 0)]
        assert part["error"] == 0 and part["diverging"] is None and part["records"] == b""
        assert held_s >= 0.4, held_s


def test_a_followers_fetch_with_an_epoch_the_leader_never_had_is_out_of_range(broker):
    # The leader has no epoch at or below the follower's last one (here: its log is empty):
    # as Kafka, OFFSET_OUT_OF_RANGE at once, so the follower starts again from the leader's
    # log start; an answer without records or a diverging epoch would leave it waiting.
    name = auto_created_topic(broker, "wire-no-epochs")
    with Conn(broker.bootstrap) as c:
        started = time.monotonic()
        _, res = kwire.parse_fetch_v12(c.roundtrip(kwire.replica_fetch_v12_request(
            41, 7, name, 0, fetch_offset=0, last_fetched_epoch=0, max_wait_ms=5000)))
        answered_after_s = time.monotonic() - started
    part = res[(name, 0)]
    assert part["error"] == 1, part  # OFFSET_OUT_OF_RANGE
    assert (part["log_start"], part["high_watermark"], part["diverging"]) == (0, 0, None)
    assert answered_after_s < 2.0, answered_after_s


def test_fetch_errors(broker, wire_topic):
    with Conn(broker.bootstrap) as c:
        _, res = kwire.parse_list_offsets_v1(c.roundtrip(
            kwire.list_offsets_v1_request(51, wire_topic, 0, -2)))
        assert res[(wire_topic, 0)]["error"] == 0 and res[(wire_topic, 0)]["offset"] == 0
        _, res = kwire.parse_list_offsets_v1(c.roundtrip(
            kwire.list_offsets_v1_request(52, wire_topic, 0, -1)))
        end = res[(wire_topic, 0)]["offset"]
        _, res = kwire.parse_fetch_v4(c.roundtrip(
            kwire.fetch_v4_request(53, wire_topic, 0, end + 1000)))
        assert res[(wire_topic, 0)]["error"] == 1  # OFFSET_OUT_OF_RANGE
        # Kafka sends empty (size 0), never null (-1), records with a partition error:
        # librdkafka treats MessageSetSize -1 as a protocol error and never resets.
        assert res[(wire_topic, 0)]["records_null"] is False
        _, res = kwire.parse_fetch_v4(c.roundtrip(kwire.fetch_v4_request(54, wire_topic, 7, 0)))
        assert res[(wire_topic, 7)]["error"] == 3  # UNKNOWN_TOPIC_OR_PARTITION
        assert res[(wire_topic, 7)]["records_null"] is False
        _, res = kwire.parse_fetch_v4(c.roundtrip(kwire.fetch_v4_request(55, wire_topic, 0, end)))
        assert res[(wire_topic, 0)]["error"] == 0 and res[(wire_topic, 0)]["records"] == b""


def test_metadata_invalid_topic_name(broker):
    with Conn(broker.bootstrap) as c:
        md = kwire.parse_metadata_v1(c.roundtrip(kwire.metadata_v1_request(61, ["bad name!"])))
    assert md["topics"]["bad name!"]["error"] == 17  # INVALID_TOPIC_EXCEPTION


# ------------------------------------------------------------------ connection closes
CLOSE_CASES = {
    "unknown_api_key": kwire.request(32000, 0, 1, b""),
    "unsupported_metadata_version": kwire.request(3, 99, 1, i32(-1)),
    "oversized_frame": i32(104857600 + 1) + b"\x00\x03\x00\x01",
    "negative_size": i32(-5) + b"\x00" * 8,
    "truncated_metadata_body": kwire.frame(i16(3) + i16(1) + i32(1) + string("t")
                                           + i32(1000) + string("only-one")),
    "truncated_produce_body": kwire.frame(i16(0) + i16(7) + i32(1) + string("t")
                                          + string(None) + i16(1) + i32(1000) + i32(1)
                                          + string("x") + i32(1) + i32(0) + i32(500) + b"abc"),
    "header_shorter_than_fixed_part": kwire.frame(b"\x00\x03\x00"),
    "client_id_longer_than_frame": kwire.frame(i16(3) + i16(1) + i32(1) + i16(500) + b"ab"),
    "garbage": kwire.frame(b"\x7f\x7f" + os.urandom(4) + b"\xff" * 40),
}


@pytest.mark.parametrize("case", sorted(CLOSE_CASES))
def test_bad_frames_close_connection(broker, case):
    with Conn(broker.bootstrap) as c:
        c.send(CLOSE_CASES[case])
        assert c.closed_by_peer(within=15), f"{case}: connection not closed without reply"
    assert_still_serving(broker)


def test_closed_after_bad_request_mid_pipeline(broker):
    """A bad request after a good one: the good one is answered, then the close."""
    with Conn(broker.bootstrap) as c:
        c.send(kwire.api_versions_request(1, 0) + CLOSE_CASES["unknown_api_key"])
        assert struct.unpack(">i", c.recv_frame()[:4])[0] == 1
        assert c.closed_by_peer(within=15)
    assert_still_serving(broker)


def test_many_connections_then_still_serving(broker):
    conns = [Conn(broker.bootstrap) for _ in range(50)]
    try:
        for i, c in enumerate(conns):
            c.send(kwire.api_versions_request(i, 0))
        assert [kwire.parse_api_versions(c.recv_frame(), 0)[0] for c in conns] == list(range(50))
    finally:
        for c in conns:
            c.close()
    assert_still_serving(broker)



def test_client_resetting_mid_fetch_leaves_broker_serving(broker, wire_topic):
    # Record bytes go out with sendfile, which raises SIGPIPE on a reset socket: the broker
    # must treat that as a closed connection, not die.
    with Conn(broker.bootstrap) as c:
        batch = kwire.record_batch([(None, os.urandom(100_000), []) for _ in range(10)])
        for i in range(4):
            c.roundtrip(kwire.produce_v7_request(500 + i, wire_topic, 0, batch))
    for attempt in range(5):
        c = Conn(broker.bootstrap)
        for i in range(20):
            c.send(kwire.fetch_v4_request(600 + i, wire_topic, 0, 0, max_bytes=8 << 20))
        # FIN first (the broker's side goes to CLOSE_WAIT), then RST with responses still
        # being written: the next sendfile fails with EPIPE.
        c.s.shutdown(socket.SHUT_WR)
        time.sleep(0.1)
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    assert_still_serving(broker)
