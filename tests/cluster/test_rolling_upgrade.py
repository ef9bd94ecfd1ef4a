"""Rolling upgrade: a three-node cluster running an earlier Sluice is upgraded to this build one
node at a time (SIGTERM, start the new binary on the same data directory and configuration, wait
until it is back in every ISR), as an operator upgrades a Kafka cluster, while an idempotent
acks=all producer (confluent-kafka) keeps writing.

What must hold:
- the producer sees no failed delivery, and every acknowledged record is read back, in order;
- while versions are mixed (one node new, then two), the cluster still does metadata work: a
  topic created then is served by every node, old and new alike, for produce and fetch;
- every node, old or new, exits 0 on SIGTERM.

This covers the internal RPCs between versions (replica fetch, AlterPartition, heartbeats,
controlled shutdown), the raft log and snapshots written by one version and applied by the other,
and the on-disk state (segments, checkpoints) an upgraded node takes over.

The earlier version is SLUICE_UPGRADE_FROM (a commit of this repository; default the last one CI
passed at the end of the previous development session), exported with `git archive` and built
once per commit into the temporary directory (sluiced only, ~15-60 s). Without the git history
(an exported tree, not a clone) the test is skipped, saying so.
"""

import fcntl
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
from confluent_kafka import Producer

from clustertest import admin_for, create, partitions_of, read_back
from sluicetest import ROOT

UPGRADE_FROM = os.environ.get("SLUICE_UPGRADE_FROM", "3efc9f834de474e46db13f13e3f5efe7768dfd4e")
TOPIC = "upgrade"
PARTITIONS = 6


def git(*args, **kwargs):
    return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def old_sluiced():
    """Path of sluiced built from UPGRADE_FROM."""
    rev = git("rev-parse", "--verify", "--quiet", UPGRADE_FROM + "^{commit}", text=True)
    if rev.returncode != 0:
        pytest.skip(f"commit {UPGRADE_FROM} is not in this checkout's git history (an export "
                    "or a shallow clone): cannot build the earlier version to upgrade from")
    rev = rev.stdout.strip()
    base = os.path.join(tempfile.gettempdir(), f"sluice-upgrade-from-{rev[:12]}")
    path = os.path.join(base, "build", "sluiced", "sluiced")
    os.makedirs(tempfile.gettempdir(), exist_ok=True)
    with open(base + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build, whoever asks first
        if not os.path.exists(path):
            shutil.rmtree(base, ignore_errors=True)
            os.makedirs(base)
            archive = subprocess.run(f"git -C {ROOT} archive {rev} | tar -x -C {base}",
                                     shell=True, capture_output=True, timeout=300)
            assert archive.returncode == 0, archive.stderr.decode()
            for cmd in (["meson", "setup", "build"], ["ninja", "-C", "build", "sluiced/sluiced"]):
                p = subprocess.run(cmd, cwd=base, capture_output=True, timeout=1200)
                assert p.returncode == 0, f"{cmd}: {p.stdout.decode()[-3000:]}" \
                                          f"{p.stderr.decode()[-3000:]}"
    return path


class Writer:
    """An idempotent acks=all producer writing numbered values round robin over the
    partitions until stopped; keeps what was acknowledged, per partition in ack order."""

    def __init__(self, bootstrap):
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 5,
                                  "message.timeout.ms": 120000,
                                  "reconnect.backoff.max.ms": 500,
                                  "topic.metadata.refresh.interval.ms": 1000})
        self.acked = {p: [] for p in range(PARTITIONS)}
        self.failed = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def on_delivery(self, err, msg):
        if err is not None:
            self.failed.append((msg.partition(), msg.value(), str(err)))
        else:
            self.acked[msg.partition()].append(msg.value())

    def run(self):
        i = 0
        while not self.stopping.is_set():
            try:
                self.producer.produce(TOPIC, b"%08d" % i, partition=i % PARTITIONS,
                                      on_delivery=self.on_delivery)
                i += 1
            except BufferError:
                pass
            self.producer.poll(0.002)

    def count(self):
        return sum(len(v) for v in self.acked.values())

    def stop(self):
        self.stopping.set()
        self.thread.join()
        left = self.producer.flush(150)
        assert left == 0, f"{left} records neither acknowledged nor failed"


def wait_full_isr(cluster, topics, timeout=90):
    """Every partition of `topics` has all three replicas in its ISR."""
    def full(s):
        for t in topics:
            parts = partitions_of(s, t)
            if not parts or any(len(p["isr"]) != 3 for p in parts.values()):
                return False
        return True
    cluster.wait_status(full, timeout, f"every partition of {topics} with a full ISR")


def check_served_by_each(cluster, topic, tag):
    """A topic created now: acks=all records written through the cluster are read back
    through each node alone (a consumer bootstrapped on it)."""
    err = create(admin_for(cluster), topic, 3, 3, {"min.insync.replicas": "2"})
    assert err is None, err
    wait_full_isr(cluster, [topic])
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all",
                  "enable.idempotence": True, "message.timeout.ms": 60000})
    expected = {part: [b"%s-%d-%d" % (tag, part, i) for i in range(10)] for part in range(3)}
    failed = []
    for part, values in expected.items():
        for v in values:
            p.produce(topic, v, partition=part,
                      on_delivery=lambda err, msg: err and failed.append(str(err)))
    assert p.flush(60) == 0 and not failed, failed
    for b in cluster:
        read_back(b.bootstrap, topic, expected, f"check-{topic}-{b.node_id}")


def test_rolling_upgrade_loses_nothing(clusters, old_sluiced):
    cluster = clusters(3, start=False, overrides={"min.insync.replicas": "2"})
    for b in cluster:
        b.sluiced = old_sluiced
    cluster.start()
    err = create(admin_for(cluster), TOPIC, PARTITIONS, 3)
    assert err is None, err
    wait_full_isr(cluster, [TOPIC])

    writer = Writer(cluster.bootstrap)
    writer.thread.start()
    try:
        # The raft leader last: until then every roll is of a follower, and the mixed
        # cluster's metadata is written by the old version; the leader's own roll hands
        # leadership to a node that is already new.
        leader = cluster.leader().node_id
        order = [b for b in cluster if b.node_id != leader] + [cluster.node(leader)]
        topics = [TOPIC]
        for k, b in enumerate(order, start=1):
            before = writer.count()
            assert b.stop() == 0, b.log_text()[-4000:]
            b.sluiced = None  # this build
            b.start()
            cluster.wait_healthy()
            wait_full_isr(cluster, topics)
            # Writes go on across the roll (idempotence hides the retries).
            deadline = time.monotonic() + 60
            while writer.count() <= before + 100 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert writer.count() > before + 100, "the producer stalled after a roll"
            if k < len(order):
                topic = f"mixed{k}"
                check_served_by_each(cluster, topic, b"mixed%d" % k)
                topics.append(topic)
    finally:
        writer.stop()
    assert not writer.failed, writer.failed[:10]
    assert writer.count() > 0
    read_back(cluster.bootstrap, TOPIC, writer.acked, "upgrade-check")
    # Every node now runs this build and exits cleanly (the fixture checks the exit
    # status at teardown).
    assert all(b.sluiced is None for b in cluster)
