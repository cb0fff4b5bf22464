"""Broker processes and machine facts shared by the side-by-side bench scripts.

bench/groups.py, bench/latency.py and bench/footprint.py start Riacho and Apache Kafka the
way bench/run.sh does:
  Riacho  <riacho> serve --set listeners=PLAINTEXT://127.0.0.1:0 --set log.dirs=<dir>/data
          --ready-file <dir>/ready --set k=v ...   (ready once the file holds host:port)
  Kafka   scripts/apache-kafka.sh start <port> <dir> k=v ...  /  stop <dir> [--kill]
Kafka-only settings (Kafka has keys Riacho rejects at startup) go in `kafka_only`.
Every broker started here is registered and stopped at exit (atexit and SIGTERM/SIGINT), so
a failed or interrupted run leaves nothing behind.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
KAFKA_SCRIPT = ROOT / "scripts" / "apache-kafka.sh"
KAFKA_VERSION = os.environ.get("KAFKA_VERSION", "4.1.1")

_live: list = []
LOG_PREFIX = ""  # set by each suite, so the broker logs of several suites in one dir differ


def _stop_all():
    for b in list(_live):
        try:
            b.stop()
        except Exception as e:  # noqa: BLE001 - best effort at exit
            print(f"brokers: stopping {b.label} failed: {e}", file=sys.stderr)


atexit.register(_stop_all)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # runs atexit, which stops the brokers


signal.signal(signal.SIGTERM, _on_signal)


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def last_json_line(stdout: str) -> dict | None:
    """The bench tools (rdkafka_load, sendfile_rate) end with one JSON result line."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def run_tool(args, timeout) -> dict:
    """Runs a bench tool and returns its JSON result; a timeout, a missing result or a
    non-zero exit is a result with ok false and the reason."""
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"no result within {timeout} s (killed)"}
    res = last_json_line(r.stdout)
    if res is None:
        return {"ok": False, "error": f"no result (exit {r.returncode}): {r.stderr[-500:]}"}
    if r.returncode != 0 and res.get("ok"):
        res["ok"] = False
        res["error"] = f"exit status {r.returncode}"
    return res


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int | None) -> bool:
    """Running and not a zombie (the Kafka JVM is not our child)."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def rss(pid: int) -> dict:
    """VmRSS, RssAnon and RssFile of a process, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM", "Threads"):
            parts = v.split()
            out[k] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    try:
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/maps") as f:
            out["maps"] = sum(1 for _ in f)
    except OSError:
        pass
    return out


def api_versions_ok(bootstrap: str, timeout: float = 1.0) -> bool:
    """One ApiVersions v0 round trip answered with error 0 (the port serves Kafka requests)."""
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.settimeout(timeout)
            client = b"bench-probe"
            body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
            s.sendall(struct.pack(">i", len(body)) + body)
            head = b""
            while len(head) < 4:
                chunk = s.recv(4 - len(head))
                if not chunk:
                    return False
                head += chunk
            (n,) = struct.unpack(">i", head)
            data = b""
            while len(data) < min(n, 6):
                chunk = s.recv(n - len(data))
                if not chunk:
                    return False
                data += chunk
            corr, err = struct.unpack(">ih", data[:6])
            return corr == 7 and err == 0
    except OSError:
        return False


class Riacho:
    kind = "riacho"

    def __init__(self, binary: str, label: str, settings: dict | None = None,
                 out_dir: Path | None = None, data_dir: Path | None = None):
        self.binary = binary
        self.label = label
        self.settings = dict(settings or {})
        self.dir = Path(tempfile.mkdtemp(prefix=f"riacho-bench-{label}-"))
        self.data = data_dir or (self.dir / "data")
        self.data.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.proc: subprocess.Popen | None = None
        self.pid = None
        self.bootstrap = None
        self.starts = 0

    def start(self, timeout: float = 120.0) -> dict:
        """Starts the broker; returns {'ready_s': process start -> ready file}."""
        self.starts += 1
        ready = self.dir / "ready"
        ready.unlink(missing_ok=True)
        args = [self.binary, "serve", "--set", "listeners=PLAINTEXT://127.0.0.1:0",
                "--set", f"log.dirs={self.data}", "--ready-file", str(ready)]
        for k, v in self.settings.items():
            args += ["--set", f"{k}={v}"]
        logf = open(self.log_path(), "ab")
        logf.write(f"\n=== start #{self.starts}: {' '.join(args)}\n".encode())
        logf.flush()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()
        self.pid = self.proc.pid
        if self not in _live:
            _live.append(self)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"riacho ({self.label}) exited with {self.proc.returncode} "
                                   f"at startup; see {self.log_path()}")
            try:
                text = ready.read_text()
            except FileNotFoundError:
                text = ""
            if text.endswith("\n") and ":" in text:
                break
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"riacho ({self.label}) not ready in {timeout} s")
            time.sleep(0.002)
        ready_s = time.monotonic() - t0
        self.bootstrap = text.strip().splitlines()[0]
        return {"ready_s": ready_s, "t0": t0}

    def log_path(self) -> Path:
        return (self.out_dir or self.dir) / f"{LOG_PREFIX}{self.label}.broker.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(30)

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        if self in _live:
            _live.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)


class Kafka:
    kind = "kafka"

    def __init__(self, label: str, settings: dict | None = None, kafka_only: dict | None = None,
                 out_dir: Path | None = None):
        self.label = label
        self.settings = dict(settings or {})
        self.settings.update(kafka_only or {})
        self.dir = Path(tempfile.mkdtemp(prefix=f"riacho-bench-{label}-"))
        self.out_dir = out_dir
        self.port = free_port()
        self.cport = free_port()
        self.pid = None
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.env: dict = {}  # more for apache-kafka.sh, e.g. KAFKA_CLUSTER_ID for a cluster

    def start(self, timeout: float = 180.0) -> dict:
        """Starts the JVM (formats the dir the first time); returns {'script_s': ...}."""
        env = dict(os.environ, KAFKA_CONTROLLER_PORT=str(self.cport),
                   KAFKA_START_TIMEOUT=str(int(timeout)), **self.env)
        args = [str(KAFKA_SCRIPT), "start", str(self.port), str(self.dir)]
        args += [f"{k}={v}" for k, v in self.settings.items()]
        if self not in _live:
            _live.append(self)
        t0 = time.monotonic()
        res = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout + 60)
        script_s = time.monotonic() - t0
        if res.returncode != 0:
            raise RuntimeError(f"apache-kafka.sh start failed: {res.stderr[-2000:]}")
        self.pid = int(res.stdout.strip().splitlines()[-1])
        return {"script_s": script_s, "t0": t0}

    def log_path(self) -> Path:
        return self.dir / "kafka.log"

    def alive(self) -> bool:
        return alive(self.pid)

    def kill9(self):
        subprocess.run([str(KAFKA_SCRIPT), "stop", str(self.dir), "--kill"], check=False,
                       capture_output=True, timeout=120)

    def stop(self):
        if self.pid is not None:
            subprocess.run([str(KAFKA_SCRIPT), "stop", str(self.dir)], check=False,
                           capture_output=True, timeout=120)
        if self.out_dir is not None and self.log_path().exists():
            shutil.copy(self.log_path(), self.out_dir / f"{LOG_PREFIX}{self.label}.broker.log")
        if self in _live:
            _live.remove(self)
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_serving(bootstrap: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not api_versions_ok(bootstrap):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{bootstrap} does not answer ApiVersions")
        time.sleep(0.05)


def create_topics(bootstrap: str, topics: dict, batch: int = 10, timeout: float = 120.0):
    """Creates {name: partitions} (replication 1) through the admin API, `batch` per request."""
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = list(topics)
    for i in range(0, len(names), batch):
        part = [NewTopic(n, num_partitions=topics[n], replication_factor=1)
                for n in names[i:i + batch]]
        futs = admin.create_topics(part, operation_timeout=timeout, request_timeout=timeout)
        for name, f in futs.items():
            f.result(timeout=timeout + 30)


def metadata_partitions(bootstrap: str, timeout: float = 10.0) -> dict:
    """{topic: number of partitions with a leader}, from a Metadata request."""
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(timeout=timeout)
    return {t: sum(1 for p in tm.partitions.values() if p.leader >= 0)
            for t, tm in md.topics.items() if not t.startswith("__")}


def machine() -> dict:
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except Exception:  # noqa: BLE001
            return "?"
    return {
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p' | head -1"),
        "cores": os.cpu_count(),
        "mem": sh("free -g | awk '/^Mem:/ {print $2 \" GiB RAM\"}'"),
        "kernel": os.uname().release,
        "fs": sh("df -T /tmp | awk 'NR==2 {print $2}'"),
        "librdkafka": sh("dpkg-query -W -f '${Version}' librdkafka1 2>/dev/null"),
    }


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def commit_desc(rev: str | None = None) -> str:
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    r = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev or "HEAD"],
                       capture_output=True, text=True)
    c = r.stdout.strip() or "?"
    if not rev:
        d = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "src"])
        if d.returncode != 0:
            c += " + uncommitted edits"
    return c


def default_riacho_bin() -> str:
    return os.environ.get("RIACHO_BIN", str(ROOT / "build" / "src" / "broker" / "riacho"))


def out_dir_for(suite: str, given: str | None) -> Path:
    if given:
        p = Path(given)
    else:
        p = BENCH / "results" / f"{time.strftime('%Y-%m-%dT%H%M%SZ', time.gmtime())}-{suite}"
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_json(path: Path, obj):
    path.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")


def ratio(r, k, digits=2) -> str:
    if r is None or k is None or not isinstance(r, (int, float)) or not isinstance(k, (int, float)):
        return "—"
    if k == 0:
        return "—"
    return f"{r / k:.{digits}f}"
