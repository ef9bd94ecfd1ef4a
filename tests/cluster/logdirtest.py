"""The scenario test_log_dir_failure.py and test_storage_faults.py share: a
3-node cluster (RF=3, min.insync.replicas=2) whose node 3 has two log
directories, acks=all writers running while one directory fails, and the
checks that follow: node 3 leaves that directory's partitions, the writers
carry on, every acknowledged record is read back at its offset, and node 3
stays in the ISR of its other directory's partitions. Each test brings its
own way to break the directory."""

import os
import subprocess
import threading

from clustertest import admin_for, partitions_of, wait_until
from confluent_kafka.admin import NewTopic
from test_replication import AckedProducer, read_all

TOPIC = "disks"
PARTITIONS = 6
VALUE_PAD = "x" * 2000


def partition_dirs(path):
    """{partition: True} for this topic's partition directories in `path`."""
    return {int(n.rsplit("-", 1)[1]) for n in os.listdir(path)
            if n.startswith(TOPIC + "-") and n.rsplit("-", 1)[1].isdigit()}


class Writers:
    """acks=all writes round-robin over the partitions on a thread until
    stopped; every value is unique."""

    def __init__(self, cluster):
        self.producer = AckedProducer(cluster, TOPIC)
        self.sent = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_flag.is_set():
            self.producer.send(f"v{self.sent}-{VALUE_PAD}", partition=self.sent % PARTITIONS)
            self.sent += 1
            if self.sent % 50 == 0:
                self.producer.producer.poll(0.01)

    def acked_count(self):
        with self.producer.lock:
            return len(self.producer.acked)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(60)
        self.producer.flush(120)


def two_dir_cluster(clusters, failing, good, **node3_overrides):
    """A 3-node cluster, not started, whose node 3 keeps its partitions in
    `failing` and `good` (its metadata log elsewhere); (cluster, node 3)."""
    c = clusters(3, start=False, overrides={"log.segment.bytes": str(1 << 20)})
    n3 = c.node(3)
    n3.overrides.update({"log.dirs": f"{failing},{good}", "metadata.log.dir": n3.data_dir,
                         **node3_overrides})
    return c, n3


def create_spread_topic(c, failing, good):
    """TOPIC on every node, each partition led with a full ISR, node 3's
    two directories holding some each: (status, on_failing, on_good)."""
    admin = admin_for(c)
    fut = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3,
                                        config={"min.insync.replicas": "2"})],
                              operation_timeout=10, request_timeout=15)[TOPIC]
    fut.result(timeout=30)
    s = c.wait_status(lambda s: partitions_of(s, TOPIC) and all(
        len(p["isr"]) == 3 and p["leader"] > 0 for p in partitions_of(s, TOPIC).values()),
        60, "every partition led with a full ISR")
    # Node 3 opens its replicas on its thread pool as the metadata reaches
    # it: their directories appear shortly after the answer.
    wait_until(lambda: partition_dirs(failing) | partition_dirs(good) == set(range(PARTITIONS)),
               30, "node 3's partition directories")
    on_failing, on_good = partition_dirs(failing), partition_dirs(good)
    assert on_failing and on_good and on_failing | on_good == set(range(PARTITIONS)), \
        (on_failing, on_good)
    return s, on_failing, on_good


def wait_node3_left(c, partitions):
    """The controller took node 3 out of `partitions`' ISR and leadership."""
    return c.wait_status(lambda s: all(
        3 not in partitions_of(s, TOPIC)[i]["isr"] and partitions_of(s, TOPIC)[i]["leader"]
        not in (3, -1) for i in partitions), 60, "node 3 out of the failed dir's partitions")


def writers_carry_on_and_nothing_acked_is_lost(c, writers):
    """More acknowledgements after the move, no failure, and each acked
    value at its acknowledged offset; stops the writers."""
    after_move = writers.acked_count()
    wait_until(lambda: writers.acked_count() >= after_move + 300, 90,
               "300 more acknowledged writes after leadership moved")
    writers.stop()
    assert not writers.producer.failed, writers.producer.failed[:5]
    acked = writers.producer.acked
    for part in range(PARTITIONS):
        mine = {v: off for v, (p, off) in acked.items() if p == part}
        got = read_all(c, TOPIC, part, max(mine.values()) + 1)
        missing = [(v[:12], off) for v, off in mine.items() if got.get(off) != v]
        assert not missing, f"partition {part}: {len(missing)} acked records lost: " \
                            f"{missing[:5]}"


def assert_node3_in_isr(c, partitions):
    s = c.status()
    for i in partitions:
        assert 3 in partitions_of(s, TOPIC)[i]["isr"], partitions_of(s, TOPIC)[i]


def clean_up(c, writers, mount):
    """For a test's finally: writers stopped, nodes stopped, `mount` unmounted."""
    if writers is not None and writers.thread.is_alive():
        writers.stop_flag.set()
        writers.thread.join(30)
    for b in c:
        if b.running():
            b.stop()
    subprocess.run(["umount", "-l", mount], capture_output=True)
