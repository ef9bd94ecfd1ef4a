"""Transactions end to end with real clients (issue 10, broker/txn/): the
coordinator's AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, its markers
to every partition's leader (locally or over the WRITE_TXN_MARKERS RPC),
timeouts and fencing, on a 3-node RF=3 cluster.

confluent-kafka (librdkafka) transactional producers: commit across two
topics, abort, read_committed against read_uncommitted consumers, a zombie
fenced by a new instance, an open transaction aborted at its timeout, and
kill -9 of the coordinator's broker before and during a commit (the
committed transaction ends fully visible, the new coordinator finishing the
markers). franz-go and sarama transactional producers run in tests/go."""

import os
import subprocess
import threading
import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from clustertest import admin_for, create, wait_until
from conftest import GO_DIR
from test_transactions import find_coordinator, sluicectl_json, until_answered

TIMEOUT = 60
# A small __transaction_state and a quick timeout scan keep the tests short.
TXN_CFG = {"transaction.state.log.num.partitions": "3",
           "transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"}


def new_topic(cluster, partitions=2):
    name = "t-" + uuid.uuid4().hex[:10]
    assert create(admin_for(cluster), name, partitions, 3, {"min.insync.replicas": "2"}) is None
    return name


def producer(cluster, txn_id, **extra):
    conf = {"bootstrap.servers": cluster.bootstrap, "transactional.id": txn_id,
            "transaction.timeout.ms": 30000, "socket.timeout.ms": 10000,
            "reconnect.backoff.max.ms": 500, "topic.metadata.refresh.interval.ms": 1000}
    conf.update(extra)
    p = Producer(conf)
    p.init_transactions(TIMEOUT)
    return p


def read_all(cluster, topics, isolation, expect=None, timeout=TIMEOUT):
    """Every record of `topics` (all partitions) as (topic, partition,
    value) lists per partition in offset order, read to the end (the last
    stable offset for read_committed). With `expect`, polls until the
    records read equal it (a committed transaction becomes visible once
    its markers are written)."""
    md_admin = admin_for(cluster)
    deadline = time.monotonic() + timeout
    while True:
        c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "g-" + uuid.uuid4().hex,
                      "isolation.level": isolation, "enable.auto.commit": False,
                      "enable.partition.eof": True, "socket.timeout.ms": 10000})
        try:
            tps = []
            for t in topics:
                md = md_admin.list_topics(t, timeout=10).topics[t]
                tps += [TopicPartition(t, p, OFFSET_BEGINNING) for p in sorted(md.partitions)]
            c.assign(tps)
            got = {(tp.topic, tp.partition): [] for tp in tps}
            eof = set()
            stop = time.monotonic() + 20
            while len(eof) < len(tps) and time.monotonic() < stop:
                m = c.poll(0.5)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == -191:  # _PARTITION_EOF
                        eof.add((m.topic(), m.partition()))
                    continue
                eof.discard((m.topic(), m.partition()))
                got[(m.topic(), m.partition())].append(m.value().decode())
        finally:
            c.close()
        if expect is None or got == expect or time.monotonic() > deadline:
            return got
        time.sleep(0.3)


def produce_txn(p, records, commit=True):
    """One transaction of (topic, partition, value) records."""
    p.begin_transaction()
    for topic, partition, value in records:
        p.produce(topic, value.encode(), partition=partition)
    assert p.flush(TIMEOUT) == 0
    if commit:
        p.commit_transaction(TIMEOUT)
    else:
        p.abort_transaction(TIMEOUT)


def expected(topics_parts, records):
    out = {tp: [] for tp in topics_parts}
    for topic, partition, value in records:
        out[(topic, partition)].append(value)
    return out


def describe(cluster, txn_id):
    """The id's state at its coordinator (DescribeTransactions)."""
    first = next(b for b in cluster if b.running())
    _err, node = until_answered(lambda: find_coordinator(first, txn_id), "coordinator",
                                timeout=TIMEOUT)
    return sluicectl_json(cluster.node(node), "describe", txn_id)


@pytest.fixture
def tcluster(clusters):
    return clusters(3, overrides=TXN_CFG)


def test_commit_and_abort_across_topics(tcluster):
    a, b = new_topic(tcluster, 2), new_topic(tcluster, 1)
    tps = [(a, 0), (a, 1), (b, 0)]
    p = producer(tcluster, "e2e-commit")
    committed1 = [(a, 0, "c1-a0-0"), (a, 1, "c1-a1-0"), (b, 0, "c1-b0-0"), (a, 0, "c1-a0-1")]
    aborted = [(a, 0, "x-a0-0"), (b, 0, "x-b0-0"), (a, 1, "x-a1-0")]
    committed2 = [(b, 0, "c2-b0-0"), (a, 1, "c2-a1-0"), (a, 0, "c2-a0-0")]
    produce_txn(p, committed1)
    produce_txn(p, aborted, commit=False)
    produce_txn(p, committed2)
    want = expected(tps, committed1 + committed2)
    assert read_all(tcluster, [a, b], "read_committed", expect=want) == want
    everything = expected(tps, committed1 + aborted + committed2)
    assert read_all(tcluster, [a, b], "read_uncommitted", expect=everything) == everything
    d = describe(tcluster, "e2e-commit")
    assert d["state"] == "CompleteCommit" and d["partitions"] == []
    p.flush(1)


def coordinator_of(cluster, txn_id):
    first = next(b for b in cluster if b.running())
    _err, node = until_answered(lambda: find_coordinator(first, txn_id), "coordinator",
                                timeout=TIMEOUT)
    return node


def test_zombie_is_fenced(tcluster):
    """A second instance with the same transactional.id aborts what the first
    left open and fences it: the first's commit fails fatally."""
    a = new_topic(tcluster, 1)
    first = producer(tcluster, "e2e-zombie")
    first.begin_transaction()
    first.produce(a, b"zombie", partition=0)
    assert first.flush(TIMEOUT) == 0
    second = producer(tcluster, "e2e-zombie")
    with pytest.raises(KafkaException) as failed:
        first.commit_transaction(TIMEOUT)
    assert failed.value.args[0].fatal(), failed.value
    produce_txn(second, [(a, 0, "second")])
    want = {(a, 0): ["second"]}
    assert read_all(tcluster, [a], "read_committed", expect=want) == want
    everything = {(a, 0): ["zombie", "second"]}
    assert read_all(tcluster, [a], "read_uncommitted", expect=everything) == everything


def test_open_transaction_times_out(tcluster):
    """A transaction left open past transaction.timeout.ms is aborted by the
    coordinator, its producer's epoch bumped (fenced)."""
    a = new_topic(tcluster, 1)
    p = producer(tcluster, "e2e-timeout", **{"transaction.timeout.ms": 3000,
                                               "socket.timeout.ms": 3000})
    p.begin_transaction()
    p.produce(a, b"left-open", partition=0)
    assert p.flush(TIMEOUT) == 0
    before = describe(tcluster, "e2e-timeout")
    assert before["state"] == "Ongoing", before
    wait_until(lambda: describe(tcluster, "e2e-timeout")["state"] == "CompleteAbort", TIMEOUT,
               "the coordinator to abort the timed-out transaction")
    after = describe(tcluster, "e2e-timeout")
    assert after["producer_epoch"] == before["producer_epoch"] + 1
    with pytest.raises(KafkaException):
        p.commit_transaction(TIMEOUT)
    assert read_all(tcluster, [a], "read_committed") == {(a, 0): []}
    assert read_all(tcluster, [a], "read_uncommitted",
                    expect={(a, 0): ["left-open"]}) == {(a, 0): ["left-open"]}


def commit_retrying(p):
    """commit_transaction, again while it fails retriably (the coordinator
    moved under it)."""
    deadline = time.monotonic() + TIMEOUT * 2
    while True:
        try:
            p.commit_transaction(TIMEOUT)
            return
        except KafkaException as e:
            assert e.args[0].retriable() and time.monotonic() < deadline, e


@pytest.mark.parametrize("when", ["before_commit", "during_commit"])
def test_coordinator_killed(tcluster, when):
    """kill -9 of the coordinator's broker after the records are produced,
    or while the commit is under way: the committed transaction ends fully
    visible (the new coordinator loads the state, and finishes the markers
    of a PrepareCommit it finds)."""
    a = new_topic(tcluster, 3)
    txn_id = "e2e-kill-" + when
    p = producer(tcluster, txn_id)
    records = [(a, i % 3, "r%d" % i) for i in range(30)]
    p.begin_transaction()
    for topic, partition, value in records:
        p.produce(topic, value.encode(), partition=partition)
    assert p.flush(TIMEOUT) == 0
    victim = tcluster.node(coordinator_of(tcluster, txn_id))
    if when == "before_commit":
        victim.kill()
        commit_retrying(p)
    else:
        outcome = []
        t = threading.Thread(target=lambda: outcome.append(commit_or_error(p)))
        t.start()
        victim.kill()
        t.join(TIMEOUT * 3)
        assert outcome, "commit_transaction never returned"
        if outcome[0] is not None:
            commit_retrying(p)
    want = expected([(a, 0), (a, 1), (a, 2)], records)
    assert read_all(tcluster, [a], "read_committed", expect=want, timeout=TIMEOUT * 2) == want
    assert coordinator_of(tcluster, txn_id) != victim.node_id
    wait_until(lambda: describe(tcluster, txn_id)["state"] == "CompleteCommit", TIMEOUT,
               "the new coordinator to complete the commit")


def commit_or_error(p):
    try:
        p.commit_transaction(TIMEOUT)
        return None
    except KafkaException as e:
        return e


GO_TXN_TESTS = ["TestFranzTransactions", "TestSaramaTransactions", "TestFranzGroupTransactSession"]


@pytest.mark.parametrize("name", GO_TXN_TESTS)
def test_go_transactional_producers(brokers, franz_test_binary, name):
    """franz-go (kgo.TransactionalID) and sarama (Producer.Transaction.ID):
    commit, abort, commit; read_committed sees exactly the committed records."""
    b = brokers(overrides=TXN_CFG)
    env = dict(os.environ, SLUICE_BOOTSTRAP=b.bootstrap)
    p = subprocess.run([franz_test_binary, "-test.v", "-test.count=1", "-test.timeout=120s",
                        "-test.run", f"^{name}$"], cwd=GO_DIR, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and f"--- PASS: {name}" in out, out[-6000:]
