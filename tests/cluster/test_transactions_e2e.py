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
