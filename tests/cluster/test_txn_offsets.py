"""Transactions, group side (issue 10, broker/group/group_txn.c): offsets
sent in a transaction (TxnOffsetCommit, key 28) are written to
__consumer_offsets as a transactional batch of the producer and stay pending
until the transaction's marker lands on the group's partition: committed
ones become the group's offsets, aborted ones are dropped. OffsetFetch with
require_stable (KIP-447) answers UNSTABLE_OFFSET_COMMIT while one is
pending. A coordinator that loads the partition (restart, failover) does the
same from the log.

The markers are written here with Kafka's WriteTxnMarkers (key 27), as the
transaction coordinator does, under a producer id from InitProducerId; the
requests are raw (flexible versions) so each answer is checked exactly."""

import struct
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from clustertest import admin_for, create
from sluicetest import unique_topic
from test_groups import create_topic
from test_protocol_raw import connect, recv_response, uvarint
from test_replication import leader_of, wait_isr
from test_transactions_log import init_producer_id, write_markers

TIMEOUT = 30
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25
INVALID_PRODUCER_EPOCH = 47
UNSTABLE_OFFSET_COMMIT = 88
RETRIABLE = (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR)
OFFSETS_PARTITIONS = 3
CFG = {"offsets.topic.num.partitions": str(OFFSETS_PARTITIONS),
       "group.initial.rebalance.delay.ms": "0"}


# ---- flexible-version encoding (compact strings, tagged fields) ----

def cstr(s):
    if s is None:
        return b"\x00"
    b = s.encode()
    return uvarint(len(b) + 1) + b


def carr(items):
    return uvarint(len(items) + 1) + b"".join(items)


TAGS = b"\x00"


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def cstr(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def call_flex(b, api_key, version, body):
    head = struct.pack(">hhih", api_key, version, 99, 8) + b"raw-test" + TAGS
    msg = head + body
    with connect(b) as s:
        s.sendall(struct.pack(">i", len(msg)) + msg)
        r = Reader(recv_response(s))
    assert r.take(">i") == 99
    r.tags()
    return r


def call_v1(b, api_key, version, body):
    head = struct.pack(">hhih", api_key, version, 98, 8) + b"raw-test"
    msg = head + body
    with connect(b) as s:
        s.sendall(struct.pack(">i", len(msg)) + msg)
        r = Reader(recv_response(s))
    assert r.take(">i") == 98
    return r


# ---- the requests ----

def java_hash(s):
    h = 0
    for ch in s.encode("utf-16-be").decode("utf-16-be"):
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h


def offsets_partition(group):
    """Kafka's abs(hashCode(group)) % partitions (Utils.abs: & 0x7fffffff)."""
    return (java_hash(group) & 0x7FFFFFFF) % OFFSETS_PARTITIONS


def find_group_coordinator(b, group):
    """FindCoordinator v1, key type 0, retried until answered: node id."""
    deadline = time.monotonic() + TIMEOUT * 2
    while True:
        body = struct.pack(">h", len(group)) + group.encode() + b"\x00"
        r = call_v1(b, 10, 1, body)
        _throttle, err = r.take(">ih")
        if err == NONE:
            message_len = r.take(">h")
            r.pos += max(message_len, 0)
            return r.take(">i")
        assert err in RETRIABLE, err
        assert time.monotonic() < deadline, "no group coordinator"
        time.sleep(0.2)


def txn_offset_commit(b, group, pid, epoch, offsets, generation=-1, member="", instance=None,
                      txn_id="txn-offsets-test"):
    """TxnOffsetCommit v3: {(topic, partition): error}."""
    by_topic = {}
    for (topic, part), off in offsets.items():
        by_topic.setdefault(topic, []).append((part, off))
    topics = [cstr(t) + carr([struct.pack(">iqi", p, o, -1) + cstr("m") + TAGS for p, o in ps]) +
              TAGS for t, ps in by_topic.items()]
    body = (cstr(txn_id) + cstr(group) + struct.pack(">qhi", pid, epoch, generation) +
            cstr(member) + cstr(instance) + carr(topics) + TAGS)
    r = call_flex(b, 28, 3, body)
    r.take(">i")
    out = {}
    for _ in range(r.uvarint() - 1):
        topic = r.cstr()
        for _ in range(r.uvarint() - 1):
            part, err = r.take(">ih")
            r.tags()
            out[(topic, part)] = err
        r.tags()
    return out


def txn_offset_commit_v0(b, group, pid, epoch, topic, part, off, txn_id="txn-offsets-test"):
    """TxnOffsetCommit v0 (no leader epoch, no member): the error."""
    def s(x):
        return struct.pack(">h", len(x)) + x.encode()
    body = (s(txn_id) + s(group) + struct.pack(">qh", pid, epoch) + struct.pack(">i", 1) +
            s(topic) + struct.pack(">i", 1) + struct.pack(">iq", part, off) + s(""))
    r = call_v1(b, 28, 0, body)
    r.take(">i")
    assert r.take(">i") == 1
    name_len = r.take(">h")
    r.pos += name_len
    assert r.take(">i") == 1
    return r.take(">ih")[1]


def advertises(b, api_key):
    """Whether ApiVersions (v0) lists `api_key`."""
    r = call_v1(b, 18, 0, b"")
    assert r.take(">h") == NONE
    keys = [r.take(">hhh")[0] for _ in range(r.take(">i"))]
    return api_key in keys


def skip_without_end_txn(b):
    """The end-to-end tests need the transaction coordinator's EndTxn (26)."""
    if not advertises(b, 26):
        pytest.skip("the transaction coordinator does not complete transactions yet (EndTxn)")


def until_done(fn, what):
    """Retry fn() while every error it returns is a coordinator move/load."""
    deadline = time.monotonic() + TIMEOUT * 2
    while True:
        got = fn()
        errs = set(got.values()) if isinstance(got, dict) else {got}
        if not errs & set(RETRIABLE):
            return got
        assert time.monotonic() < deadline, f"timed out: {what} ({got})"
        time.sleep(0.2)


def offset_fetch(b, group, topic, parts, require_stable):
    """OffsetFetch v7: {partition: (offset, error)}, or the group error."""
    body = (cstr(group) + carr([cstr(topic) + carr([struct.pack(">i", p) for p in parts]) +
                                TAGS]) + struct.pack(">?", require_stable) + TAGS)
    r = call_flex(b, 9, 7, body)
    r.take(">i")
    out = {}
    for _ in range(r.uvarint() - 1):
        r.cstr()
        for _ in range(r.uvarint() - 1):
            part, off, _epoch = r.take(">iqi")
            r.cstr()
            out[part] = (off, r.take(">h"))
            r.tags()
        r.tags()
    err = r.take(">h")
    return out if err == NONE else err


def fetch_when_ready(b, group, topic, parts, require_stable=True):
    deadline = time.monotonic() + TIMEOUT * 2
    while True:
        got = offset_fetch(b, group, topic, parts, require_stable)
        if isinstance(got, dict):
            return got
        assert got in RETRIABLE, got
        assert time.monotonic() < deadline, f"OffsetFetch: {got}"
        time.sleep(0.2)


def markers(b, pid, epoch, commit, group):
    """WriteTxnMarkers on the group's __consumer_offsets partition, retried
    while the partition's leadership settles: the error."""
    part = offsets_partition(group)
    deadline = time.monotonic() + TIMEOUT * 2
    while True:
        err = write_markers(b, pid, epoch, commit, "__consumer_offsets", (part,))[part]
        if err == NONE:
            return err
        assert time.monotonic() < deadline, f"WriteTxnMarkers: {err}"
        time.sleep(0.2)


def test_pending_until_the_marker_and_across_a_restart(brokers, request):
    broker = brokers(overrides=CFG)
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(broker.bootstrap, topic, 2)
    assert find_group_coordinator(broker, group) == broker.node_id
    err, pid, epoch = init_producer_id(broker)
    assert err == NONE

    t0, t1 = (topic, 0), (topic, 1)
    assert until_done(lambda: txn_offset_commit(broker, group, pid, epoch, {t0: 5, t1: 7}),
                      "TxnOffsetCommit") == {t0: NONE, t1: NONE}
    # Pending: require_stable readers wait; the others see nothing committed.
    assert fetch_when_ready(broker, group, topic, [0, 1]) == \
        {0: (-1, UNSTABLE_OFFSET_COMMIT), 1: (-1, UNSTABLE_OFFSET_COMMIT)}
    assert fetch_when_ready(broker, group, topic, [0, 1], False) == {0: (-1, 0), 1: (-1, 0)}

    assert markers(broker, pid, epoch, True, group) == NONE
    assert fetch_when_ready(broker, group, topic, [0, 1]) == {0: (5, 0), 1: (7, 0)}

    # Aborted: dropped; the other partition stays stable meanwhile.
    assert txn_offset_commit(broker, group, pid, epoch, {t0: 10}) == {t0: NONE}
    assert fetch_when_ready(broker, group, topic, [0, 1]) == \
        {0: (-1, UNSTABLE_OFFSET_COMMIT), 1: (7, 0)}
    assert markers(broker, pid, epoch, False, group) == NONE
    assert fetch_when_ready(broker, group, topic, [0, 1]) == {0: (5, 0), 1: (7, 0)}

    # v0 (no member, no leader epoch), then several commits in one
    # transaction: the last one wins.
    assert txn_offset_commit_v0(broker, group, pid, epoch, topic, 0, 11) == NONE
    assert txn_offset_commit(broker, group, pid, epoch, {t0: 12}) == {t0: NONE}
    assert markers(broker, pid, epoch, True, group) == NONE
    assert fetch_when_ready(broker, group, topic, [0]) == {0: (12, 0)}

    # Unknown topics and partitions are refused per partition.
    assert txn_offset_commit(broker, group, pid, epoch, {(topic, 9): 1, ("no-such", 0): 1}) == \
        {(topic, 9): UNKNOWN_TOPIC_OR_PARTITION, ("no-such", 0): UNKNOWN_TOPIC_OR_PARTITION}

    # A pending commit survives kill -9: the restarted coordinator loads it
    # from the log (still pending), then applies the committed marker.
    assert txn_offset_commit(broker, group, pid, epoch, {t0: 20, t1: 21}) == \
        {t0: NONE, t1: NONE}
    broker.kill()
    broker.start()
    assert fetch_when_ready(broker, group, topic, [0, 1]) == \
        {0: (-1, UNSTABLE_OFFSET_COMMIT), 1: (-1, UNSTABLE_OFFSET_COMMIT)}
    assert fetch_when_ready(broker, group, topic, [0, 1], False) == {0: (12, 0), 1: (7, 0)}
    assert markers(broker, pid, epoch, True, group) == NONE
    assert fetch_when_ready(broker, group, topic, [0, 1]) == {0: (20, 0), 1: (21, 0)}

    # Committed and aborted transactions read back the same after a restart.
    assert txn_offset_commit(broker, group, pid, epoch, {t0: 30}) == {t0: NONE}
    assert markers(broker, pid, epoch, False, group) == NONE
    broker.kill()
    broker.start()
    assert fetch_when_ready(broker, group, topic, [0, 1]) == {0: (20, 0), 1: (21, 0)}

    # A newer epoch of the producer (the coordinator fenced it with an abort
    # marker) fences the old one's offsets.
    assert markers(broker, pid, epoch + 1, False, group) == NONE
    assert until_done(lambda: txn_offset_commit(broker, group, pid, epoch, {t0: 40}),
                      "fenced TxnOffsetCommit") == {t0: INVALID_PRODUCER_EPOCH}
    assert fetch_when_ready(broker, group, topic, [0]) == {0: (20, 0)}


def test_member_checks(brokers, request):
    """KIP-447: a commit naming a member must name a current one."""
    broker = brokers(overrides=CFG)
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(broker.bootstrap, topic, 1)
    err, pid, epoch = init_producer_id(broker)
    assert err == NONE
    t0 = (topic, 0)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "session.timeout.ms": 10000, "enable.auto.commit": False})
    c.subscribe([topic])
    deadline = time.monotonic() + TIMEOUT * 2
    while not c.assignment():
        c.poll(0.2)
        assert time.monotonic() < deadline, "no assignment"
    from kafka import KafkaAdminClient
    kadmin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    member = kadmin.describe_consumer_groups([group])[0].members[0].member_id
    kadmin.close()
    assert until_done(lambda: txn_offset_commit(broker, group, pid, epoch, {t0: 1}, 7, "nobody"),
                      "unknown member") == {t0: UNKNOWN_MEMBER_ID}
    assert txn_offset_commit(broker, group, pid, epoch, {t0: 1}, 999, member) == \
        {t0: ILLEGAL_GENERATION}
    # Without member fields (v0-2 producers) the commit is accepted.
    assert txn_offset_commit(broker, group, pid, epoch, {t0: 3}) == {t0: NONE}
    c.close()


def test_new_coordinator_keeps_pending_and_committed(clusters, request):
    """kill -9 of the group's coordinator: the new leader of its
    __consumer_offsets partition loads committed offsets as committed and
    pending ones as pending, and applies the marker it is then sent."""
    cluster = clusters(3, overrides=dict(CFG, **{"offsets.topic.replication.factor": "3"}))
    topic = unique_topic(request)
    group = topic + "-g"
    assert create(admin_for(cluster), topic, 2, 3) is None
    first = cluster.node(find_group_coordinator(cluster.node(1), group))
    part = offsets_partition(group)
    wait_isr(cluster, "__consumer_offsets", [1, 2, 3], partition=part)
    err, pid, epoch = init_producer_id(first)
    assert err == NONE
    t0, t1 = (topic, 0), (topic, 1)
    assert until_done(lambda: txn_offset_commit(first, group, pid, epoch, {t0: 5}),
                      "TxnOffsetCommit") == {t0: NONE}
    assert markers(first, pid, epoch, True, group) == NONE
    assert txn_offset_commit(first, group, pid, epoch, {t0: 8, t1: 9}) == {t0: NONE, t1: NONE}

    first.kill()
    new = leader_of(cluster, "__consumer_offsets", part, exclude=(first.node_id,))
    assert fetch_when_ready(new, group, topic, [0, 1]) == \
        {0: (-1, UNSTABLE_OFFSET_COMMIT), 1: (-1, UNSTABLE_OFFSET_COMMIT)}
    assert fetch_when_ready(new, group, topic, [0, 1], False) == {0: (5, 0), 1: (-1, 0)}
    assert markers(new, pid, epoch, True, group) == NONE
    assert fetch_when_ready(new, group, topic, [0, 1]) == {0: (8, 0), 1: (9, 0)}
    first.start()
    cluster.wait_healthy()


def test_confluent_send_offsets_commit_and_abort(brokers, request):
    """confluent-kafka's send_offsets_to_transaction (AddOffsetsToTxn, then
    TxnOffsetCommit v3 with the consumer's generation and member id): the
    group's offsets move on commit_transaction and not on abort."""
    broker = brokers(overrides=dict(CFG, **{"transaction.state.log.num.partitions": "3"}))
    topic = unique_topic(request)
    group = topic + "-g"
    skip_without_end_txn(broker)
    create_topic(broker.bootstrap, topic, 1)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "session.timeout.ms": 10000, "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    c.subscribe([topic])
    deadline = time.monotonic() + TIMEOUT * 2
    while not c.assignment():
        c.poll(0.2)
        assert time.monotonic() < deadline, "no assignment"
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": topic + "-txn"})
    p.init_transactions(TIMEOUT)

    def committed():
        return c.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)[0].offset

    p.begin_transaction()
    p.produce(topic, b"x", partition=0)
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 5)], c.consumer_group_metadata(),
                                  TIMEOUT)
    p.commit_transaction(TIMEOUT)
    assert committed() == 5

    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 9)], c.consumer_group_metadata(),
                                  TIMEOUT)
    p.abort_transaction(TIMEOUT)
    assert committed() == 5

    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 12)], c.consumer_group_metadata(),
                                  TIMEOUT)
    p.commit_transaction(TIMEOUT)
    assert committed() == 12
    c.close()
