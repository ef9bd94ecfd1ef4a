"""Exactly-once consume-transform-produce (issue 10's "Must show"): a
pipeline process (eos_pipeline.py: confluent-kafka read_committed consumer
in a group, transactional producer, the consumed offsets sent in each
transaction) runs on a three-node RF=3 cluster while the test kills -9, in
turn, a partition leader of the output topic, the broker of the transaction
coordinator and the pipeline process itself (started again with the same
transactional.id). Input is produced while each fault lasts and must all be
committed through the pipeline before the fault ends. At the end the
output topic read with read_committed holds every input record exactly once
(transformed), whatever was aborted or retried on the way.

EOS_ROUNDS (default 1) repeats the three kills; the default run stays short."""

import collections
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from clustertest import admin_for, create
from test_replication import leader_of, wait_isr
from test_transactions import find_coordinator
from test_txn_offsets import skip_without_end_txn

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 60
PARTITIONS = 3
CHUNK = 300  # input records produced before each kill
TXN_ID = "eos-pipeline"
GROUP = "eos-group"
IN, OUT = "eos-in", "eos-out"
CFG = {"offsets.topic.num.partitions": "3", "transaction.state.log.num.partitions": "3",
       "group.initial.rebalance.delay.ms": "0", "replica.lag.time.max.ms": "5000"}


class Pipeline:
    """The pipeline process; started again whenever it is not running."""

    def __init__(self, bootstrap, logdir):
        self.args = [sys.executable, os.path.join(HERE, "eos_pipeline.py"), bootstrap, IN, OUT,
                     GROUP, TXN_ID]
        self.log = open(os.path.join(logdir, "pipeline.log"), "ab")
        self.proc = None
        self.starts = 0

    def ensure(self):
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self.log.write(f"--- exited {self.proc.returncode}\n".encode())
            self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
            self.starts += 1

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.write(b"--- killed -9\n")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        self.log.close()


def produce_input(bootstrap, start, n):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(IN, value=str(i).encode(), partition=i % PARTITIONS)
    assert p.flush(TIMEOUT) == 0


def read_all(bootstrap, topic, isolation):
    """Every value of the topic, from the beginning to each partition's end."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"eos-check-{time.time()}",
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    got, at_end = [], set()
    deadline = time.monotonic() + TIMEOUT
    while len(at_end) < PARTITIONS:
        assert time.monotonic() < deadline, f"reading {topic}: {len(got)} so far"
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error() is not None:
            if m.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(m.partition())
            continue
        at_end.discard(m.partition())
        got.append(m.value().decode())
    c.close()
    return got


def progress(bootstrap):
    """The group's committed offsets summed over the input partitions
    (read_committed: require_stable, so pending transactions are waited
    for)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        tps = c.committed([TopicPartition(IN, p) for p in range(PARTITIONS)], timeout=10)
        return sum(max(tp.offset, 0) for tp in tps)
    except Exception:  # a coordinator moving: ask again later
        return -1
    finally:
        c.close()


def wait_progress(cluster, pipeline, upto, what):
    """Keep the pipeline running until its committed input reaches `upto`
    (everything produced so far: the input is produced after each fault, so
    there is always work left to do while the fault lasts)."""
    deadline = time.monotonic() + TIMEOUT * 2
    while True:
        pipeline.ensure()
        done = progress(cluster.bootstrap)
        if done >= upto:
            return done
        assert time.monotonic() < deadline, f"no progress {what}: {done} < {upto}"
        time.sleep(0.5)


def during_fault(cluster, pipeline, produced, what):
    """More input while the fault lasts, and all of it through the pipeline."""
    produce_input(cluster.bootstrap, produced, CHUNK)
    produced += CHUNK
    wait_progress(cluster, pipeline, produced, what)
    return produced


def kill_and_restart(cluster, pipeline, node, produced, what):
    node.kill()
    produced = during_fault(cluster, pipeline, produced, f"with {what} down")
    node.start()
    cluster.wait_healthy()
    return produced


def test_pipeline_exactly_once_through_kills(clusters, tmp_path):
    cluster = clusters(3, overrides=CFG)
    skip_without_end_txn(cluster.node(1))
    admin = admin_for(cluster)
    for topic in (IN, OUT):
        assert create(admin, topic, PARTITIONS, 3, {"min.insync.replicas": "2"}) is None
        wait_isr(cluster, topic, [1, 2, 3])
    every = ",".join(b.bootstrap for b in cluster)
    pipeline = Pipeline(every, str(tmp_path))
    produced = 0
    try:
        produce_input(cluster.bootstrap, produced, CHUNK)
        produced += CHUNK
        wait_progress(cluster, pipeline, produced, "at the start")
        for _ in range(int(os.environ.get("EOS_ROUNDS", "1"))):
            produced = kill_and_restart(cluster, pipeline,
                                        leader_of(cluster, OUT, produced % PARTITIONS),
                                        produced, "an output partition's leader")

            err, node_id = find_coordinator(cluster.node(1), TXN_ID)
            assert err == 0
            produced = kill_and_restart(cluster, pipeline, cluster.node(node_id), produced,
                                        "the transaction coordinator")

            pipeline.kill()
            produced = during_fault(cluster, pipeline, produced, "after the pipeline's kill")

        inputs = read_all(cluster.bootstrap, IN, "read_committed")
    finally:
        pipeline.stop()
    assert pipeline.starts >= 2
    outputs = read_all(cluster.bootstrap, OUT, "read_committed")
    aborted = len(read_all(cluster.bootstrap, OUT, "read_uncommitted")) - len(outputs)
    print(f"{len(inputs)} input records, {pipeline.starts} pipeline starts, "
          f"{aborted} aborted output records filtered")
    want = collections.Counter("out:" + v for v in inputs)
    got = collections.Counter(outputs)
    missing = want - got
    extra = got - want
    assert not missing and not extra, \
        f"{len(missing)} missing (e.g. {list(missing)[:5]}), {len(extra)} extra " \
        f"(e.g. {list(extra)[:5]}) of {len(want)}"
    assert len(set(inputs)) == produced
