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
from test_protocol_raw import (connect, create_topic, fetch_body, produce_body, recv_response,
                               request_frame)

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


class NonReadingHog:
    """One connection that pipelines maximum-size requests and never reads:
    a Fetch whose answer (12 MiB) is more than the kernel buffers hold goes
    first, so every Produce behind it is read, answered and then held
    unwritten (charged to queued.max.request.bytes) for as long as the hog
    lives. It sends `count` Produce frames of `size` bytes from a thread,
    built one at a time, until they are all sent or stop()."""

    def __init__(self, broker, topic, fill_topic, size, count):
        self.sent, self.stopped = 0, threading.Event()
        self.topic, self.size, self.count = topic, size, count
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", broker.port))
        self.sock.setblocking(False)
        self.first = request_frame(1, 4, 1, fetch_body(fill_topic, 0, 0, 1, 64 * MIB))
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def send(self, data):
        view, off = memoryview(data), 0
        while off < len(data) and not self.stopped.is_set():
            try:
                n = self.sock.send(view[off:off + 65536])
                off += n
                self.sent += n
            except BlockingIOError:
                time.sleep(0.02)

    def run(self):
        self.send(self.first)
        for i in range(self.count):
            self.send(big_produce(self.topic, 100 + i, self.size))

    def stalled(self, timeout=60):
        """Wait until the broker stops taking the hog's bytes; False if it
        took them all."""
        last, deadline = -1, time.monotonic() + timeout
        while self.sent != last and self.thread.is_alive() and time.monotonic() < deadline:
            last = self.sent
            time.sleep(1.0)
        return self.thread.is_alive()

    def stop(self):
        self.stopped.set()
        self.thread.join()
        self.sock.close()


def fill_partition(broker, topic, mib):
    """`mib` MiB of 1000000-byte records in partition 0 of a new `topic`."""
    create_topic(broker, topic)
    with connect(broker) as s:
        s.settimeout(60)
        for i in range(mib):
            assert produce(s, topic, batch(records_of([bytes([i]) * 1000000]), 0, 1), i)[0] == 0


def budget_used_mib(broker):
    from metricstest import scrape, value
    return value(scrape(broker.http_port), "sluice_kafka_request_budget_used_bytes") / MIB


def test_one_connection_cannot_take_the_whole_request_budget(brokers, request):
    """Fairness of queued.max.request.bytes (32 MiB here, 8 MiB frames): a
    connection that pipelines maximum-size requests and never reads its
    answers holds at most its share (half the budget while it is alone, less
    as others arrive) instead of all of it, so a well-behaved confluent-kafka
    producer and consumer on other connections keep being served while the
    hog is still there. Without the share the hog's unwritten answers keep
    the budget spent and every other connection waits until the hog leaves.
    The peak RSS stays within the budget plus one frame plus the hog's
    stuck Fetch answer (measured)."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from sluicetest import free_port
    http_port = free_port()
    broker = brokers(overrides={"socket.request.max.bytes": str(8 * MIB),
                                "queued.max.request.bytes": str(32 * MIB),
                                "metrics.listener": f"127.0.0.1:{http_port}"})
    broker.http_port = http_port
    topic, fill, good_topic = (unique_topic(request, s) for s in ("hog", "fill", "good"))
    create_topic(broker, topic)
    create_topic(broker, good_topic)
    fill_partition(broker, fill, 12)
    hwm_before = vm_kib(broker, "VmHWM")
    hog = NonReadingHog(broker, topic, fill, 8 * MIB, 40)
    try:
        assert hog.stalled(), f"the broker read everything the hog sent ({hog.sent} bytes)"
        held_mib = budget_used_mib(broker)
        assert 8 <= held_mib <= 16 + 1, f"the hog holds {held_mib:.1f} MiB of the budget"
        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                      "message.timeout.ms": 60000, "linger.ms": 0})
        delivered = []
        for i in range(50):
            p.produce(good_topic, value=b"good-%d" % i, partition=0,
                      on_delivery=lambda err, msg: delivered.append(err))
            p.flush(60)
        assert delivered == [None] * 50, delivered[:3]
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g-" + good_topic,
                      "enable.auto.commit": False})
        c.assign([TopicPartition(good_topic, 0, 0)])
        got, deadline = [], time.monotonic() + 60
        while len(got) < 50 and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and not m.error():
                got.append(m.value())
        c.close()
        assert got == [b"good-%d" % i for i in range(50)]
        assert hog.thread.is_alive(), "the hog is still there, still stalled"
        growth_mib = (vm_kib(broker, "VmHWM") - hwm_before) / 1024
        assert growth_mib < 32 + 8 + 12 + 16, f"peak RSS grew {growth_mib:.0f} MiB"
    finally:
        hog.stop()
    with connect(broker) as s:  # the hog's place is given back
        assert produce(s, topic, batch(records_of([b"after"]), 0, 1))[0] == 0
    deadline = time.monotonic() + 30
    while budget_used_mib(broker) > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert budget_used_mib(broker) == 0
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


# ---- internal RPC: controller and replication ports --------------------------

def rpc_ports(node):
    host, port = node.controller.split(":")
    return {"controller": (host, int(port)), "replication": ("127.0.0.1", node.replication_port)}


def kafka_served(node, corr):
    with connect(node) as s:
        s.settimeout(30)
        s.sendall(request_frame(18, 0, corr, b""))
        return struct.unpack(">ih", recv_response(s)[:6]) == (corr, 0)


def closed_within(s, seconds):
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_rpc_ports_refuse_huge_frames_and_drop_slow_senders(clusters):
    """On both RPC ports: a frame declaring 64 MiB is refused at once (the
    control request bound is 4 MiB, not socket.request.max.bytes); a frame
    left half-sent and a connection that never sends a request are closed
    after request.timeout.ms (2 s here). The cluster stays healthy and
    serves Kafka clients meanwhile."""
    from test_budgets import rpc_request_frame, rpc_response_error
    c = clusters(n=1, overrides={"request.timeout.ms": "2000"})
    node = c[0]
    hwm_before = vm_kib(node, "VmHWM")
    for name, addr in rpc_ports(node).items():
        with socket.create_connection(addr, timeout=30) as s:
            s.sendall(struct.pack(">I", 64 * MIB) + b"\x00" * 65536)
            assert closed_within(s, 10), name
        slow = socket.create_connection(addr, timeout=30)
        slow.sendall(struct.pack(">I", 1000) + b"\x00" * 10)
        silent = socket.create_connection(addr, timeout=30)
        assert kafka_served(node, 3)
        assert closed_within(slow, 30) and closed_within(silent, 30), name
        slow.close()
        silent.close()
    text = node.log_text()
    assert "request frame not completed within the frame timeout" in text
    assert "no request within the handshake timeout" in text
    assert (vm_kib(node, "VmHWM") - hwm_before) < 16 * 1024
    # A well-formed request is still answered on the controller port.
    with socket.create_connection(rpc_ports(node)["controller"], timeout=30) as s:
        s.sendall(rpc_request_frame(8, 1, b"\x18" + b"\xff" * 9 + b"\x01"))
        assert rpc_response_error(s) == 0
    c.wait_healthy()
    assert node.running()


def test_rpc_peer_that_does_not_read_is_not_buffered(clusters, request):
    """A peer pipelines 100000 FetchMetadata requests for the whole image (a
    100-partition topic makes each answer over 1 KiB) and never reads.
    Unbounded, the answers would take hundreds of MiB; the server stops
    reading the peer once 4 MiB of answers are unsent, so the peak RSS grows
    by a few MiB. Heartbeats (the cluster stays healthy) and Kafka clients
    are served meanwhile."""
    from clustertest import admin_for, create
    from test_budgets import rpc_request_frame
    c = clusters(n=1)
    node = c[0]
    assert create(admin_for(c), unique_topic(request), 100, 1, timeout=60) is None
    frames = b"".join(rpc_request_frame(8, i, b"\x18" + b"\xff" * 9 + b"\x01")
                      for i in range(100000))
    with socket.create_connection(rpc_ports(node)["controller"], timeout=30) as probe:
        probe.sendall(frames[:len(frames) // 100000])
        (length,) = struct.unpack(">I", probe.recv(4, socket.MSG_WAITALL))
    assert length > 1024, length
    hwm_before = vm_kib(node, "VmHWM")
    hog = socket.socket()
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.connect(rpc_ports(node)["controller"])
    hog.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 20
    while sent < len(frames) and time.monotonic() < deadline:
        try:
            sent += hog.send(frames[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.05)
    time.sleep(2)  # what the kernel buffered for the server is read by now, if it reads
    for corr in range(20):
        assert kafka_served(node, corr)
    c.wait_healthy()
    growth_mib = (vm_kib(node, "VmHWM") - hwm_before) / 1024
    assert growth_mib < 32, f"peak RSS grew {growth_mib:.0f} MiB"
    hog.close()
    assert node.running()


def listening_addresses(port):
    """Local IPv4 addresses with a socket listening on `port` (/proc/net/tcp)."""
    out = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            ip_hex, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                out.append(socket.inet_ntoa(struct.pack("<I", int(ip_hex, 16))))
    return out


def test_raft_binds_the_controller_listener_host(clusters):
    """Raft listens on the CONTROLLER listener's host (127.0.0.1 here),
    port + 1, not on every interface."""
    c = clusters(n=1)
    host, port = c[0].controller.split(":")
    assert listening_addresses(int(port) + 1) == [host]
    assert listening_addresses(int(port)) == [host]
