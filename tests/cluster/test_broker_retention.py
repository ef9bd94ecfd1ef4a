"""The broker's retention timer (log.retention.check.interval.ms) deletes old
segments and moves the log start offset; consumers see the new earliest
offset. Topic configs set at creation drive it."""

import time

from confluent_kafka import Producer, TopicPartition, Consumer

from sluicetest import binary, run, unique_topic


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
        assert (low, high) == (0, 40)
        deadline = time.monotonic() + 15
        while low == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()
    assert 0 < low <= 40 and high == 40, (low, high)
    assert "retention deleted segments" in b.log_text()
