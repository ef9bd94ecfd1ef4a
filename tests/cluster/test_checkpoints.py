"""Offsets checkpoints (issue 14): one set of Kafka's files per log directory.

The broker keeps every partition's log start offset, high watermark and
recovery point in `log-start-offset-checkpoint`, `replication-offset-checkpoint`
and `recovery-point-offset-checkpoint` in each log directory (Kafka's format:
version, count, then "topic partition offset" lines), written on the thread
pool only when something changed, every
replica.high.watermark.checkpoint.interval.ms (with Kafka's two other
checkpoint intervals: the shortest). A partition's own
`log-offsets.checkpoint` (the format before) is read once and deleted.

The brokers here checkpoint every 200 ms instead of Kafka's 5 s, so the tests
wait for the files rather than for the interval."""

import os
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from sluicetest import unique_topic
from test_protocol_raw import create_topic, delete_records, produce_one

TIMEOUT = 30
FILES = ("log-start-offset-checkpoint", "replication-offset-checkpoint",
         "recovery-point-offset-checkpoint")
FAST_CHECKPOINTS = {"replica.high.watermark.checkpoint.interval.ms": "200"}


@pytest.fixture
def broker(brokers):
    """One broker writing its checkpoint files every 200 ms."""
    return brokers(overrides=FAST_CHECKPOINTS)


def read_checkpoint_in(path, name):
    """{(topic, partition): offset} of one of a directory's files."""
    with open(os.path.join(path, name)) as f:
        lines = f.read().split("\n")
    assert lines[0] == "0" and lines[-1] == ""
    count = int(lines[1])
    entries = [line.split(" ") for line in lines[2:-1]]
    assert len(entries) == count
    return {(t, int(p)): int(o) for t, p, o in entries}


def read_checkpoint(broker, name):
    return read_checkpoint_in(broker.data_dir, name)


def wait_for(what, cond, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if cond():
                return
        except FileNotFoundError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def watermarks(broker, topic, partition=0):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT)
    finally:
        c.close()


def legacy_path(broker, topic, partition=0):
    return os.path.join(broker.data_dir, f"{topic}-{partition}", "log-offsets.checkpoint")


def test_offsets_live_in_the_directory_files(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    for i in range(6):
        assert produce_one(broker, topic, b"r%d" % i) == i
    wait_for("the high watermark in replication-offset-checkpoint",
             lambda: read_checkpoint(broker, FILES[1]).get((topic, 0)) == 6)
    # DeleteRecords persists the new log start before it answers.
    assert delete_records(broker, topic, 4) == (0, 4)
    assert read_checkpoint(broker, FILES[0])[(topic, 0)] == 4
    assert not os.path.exists(legacy_path(broker, topic))

    broker.stop()
    # A clean stop fsyncs everything: the recovery point is the log end.
    assert read_checkpoint(broker, FILES[2])[(topic, 0)] == 6
    assert read_checkpoint(broker, FILES[1])[(topic, 0)] == 6
    broker.start()
    assert watermarks(broker, topic) == (4, 6)
    assert not os.path.exists(legacy_path(broker, topic))


def test_old_per_partition_checkpoint_is_read_then_retired(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    for i in range(5):
        assert produce_one(broker, topic, b"r%d" % i) == i
    broker.stop()
    # The layout before: no directory files, the partition's own file instead.
    for name in FILES:
        os.unlink(os.path.join(broker.data_dir, name))
    with open(legacy_path(broker, topic), "w") as f:
        f.write("0\n3\nlog-start-offset 2\nhigh-watermark 5\nrecovery-point 0\n")
    broker.start()
    assert watermarks(broker, topic) == (2, 5)
    wait_for("the old file to go once the directory's files list the partition",
             lambda: not os.path.exists(legacy_path(broker, topic)))
    assert read_checkpoint(broker, FILES[0])[(topic, 0)] == 2
    broker.restart()
    assert watermarks(broker, topic) == (2, 5)


def inodes(path):
    """Each write replaces the files (rename): a new inode per write."""
    return {n: os.stat(os.path.join(path, n)).st_ino for n in FILES}


def test_idle_directory_is_not_rewritten(brokers, tmp_path, request):
    # Two log directories: one partition each (a new partition goes to the
    # directory holding the fewest). Every checkpoint tick visits both, so
    # writes of the busy one's files prove ticks passed over the idle one.
    dirs = [str(tmp_path / "a"), str(tmp_path / "b")]
    b = brokers(start=False, overrides=FAST_CHECKPOINTS)
    b.overrides.update({"log.dirs": ",".join(dirs), "metadata.log.dir": b.data_dir})
    b.start()
    idle, busy = unique_topic(request, "-idle"), unique_topic(request, "-busy")
    create_topic(b, idle)
    assert produce_one(b, idle, b"x") == 0
    idle_dir = next(d for d in dirs if os.path.isdir(os.path.join(d, f"{idle}-0")))
    create_topic(b, busy)
    busy_dir = next(d for d in dirs if os.path.isdir(os.path.join(d, f"{busy}-0")))
    assert busy_dir != idle_dir
    wait_for("the high watermark in the idle directory's replication-offset-checkpoint",
             lambda: read_checkpoint_in(idle_dir, FILES[1]).get((idle, 0)) == 1)
    before = inodes(idle_dir)

    for i in range(3):
        busy_before = inodes(busy_dir)[FILES[1]] if i > 0 else None  # none yet
        assert produce_one(b, busy, b"b%d" % i) == i
        wait_for(f"checkpoint write {i + 1} of the busy directory",
                 lambda: inodes(busy_dir)[FILES[1]] != busy_before
                 and read_checkpoint_in(busy_dir, FILES[1]).get((busy, 0)) == i + 1)
        assert inodes(idle_dir) == before, "the idle directory's files were rewritten"

    # And a change is written again.
    assert produce_one(b, idle, b"y") == 1
    wait_for("the new high watermark",
             lambda: read_checkpoint_in(idle_dir, FILES[1]).get((idle, 0)) == 2)
    assert inodes(idle_dir) != before
