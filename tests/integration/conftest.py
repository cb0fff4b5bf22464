"""Fixtures that run a real broker for the integration tests.

The broker is Riacho (`$RIACHO_BIN`, default <repo>/build/src/broker/riacho) or,
with RIACHO_TEST_TARGET=kafka, a real Apache Kafka 4.x started through
scripts/apache-kafka.sh: Kafka is the oracle every test is validated against.

Each broker gets a temp data dir and an ephemeral port. Riacho is started with
`riacho serve --set listeners=PLAINTEXT://127.0.0.1:0 --set log.dirs=<dir>
--ready-file <path>` and is ready once the ready file holds `127.0.0.1:<port>`.
Both targets are then probed with ApiVersions + Metadata until the broker lists
itself, all polls bounded by a deadline. stderr goes to a file whose tail is
attached to the report of a failing test. Every process started here is killed
at teardown.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import kwire

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TARGET = os.environ.get("RIACHO_TEST_TARGET", "riacho")
RIACHO_BIN = os.environ.get("RIACHO_BIN", str(REPO / "build" / "src" / "broker" / "riacho"))
KAFKA_SCRIPT = REPO / "scripts" / "apache-kafka.sh"
DEPS = HERE / ".deps"
READY_TIMEOUT = float(os.environ.get("RIACHO_READY_TIMEOUT", "30" if TARGET == "riacho" else "120"))

_live_brokers: list["Broker"] = []
# Stopped for good during a test; their data dirs go once its report has their log tails.
_retired_brokers: list["Broker"] = []


def is_kafka() -> bool:
    return TARGET == "kafka"


def wait_until(pred, timeout=30.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - polled predicate may fail until ready
            last_exc = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}"
                               + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One broker process (Riacho or Apache Kafka) on a data dir of its own."""

    def __init__(self, settings: dict | None = None, name: str = "broker", extra_args=(),
                 host: str = "127.0.0.1", command_prefix=(), serves_clients: bool = True):
        self.settings = dict(settings or {})
        self.extra_args = list(extra_args)  # riacho only, e.g. ["--config", path]
        self.name = name
        # riacho only: the address it listens on, and a prefix that runs it elsewhere (e.g.
        # `ip netns exec <ns>`, which execs it: the pid stays the broker's).
        self.host = host
        self.command_prefix = list(command_prefix)
        # False for a dedicated controller (process.roles=controller): ready once its ready
        # file names its controller listener, which is then its address.
        self.serves_clients = serves_clients
        self.dir = Path(tempfile.mkdtemp(prefix=f"riacho-it-{name}-"))
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir()
        self.stderr_path = self.dir / "broker.stderr"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None
        self.starts = 0

    # -- paths -------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_dir(self) -> Path:
        """Where partition directories (<topic>-<partition>/) live."""
        return self.data_dir / "logs" if is_kafka() else self.data_dir

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        self.starts += 1
        if is_kafka():
            self._start_kafka()
        else:
            self._start_riacho()
        _live_brokers.append(self) if self not in _live_brokers else None
        if self.serves_clients:
            self._wait_serving()
        return self

    def _start_riacho(self):
        if not os.access(RIACHO_BIN, os.X_OK):
            pytest.fail(f"riacho binary not found at {RIACHO_BIN} (build it or set RIACHO_BIN)")
        ready = self.dir / "ready"
        ready.unlink(missing_ok=True)
        args = [*self.command_prefix, RIACHO_BIN, "serve",
                "--set", f"listeners=PLAINTEXT://{self.host}:{self.port}",
                "--set", f"log.dirs={self.data_dir}",
                "--ready-file", str(ready)]
        for k, v in self.settings.items():
            args += ["--set", f"{k}={v}"]
        args += self.extra_args
        with open(self.stderr_path, "ab") as err:
            err.write(f"\n=== start #{self.starts}: {' '.join(args)}\n".encode())
            err.flush()
            self.proc = subprocess.Popen(args, stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid

        def ready_addr():
            if self.proc.poll() is not None:
                raise RuntimeError(f"riacho exited with {self.proc.returncode} during startup")
            if ready.exists():
                text = ready.read_text()
                if text.endswith("\n") and ":" in text:
                    return text.strip()
            return None

        try:
            addr = wait_until(ready_addr, READY_TIMEOUT, what="riacho ready file")
        except (TimeoutError, RuntimeError) as e:
            self.kill()
            pytest.fail(f"{e}\n--- broker stderr tail ---\n{self.stderr_tail()}")
        self.port = int(addr.rsplit(":", 1)[1])

    def _start_kafka(self):
        if not self.port:
            self.port = free_port()
            self.controller_port = free_port()
        env = dict(os.environ, KAFKA_CONTROLLER_PORT=str(self.controller_port))
        args = [str(KAFKA_SCRIPT), "start", str(self.port), str(self.data_dir)]
        args += [f"{k}={v}" for k, v in self.settings.items()]
        res = subprocess.run(args, env=env, capture_output=True, text=True,
                             timeout=READY_TIMEOUT + 30)
        if res.returncode != 0:
            pytest.fail(f"apache-kafka.sh start failed:\n{res.stderr}")
        self.pid = int(res.stdout.strip().splitlines()[-1])
        self.stderr_path = self.data_dir / "kafka.log"

    def _wait_serving(self):
        def serving():
            with kwire.Conn(self.bootstrap, timeout=5) as c:
                _, err, apis, _ = kwire.parse_api_versions(
                    c.roundtrip(kwire.api_versions_request(1, 0)), 0)
                if err != 0 or 3 not in apis:
                    return False
                md = kwire.parse_metadata_v1(c.roundtrip(kwire.metadata_v1_request(2, [])))
                return any(b[2] == self.port for b in md["brokers"])

        try:
            wait_until(serving, READY_TIMEOUT, interval=0.1, what=f"{TARGET} serving metadata")
        except TimeoutError as e:
            self.kill()
            pytest.fail(f"{e}\n--- broker stderr tail ---\n{self.stderr_tail()}")

    def alive(self) -> bool:
        if self.pid is None:
            return False
        if self.proc is not None:
            return self.proc.poll() is None
        try:
            # The Kafka JVM is not our child: a zombie (state Z) counts as gone.
            stat = Path(f"/proc/{self.pid}/stat").read_text()
            return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False

    def _wait_exit(self, timeout) -> bool:
        try:
            wait_until(lambda: not self.alive(), timeout, what="broker exit")
            return True
        except TimeoutError:
            return False

    def stop(self, timeout=30.0) -> int | None:
        """SIGTERM and wait; returns the exit code (Riacho) or None (Kafka)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        os.kill(self.pid, signal.SIGTERM)
        if not self._wait_exit(timeout):
            os.kill(self.pid, signal.SIGKILL)
            self._wait_exit(10)
            raise AssertionError(f"broker did not exit within {timeout}s of SIGTERM")
        rc = self.proc.returncode if self.proc else None
        self._after_exit()
        return rc

    def kill(self):
        """kill -9: no chance to flush or close anything."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self._wait_exit(10)
        self._after_exit()

    def _after_exit(self):
        if is_kafka():
            (self.data_dir / "kafka.pid").unlink(missing_ok=True)

    def restart(self, kill=False):
        """Stops (SIGTERM, or SIGKILL with kill=True) and starts again on the
        same data dir and the same port."""
        if kill:
            self.kill()
        else:
            self.stop()
        self.start()
        return self

    def cleanup(self):
        try:
            self.kill()
        finally:
            if self in _live_brokers:
                _live_brokers.remove(self)
            if os.environ.get("RIACHO_TEST_KEEP") is None:
                shutil.rmtree(self.dir, ignore_errors=True)

    def retire(self):
        """kill -9 for good: the data dir is removed after the test (a failed test's report
        still shows the log tail)."""
        self.kill()
        if self not in _retired_brokers:
            _retired_brokers.append(self)

    def stderr_tail(self, lines=120) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no stderr captured)"


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def broker():
    """One broker shared by every test of a module (default settings)."""
    b = Broker(name="module").start()
    yield b
    b.cleanup()


@pytest.fixture
def broker_factory():
    """Starts brokers with extra settings for one test: broker_factory({...})."""
    made = []

    def make(settings=None, name="test", extra_args=()):
        b = Broker(settings, name=name, extra_args=extra_args).start()
        made.append(b)
        return b

    yield make
    for b in made:
        b.cleanup()


@pytest.fixture
def topic_name(request):
    """A topic name unique to the test (valid Kafka characters only)."""
    counter = {"n": 0}

    def make(suffix=""):
        counter["n"] += 1
        base = request.node.name.replace("[", ".").replace("]", "").replace("/", "_")
        base = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in base)
        return f"{base[:150]}{suffix}-{counter['n']}-{int(time.time() * 1000) % 100000}"

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for b in list(_live_brokers):
            rep.sections.append((f"{TARGET} broker {b.name} ({b.bootstrap}) log tail",
                                 b.stderr_tail()))
    if rep.when == "teardown":
        while _retired_brokers:
            _retired_brokers.pop().cleanup()


def pytest_report_header(config):
    where = KAFKA_SCRIPT if is_kafka() else RIACHO_BIN
    return f"broker target: {TARGET} ({where})"
