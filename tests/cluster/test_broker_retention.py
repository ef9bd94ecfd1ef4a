"""The broker's retention timer (log.retention.check.interval.ms) deletes old
segments and moves the log start offset; consumers see the new earliest
offset. Topic configs set at creation drive it, and a dynamic change to a
shorter retention.ms takes effect (the timer visits only logs whose deadline
has passed, so the change must move the deadline)."""

import os
import time

from confluent_kafka import Producer, TopicPartition, Consumer

from clustertest import wait_until
from sluicetest import binary, run, unique_topic


def sluicectl_topic(b, *args):
    run([binary("tools", "sluicectl", "sluicectl"), "topic", *args,
         "--bootstrap-server", b.bootstrap], timeout=30)


def watermarks(b, topic):
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "retention-test"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


def test_retention_deletes_old_segments(brokers, request):
    b = brokers(overrides={"log.retention.check.interval.ms": "200"})
    topic = unique_topic(request)
    run([binary("tools", "sluicectl", "sluicectl"), "topic", "create", topic,
         "--bootstrap-server", b.bootstrap, "--config", "segment.bytes=2000",
         "--config", "retention.ms=500"], timeout=30)
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0})
    for i in range(40):
        p.produce(topic, value=b"v" * 200)
        p.flush(10)  # one batch per message: many small segments
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "retention-test"})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        # On a loaded machine producing takes longer than retention.ms, so
        # the first segments may be gone already.
        assert high == 40, (low, high)
        deadline = time.monotonic() + 15
        while low == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()
    assert 0 < low <= 40 and high == 40, (low, high)
    assert "retention deleted segments" in b.log_text()
    # The deleted segments' files vanish (renamed `.deleted` on the loop,
    # unlinked on the thread pool): none below the log start offset stays.
    pdir = os.path.join(b.data_dir, f"{topic}-0")

    def files_gone():
        names = os.listdir(pdir)
        bases = [int(n[:20]) for n in names if n.endswith(".log")]
        leftovers = [n for n in names if n.endswith(".deleted")]
        return not leftovers and bases and min(bases) >= low and (names, low)

    wait_until(files_gone, 30, "the deleted segments' files gone")
    assert not os.path.exists(os.path.join(pdir, "00000000000000000000.log"))


def test_shorter_retention_takes_effect(brokers, request):
    b = brokers(overrides={"log.retention.check.interval.ms": "200"})
    topic = unique_topic(request)
    sluicectl_topic(b, "create", topic, "--config", "segment.bytes=2000",
                    "--config", "retention.ms=3600000")
    ten_minutes_ago = int(time.time() * 1000) - 600_000
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0})
    for i in range(40):
        p.produce(topic, value=b"v" * 200, timestamp=ten_minutes_ago)
        p.flush(10)
    # An hour's retention keeps records ten minutes old through several passes.
    time.sleep(1.5)
    assert watermarks(b, topic) == (0, 40)
    assert "retention deleted segments" not in b.log_text()
    sluicectl_topic(b, "alter-config", topic, "--config", "retention.ms=60000")
    deadline = time.monotonic() + 15
    low, high = watermarks(b, topic)
    while low == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        low, high = watermarks(b, topic)
    # Everything but the active segment is past a minute's retention.
    assert 0 < low < 40 and high == 40, (low, high)
    assert "retention deleted segments" in b.log_text()
