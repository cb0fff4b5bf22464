"""Kafka Streams (4.1.1) word count with processing.guarantee=exactly_once_v2.

streams/ holds WordCount, built by scripts/install-test-deps.sh into
.deps/streams/wordcount-all.jar: lines in, the running count of each word out
(String key, Long value), the record cache off so every input word makes one
output record, commits every 100 ms. Under exactly-once the committed output of
a word is therefore 1, 2, 3, ..., n: a value repeated means a double count, a
gap a lost one.

The test produces known lines, runs the application until a read_committed
consumer sees every count complete, and checks each word's whole output
sequence; then, while more lines arrive, kills the application (SIGKILL, its
transaction left open), kill -9s and restarts the broker, restarts the
application on the same state dir, produces more lines, and checks again that
every word's committed sequence is exactly 1..n for the counts of all lines;
last, kill -9s and restarts the broker under the running application while
lines arrive, and checks the same once more.
"""
import collections
import os
import random
import shutil
import signal
import struct
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clients import confluent_wait_topic
from conftest import wait_until

HERE = Path(__file__).resolve().parent
JAR = HERE / ".deps" / "streams" / "wordcount-all.jar"
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliet", "kilo", "lima"]
PARTITIONS = 2


def lines(rng, n, tag):
    """n lines of 3..6 words (mixed case and punctuation, which the app folds away)."""
    out = []
    for i in range(n):
        ws = [rng.choice(WORDS) for _ in range(rng.randint(3, 6))]
        ws[0] = ws[0].capitalize()
        out.append(" ".join(ws) + (". " if i % 2 else "!"))
    return out


def counts(all_lines):
    c = collections.Counter()
    for line in all_lines:
        c.update(w.strip(".!").lower() for w in line.split() if w.strip(".!"))
    return c


class WordCountApp:
    """One WordCount JVM; stdout (STATE lines) and stderr go to files in `dir`."""

    def __init__(self, bootstrap, app_id, src, dst, state_dir, dir_):
        self.args = ["java", "-jar", str(JAR), bootstrap, app_id, src, dst, str(state_dir)]
        self.dir = Path(dir_)
        self.proc = None
        self.runs = 0

    def start(self):
        self.runs += 1
        self.out = self.dir / f"app{self.runs}.stdout"
        self.err = self.dir / f"app{self.runs}.stderr"
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.proc = subprocess.Popen(self.args, stdout=o, stderr=e, stdin=subprocess.DEVNULL)
        return self

    def states(self):
        return [ln.split()[1] for ln in self.out.read_text().splitlines()
                if ln.startswith("STATE ")]

    def wait_running(self, timeout=60):
        def running():
            assert self.proc.poll() is None, f"WordCount exited:\n{self.tail()}"
            return "RUNNING" in self.states()
        wait_until(running, timeout, interval=0.2, what="WordCount RUNNING")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self):
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
                         for p in (self.out, self.err) if p.exists())


class OutputReader:
    """A read_committed consumer over the output topic from offset 0, kept open across
    polls: seq[word] is every committed count seen for the word, in offset order."""

    def __init__(self, bootstrap, topic):
        self.bootstrap, self.topic = bootstrap, topic
        self.seq = collections.defaultdict(list)
        self.c = None

    def _open(self):
        self.c = Consumer({"bootstrap.servers": self.bootstrap,
                           "group.id": f"wc-check-{uuid.uuid4().hex[:8]}",
                           "isolation.level": "read_committed",
                           "enable.auto.commit": False})
        self.c.assign([TopicPartition(self.topic, p, 0) for p in range(PARTITIONS)])

    def poll(self, seconds):
        if self.c is None:
            self._open()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            m = self.c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                if not m.error().fatal() and m.error().retriable():
                    continue
                raise KafkaException(m.error())
            self.seq[m.key().decode()].append(struct.unpack(">q", m.value())[0])

    def latest(self):
        return {w: s[-1] for w, s in self.seq.items()}

    def wait_for(self, expected, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll(0.5)
            if self.latest() == dict(expected):
                return
        raise AssertionError(f"counts incomplete after {timeout}s: got {self.latest()}, "
                             f"want {dict(expected)}")

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def produce(bootstrap, topic, values, delay=0.0):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for v in values:
        p.produce(topic, value=v.encode())
        if delay:
            p.poll(0)
            time.sleep(delay)
    assert p.flush(30) == 0


def check_sequences(reader, expected):
    for w in WORDS:
        assert reader.seq.get(w, []) == list(range(1, expected[w] + 1)), \
            f"{w}: committed counts {reader.seq.get(w)} (want 1..{expected[w]})"
    assert set(reader.seq) <= set(WORDS)


@pytest.mark.timeout(400)
def test_word_count_exactly_once_survives_app_kill_and_broker_restart(broker_factory, tmp_path):
    if shutil.which("java") is None:
        pytest.skip("java not installed")
    if not JAR.is_file():
        pytest.fail(f"{JAR} missing: run scripts/install-test-deps.sh")
    b = broker_factory(name="streams")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    src, dst, app_id = "wc-lines", "wc-counts", "wordcount-eos"
    fs = admin.create_topics([NewTopic(t, num_partitions=PARTITIONS, replication_factor=1)
                              for t in (src, dst)], operation_timeout=15)
    for t, f in fs.items():
        f.result(timeout=30)
        confluent_wait_topic(admin, t, PARTITIONS)
    rng = random.Random(8)
    batch_a, batch_b, batch_c = lines(rng, 60, "a"), lines(rng, 200, "b"), lines(rng, 60, "c")
    batch_d = lines(rng, 150, "d")
    state_dir = tmp_path / "state"
    app = WordCountApp(b.bootstrap, app_id, src, dst, state_dir, tmp_path)
    reader = OutputReader(b.bootstrap, dst)
    try:
        # 1. Known lines, then the application: exact counts, each word's sequence 1..n.
        produce(b.bootstrap, src, batch_a)
        app.start().wait_running()
        want = counts(batch_a)
        reader.wait_for(want, timeout=60)
        reader.poll(1.0)  # nothing more may come
        check_sequences(reader, want)

        # 2. Lines keep arriving; the application is killed part way (a transaction open).
        feeder = threading.Thread(target=produce, args=(b.bootstrap, src, batch_b, 0.01))
        feeder.start()
        done_a = sum(want.values())
        wait_until(lambda: (reader.poll(0.2), sum(len(s) for s in reader.seq.values()))[1]
                   > done_a + 50, 30, what="the application counting the second batch")
        app.kill()
        feeder.join(60)
        assert not feeder.is_alive()
        reader.close()
        progress = sum(len(s) for s in reader.seq.values())
        assert progress < sum(counts(batch_a + batch_b).values()), \
            "the kill came after the whole second batch was counted"

        # 3. The broker is killed and restarted; the application restarts on its state dir.
        b.restart(kill=True)
        app.start().wait_running(timeout=90)
        produce(b.bootstrap, src, batch_c)
        want = counts(batch_a + batch_b + batch_c)
        final = OutputReader(b.bootstrap, dst)
        try:
            final.wait_for(want, timeout=90)
            final.poll(1.0)
            check_sequences(final, want)
        finally:
            final.close()

        # 4. The broker is killed (kill -9) and restarted under the running application while
        # lines arrive: its transactions in flight are aborted or completed, never half-seen.
        feeder = threading.Thread(target=produce, args=(b.bootstrap, src, batch_d, 0.01))
        feeder.start()
        time.sleep(0.7)
        b.restart(kill=True)
        feeder.join(120)
        assert not feeder.is_alive()
        want = counts(batch_a + batch_b + batch_c + batch_d)
        final = OutputReader(b.bootstrap, dst)
        try:
            final.wait_for(want, timeout=120)
            final.poll(1.0)
            check_sequences(final, want)
        finally:
            final.close()
        assert app.proc.poll() is None, "the application died"
        app.stop()
        assert app.proc.returncode is not None
    except BaseException:
        print(app.tail())
        raise
    finally:
        reader.close()
        app.kill()
