"""Consumer groups and committed offsets, through confluent-kafka (librdkafka) and
kafka-python, each scenario with both clients.

Groups of 2 on 3 partitions split 2+1 and read every record exactly once; a 4th member on
3 partitions sits idle; members never share a partition; the group rebalances when a
member joins, leaves, or is killed (session timeout); the eager (range, roundrobin) and
cooperative-sticky assignors work; a static member (group.instance.id) comes back without
a rebalance; committed offsets resume after a consumer restart, a broker restart and a
broker kill -9; auto.offset.reset applies when a group has no offset; admin clients list
(with a state filter), describe and delete groups and list and delete their offsets.
Broker settings: group.initial.rebalance.delay.ms=0 and group.min.session.timeout.ms=1000,
so joins and session timeouts take seconds (the same settings are given to Kafka).
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time
import uuid

import pytest

from conftest import is_kafka, wait_until

SETTINGS = {"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000",
            "offsets.topic.num.partitions": "5"}
CLIENTS = ["confluent", "kafka-python"]


@pytest.fixture(scope="module")
def gbroker(request):
    from conftest import Broker
    b = Broker(SETTINGS, name="groups").start()
    _SHARED.module_bootstrap = b.bootstrap
    yield b
    drop_shared()
    b.cleanup()


class _shared_clients(dict):
    module_bootstrap = None


_SHARED = _shared_clients()


def shared(kind, bootstrap):
    """One librdkafka admin client and producer for the module's broker. A run once
    saw a kafka-python consumer's IO thread go deaf (a task queued, its select() never woken)
    while the test created and destroyed librdkafka clients in the same process; descriptor
    reuse between the two libraries is the suspect, so the test no longer churns them.
    diagnose() reports the consumer's descriptors if it happens again."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient
    conf = {"bootstrap.servers": bootstrap}

    def make():
        return AdminClient(conf) if kind == "admin" else Producer({**conf, "linger.ms": 5})
    if bootstrap != _SHARED.module_bootstrap:  # a test's own broker: a client for this call
        return make()
    if (kind, bootstrap) not in _SHARED:
        _SHARED[(kind, bootstrap)] = make()
    return _SHARED[(kind, bootstrap)]


def drop_shared():
    for key in list(_SHARED):
        client = _SHARED.pop(key)
        if key[0] == "producer":
            client.flush(10)
        del client
    _SHARED.module_bootstrap = None


def create_topic(bootstrap, name, partitions=3):
    from confluent_kafka.admin import NewTopic
    a = shared("admin", bootstrap)
    a.create_topics([NewTopic(name, partitions, 1)])[name].result(30)

    def ready():
        md = a.list_topics(name, timeout=5).topics.get(name)
        return md is not None and md.error is None and len(md.partitions) == partitions and \
            all(p.leader >= 0 for p in md.partitions.values())
    wait_until(ready, 30, what=f"topic {name}")


def produce(bootstrap, topic, n, partitions=3, start=0):
    p = shared("producer", bootstrap)
    for i in range(start, start + n):
        p.produce(topic, value=f"v{i}".encode(), key=f"k{i}".encode(), partition=i % partitions)
    assert p.flush(30) == 0


class member:
    """One group member of either client, polled by the test's loop."""

    def __init__(self, kind, bootstrap, group, topic, **opts):
        self.kind = kind
        self._commit_requested = threading.Event()
        self._committed = threading.Event()
        self.records = []
        self.revoked = 0
        self.closed = False
        session = opts.get("session_ms", 6000)
        reset = opts.get("reset", "earliest")
        if kind == "confluent":
            from confluent_kafka import Consumer
            conf = {"bootstrap.servers": bootstrap, "group.id": group,
                    "auto.offset.reset": reset, "enable.auto.commit": False,
                    "session.timeout.ms": session, "heartbeat.interval.ms": 300,
                    "topic.metadata.refresh.interval.ms": 2000, "max.poll.interval.ms": 20000}
            if opts.get("assignor"):
                conf["partition.assignment.strategy"] = opts["assignor"]
            if opts.get("instance"):
                conf["group.instance.id"] = opts["instance"]
            self.c = Consumer(conf)
            self.c.subscribe([topic], on_revoke=self._on_revoke)
        else:
            from kafka import KafkaConsumer
            from kafka.coordinator.assignors.range import RangePartitionAssignor
            from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
            from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
            assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
                         "sticky": StickyPartitionAssignor}
            conf = dict(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset=reset,
                        enable_auto_commit=False, session_timeout_ms=session,
                        heartbeat_interval_ms=300, metadata_max_age_ms=2000,
                        max_poll_interval_ms=20000)
            if opts.get("assignor"):
                conf["partition_assignment_strategy"] = [assignors[opts["assignor"]]]
            if opts.get("instance"):
                conf["group_instance_id"] = opts["instance"]
            self.c = KafkaConsumer(**conf)
            # Metadata first: a kafka-python leader that assigned before knowing the topic
            # rejoins as soon as it learns it, and 3.0.12 can stall in that rejoin (no request
            # is sent after the SyncGroup response; seen against Riacho, a client-side hang).
            wait_until(lambda: self.c.partitions_for_topic(topic), 30, what="topic metadata")
            from kafka import ConsumerRebalanceListener
            outer = self

            class listener(ConsumerRebalanceListener):
                def on_partitions_revoked(self, revoked):
                    if revoked:
                        outer.revoked += 1

                def on_partitions_assigned(self, assigned):
                    pass
            self.c.subscribe([topic], listener=listener())
            # kafka-python joins inside poll() and blocks there until the rebalance completes,
            # so each member polls on a thread of its own (librdkafka's join is asynchronous).
            self._stop = threading.Event()
            self._assigned = set()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            # A second, not 100 ms: kafka-python 3.0.12 loses a rebalance that outlasts the
            # poll that started it. Its poll gives up waiting on the JoinGroup/SyncGroup task;
            # when the task ends, the next poll finds nothing left to rejoin and skips the
            # completion (heartbeats stay off, the revoked partitions are never assigned
            # again): the member stops fetching and the coordinator expires it. Seen in CI
            # under the sanitizers, on the rejoin kafka-python makes ~2 s after its first join
            # (its first metadata refresh). poll() returns as soon as records arrive.
            for tp, msgs in self.c.poll(timeout_ms=1000).items():
                self.records.extend((tp.partition, m.offset, m.value) for m in msgs)
            self._assigned = {tp.partition for tp in self.c.assignment()}
            if self._commit_requested.is_set():
                try:
                    self.c.commit()
                finally:
                    self._commit_requested.clear()
                    self._committed.set()

    def _on_revoke(self, consumer, partitions):
        if partitions:
            self.revoked += 1

    def poll(self, timeout=0.1):
        if self.closed:
            return
        if self.kind == "confluent":
            m = self.c.poll(timeout)
            if m is not None and not m.error():
                self.records.append((m.partition(), m.offset(), m.value()))
        else:
            time.sleep(timeout)

    def diagnose(self):
        """What the kafka-python threads are doing (this member's poll thread, the client's
        network and heartbeat threads), so a hang in the client can be told from a broker
        that does not answer. librdkafka's threads are not Python's."""
        if self.kind == "confluent" or self.closed:
            return ""
        import traceback
        frames = sys._current_frames()
        out = [f"\n--- kafka-python member: poll thread alive {self._thread.is_alive()}, "
               f"{len(self.records)} records"]
        for t in threading.enumerate():
            frame = frames.get(t.ident)
            if t is threading.main_thread() or frame is None:
                continue
            stack = traceback.format_stack(frame)
            if t is self._thread or any("/kafka/" in line for line in stack):
                out.append(f"thread {t.name}:\n" + "".join(stack[-8:]))
        net = getattr(self.c, "_net", None)
        if net is not None:
            def frames_of(task):
                # kafka-python 3's Task keeps its coroutines as a linked (coro, parent) stack.
                where = []
                stack = getattr(task, "_stack", None)
                while stack:
                    f = getattr(stack[0], "cr_frame", None) or getattr(stack[0], "gi_frame", None)
                    if f is not None:
                        where.append(f"{f.f_code.co_name}:{f.f_lineno}")
                    stack = stack[1]
                return f"{getattr(task, 'state', '?')}: " + " < ".join(where)
            out.append(f"net: ready {len(getattr(net, '_ready', []))}, scheduled "
                       f"{len(getattr(net, '_scheduled', []))}")
            for task in list(getattr(net, "_pending_tasks", []))[:20]:
                out.append(f"  pending task: {frames_of(task)}")
            # Are the client's descriptors still its own? (Another library closing a reused
            # descriptor would leave its selector deaf.)
            selector = getattr(net, "_selector", None)
            for key in list(selector.get_map().values()) if selector is not None else []:
                fd = key.fd
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError as e:
                    target = f"closed ({e.strerror})"
                mine = getattr(key.fileobj, "fileno", lambda: None)()
                out.append(f"  registered fd {fd} (object's fd now {mine}): {target}")
        return "\n".join(out)

    def assignment(self):
        if self.closed:
            return set()
        if self.kind == "confluent":
            return {tp.partition for tp in self.c.assignment()}
        return set(self._assigned)

    def commit(self):
        if self.kind == "confluent":
            self.c.commit(asynchronous=False)
        else:
            self._committed.clear()
            self._commit_requested.set()
            assert self._committed.wait(30), "commit did not complete"

    def close(self, crash=False):
        """close(); crash=True abandons a kafka-python consumer without closing it."""
        if not self.closed:
            self.closed = True
            if self.kind == "confluent":
                self.c.close()
            else:
                self._stop.set()
                self._thread.join(30)
                if crash:
                    self._abandoned = True
                else:
                    self.c.close()

    def finalize(self):
        """Closes what close(crash=True) abandoned (end of test)."""
        if getattr(self, "_abandoned", False):
            self._abandoned = False
            self.c.close(autocommit=False)


def poll_until(members, pred, timeout=45, what="group condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            m.poll(0.05)
        if pred():
            return
    raise AssertionError(f"timed out waiting for {what}: assignments "
                         f"{[sorted(m.assignment()) for m in members]}; "
                         f"records {[m.records[-5:] for m in members]}"
                         + "".join(m.diagnose() for m in members))


def sizes(members):
    return sorted(len(m.assignment()) for m in members)


def disjoint(members):
    seen = set()
    for m in members:
        a = m.assignment()
        if seen & a:
            return False
        seen |= a
    return True


def names(tag):
    u = uuid.uuid4().hex[:8]
    return f"groups-{tag}-{u}", f"g-{tag}-{u}"


@pytest.fixture
def members():
    made = []
    yield made
    for m in made:
        try:
            m.close()
            m.finalize()
        except Exception:  # noqa: BLE001
            pass


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("assignor", ["range", "roundrobin", "sticky"])
def test_two_members_split_three_partitions(gbroker, members, client, assignor):
    if client == "confluent" and assignor == "sticky":
        assignor = "cooperative-sticky"
    topic, group = names("split")
    create_topic(gbroker.bootstrap, topic)
    members += [member(client, gbroker.bootstrap, group, topic, assignor=assignor)
                for _ in range(2)]
    poll_until(members, lambda: sizes(members) == [1, 2], what="2+1 split")
    for _ in range(10):  # let the split settle (no uncommitted partition moves afterwards)
        for m in members:
            m.poll(0.05)
    produce(gbroker.bootstrap, topic, 30)
    poll_until(members, lambda: sum(len(m.records) for m in members) >= 30,
               what="30 records")
    assert sizes(members) == [1, 2]
    assert disjoint(members)
    got = sorted(r[2] for m in members for r in m.records)
    assert got == sorted(f"v{i}".encode() for i in range(30))  # every record exactly once
    # A third member joins: the group rebalances to 1+1+1.
    members.append(member(client, gbroker.bootstrap, group, topic, assignor=assignor))
    poll_until(members, lambda: sizes(members) == [1, 1, 1] and disjoint(members),
               what="1+1+1 after a join")


@pytest.mark.parametrize("client", CLIENTS)
def test_fourth_member_is_idle_and_leave_rebalances(gbroker, members, client):
    topic, group = names("idle")
    create_topic(gbroker.bootstrap, topic)
    members += [member(client, gbroker.bootstrap, group, topic) for _ in range(4)]
    poll_until(members, lambda: sizes(members) == [0, 1, 1, 1] and disjoint(members),
               what="one idle member")
    for m in [m for m in members if m.assignment()][:2]:
        m.close()
    poll_until(members, lambda: sizes([m for m in members if not m.closed]) == [1, 2]
               and disjoint(members), what="rebalance after two leave")


KILLABLE = r"""
import sys, time
kind, bootstrap, group, topic = sys.argv[1:5]
# Reads slowly and commits every record it has processed. It prints "p P O" before committing
# and "c P O" once the commit returned, so a kill between the two leaves no doubt either way.
if kind == "confluent":
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "session.timeout.ms": 3000,
                  "heartbeat.interval.ms": 300, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    said = False
    while True:
        m = c.poll(0.1)
        if c.assignment() and not said:
            print("assigned", flush=True)
            said = True
        if m is not None and not m.error():
            print("p", m.partition(), m.offset(), flush=True)
            c.commit(message=m, asynchronous=False)
            print("c", m.partition(), m.offset(), flush=True)
            time.sleep(0.2)
else:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, session_timeout_ms=3000,
                      heartbeat_interval_ms=300, enable_auto_commit=False,
                      auto_offset_reset="earliest", max_poll_records=1)
    said = False
    while True:
        for tp, msgs in c.poll(timeout_ms=100).items():
            for m in msgs:
                print("p", tp.partition, m.offset, flush=True)
                c.commit({tp: OffsetAndMetadata(m.offset + 1, "", -1)})
                print("c", tp.partition, m.offset, flush=True)
                time.sleep(0.2)
        if c.assignment() and not said:
            print("assigned", flush=True)
            said = True
"""


@pytest.mark.parametrize("client", CLIENTS)
def test_killed_member_is_replaced_and_its_partitions_resume_from_commit(gbroker, members,
                                                                         client):
    topic, group = names("kill")
    create_topic(gbroker.bootstrap, topic)
    produce(gbroker.bootstrap, topic, 60)  # 20 per partition
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, client, gbroker.bootstrap, group,
                             topic], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    attempted = {}  # partition -> offsets the killed member processed (commit maybe sent)
    committed = {}  # partition -> offsets whose commit returned before the kill

    def take(line):
        if line[:2] in ("p ", "c "):
            kind, p, o = line.split()
            (attempted if kind == "p" else committed).setdefault(int(p), set()).add(int(o))

    def read_line(timeout):
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline().decode() if ready else ""
        take(line)
        return line

    try:
        # The killable member leads: assigned before the other joins.
        deadline = time.monotonic() + 60
        while "assigned" not in read_line(max(0.1, deadline - time.monotonic())):
            assert time.monotonic() < deadline, "the killable member got nothing"
        survivor = member(client, gbroker.bootstrap, group, topic, session_ms=3000)
        members.append(survivor)
        poll_until(members, lambda: len(survivor.assignment()) in (1, 2), what="shared group")
        mine = set(range(3)) - survivor.assignment()
        # Let the killable member commit some of its own partitions, then kill it mid-way.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and \
                sum(len(v) for p, v in committed.items() if p in mine) < 3:
            read_line(1)
            survivor.poll(0.01)
        proc.kill()
        proc.wait(10)
        for line in proc.stdout.read().decode().splitlines():  # printed but not yet read
            take(line)
        start = time.monotonic()
        poll_until([survivor], lambda: len(survivor.assignment()) == 3, timeout=30,
                   what="all partitions after the kill")
        assert time.monotonic() - start < 20
    finally:
        proc.kill()
        proc.wait(10)
    # Nothing skipped: every record was processed by the killed member or by the survivor,
    # which resumed the killed member's partitions at their last commit (the one whose reply
    # the kill may have cut off included).
    poll_until([survivor], lambda: all(
        {o for p2, o, _ in survivor.records if p2 == p} | attempted.get(p, set()) >=
        set(range(20)) for p in range(3)), what="every record")
    for p in mine:
        resumed = min((o for p2, o, _ in survivor.records if p2 == p), default=20)
        last_committed = max(committed.get(p, {-1}))
        last_attempted = max(attempted.get(p, {-1}))
        assert resumed in (last_committed + 1, last_attempted + 1), \
            f"partition {p} resumed at {resumed}, commits returned {committed.get(p)}, " \
            f"sent {attempted.get(p)}"


@pytest.mark.parametrize("client", CLIENTS)
def test_static_member_rejoins_without_rebalance(gbroker, members, client):
    topic, group = names("static")
    create_topic(gbroker.bootstrap, topic)
    # b joins first and leads; a follower restarting must not disturb it. (A restarted
    # leader may rebalance by itself: kafka-python's leader rejoins when the metadata it
    # assigned with changes, against Kafka too.)
    b = member(client, gbroker.bootstrap, group, topic, instance="b", session_ms=10000)
    members.append(b)
    poll_until([b], lambda: len(b.assignment()) == 3, what="b alone")
    a = member(client, gbroker.bootstrap, group, topic, instance="a", session_ms=10000)
    members.append(a)
    poll_until(members, lambda: sizes(members) == [1, 2] and disjoint(members), what="static split")
    for _ in range(10):
        for m in members:
            m.poll(0.1)
    a_parts = a.assignment()
    revoked_before = b.revoked
    a.close(crash=True)  # a static member does not leave the group (restart or crash)
    a2 = member(client, gbroker.bootstrap, group, topic, instance="a", session_ms=10000)
    members.append(a2)
    poll_until([a2, b], lambda: a2.assignment() == a_parts, what="same partitions back")
    for _ in range(20):
        b.poll(0.1)
        a2.poll(0.01)
    assert b.revoked == revoked_before, "the other static member was rebalanced"
    assert a2.assignment() == a_parts


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("restart", ["consumer", "broker", "kill9"])
def test_committed_offsets_resume(broker_factory, members, client, restart):
    b = broker_factory(SETTINGS, name="offsets")
    topic, group = names("resume")
    create_topic(b.bootstrap, topic, partitions=1)
    produce(b.bootstrap, topic, 10, partitions=1)
    m = member(client, b.bootstrap, group, topic)
    members.append(m)
    poll_until([m], lambda: len(m.records) >= 10, what="10 records")
    m.commit()
    m.close()
    produce(b.bootstrap, topic, 5, partitions=1, start=10)
    if restart == "broker":
        b.restart()
    elif restart == "kill9":
        b.restart(kill=True)
    m2 = member(client, b.bootstrap, group, topic)
    members.append(m2)
    poll_until([m2], lambda: len(m2.records) >= 5, what="the 5 new records")
    assert m2.records[0][1] == 10, f"resumed at {m2.records[0][1]}, not the committed 10"
    assert [r[2] for r in m2.records] == [f"v{i}".encode() for i in range(10, 15)]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("reset", ["earliest", "latest"])
def test_auto_offset_reset_without_commit(gbroker, members, client, reset):
    topic, group = names("reset")
    create_topic(gbroker.bootstrap, topic, partitions=1)
    produce(gbroker.bootstrap, topic, 5, partitions=1)
    m = member(client, gbroker.bootstrap, group, topic, reset=reset)
    members.append(m)
    poll_until([m], lambda: m.assignment() == {0}, what="assignment")
    for _ in range(10):
        m.poll(0.1)
    produce(gbroker.bootstrap, topic, 3, partitions=1, start=5)
    poll_until([m], lambda: any(r[1] == 7 for r in m.records), what="the new records")
    first = m.records[0][1]
    assert first == (0 if reset == "earliest" else 5)


def test_admin_confluent(gbroker, members):
    from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient
    topic, group = names("admin")
    create_topic(gbroker.bootstrap, topic)
    produce(gbroker.bootstrap, topic, 6)
    m = member("confluent", gbroker.bootstrap, group, topic)
    members.append(m)
    poll_until([m], lambda: len(m.records) >= 6, what="records")
    m.commit()
    a = AdminClient({"bootstrap.servers": gbroker.bootstrap})
    listed = a.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(30)
    assert group in [g.group_id for g in listed.valid]
    empty = a.list_consumer_groups(states={ConsumerGroupState.EMPTY}).result(30)
    assert group not in [g.group_id for g in empty.valid]
    d = a.describe_consumer_groups([group])[group].result(30)
    assert d.state == ConsumerGroupState.STABLE
    assert d.partition_assignor == "range"
    assert len(d.members) == 1
    assert {tp.partition for tp in d.members[0].assignment.topic_partitions} == {0, 1, 2}
    offs = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(30)
    assert sorted((tp.partition, tp.offset) for tp in offs.topic_partitions) == \
        [(0, 2), (1, 2), (2, 2)]
    fut = a.delete_consumer_groups([group])[group]
    with pytest.raises(Exception) as e:
        fut.result(30)
    assert "NON_EMPTY_GROUP" in str(e.value) or "not empty" in str(e.value).lower()
    m.close()
    wait_until(lambda: a.describe_consumer_groups([group])[group].result(30).state ==
               ConsumerGroupState.EMPTY, 30, what="empty group")
    a.delete_consumer_groups([group])[group].result(30)
    offs = a.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])[group].result(30)
    assert offs.topic_partitions[0].offset < 0


def test_admin_kafka_python(gbroker, members):
    from kafka import KafkaAdminClient, TopicPartition
    topic, group = names("kpadmin")
    create_topic(gbroker.bootstrap, topic)
    produce(gbroker.bootstrap, topic, 6)
    m = member("kafka-python", gbroker.bootstrap, group, topic)
    members.append(m)
    poll_until([m], lambda: len(m.records) >= 6, what="records")
    m.commit()
    a = KafkaAdminClient(bootstrap_servers=gbroker.bootstrap)
    try:
        def ids(groups):
            return [g["group_id"] if isinstance(g, dict) else g[0] for g in groups]
        assert group in ids(a.list_groups())
        assert group in ids(a.list_groups(states_filter=["Stable"]))
        assert group not in ids(a.list_groups(states_filter=["Empty"]))
        d = a.describe_groups([group])[group]
        assert d["group_state"] == "Stable" and d["protocol_data"] == "range"
        assert len(d["members"]) == 1 and d["error"] is None
        offs = a.list_group_offsets({group: None})[group]
        assert {tp.partition: o.offset for tp, o in offs.items()} == {0: 2, 1: 2, 2: 2}
        m.close()
        wait_until(lambda: a.describe_groups([group])[group]["group_state"] == "Empty", 30,
                   what="empty group")
        res = a.delete_group_offsets(group, [TopicPartition(topic, 0)])
        offs = a.list_group_offsets({group: None})[group]
        assert sorted(tp.partition for tp in offs) == [1, 2], res
        res = a.delete_groups([group])
        assert "OK" in str(res) or "NoError" in str(res), res
        assert group not in ids(a.list_groups())
    finally:
        a.close()
