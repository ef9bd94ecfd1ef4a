#!/usr/bin/python3
"""Hostile peers against two builds, same run (issue 11): each attack's peak
memory and a well-behaved client's latency while it runs.

    nice -n 10 /usr/bin/python3 tools/bench/hostile_peers.py BEFORE_BUILD AFTER_BUILD [NAME_PART]

(NAME_PART: run only the attacks whose name contains it.)

For each build and attack a fresh single-node sluiced (broker and controller)
starts; a well-behaved producer sends one small acks=1 batch after another on
its own connection throughout the attack (and at least 3 s). Printed per
attack and build:
  - peak RSS growth (VmHWM from /proc after the attack minus before it);
  - the producer's round trips during the attack: count, p50, p99 and max ms,
    and errors (a timeout of 30 s or a closed connection counts as one);
  - what became of the attackers' connections where that is the point.
The "after" build runs with queued.max.request.bytes=16 MiB for the pipelined
attack (its default is 256 MiB; the "before" build has no such setting) and
request.timeout.ms=2000 for the slow-sender attacks (connections.max.idle.ms
stays at its 10 min default in both). Numbers are from a shared 2-core
machine: compare the columns of one run, not runs with each other.
"""

import os
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "cluster"))

import sluicetest  # noqa: E402
from test_budgets import batch, records_of, rpc_request_frame, vm_kib  # noqa: E402
from test_protocol_raw import (create_topic, parse_produce_response,  # noqa: E402
                               produce_body, recv_response, request_frame)

MIB = 1 << 20
FETCH_ALL_METADATA = b"\x18" + b"\xff" * 9 + b"\x01"  # FetchMetadataRequest.after_offset=-1


class WellBehaved:
    """Produces one record at a time on its own connection, timing each."""

    def __init__(self, broker, topic):
        self.broker, self.topic = broker, topic
        self.latencies, self.errors = [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        s, corr = None, 0
        while not self.stop.is_set():
            try:
                if s is None:
                    s = socket.create_connection(("127.0.0.1", self.broker.port), timeout=30)
                corr += 1
                data = batch(records_of([b"good-%d" % corr]), 0, 1)
                start = time.monotonic()
                s.sendall(request_frame(0, 3, corr, produce_body(self.topic, data)))
                err, _ = parse_produce_response(recv_response(s))
                self.latencies.append((time.monotonic() - start) * 1000)
                if err != 0:
                    self.errors += 1
            except OSError:
                self.errors += 1
                s = None
            time.sleep(0.01)
        if s is not None:
            s.close()

    def __enter__(self):
        self.thread.start()
        time.sleep(0.5)
        self.latencies.clear()  # only what the attack overlaps
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        # At least 3 s measured: an attack refused at once still has an aftermath.
        time.sleep(max(0.0, 3.0 - (time.monotonic() - self.started)))
        self.stop.set()
        self.thread.join()

    def summary(self):
        lat = sorted(self.latencies)
        if not lat:
            return "none served", self.errors
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return (f"{len(lat)} ok, p50 {statistics.median(lat):.1f} ms, p99 {p99:.0f} ms, "
                f"max {lat[-1]:.0f} ms"), self.errors


def closed(s, seconds):
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except OSError:
        return False


def attack_pipelined(broker, topic):
    frames = []
    for i in range(3):
        empty = len(request_frame(0, 3, i, produce_body(topic, b"")))
        frames.append(request_frame(0, 3, i, produce_body(topic, b"\x00" * (8 * MIB - empty))))

    def one():
        try:
            with socket.create_connection(("127.0.0.1", broker.port), timeout=120) as a:
                for f in frames:
                    a.sendall(f)
                for _ in frames:
                    recv_response(a)
        except OSError:
            pass
    threads = [threading.Thread(target=one) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return "24 conns x 3 x 8 MiB answered"


def attack_non_reading_hog(broker, topic):
    """One connection: a Fetch for 12 MiB it never reads, then 8 MiB
    Produce requests whose answers therefore stay unwritten, held for 10 s."""
    from test_hostile_peers import NonReadingHog
    hog = NonReadingHog(broker, topic, "fill", 8 * MIB, 40)
    time.sleep(10)
    sent = hog.sent
    hog.stop()
    return f"hog got {sent / MIB:.0f} MiB into the broker's buffers and ours"


def attack_slow_senders(broker, topic):
    held = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", broker.port), timeout=30)
        s.sendall(struct.pack(">i", MIB) + b"\x00" * 100)
        held.append(s)
    time.sleep(6)
    n = sum(closed(s, 0.2) for s in held)
    for s in held:
        s.close()
    return f"{n}/200 half-sent frames dropped within 6 s"


def controller_addr(broker):
    host, port = broker.controller.split(":")
    return host, int(port)


# Attack payloads built before the measured window: the well-behaved client
# shares this process, and building tens of MiB of bytes holds the GIL.
PAYLOADS = {}


def payload(name):
    if name not in PAYLOADS:
        if name == "huge":
            PAYLOADS[name] = rpc_request_frame(8, 1, b"\xa0\x06\x00" * ((64 * MIB) // 3))
        else:
            PAYLOADS[name] = b"".join(rpc_request_frame(8, i, FETCH_ALL_METADATA)
                                      for i in range(100000))
    return PAYLOADS[name]


def attack_rpc_huge_frame(broker, topic):
    with socket.create_connection(controller_addr(broker), timeout=60) as s:
        s.settimeout(60)
        try:
            s.sendall(payload("huge"))
        except OSError:
            return "refused before the frame was sent"
        return "closed" if closed(s, 30) is True else "answered/held"


def attack_rpc_non_reader(broker, topic):
    admin = socket.create_connection(("127.0.0.1", broker.port), timeout=60)
    admin.close()
    frames = payload("non-reader")
    hog = socket.socket()
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.connect(controller_addr(broker))
    hog.setblocking(False)
    sent, deadline = 0, time.monotonic() + 15
    while sent < len(frames) and time.monotonic() < deadline:
        try:
            sent += hog.send(frames[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.05)
    time.sleep(3)
    hog.close()
    return "100000 FetchMetadata, never read"


def attack_rpc_silent(broker, topic):
    held = [socket.create_connection(controller_addr(broker), timeout=30) for _ in range(50)]
    for s in held[:25]:
        s.sendall(struct.pack(">I", 1000) + b"\x00" * 10)
    time.sleep(6)
    n = sum(closed(s, 0.2) for s in held)
    for s in held:
        s.close()
    return f"{n}/50 silent or half-sent RPC peers closed within 6 s"


ATTACKS = [
    ("Kafka: 24 conns pipelining 3 x 8 MiB requests", attack_pipelined,
     {"socket.request.max.bytes": str(8 * MIB)}, {"queued.max.request.bytes": str(16 * MIB)}),
    ("Kafka: 1 non-reading conn pipelining 8 MiB requests", attack_non_reading_hog,
     {"socket.request.max.bytes": str(8 * MIB), "queued.max.request.bytes": str(32 * MIB)}, {}),
    ("Kafka: 200 conns with a half-sent 1 MiB frame", attack_slow_senders, {},
     {"request.timeout.ms": "2000"}),
    ("RPC: one 64 MiB frame of unknown fields", attack_rpc_huge_frame, {}, {}),
    ("RPC: 100000 pipelined FetchMetadata, never read", attack_rpc_non_reader, {}, {}),
    ("RPC: 25 silent + 25 half-sent peers", attack_rpc_silent, {},
     {"request.timeout.ms": "2000"}),
]


def run_one(build, label, attack, overrides, workdir):
    sluicetest.BUILD_DIR = build
    broker = sluicetest.Broker(workdir, overrides=overrides, name=label)
    broker.start()
    try:
        topic = "bench"
        create_topic(broker, topic)
        if attack is attack_rpc_non_reader:  # a metadata image worth fetching
            for i in range(20):
                create_topic(broker, f"pad-{i}")
        if attack is attack_non_reading_hog:  # what the hog fetches and never reads
            from test_hostile_peers import fill_partition
            fill_partition(broker, "fill", 12)
        with socket.create_connection(("127.0.0.1", broker.port), timeout=30) as s:
            s.sendall(request_frame(0, 3, 1, produce_body(topic, batch(records_of([b"w"]), 0, 1))))
            recv_response(s)
        if attack is attack_rpc_huge_frame:
            payload("huge")
        elif attack is attack_rpc_non_reader:
            payload("non-reader")
        hwm = vm_kib(broker, "VmHWM")
        with WellBehaved(broker, topic) as good:
            outcome = attack(broker, topic)
        growth = (vm_kib(broker, "VmHWM") - hwm) / 1024
        latency, errors = good.summary()
        alive = broker.running()
        return growth, latency, errors, outcome, alive
    finally:
        if broker.running():
            broker.stop()


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    only = sys.argv[3] if len(sys.argv) == 4 else ""
    builds = {"before": os.path.abspath(sys.argv[1]), "after": os.path.abspath(sys.argv[2])}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, attack, common, after_only in ATTACKS:
            if only not in name:
                continue
            for label, build in builds.items():
                overrides = dict(common)
                if label == "after":
                    overrides.update(after_only)
                r = run_one(build, label, attack, overrides, tempfile.mkdtemp(dir=tmp))
                rows.append((name, label) + r)
                print(f"{name} [{label}]: +{r[0]:.0f} MiB peak RSS; good client {r[1]}, "
                      f"{r[2]} errors; {r[3]}; alive={r[4]}", flush=True)
    print()
    print("| attack | build | peak RSS growth | well-behaved producer during the attack "
          "| its errors | outcome |")
    print("|---|---|---|---|---|---|")
    for name, label, growth, latency, errors, outcome, alive in rows:
        print(f"| {name} | {label} | +{growth:.0f} MiB | {latency} | {errors} | {outcome}"
              f"{'' if alive else '; BROKER DIED'} |")


if __name__ == "__main__":
    main()
