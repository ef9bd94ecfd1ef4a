"""Transactions, partition side (issue 10): transactional batches, commit and
abort markers written with Kafka's WriteTxnMarkers (key 27, the same code as
the coordinator's WRITE_TXN_MARKERS RPC), the last stable offset, the
aborted-transaction index (.txnindex) and Fetch with read_committed.

No transaction coordinator is involved: the test produces transactional
batches itself under a producer id from InitProducerId (raw protocol) and
writes the markers itself; real consumers (confluent-kafka) read with
isolation.level read_committed and read_uncommitted. Checked across a
broker restart after kill -9 with the .txnindex files deleted (rebuilt from
the log) and across kill -9 of a partition leader (the new leader serves the
same last stable offset and aborted list)."""

import glob
import os
import socket
import struct
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from clustertest import admin_for, create
from sluicetest import unique_topic
from test_protocol_raw import (create_topic, crc32c, frame_of, parse_produce_response,
                               produce_body, recv_response, string, zigzag)
from test_idempotence import describe_producers
from test_replication import leader_of, wait_isr

TIMEOUT = 30
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
TRANSACTION_COORDINATOR_FENCED = 52
UNKNOWN_TOPIC_OR_PARTITION = 3
TRANSACTIONAL = 0x10


def connect(b):
    s = socket.create_connection(("127.0.0.1", b.port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def call(b, api_key, version, body):
    with connect(b) as s:
        s.sendall(frame_of(api_key, version, 77, body))
        return recv_response(s)


def wait_for(probe, what, timeout=TIMEOUT * 2):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def init_producer_id(b):
    resp = call(b, 22, 0, struct.pack(">hi", -1, 60000))
    _corr, _throttle, err, pid, epoch = struct.unpack(">iihqh", resp[:20])
    return err, pid, epoch


def batch(values, pid, epoch, seq, transactional=True):
    """A v2 batch of uncompressed records from producer `pid`."""
    records = b""
    for i, v in enumerate(values):
        body = b"\x00" + zigzag(0) + zigzag(i) + zigzag(-1) + zigzag(len(v)) + v + zigzag(0)
        records += zigzag(len(body)) + body
    now = int(time.time() * 1000)
    attrs = TRANSACTIONAL if transactional else 0
    after_crc = struct.pack(">hiqqqhii", attrs, len(values) - 1, now, now, pid, epoch, seq,
                            len(values)) + records
    rest = struct.pack(">ibI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


def produce(b, topic, data, acks=-1):
    return parse_produce_response(call(b, 0, 3, produce_body(topic, data, acks=acks)))


def write_markers(b, pid, epoch, commit, topic, partitions=(0,), coordinator_epoch=0):
    """WriteTxnMarkers v0 for one marker: {partition: error_code}."""
    body = struct.pack(">i", 1) + struct.pack(">qhb", pid, epoch, 1 if commit else 0)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions))
    body += b"".join(struct.pack(">i", p) for p in partitions)
    body += struct.pack(">i", coordinator_epoch)
    resp = call(b, 27, 0, body)
    pos = 4
    (n_markers,) = struct.unpack(">i", resp[pos:pos + 4])
    assert n_markers == 1
    pos += 4
    (got_pid, n_topics) = struct.unpack(">qi", resp[pos:pos + 12])
    assert got_pid == pid and n_topics == 1
    pos += 12
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len
    (n_parts,) = struct.unpack(">i", resp[pos:pos + 4])
    pos += 4
    out = {}
    for _ in range(n_parts):
        p, err = struct.unpack(">ih", resp[pos:pos + 6])
        out[p] = err
        pos += 6
    return out


def list_latest(b, topic, isolation):
    """ListOffsets v2 at latest for partition 0: (error, offset)."""
    body = struct.pack(">ib", -1, isolation) + struct.pack(">i", 1) + string(topic)
    body += struct.pack(">iiq", 1, 0, -1)
    resp = call(b, 2, 2, body)
    pos = 4 + 4 + 4  # corr, throttle, topic count
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len + 4
    _, err, _, offset = struct.unpack(">ihqq", resp[pos:pos + 22])
    return err, offset


def consume(bootstrap, topic, isolation, expect_at_least, settle=2.0):
    """Values read from partition 0 with `isolation`, polling until at least
    `expect_at_least` arrived and nothing more came for `settle` seconds."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{isolation}-{time.time()}",
                  "enable.auto.commit": False, "isolation.level": isolation,
                  "topic.metadata.refresh.interval.ms": 1000})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + TIMEOUT * 2
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        m = c.poll(0.3)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
            quiet_since = time.monotonic()
        elif len(got) >= expect_at_least and time.monotonic() - quiet_since > settle:
            break
    c.close()
    return got


COMMITTED_FIRST = ["a1", "a2", "plain1", "plain2"]
EVERYTHING = ["a1", "a2", "plain1", "b1", "b2", "plain2", "c1", "plain3"]


def write_scenario(b, topic):
    """A committed, B aborted, C left open, plain records between them.
    Returns (pid, epoch, offset of c1)."""
    err, pid, epoch = init_producer_id(b)
    assert err == 0
    other = init_producer_id(b)[1]
    assert produce(b, topic, batch([b"a1", b"a2"], pid, epoch, 0))[0] == 0
    assert produce(b, topic, batch([b"plain1"], other, 0, 0, transactional=False))[0] == 0
    assert write_markers(b, pid, epoch, True, topic) == {0: 0}
    assert produce(b, topic, batch([b"b1", b"b2"], pid, epoch, 2))[0] == 0
    assert produce(b, topic, batch([b"plain2"], other, 0, 1, transactional=False))[0] == 0
    assert write_markers(b, pid, epoch, False, topic) == {0: 0}
    err, c_offset = produce(b, topic, batch([b"c1"], pid, epoch, 4))
    assert err == 0
    assert produce(b, topic, batch([b"plain3"], other, 0, 2, transactional=False))[0] == 0
    return pid, epoch, c_offset


def check_visible(bootstrap, topic, c_offset, lso_broker):
    assert list_latest(lso_broker, topic, 1) == (0, c_offset), "LATEST is the LSO"
    assert consume(bootstrap, topic, "read_committed", len(COMMITTED_FIRST)) == COMMITTED_FIRST
    assert consume(bootstrap, topic, "read_uncommitted", len(EVERYTHING)) == EVERYTHING


def test_markers_lso_and_read_committed_across_restart(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    # A marker for a producer with no open transaction is accepted (as in
    # Kafka); here it is offset 0.
    wait_for(lambda: write_markers(broker, 999999999, 0, True, topic) == {0: 0}, "the topic")
    pid, epoch, c_offset = write_scenario(broker, topic)
    assert c_offset == 9
    assert list_latest(broker, topic, 0) == (0, 11), "read_uncommitted LATEST: the HW"
    # DescribeProducers: C's first offset is the producer's open transaction.
    mine = [p for p in describe_producers(broker, topic) if p["producer_id"] == pid]
    assert mine == [{"producer_id": pid, "producer_epoch": epoch, "last_sequence": 4,
                     "current_txn_start_offset": c_offset}]

    # Kafka's refusals.
    assert produce(broker, topic, batch([b"bad"], pid, epoch, 5, transactional=False))[0] == \
        INVALID_TXN_STATE, "a plain batch while the producer's transaction is open"
    assert write_markers(broker, pid, epoch, True, "no-such-topic-txn") == \
        {0: UNKNOWN_TOPIC_OR_PARTITION}
    check_visible(broker.bootstrap, topic, c_offset, broker)

    # kill -9, and the aborted-transaction index deleted: rebuilt on recovery.
    broker.kill()
    pattern = os.path.join(broker.data_dir, "**", f"{topic}-0", "*.txnindex")
    indexes = glob.glob(pattern, recursive=True)
    assert indexes, "the abort was indexed"
    for path in indexes:
        os.unlink(path)
    broker.start()
    wait_for(lambda: list_latest(broker, topic, 1) == (0, c_offset), "the LSO after restart")
    check_visible(broker.bootstrap, topic, c_offset, broker)
    assert glob.glob(pattern, recursive=True), "the index is rebuilt"

    # A newer coordinator epoch commits C; an older one is fenced afterwards.
    assert write_markers(broker, pid, epoch, True, topic, coordinator_epoch=5) == {0: 0}
    assert write_markers(broker, pid, epoch, True, topic, coordinator_epoch=4) == \
        {0: TRANSACTION_COORDINATOR_FENCED}
    committed = ["a1", "a2", "plain1", "plain2", "c1", "plain3"]
    assert consume(broker.bootstrap, topic, "read_committed", len(committed)) == committed
    assert list_latest(broker, topic, 1) == list_latest(broker, topic, 0)

    # A marker from an epoch older than the producer's is refused.
    err, pid2, _ = init_producer_id(broker)
    assert err == 0
    assert produce(broker, topic, batch([b"e1"], pid2, 3, 0))[0] == 0
    assert write_markers(broker, pid2, 2, False, topic) == {0: INVALID_PRODUCER_EPOCH}
    assert write_markers(broker, pid2, 3, False, topic) == {0: 0}


def test_new_leader_serves_the_same_lso_and_aborted_list(clusters):
    """Followers build the producer state and the .txnindex from what they
    fetch: after kill -9 of the leader, the new leader answers the same last
    stable offset (C is still open there) and filters the aborted B."""
    cluster = clusters(overrides={"replica.lag.time.max.ms": "5000"})
    topic = "txn-failover"
    assert create(admin_for(cluster), topic, 1, 3, {"min.insync.replicas": "2"}) is None
    wait_isr(cluster, topic, [1, 2, 3])
    leader = leader_of(cluster, topic)
    wait_for(lambda: write_markers(leader, 999999999, 0, True, topic) == {0: 0}, "the leader")
    pid, epoch, c_offset = write_scenario(leader, topic)
    assert c_offset == 9
    check_visible(cluster.bootstrap, topic, c_offset, leader)
    # Every replica has fetched the whole log (acks=all produced the last record).
    wait_isr(cluster, topic, [1, 2, 3])

    leader.kill()
    new = leader_of(cluster, topic, exclude=(leader.node_id,))
    wait_for(lambda: list_latest(new, topic, 1) == (0, c_offset), "the LSO at the new leader")
    check_visible(cluster.bootstrap, topic, c_offset, new)
    # The new leader ends C (abort): c1 never shows, plain3 does.
    wait_for(lambda: write_markers(new, pid, epoch, False, topic) == {0: 0}, "the abort")
    committed = ["a1", "a2", "plain1", "plain2", "plain3"]
    assert consume(cluster.bootstrap, topic, "read_committed", len(committed)) == committed
    leader.start()
    cluster.wait_healthy()
