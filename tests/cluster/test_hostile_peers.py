"""Hostile peers on the Kafka port (issue 11): many connections pipelining
maximum-size requests, and slow senders that start a frame and never finish
it. The broker stays up, its resident memory stays within
queued.max.request.bytes plus one frame (VmHWM from /proc, measured), and a
well-behaved client keeps being served meanwhile.
"""

import socket
import struct
import threading
import time

from sluicetest import unique_topic
from test_budgets import batch, produce, records_of, vm_kib
from test_protocol_raw import connect, create_topic, produce_body, recv_response, request_frame

MIB = 1 << 20


def big_produce(topic, corr, size):
    """A Produce request of exactly `size` bytes on the wire whose records are
    far above message.max.bytes: refused cheaply once the whole frame is in."""
    empty = len(request_frame(0, 3, corr, produce_body(topic, b"")))
    return request_frame(0, 3, corr, produce_body(topic, b"\x00" * (size - empty)))


def test_pipelined_max_size_requests_stay_within_the_request_budget(brokers, request):
    """24 connections each pipeline 3 requests of socket.request.max.bytes
    (8 MiB) at once: 576 MiB on the wire. Without a budget every connection
    holds its own frame (~200 MiB resident); with queued.max.request.bytes
    at 16 MiB reading pauses, so the peak grows by at most the budget plus
    one frame plus read buffers. A producer is served throughout."""
    broker = brokers(overrides={"socket.request.max.bytes": str(8 * MIB),
                                "queued.max.request.bytes": str(16 * MIB)})
    topic = unique_topic(request)
    create_topic(broker, topic)
    with connect(broker) as s:  # warm up: the first produce maps the segment
        assert produce(s, topic, batch(records_of([b"warm"]), 0, 1)) == (0, 0)
    hwm_before = vm_kib(broker, "VmHWM")
    frames = [big_produce(topic, 100 + i, 8 * MIB) for i in range(3)]
    assert all(len(f) == 8 * MIB for f in frames)
    failures, answered = [], []

    def attacker():
        try:
            with socket.create_connection(("127.0.0.1", broker.port), timeout=120) as a:
                for f in frames:
                    a.sendall(f)
                for _ in frames:
                    (corr,) = struct.unpack(">i", recv_response(a)[:4])
                    answered.append(corr)
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(repr(e))

    threads = [threading.Thread(target=attacker) for _ in range(24)]
    for t in threads:
        t.start()
    good = 0
    with connect(broker) as s:
        s.settimeout(60)
        while any(t.is_alive() for t in threads) or good < 20:
            assert produce(s, topic, batch(records_of([b"good-%d" % good]), 0, 1), good) == (0, good + 1)
            good += 1
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    assert len(answered) == 24 * 3
    growth_mib = (vm_kib(broker, "VmHWM") - hwm_before) / 1024
    assert growth_mib < 16 + 8 + 16, f"peak RSS grew {growth_mib:.0f} MiB"
    assert broker.running()


def test_half_sent_frames_are_dropped_after_the_request_timeout(brokers):
    """200 connections each declare a 1 MiB frame, send 100 bytes of it and
    stall. They are closed after request.timeout.ms (2 s here), not after
    connections.max.idle.ms (10 min), one log line each; a client that
    completes its requests is served meanwhile and afterwards."""
    broker = brokers(overrides={"request.timeout.ms": "2000"})
    stalled = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", broker.port), timeout=30)
        s.sendall(struct.pack(">i", MIB) + b"\x00" * 100)
        stalled.append(s)
    with connect(broker) as s:
        s.settimeout(30)
        s.sendall(request_frame(18, 0, 7, b""))
        assert struct.unpack(">ih", recv_response(s)[:6]) == (7, 0)
    deadline = time.monotonic() + 60
    closed = 0
    for s in stalled:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            if s.recv(1) == b"":
                closed += 1
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
        s.close()
    assert closed == 200
    lines = [ln for ln in broker.log_text().splitlines()
             if "request not completed within request.timeout.ms" in ln]
    assert len(lines) == 200 and "100 of 1048576 bytes" in lines[0], lines[:2]
    with connect(broker) as s:
        s.sendall(request_frame(18, 0, 8, b""))
        assert struct.unpack(">ih", recv_response(s)[:6]) == (8, 0)
    assert broker.running()
