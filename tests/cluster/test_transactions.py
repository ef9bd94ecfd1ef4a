"""Transactions (issue 10, broker/txn/): the transaction coordinator on
__transaction_state. FindCoordinator key type 1 finds it; InitProducerId with
a transactional id hands out a producer id and bumps its epoch on every new
instance, which fences the previous one; its state survives the loss of the
coordinator's broker. `sluicectl txn list | describe` show the ids.

Real clients: confluent-kafka (librdkafka) init_transactions(); raw
InitProducerId requests where a test needs the exact answer."""

import json
import struct
import subprocess
import time

import pytest
from confluent_kafka import KafkaException, Producer

from sluicetest import binary
from test_protocol_raw import connect, frame_of, recv_response

TIMEOUT = 30
INVALID_PRODUCER_EPOCH = 47
INVALID_TRANSACTION_TIMEOUT = 50
CONCURRENT_TRANSACTIONS = 51
PRODUCER_FENCED = 90
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
# Few partitions keep the tests quick; Kafka's defaults are 50 and 3.
TXN_CFG = {"transaction.state.log.num.partitions": "3"}
RETRIABLE = (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
             CONCURRENT_TRANSACTIONS)


@pytest.fixture
def tbroker(brokers):
    return brokers(overrides=TXN_CFG)


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def find_coordinator(broker, txn_id):
    """FindCoordinator v1, key type 1: (error, node id)."""
    with connect(broker) as s:
        s.sendall(frame_of(10, 1, 7, kstr(txn_id) + struct.pack(">b", 1)))
        resp = recv_response(s)
    _corr, _throttle, err = struct.unpack(">iih", resp[:10])
    msg_len = struct.unpack(">h", resp[10:12])[0]
    at = 12 + max(msg_len, 0)
    node = struct.unpack(">i", resp[at:at + 4])[0]
    return err, node


def init_producer_id(broker, txn_id, timeout_ms=60000, version=3, pid=-1, epoch=-1):
    """InitProducerId with a transactional id: (error, producer id, epoch)."""
    body = kstr(txn_id) + struct.pack(">i", timeout_ms)
    if version >= 3:
        body += struct.pack(">qh", pid, epoch)
    if version >= 2:  # flexible: header tags, compact string, tagged fields
        raw = txn_id.encode()
        body = b"\x00" + bytes([len(raw) + 1]) + raw + struct.pack(">i", timeout_ms)
        if version >= 3:
            body += struct.pack(">qh", pid, epoch)
        body += b"\x00"
    with connect(broker) as s:
        s.sendall(frame_of(22, version, 5, body))
        resp = recv_response(s)
    if version >= 2:  # the response header has a tagged-field byte
        _corr, _tags, _throttle, err, rpid, repoch = struct.unpack(">ibihqh", resp[:21])
    else:
        _corr, _throttle, err, rpid, repoch = struct.unpack(">iihqh", resp[:20])
    return err, rpid, repoch


def until_answered(call, what, timeout=TIMEOUT):
    """Repeat `call` while it answers a retriable coordinator error."""
    deadline = time.monotonic() + timeout
    while True:
        result = call()
        if result[0] not in RETRIABLE:
            return result
        assert time.monotonic() < deadline, "%s: still %s" % (what, result)
        time.sleep(0.2)


def test_find_coordinator_and_epoch_bumps(tbroker):
    err, node = until_answered(lambda: find_coordinator(tbroker, "txn-a"), "find coordinator")
    assert (err, node) == (0, tbroker.node_id)
    err, pid, epoch = until_answered(lambda: init_producer_id(tbroker, "txn-a"), "init")
    assert (err, epoch) == (0, 0) and pid >= 0
    # A new instance of the same id: the same producer id, the next epoch.
    assert init_producer_id(tbroker, "txn-a") == (0, pid, 1)
    assert init_producer_id(tbroker, "txn-a", version=1) == (0, pid, 2)
    # Another id gets another producer id.
    err, other, epoch = until_answered(lambda: init_producer_id(tbroker, "txn-b"), "init b")
    assert err == 0 and epoch == 0 and other != pid


def test_zombie_is_fenced_on_init(tbroker):
    """KIP-360: an instance naming its current epoch gets it bumped; a retry
    of that request (its answer lost) gets the same answer again, as Kafka
    (TransactionMetadata.prepareIncrementProducerEpoch); once another
    instance has initialised the id, an older epoch is a zombie."""
    until_answered(lambda: find_coordinator(tbroker, "txn-z"), "find coordinator")
    err, pid, epoch = until_answered(lambda: init_producer_id(tbroker, "txn-z"), "init")
    assert err == 0
    assert init_producer_id(tbroker, "txn-z", pid=pid, epoch=epoch) == (0, pid, epoch + 1)
    # The same request again (a retry): accepted, the same epoch.
    assert init_producer_id(tbroker, "txn-z", pid=pid, epoch=epoch) == (0, pid, epoch + 1)
    # A new instance (no producer id named) bumps again...
    assert init_producer_id(tbroker, "txn-z") == (0, pid, epoch + 2)
    # ...and the previous instance, with either of its epochs, is fenced.
    assert init_producer_id(tbroker, "txn-z", pid=pid, epoch=epoch + 1) == (PRODUCER_FENCED, -1, -1)
    assert init_producer_id(tbroker, "txn-z", pid=pid, epoch=epoch) == (PRODUCER_FENCED, -1, -1)
    # Another producer id than the id's: fenced too.
    assert init_producer_id(tbroker, "txn-z", pid=pid + 1000, epoch=0) == (PRODUCER_FENCED, -1, -1)


def test_transaction_timeout_is_bounded(brokers):
    b = brokers(overrides=dict(TXN_CFG, **{"transaction.max.timeout.ms": "60000"}))
    until_answered(lambda: find_coordinator(b, "txn-t"), "find coordinator")
    err, _, _ = until_answered(lambda: init_producer_id(b, "txn-t", timeout_ms=60001), "init")
    assert err == INVALID_TRANSACTION_TIMEOUT
    assert init_producer_id(b, "txn-t", timeout_ms=0)[0] == INVALID_TRANSACTION_TIMEOUT
    assert until_answered(lambda: init_producer_id(b, "txn-t", timeout_ms=60000), "init")[0] == 0


def test_confluent_init_transactions_fences_the_previous_instance(tbroker):
    conf = {"bootstrap.servers": tbroker.bootstrap, "transactional.id": "txn-ck",
            "transaction.timeout.ms": 30000}
    first = Producer(conf)
    first.init_transactions(TIMEOUT)
    second = Producer(conf)
    second.init_transactions(TIMEOUT)
    # The broker now knows the id at epoch 1 (the second instance's).
    err, pid, epoch = init_producer_id(tbroker, "txn-ck", version=1)
    assert (err, epoch) == (0, 2)


def test_state_survives_the_coordinators_loss(clusters):
    """RF=3: the epoch a new coordinator hands out continues the old one's."""
    cluster = clusters(3, overrides=TXN_CFG)
    first = next(iter(cluster))
    _, coordinator = until_answered(lambda: find_coordinator(first, "txn-f"), "find coordinator")
    old = cluster.node(coordinator)
    err, pid, epoch = until_answered(lambda: init_producer_id(old, "txn-f"), "init")
    assert (err, epoch) == (0, 0)
    old.kill()
    survivor = next(b for b in cluster if b.running())

    def new_coordinator():
        err, node = find_coordinator(survivor, "txn-f")
        return (NOT_COORDINATOR, node) if err == 0 and node == coordinator else (err, node)
    err, node = until_answered(new_coordinator, "a new coordinator", timeout=60)
    assert err == 0
    result = until_answered(lambda: init_producer_id(cluster.node(node), "txn-f"), "init",
                            timeout=60)
    assert result == (0, pid, 1)


def sluicectl_json(broker, *args):
    out = subprocess.run([binary("tools", "sluicectl", "sluicectl"), "txn", *args,
                          "--bootstrap-server", broker.bootstrap, "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_sluicectl_lists_and_describes(tbroker):
    """`sluicectl txn list | describe ID` (ListTransactions, DescribeTransactions)."""
    until_answered(lambda: find_coordinator(tbroker, "txn-l1"), "find coordinator")
    ids = {}
    for txn_id in ("txn-l1", "txn-l2"):
        err, pid, _ = until_answered(lambda: init_producer_id(tbroker, txn_id), "init")
        assert err == 0
        ids[txn_id] = pid
    init_producer_id(tbroker, "txn-l2")  # epoch 1
    listed = sluicectl_json(tbroker, "list")
    assert listed == [{"transactional_id": t, "coordinator": tbroker.node_id,
                       "producer_id": ids[t], "state": "Empty"} for t in sorted(ids)]
    described = sluicectl_json(tbroker, "describe", "txn-l2")
    assert described == {"transactional_id": "txn-l2", "producer_id": ids["txn-l2"],
                         "producer_epoch": 1, "state": "Empty", "timeout_ms": 60000,
                         "start_time_ms": -1, "partitions": []}
    out = subprocess.run([binary("tools", "sluicectl", "sluicectl"), "txn", "describe", "nope",
                          "--bootstrap-server", tbroker.bootstrap],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert out.returncode == 1 and b"TRANSACTIONAL_ID_NOT_FOUND" in out.stderr


def test_idle_transactional_id_expires(brokers):
    """transactional.id.expiration.ms: an id unused that long with no
    transaction open is removed (a tombstone in __transaction_state, so it
    stays removed after a restart) and starts afresh with a new producer id;
    an id with a transaction open is kept."""
    broker = brokers(overrides={**TXN_CFG, "transactional.id.expiration.ms": "3000",
                                "transaction.remove.expired.transaction.cleanup.interval.ms":
                                "500"})
    until_answered(lambda: find_coordinator(broker, "txn-idle"), "find coordinator")
    err, idle_pid, _ = until_answered(lambda: init_producer_id(broker, "txn-idle"), "init")
    assert err == 0
    admin_create = subprocess.run(
        [binary("tools", "sluicectl", "sluicectl"), "topic", "create", "txn-exp", "--partitions",
         "1", "--bootstrap-server", broker.bootstrap],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert admin_create.returncode == 0, admin_create.stderr
    busy = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "txn-busy",
                     "transaction.timeout.ms": 60000})
    busy.init_transactions(TIMEOUT)
    busy.begin_transaction()
    busy.produce("txn-exp", b"open", partition=0)
    assert busy.flush(TIMEOUT) == 0

    def listed():
        return {t["transactional_id"]: t["state"] for t in sluicectl_json(broker, "list")}
    assert listed()["txn-busy"] == "Ongoing"
    deadline = time.monotonic() + TIMEOUT
    while "txn-idle" in listed():
        assert time.monotonic() < deadline, "the idle transactional id was not removed"
        time.sleep(0.5)
    assert listed() == {"txn-busy": "Ongoing"}
    busy.commit_transaction(TIMEOUT)

    broker.restart()
    until_answered(lambda: find_coordinator(broker, "txn-idle"), "find coordinator")
    assert "txn-idle" not in listed()
    err, pid, epoch = until_answered(lambda: init_producer_id(broker, "txn-idle"), "init again")
    assert err == 0 and epoch == 0 and pid != idle_pid
