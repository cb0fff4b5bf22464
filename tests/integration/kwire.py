"""A tiny Kafka wire-protocol encoder/decoder for raw-socket tests.

Only what the integration tests need: request framing (header v1/v2),
ApiVersions, Metadata v1, Produce v7, Fetch v4 and ListOffsets v1 bodies, and a
RecordBatch v2 builder/parser. Big-endian, as on the wire. Nothing here is
shared with the broker: it is an independent second implementation from the
protocol fact sheet, so a bug in the broker's codecs cannot hide in it.
"""
from __future__ import annotations

import socket
import struct
import time

try:
    import crc32c as _crc32c

    def crc32c(data: bytes) -> int:
        return _crc32c.crc32c(data)
except ImportError:  # pragma: no cover - slow pure-python fallback
    _TABLE = []
    for _i in range(256):
        _c = _i
        for _ in range(8):
            _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
        _TABLE.append(_c)

    def crc32c(data: bytes) -> int:
        c = 0xFFFFFFFF
        for b in data:
            c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
        return c ^ 0xFFFFFFFF


# ---------------------------------------------------------------- primitives
def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def uvarint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v):
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


def array(items):
    return i32(len(items)) + b"".join(items)


class Reader:
    def __init__(self, data: bytes):
        self.d = data
        self.p = 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError(f"short read: need {n} at {self.p} of {len(self.d)}")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = v = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7

    def varint(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def rest(self):
        return self.d[self.p:]


# ---------------------------------------------------------------- framing
def frame(payload: bytes) -> bytes:
    return i32(len(payload)) + payload


def request(api_key, api_version, corr, body, client_id="riacho-wire-test", flexible=False):
    hdr = i16(api_key) + i16(api_version) + i32(corr) + string(client_id)
    if flexible:
        hdr += uvarint(0)  # empty header tag section
    return frame(hdr + body)


class Conn:
    """A blocking connection with a deadline on every read."""

    def __init__(self, addr: str, timeout: float = 10.0):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.timeout = timeout

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data: bytes):
        self.s.sendall(data)

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by peer")
            buf += chunk
        return bytes(buf)

    def recv_frame(self) -> bytes:
        size = struct.unpack(">i", self._recv_exact(4))[0]
        return self._recv_exact(size)

    def roundtrip(self, data: bytes) -> bytes:
        self.send(data)
        return self.recv_frame()

    def closed_by_peer(self, within: float = 10.0) -> bool:
        """True once the peer closes (EOF or reset) within `within` seconds.

        Any bytes the peer sends first are a failure: returns False."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.s.recv(4096)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not data:
                return True
            return False
        return False


# ---------------------------------------------------------------- ApiVersions
def api_versions_request(corr, version=0, software=("riacho-wire-test", "1.0")):
    if version >= 3:
        body = compact_string(software[0]) + compact_string(software[1]) + uvarint(0)
        return request(18, version, corr, body, flexible=True)
    return request(18, version, corr, b"")


def parse_api_versions(resp: bytes, version: int):
    """Returns (correlation_id, error_code, {api_key: (min, max)}, throttle)."""
    r = Reader(resp)
    corr = r.i32()  # response header v0, always, for ApiVersions
    err = r.i16()
    apis = {}
    throttle = None
    if version >= 3:
        for _ in range(r.uvarint() - 1):
            k, lo, hi = r.i16(), r.i16(), r.i16()
            r.tags()
            apis[k] = (lo, hi)
        throttle = r.i32()
        r.tags()
    else:
        for _ in range(r.i32()):
            k, lo, hi = r.i16(), r.i16(), r.i16()
            apis[k] = (lo, hi)
        if version >= 1:
            throttle = r.i32()
    return corr, err, apis, throttle


# ---------------------------------------------------------------- Metadata v1
def metadata_v1_request(corr, topics=None):
    body = i32(-1) if topics is None else array([string(t) for t in topics])
    return request(3, 1, corr, body)


def parse_metadata_v1(resp: bytes):
    r = Reader(resp)
    corr = r.i32()
    brokers = []
    for _ in range(r.i32()):
        brokers.append((r.i32(), r.string(), r.i32(), r.string()))
    controller = r.i32()
    topics = {}
    for _ in range(r.i32()):
        err, name, internal = r.i16(), r.string(), r.i8()
        parts = {}
        for _ in range(r.i32()):
            perr, pid, leader = r.i16(), r.i32(), r.i32()
            replicas = [r.i32() for _ in range(r.i32())]
            isr = [r.i32() for _ in range(r.i32())]
            parts[pid] = dict(error=perr, leader=leader, replicas=replicas, isr=isr)
        topics[name] = dict(error=err, internal=bool(internal), partitions=parts)
    return dict(corr=corr, brokers=brokers, controller=controller, topics=topics)


# ---------------------------------------------------------------- record batch v2
def record_batch(records, base_ts=1_700_000_000_000, producer_id=-1, producer_epoch=-1,
                 base_sequence=-1, attributes=0, corrupt_crc=False, magic=2, compress=None):
    """records: list of (key, value, [(hkey, hval)]) with bytes/None fields.
    compress: optional (codec_id, fn) applied to the records section."""
    recs = b""
    for i, (k, v, hdrs) in enumerate(records):
        body = i8(0) + varint(i) + varint(i)  # attributes, timestampDelta, offsetDelta
        body += varint(-1) if k is None else varint(len(k)) + k
        body += varint(-1) if v is None else varint(len(v)) + v
        body += varint(len(hdrs))
        for hk, hv in hdrs:
            hk = hk.encode() if isinstance(hk, str) else hk
            body += varint(len(hk)) + hk + (varint(-1) if hv is None else varint(len(hv)) + hv)
        recs += varint(len(body)) + body
    n = len(records)
    if compress is not None:
        codec, fn = compress
        attributes = (attributes & ~7) | codec
        recs = fn(recs)
    after_crc = (i16(attributes) + i32(n - 1) + i64(base_ts) + i64(base_ts + n - 1)
                 + i64(producer_id) + i16(producer_epoch) + i32(base_sequence) + i32(n) + recs)
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0x5A5A5A5A
    after_len = i32(0) + i8(magic) + struct.pack(">I", crc) + after_crc
    return i64(0) + i32(len(after_len)) + after_len


def xerial_snappy(raw: bytes, chunk: int = 32 * 1024) -> bytes:
    """The framed ("xerial", snappy-java) stream the Java client writes: magic
    header, version 1, compatible version 1, then (int32 length, raw block)*."""
    import snappy

    out = b"\x82SNAPPY\x00" + i32(1) + i32(1)
    for k in range(0, len(raw), chunk):
        block = snappy.compress(raw[k:k + chunk])
        out += i32(len(block)) + block
    return out


def parse_batches(data: bytes):
    """Parses a records blob into batches (header fields + decoded records when
    uncompressed). A trailing partial batch is ignored, as clients do."""
    out = []
    p = 0
    while p + 12 <= len(data):
        base_offset, length = struct.unpack(">qi", data[p:p + 12])
        if p + 12 + length > len(data):
            break
        b = data[p:p + 12 + length]
        r = Reader(b[12:])
        leader_epoch, magic = r.i32(), r.i8()
        crc = struct.unpack(">I", r.take(4))[0]
        crc_ok = crc32c(b[21:]) == crc
        attrs, last_delta = r.i16(), r.i32()
        first_ts, max_ts = r.i64(), r.i64()
        pid, epoch, seq, count = r.i64(), r.i16(), r.i32(), r.i32()
        batch = dict(base_offset=base_offset, length=length, leader_epoch=leader_epoch,
                     magic=magic, crc_ok=crc_ok, attributes=attrs, compression=attrs & 7,
                     last_offset_delta=last_delta, first_timestamp=first_ts, max_timestamp=max_ts,
                     producer_id=pid, producer_epoch=epoch, base_sequence=seq, count=count,
                     records=None)
        if attrs & 7 == 0:
            recs = []
            for _ in range(count):
                r.varint()  # length
                r.i8()
                ts_delta, off_delta = r.varint(), r.varint()
                kl = r.varint()
                k = None if kl < 0 else r.take(kl)
                vl = r.varint()
                v = None if vl < 0 else r.take(vl)
                hdrs = []
                for _ in range(r.varint()):
                    hk = r.take(r.varint()).decode()
                    hl = r.varint()
                    hdrs.append((hk, None if hl < 0 else r.take(hl)))
                recs.append(dict(offset=base_offset + off_delta, timestamp=first_ts + ts_delta,
                                 key=k, value=v, headers=hdrs))
            batch["records"] = recs
        out.append(batch)
        p += 12 + length
    return out


# ---------------------------------------------------------------- Produce v7
def produce_v7_request(corr, topic, partition, batch_bytes, acks=-1, timeout_ms=10000):
    body = (string(None) + i16(acks) + i32(timeout_ms)
            + array([string(topic) + array([i32(partition) + i32(len(batch_bytes)) + batch_bytes])]))
    return request(0, 7, corr, body)


def parse_produce_v7(resp: bytes):
    """Returns (corr, {(topic, partition): dict(error, base_offset, log_start)})."""
    r = Reader(resp)
    corr = r.i32()
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p, err, base = r.i32(), r.i16(), r.i64()
            append_time, log_start = r.i64(), r.i64()
            out[(t, p)] = dict(error=err, base_offset=base, log_append_time=append_time,
                               log_start=log_start)
    return corr, out


# ---------------------------------------------------------------- Fetch v4
def fetch_v4_request(corr, topic, partition, offset, max_bytes=1 << 20, max_wait_ms=0,
                     isolation_level=0):
    body = (i32(-1) + i32(max_wait_ms) + i32(1) + i32(max_bytes) + i8(isolation_level)
            + array([string(topic) + array([i32(partition) + i64(offset) + i32(max_bytes)])]))
    return request(1, 4, corr, body)


def parse_fetch_v4(resp: bytes):
    r = Reader(resp)
    corr = r.i32()
    r.i32()  # throttle
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p, err, hw, lso = r.i32(), r.i16(), r.i64(), r.i64()
            n = r.i32()
            for _ in range(max(n, 0)):
                r.i64(); r.i64()
            recs = r.bytes_()
            out[(t, p)] = dict(error=err, high_watermark=hw, last_stable_offset=lso,
                               records=recs or b"", records_null=recs is None)
    return corr, out


# ---------------------------------------------------------------- Fetch v12 (a follower's)
def replica_fetch_v12_request(corr, replica_id, topic, partition, fetch_offset,
                              last_fetched_epoch, max_wait_ms=0, current_leader_epoch=-1):
    """A follower's fetch: replica id, and the epoch of its last batch (KIP-595)."""
    part = (i32(partition) + i32(current_leader_epoch) + i64(fetch_offset)
            + i32(last_fetched_epoch) + i64(-1) + i32(1 << 20) + uvarint(0))
    topics = uvarint(2) + compact_string(topic) + uvarint(2) + part + uvarint(0)
    body = (i32(replica_id) + i32(max_wait_ms) + i32(1) + i32(1 << 20) + i8(0) + i32(0)
            + i32(-1) + topics + uvarint(1) + compact_string("") + uvarint(0))
    return request(1, 12, corr, body, flexible=True)


def parse_fetch_v12(resp: bytes):
    """{(topic, partition): error, high_watermark, log_start, records, diverging (epoch,
    end offset) or None}."""
    r = Reader(resp)
    corr = r.i32()
    r.tags()
    r.i32()  # throttle
    out = {"error": r.i16(), "session_id": r.i32()}
    for _ in range(r.uvarint() - 1):
        t = r.compact_string()
        for _ in range(r.uvarint() - 1):
            p, err, hw, lso, log_start = r.i32(), r.i16(), r.i64(), r.i64(), r.i64()
            for _ in range(max(r.uvarint() - 1, 0)):
                r.i64(); r.i64(); r.tags()
            r.i32()  # preferred read replica
            n = r.uvarint()
            recs = r.take(n - 1) if n > 0 else b""
            diverging = None
            for _ in range(r.uvarint()):
                tag, size = r.uvarint(), r.uvarint()
                data = r.take(size)
                if tag == 0:
                    d = Reader(data)
                    diverging = (d.i32(), d.i64())
            out[(t, p)] = dict(error=err, high_watermark=hw, last_stable_offset=lso,
                               log_start=log_start, records=recs, diverging=diverging)
        r.tags()
    return corr, out


# ---------------------------------------------------------------- ListOffsets v1
def list_offsets_v1_request(corr, topic, partition, timestamp):
    body = i32(-1) + array([string(topic) + array([i32(partition) + i64(timestamp)])])
    return request(2, 1, corr, body)


def parse_list_offsets_v1(resp: bytes):
    r = Reader(resp)
    corr = r.i32()
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p, err, ts, off = r.i32(), r.i16(), r.i64(), r.i64()
            out[(t, p)] = dict(error=err, timestamp=ts, offset=off)
    return corr, out


def fetch_batches(addr, topic, partition=0, offset=0):
    """All batches of a partition from `offset` up to the high watermark via raw
    Fetch v4 requests (a broker may answer from one segment per request)."""
    out = []
    with Conn(addr) as c:
        for corr in range(1, 1000):
            _, res = parse_fetch_v4(c.roundtrip(fetch_v4_request(corr, topic, partition, offset)))
            part = res[(topic, partition)]
            assert part["error"] == 0, f"fetch error {part['error']}"
            batches = [b for b in parse_batches(part["records"])
                       if b["base_offset"] + b["last_offset_delta"] >= offset]
            if not batches:
                break
            out.extend(batches)
            offset = batches[-1]["base_offset"] + batches[-1]["last_offset_delta"] + 1
            if offset >= part["high_watermark"]:
                break
    return out


# ---------------------------------------------------------------- transactions
def list_offset(conn, topic, partition, timestamp, isolation_level=0):
    """ListOffsets v2 (has isolation_level): the offset, raising on an error code."""
    body = (i32(-1) + i8(isolation_level)
            + array([string(topic) + array([i32(partition) + i64(timestamp)])]))
    r = Reader(conn.roundtrip(request(2, 2, 1, body)))
    r.i32(); r.i32()  # correlation, throttle
    r.i32(); r.string(); r.i32()  # one topic, one partition
    _, err, _, offset = r.i32(), r.i16(), r.i64(), r.i64()
    assert err == 0, f"ListOffsets error {err}"
    return offset


def init_producer_id(conn, transactional_id, timeout_ms):
    """InitProducerId v1: (error, producer_id, producer_epoch)."""
    r = Reader(conn.roundtrip(request(22, 1, 1, string(transactional_id) + i32(timeout_ms))))
    r.i32(); r.i32()
    return r.i16(), r.i64(), r.i16()


def end_txn(conn, transactional_id, producer_id, producer_epoch, commit):
    """EndTxn v1: the error code."""
    body = string(transactional_id) + i64(producer_id) + i16(producer_epoch) + i8(1 if commit else 0)
    r = Reader(conn.roundtrip(request(26, 1, 1, body)))
    r.i32(); r.i32()
    return r.i16()


def produce_error(conn, topic, partition, batch_bytes, transactional_id=None):
    """Produce v7 of one batch: the partition's error code."""
    body = (string(transactional_id) + i16(-1) + i32(10000)
            + array([string(topic) + array([i32(partition) + i32(len(batch_bytes)) + batch_bytes])]))
    _, out = parse_produce_v7(conn.roundtrip(request(0, 7, 1, body)))
    return out[(topic, partition)]["error"]
