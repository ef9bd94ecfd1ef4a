"""DeleteRecords answers only once the new log start offset is durable
(issue 14: the checkpoint write runs on the thread pool, the answer waits for
it): records a client was told are gone never come back, even after SIGKILL,
and answers on one connection still come in request order.

The brokers here write their checkpoint files on the timer only every 10
minutes, so what makes the new start durable is the DeleteRecords write."""

import os
import struct
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from sluicetest import unique_topic
from test_protocol_raw import (connect, create_topic, delete_records, frame_of, produce_one,
                               recv_response, string)

TIMEOUT = 30
SLOW_CHECKPOINTS = {
    "replica.high.watermark.checkpoint.interval.ms": "600000",
    "log.flush.offset.checkpoint.interval.ms": "600000",
    "log.flush.start.offset.checkpoint.interval.ms": "600000",
    # Several segments: whole ones below the new start go, and the one
    # holding it keeps records below it in its file.
    "log.segment.bytes": "300",
}


def consume_all(broker, topic):
    """(first offset, values) read from the beginning with a real client."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = []
        while len(got) < high - low:
            m = c.poll(TIMEOUT)
            assert m is not None, f"nothing more after {len(got)} records"
            assert m.error() is None, m.error()
            got.append((m.offset(), m.value()))
        return low, high, got
    finally:
        c.close()


def segment_bases(broker, topic):
    d = os.path.join(broker.data_dir, f"{topic}-0")
    return sorted(int(n[:-4]) for n in os.listdir(d) if n.endswith(".log"))


def test_deleted_records_stay_gone_after_sigkill(brokers, request):
    broker = brokers(overrides=SLOW_CHECKPOINTS)
    topic = unique_topic(request)
    create_topic(broker, topic)
    for i in range(20):
        assert produce_one(broker, topic, b"record-%02d" % i) == i
    bases = segment_bases(broker, topic)
    assert len(bases) > 2 and bases[0] == 0
    holder = max(b for b in bases if b <= 13)
    assert 0 < holder < 13  # records below 13 stay in its file
    assert delete_records(broker, topic, 13) == (0, 13)
    # Whole segments below the start go once it is on disk; the one holding
    # offset 13 stays (its files go from the thread pool: wait for them).
    deadline = time.monotonic() + TIMEOUT
    while segment_bases(broker, topic)[0] != holder:
        assert time.monotonic() < deadline, segment_bases(broker, topic)
        time.sleep(0.05)

    broker.kill()
    broker.start()
    low, high, got = consume_all(broker, topic)
    assert (low, high) == (13, 20)
    assert got == [(i, b"record-%02d" % i) for i in range(13, 20)]


def test_answers_keep_request_order(brokers, request):
    broker = brokers(overrides=SLOW_CHECKPOINTS)
    topic = unique_topic(request)
    create_topic(broker, topic)
    for i in range(6):
        assert produce_one(broker, topic, b"r%d" % i) == i
    body = struct.pack(">i", 1) + string(topic) + struct.pack(">iiq", 1, 0, 4)
    body += struct.pack(">i", 5000)
    with connect(broker) as s:
        # DeleteRecords waits for a write; the ApiVersions behind it does not.
        s.sendall(frame_of(21, 0, 101, body) + frame_of(18, 0, 102, b""))
        first = recv_response(s)
        second = recv_response(s)
    assert struct.unpack(">i", first[:4])[0] == 101
    assert struct.unpack(">i", second[:4])[0] == 102
    pos = 4 + 4 + 4
    (name_len,) = struct.unpack(">h", first[pos:pos + 2])
    pos += 2 + name_len + 4
    _, low, err = struct.unpack(">iqh", first[pos:pos + 14])
    assert (err, low) == (0, 4)
    # A second request for the same offset is answered too (nothing to move).
    assert delete_records(broker, topic, 4) == (0, 4)
    assert delete_records(broker, topic, 2) == (0, 4)
