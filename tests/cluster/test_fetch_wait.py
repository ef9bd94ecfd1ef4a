"""Parked Fetch requests (long poll): bounded, cancelled with their connection,
and woken by the partitions they watch (issues 11 and 14).

- A Fetch's max_wait_ms is clamped to request.timeout.ms.
- A parked Fetch whose client disconnects lets go of its request at once,
  rather than pinning it (and what it planned) until its deadline.
- A Fetch parked on many partitions is answered when any one of them gets
  data; each wake re-reads only the partition that changed."""

import socket
import struct
import time

from confluent_kafka.admin import AdminClient, NewTopic

from sluicetest import unique_topic
from test_protocol_raw import (connect, create_topic, fetch_body, frame_of, produce_body,
                               parse_produce_response, record_batch, recv_response, string,
                               wait_parked)

TIMEOUT = 60


def rss_mib(broker):
    with open(f"/proc/{broker.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def fetch_many(topic, partitions, max_wait_ms, min_bytes=1):
    """Fetch v4 naming `partitions` (a list, repeats allowed) at offset 0."""
    body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, 50 << 20, 0)
    body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions))
    body += b"".join(struct.pack(">iqi", p, 0, 1 << 20) for p in partitions)
    return body


def parse_fetch_many(resp):
    """{partition: (error, high_watermark, records)} of a one-topic Fetch v4 response."""
    pos = 4 + 4 + 4
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len
    (count,) = struct.unpack(">i", resp[pos:pos + 4])
    pos += 4
    out = {}
    for _ in range(count):
        p, err, hw, _lso = struct.unpack(">ihqq", resp[pos:pos + 22])
        pos += 22
        (aborted,) = struct.unpack(">i", resp[pos:pos + 4])
        pos += 4 + max(aborted, 0) * 16
        (size,) = struct.unpack(">i", resp[pos:pos + 4])
        pos += 4
        out[p] = (err, hw, resp[pos:pos + max(size, 0)])
        pos += max(size, 0)
    return out


def test_max_wait_is_clamped_to_request_timeout(brokers, request):
    b = brokers(overrides={"request.timeout.ms": "1500", "log.level": "debug"})
    topic = unique_topic(request)
    create_topic(b, topic)
    with connect(b) as s:
        s.settimeout(TIMEOUT)
        s.sendall(frame_of(1, 4, 60, fetch_body(topic, 0, max_wait_ms=2**31 - 1)))
        wait_parked(b, 60)
        # Answered (empty) at the clamped deadline, not in 24 days.
        corr, = struct.unpack(">i", recv_response(s)[:4])
    assert corr == 60
    assert "max_wait_ms=1500" in b.log_text()


def test_parked_fetches_are_released_when_their_connection_closes(brokers, request):
    # A deadline far away: only the disconnect can release them.
    b = brokers(overrides={"request.timeout.ms": "600000", "log.level": "debug"})
    topic = unique_topic(request)
    create_topic(b, topic)
    base = rss_mib(b)
    # Each request names partition 0 of the topic 40,000 times: ~640 KiB of
    # frame and several MiB of plan and watches pinned while it waits.
    body = fetch_many(topic, [0] * 40000, max_wait_ms=600000)
    socks = []
    for i in range(8):
        s = connect(b)
        s.sendall(frame_of(1, 4, 100 + i, body))
        socks.append(s)
    for i in range(8):
        wait_parked(b, 100 + i, timeout=TIMEOUT)
    pinned = rss_mib(b)
    assert pinned - base > 20, (base, pinned)
    for s in socks:
        s.close()
    deadline = time.monotonic() + TIMEOUT
    while b.log_text().count("fetch cancelled") < 8:
        assert time.monotonic() < deadline, b.log_text()[-2000:]
        time.sleep(0.05)
    deadline = time.monotonic() + TIMEOUT
    while rss_mib(b) - base > (pinned - base) / 2:
        assert time.monotonic() < deadline, (base, pinned, rss_mib(b))
        time.sleep(0.1)
    # And the broker still serves.
    with connect(b) as s:
        s.sendall(frame_of(0, 3, 1, produce_body(topic, record_batch([b"alive"]))))
        assert parse_produce_response(recv_response(s)) == (0, 0)


def test_fetch_parked_on_many_partitions_wakes_on_any_one(brokers, request):
    broker = brokers(overrides={"log.level": "debug"})
    topic = unique_topic(request)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 200, 1)],
                        request_timeout=TIMEOUT)[topic].result(timeout=TIMEOUT)
    with connect(broker) as s:
        s.settimeout(TIMEOUT)
        s.sendall(frame_of(1, 4, 70, fetch_many(topic, list(range(200)), max_wait_ms=50000)))
        wait_parked(broker, 70)
        with connect(broker) as p:
            p.sendall(frame_of(0, 3, 1, produce_body(topic, record_batch([b"wake"]),
                                                     partition=137)))
            assert parse_produce_response(recv_response(p)) == (0, 0)
        parts = parse_fetch_many(recv_response(s))
    assert len(parts) == 200
    assert parts[137][0] == 0 and parts[137][1] == 1 and b"wake" in parts[137][2]
    assert all(parts[p][2] == b"" for p in parts if p != 137)
