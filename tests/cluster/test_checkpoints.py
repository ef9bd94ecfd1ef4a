"""Offsets checkpoints (issue 14): one set of Kafka's files per log directory.

The broker keeps every partition's log start offset, high watermark and
recovery point in `log-start-offset-checkpoint`, `replication-offset-checkpoint`
and `recovery-point-offset-checkpoint` in each log directory (Kafka's format:
version, count, then "topic partition offset" lines), written on the thread
pool only when something changed. A partition's own `log-offsets.checkpoint`
(the format before) is read once and deleted."""

import os
import time

from confluent_kafka import Consumer, TopicPartition

from sluicetest import unique_topic
from test_protocol_raw import create_topic, delete_records, produce_one

TIMEOUT = 30
FILES = ("log-start-offset-checkpoint", "replication-offset-checkpoint",
         "recovery-point-offset-checkpoint")


def read_checkpoint(broker, name):
    """{(topic, partition): offset} of one of the directory's files."""
    with open(os.path.join(broker.data_dir, name)) as f:
        lines = f.read().split("\n")
    assert lines[0] == "0" and lines[-1] == ""
    count = int(lines[1])
    entries = [line.split(" ") for line in lines[2:-1]]
    assert len(entries) == count
    return {(t, int(p)): int(o) for t, p, o in entries}


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


def test_idle_broker_does_not_rewrite_checkpoints(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    assert produce_one(broker, topic, b"x") == 0
    wait_for("the high watermark in replication-offset-checkpoint",
             lambda: read_checkpoint(broker, FILES[1]).get((topic, 0)) == 1)
    # Each write replaces the files (rename): a new inode. Three checkpoint
    # intervals (5 s) with nothing changing must leave them alone.
    before = {n: os.stat(os.path.join(broker.data_dir, n)).st_ino for n in FILES}
    time.sleep(16)
    after = {n: os.stat(os.path.join(broker.data_dir, n)).st_ino for n in FILES}
    assert before == after
    # And a change is written again.
    assert produce_one(broker, topic, b"y") == 1
    wait_for("the new high watermark",
             lambda: read_checkpoint(broker, FILES[1]).get((topic, 0)) == 2)
