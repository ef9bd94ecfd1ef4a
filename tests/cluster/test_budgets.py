"""Budgets and hostile input (issue 11), against a real sluiced.

Compressed record batches: every codec a real client uses is accepted and
read back; a batch with an unknown codec id, a body its codec rejects, a
record count its body does not hold, or a body that inflates past
max.message.bytes (a "bomb") is refused with Kafka's error and writes
nothing. During the attacks the broker stays up and is not fenced, a
well-behaved client keeps succeeding, and its resident memory (VmHWM from /proc, the peak) grows by no
more than the inflate bound allows.
"""

import gzip
import socket
import struct
import threading
import time

import lz4.frame
import pytest
import snappy
import zstandard

from metricstest import scrape, value
from sluicetest import free_port, recv_exact, unique_topic
from test_protocol_raw import (connect, create_topic, list_offsets_latest,
                               parse_produce_response, produce_body, recv_response,
                               request_frame, uvarint, zigzag)

CORRUPT_MESSAGE = 2
INVALID_RECORD = 87
CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
MAX_MESSAGE_BYTES = 1048588  # Kafka's default, the broker's too


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


CRC_TABLE = _crc32c_table()


def crc32c(data):
    """Table-driven: bomb batches are up to ~1 MiB."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def bomb(codec):
    """Zeros that compress to far under max.message.bytes but inflate far
    past it: 64 MiB (snappy's format caps its ratio near 21:1, so 16 MiB)."""
    return batch(compress(codec, bytes((16 if codec == 2 else 64) << 20)), codec, 1)


def compress(codec, data):
    if codec == 1:
        return gzip.compress(data)
    if codec == 2:
        return snappy.compress(data)
    if codec == 3:
        return lz4.frame.compress(data)
    return zstandard.ZstdCompressor().compress(data)


def records_of(values):
    out = b""
    for i, v in enumerate(values):
        body = b"\x00" + zigzag(0) + zigzag(i) + zigzag(-1) + zigzag(len(v)) + v + zigzag(0)
        out += zigzag(len(body)) + body
    return out


def batch(body, codec, count):
    """A v2 batch whose header says `count` records and `codec`, carrying
    `body` as its records section (compressed or not, right or wrong)."""
    now = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", codec, count - 1, now, now, -1, -1, -1, count) + body
    rest = struct.pack(">ibI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


def produce(s, topic, data, corr=1):
    s.sendall(request_frame(0, 3, corr, produce_body(topic, data)))
    return parse_produce_response(recv_response(s))


def vm_kib(broker, field):
    with open(f"/proc/{broker.proc.pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {broker.proc.pid}")


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_real_client_compressed_batches_round_trip(broker, request, codec):
    """librdkafka (confluent-kafka) and kafka-python compress; the broker
    inflates and validates, accepts every batch, and consumers read them back."""
    from confluent_kafka import Consumer, Producer
    from kafka import KafkaProducer
    topic = unique_topic(request, codec)
    create_topic(broker, topic)
    p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec,
                  "linger.ms": 20, "acks": "all"})
    errors = []
    for i in range(300):
        p.produce(topic, value=b"rdkafka-%d " % i * 20, partition=0,
                  on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(30) == 0 and not errors, errors
    kp = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec, linger_ms=20,
                       acks="all")
    futures = [kp.send(topic, value=b"kafka-python-%d " % i * 20, partition=0)
               for i in range(300)]
    for f in futures:
        f.get(timeout=30)
    kp.close()
    assert list_offsets_latest(broker, topic) == 600
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g-" + topic,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.assign([__import__("confluent_kafka").TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 600 and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    assert got[:300] == [b"rdkafka-%d " % i * 20 for i in range(300)]
    assert got[300:] == [b"kafka-python-%d " % i * 20 for i in range(300)]


def attacks():
    """(name, batch bytes, expected error) for every bad compressed batch."""
    good = records_of([b"v%d" % i for i in range(5)])
    out = [
        # The 77-byte batch: codec 7, recordsCount 2^31-1.
        ("codec-7-count-2g", batch(b"\x00" * 16, 7, 0x7FFFFFFF), CORRUPT_MESSAGE),
        ("codec-5", batch(good, 5, 5), CORRUPT_MESSAGE),
    ]
    for name, codec in sorted(CODECS.items()):
        body = compress(codec, good)
        out += [
            (f"{name}-garbage", batch(bytes(range(200)), codec, 5), CORRUPT_MESSAGE),
            (f"{name}-uncompressed-body", batch(good, codec, 5), CORRUPT_MESSAGE),
            (f"{name}-truncated", batch(body[:-4], codec, 5), None),
            (f"{name}-count-too-high", batch(body, codec, 6), INVALID_RECORD),
            (f"{name}-count-2g", batch(body, codec, 0x7FFFFFFF), INVALID_RECORD),
            (f"{name}-count-too-low", batch(body, codec, 4), INVALID_RECORD),
            (f"{name}-bomb", bomb(codec), INVALID_RECORD),
        ]
    return out


ATTACKS = attacks()


def test_bad_compressed_batches_refused_and_nothing_written(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    with connect(broker) as s:
        s.settimeout(30)
        assert produce(s, topic, batch(compress(1, records_of([b"first"])), 1, 1)) == (0, 0)
        for corr, (name, data, want) in enumerate(ATTACKS, start=10):
            assert len(data) <= MAX_MESSAGE_BYTES, (name, len(data))
            err, _ = produce(s, topic, data, corr)
            if want is None:  # truncation: the codec or the record walk notices
                assert err in (CORRUPT_MESSAGE, INVALID_RECORD), (name, err)
            else:
                assert err == want, (name, err)
        assert produce(s, topic, batch(compress(4, records_of([b"last"])), 4, 1)) == (0, 1)
    assert list_offsets_latest(broker, topic) == 2
    assert broker.running()
    refusals = [line for line in broker.log_text().splitlines() if topic in line]
    assert refusals, "refused batches are logged with the topic"


ATTACKERS = 16
NOT_FENCED_LOG = ("isolated: no heartbeat acknowledged",  # the broker's own view
                  "fencing broker after session timeout",  # the controller's
                  "broker fenced")                          # a heartbeat answer


def test_bombs_across_connections_stay_within_the_inflate_budget(brokers, request):
    """Sixteen connections each pipeline bombs of every codec (16-64 MiB of
    zeros each, 8 KiB - 800 KiB compressed) and then 40 more gzip ones (64 KiB
    each, the slowest to inflate) while a well-behaved producer keeps writing,
    on the tests' 3 s broker session. The peak RSS grows by less than a few
    times the 1 MiB inflate bound (one inflate at a time on the loop; zstd's
    window is capped at 16 MiB but a 64 MiB zeros frame declares its content
    size, so it needs no more). The broker is never fenced: request handlers
    get a bounded slice of each loop iteration (common/iteration_budget.h),
    so its heartbeats and the controller's liveness check (both on the same
    loop here) are not held behind the inflating; before, one iteration
    started every bomb a connection's reads held, and the session lapsed."""
    broker = brokers(start=False)
    broker.http_port = free_port()
    broker.overrides["metrics.listener"] = f"127.0.0.1:{broker.http_port}"
    broker.start()
    topic = unique_topic(request)
    create_topic(broker, topic)
    bombs = [bomb(c) for c in CODECS.values()] * 5 + [bomb(CODECS["gzip"])] * 40
    frames = [request_frame(0, 3, 100 + i, produce_body(topic, b)) for i, b in enumerate(bombs)]
    with connect(broker) as s:  # warm up: the first produce maps the segment
        assert produce(s, topic, batch(records_of([b"warm"]), 0, 1)) == (0, 0)
    hwm_before = vm_kib(broker, "VmHWM")
    failures = []

    def attacker():
        try:
            with socket.create_connection(("127.0.0.1", broker.port), timeout=60) as a:
                a.sendall(b"".join(frames))
                for _ in frames:
                    err, _ = parse_produce_response(recv_response(a))
                    if err != INVALID_RECORD:
                        failures.append(err)
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(repr(e))

    threads = [threading.Thread(target=attacker) for _ in range(ATTACKERS)]
    for t in threads:
        t.start()
    good, good_errors = 0, []
    with connect(broker) as s:
        s.settimeout(60)
        while any(t.is_alive() for t in threads) or good < 20:
            err, _ = produce(s, topic, batch(records_of([b"good-%d" % good]), 0, 1), good)
            if err != 0:
                good_errors.append(err)
            good += 1
    for t in threads:
        t.join()
    # A session that lapsed during the attack is noticed by the next
    # liveness check: give it two heartbeat intervals.
    time.sleep(1.0)
    fenced = [ln for ln in broker.log_text().splitlines()
              if any(m in ln for m in NOT_FENCED_LOG)]
    assert not fenced, fenced
    # Handlers did yield the loop: connections waited for later iterations.
    waits = value(scrape(broker.http_port), "sluice_kafka_handler_budget_waits_total")
    assert waits is not None and waits > 0, waits
    assert not good_errors, good_errors[:5]
    assert not failures, failures[:5]
    growth_kib = vm_kib(broker, "VmHWM") - hwm_before
    assert growth_kib < 24 * 1024, f"peak RSS grew {growth_kib} KiB under bombs"
    assert list_offsets_latest(broker, topic) == 1 + good
    assert broker.running()


BOMB_PARTITIONS = 32
BATCHES_PER_PARTITION = 16


def produce_body_many(topic, sets, acks=1):
    """Produce v3 of one topic, partition i carrying the record set sets[i]."""
    body = struct.pack(">hhi", -1, acks, 30000) + struct.pack(">i", 1)
    body += struct.pack(">h", len(topic)) + topic.encode() + struct.pack(">i", len(sets))
    for i, data in enumerate(sets):
        body += struct.pack(">ii", i, len(data)) + data
    return body


def parse_produce_response_many(resp):
    """[(partition, error_code)] of a Produce v3 response of one topic."""
    pos = 4 + 4  # correlation id, topic count
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len
    (count,) = struct.unpack(">i", resp[pos:pos + 4])
    pos += 4
    out = []
    for _ in range(count):
        index, err = struct.unpack(">ih", resp[pos:pos + 6])
        out.append((index, err))
        pos += 4 + 2 + 8 + 8  # base offset, log append time (v2-v4)
    return out


def test_one_request_of_many_bombs_does_not_hold_the_loop(brokers, request):
    """Each attacker's request carries 32 partitions of 16 gzip batches,
    each batch ~1 KiB inflating to just under max.message.bytes (so each is
    valid on its own, and a record set of several is what Kafka accepts),
    and one partition more carrying a bomb that inflates past it: half a
    GiB to inflate per request. The iteration budget only paused between
    requests, so one such request held the loop for seconds and the broker
    was fenced on the tests' 3 s session. Now the Produce handler yields
    between partitions (kafka_request_yield) and one partition's record set
    inflates to at most 4 x max.message.bytes (else INVALID_RECORD), so the
    heartbeats get their iterations, the good producer keeps succeeding and
    every partition of the attack is refused."""
    broker = brokers(start=False)
    broker.overrides["num.partitions"] = str(BOMB_PARTITIONS + 1)
    broker.start()
    topic = unique_topic(request)
    create_topic(broker, topic)
    near = batch(compress(1, records_of([bytes(1000000)])), 1, 1)
    assert len(near) < 4096
    sets = [near * BATCHES_PER_PARTITION] * BOMB_PARTITIONS + [bomb(CODECS["gzip"])]
    frames = [request_frame(0, 3, 200 + i, produce_body_many(topic, sets)) for i in range(3)]
    with connect(broker) as s:  # warm up: the first produce maps the segment
        assert produce(s, topic, batch(records_of([b"warm"]), 0, 1)) == (0, 0)
    failures = []

    def attacker():
        try:
            with socket.create_connection(("127.0.0.1", broker.port), timeout=120) as a:
                a.sendall(b"".join(frames))
                for _ in frames:
                    got = parse_produce_response_many(recv_response(a))
                    if [e for _, e in got] != [INVALID_RECORD] * len(sets):
                        failures.append(got)
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(repr(e))

    threads = [threading.Thread(target=attacker) for _ in range(4)]
    for t in threads:
        t.start()
    good, good_errors = 0, []
    with connect(broker) as s:
        s.settimeout(120)
        while any(t.is_alive() for t in threads) or good < 20:
            err, _ = produce(s, topic, batch(records_of([b"good-%d" % good]), 0, 1), good)
            if err != 0:
                good_errors.append(err)
            good += 1
    for t in threads:
        t.join()
    time.sleep(1.0)  # a lapsed session is noticed by the next liveness check
    fenced = [ln for ln in broker.log_text().splitlines()
              if any(m in ln for m in NOT_FENCED_LOG)]
    assert not fenced, fenced
    assert not good_errors, good_errors[:5]
    assert not failures, failures[:5]
    assert list_offsets_latest(broker, topic) == 1 + good
    refused = [ln for ln in broker.log_text().splitlines()
               if "produce rejected" in ln and topic in ln and "inflates beyond its bound" in ln]
    assert refused, "the record sets past the bound are refused, logged with the topic"
    assert broker.running()


# ---- request framing: trailing bytes, huge arrays ---------------------------

def closed_and_logged(broker, s, why):
    """The broker closes `s` and logs one line naming its peer and `why`."""
    port = s.getsockname()[1]
    s.settimeout(10)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    deadline = time.monotonic() + 10
    lines = []
    while time.monotonic() < deadline:
        lines = [ln for ln in broker.log_text().splitlines() if f"127.0.0.1:{port}" in ln]
        if lines:
            break
        time.sleep(0.05)
    assert len(lines) == 1 and why in lines[0], lines


def api_frame(api_key, version, corr, body):
    if api_key == 18 and version >= 3:  # header v2: client id, then empty tagged fields
        head = struct.pack(">hhih", api_key, version, corr, 3) + b"raw" + b"\x00"
        return struct.pack(">i", len(head) + len(body)) + head + body
    return request_frame(api_key, version, corr, body)


@pytest.mark.parametrize("api_key,version,body,extra", [
    (18, 0, b"", b"\x00"),                                  # ApiVersions v0
    (18, 3, b"\x04abc\x021\x00", b"junk"),                  # flexible ApiVersions v3
    (3, 1, struct.pack(">i", 0), b"\x00\x00"),               # Metadata v1, no topics
], ids=["api-versions-v0", "api-versions-v3", "metadata-v1"])
def test_trailing_bytes_after_request_body_close_the_connection(broker, api_key, version,
                                                                 body, extra):
    with connect(broker) as s:
        s.sendall(api_frame(api_key, version, 5, body))  # exact: answered
        (corr,) = struct.unpack(">i", recv_response(s)[:4])
        assert corr == 5
        s.sendall(api_frame(api_key, version, 6, body + extra))
        closed_and_logged(broker, s, "bytes left after the request body")
    assert broker.running()


def test_produce_with_trailing_bytes_writes_nothing(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    data = batch(records_of([b"x"]), 0, 1)
    with connect(broker) as s:
        s.sendall(request_frame(0, 3, 1, produce_body(topic, data) + b"\x00\x00\x00\x00"))
        closed_and_logged(broker, s, "bytes left after the request body")
    assert list_offsets_latest(broker, topic) == 0


@pytest.mark.parametrize("count", [0x7FFFFFFF, 1 << 20])
def test_huge_array_counts_are_refused_without_allocating(broker, count):
    """Metadata v1 claiming `count` topics in a 20-byte body: the reader
    checks count x minimum element size against the bytes present."""
    hwm_before = vm_kib(broker, "VmHWM")
    with connect(broker) as s:
        s.sendall(request_frame(3, 1, 9, struct.pack(">i", count) + b"\x00\x01a" * 4))
        closed_and_logged(broker, s, "cannot decode request")
    assert vm_kib(broker, "VmHWM") - hwm_before < 4 * 1024
    with connect(broker) as s:
        s.sendall(request_frame(18, 0, 6, b""))
        assert struct.unpack(">ih", recv_response(s)[:6]) == (6, 0)


# ---- connection limits ------------------------------------------------------

def open_from(broker, source_ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source_ip, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", broker.port))
    return s


def served(s, corr=1):
    """True if ApiVersions is answered on `s`, False if the broker closed it."""
    try:
        s.sendall(request_frame(18, 0, corr, b""))
        (got,) = struct.unpack(">i", recv_response(s)[:4])
        return got == corr
    except (ConnectionError, OSError):
        return False


def test_connection_limits_per_ip_overrides_and_total(brokers):
    broker = brokers(overrides={"max.connections": "300", "max.connections.per.ip": "200",
                                "max.connections.per.ip.overrides": "127.0.0.2:5, 127.0.0.3:1000"})
    hwm_before = vm_kib(broker, "VmHWM")
    held = [open_from(broker, "127.0.0.1") for _ in range(260)]
    results = [served(s, i) for i, s in enumerate(held)]
    assert results[:200] == [True] * 200
    assert results[200:] == [False] * 60  # accepted, then closed at once
    # The override: 127.0.0.2 gets 5.
    few = [open_from(broker, "127.0.0.2") for _ in range(8)]
    assert [served(s) for s in few] == [True] * 5 + [False] * 3
    # The total: 205 are open, so another client gets 95 of 120.
    more = [open_from(broker, "127.0.0.3") for _ in range(120)]
    assert sum(served(s) for s in more) == 95
    refusals = [ln for ln in broker.log_text().splitlines() if "refused connection" in ln]
    assert refusals and len(refusals) < 60 + 3 + 25, "refusals are logged, rate-limited"
    assert any("limit=max.connections.per.ip" in ln for ln in refusals)
    # Closing connections gives their places back.
    for s in held + few + more:
        s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s = open_from(broker, "127.0.0.1")
        ok = served(s)
        s.close()
        if ok:
            break
        time.sleep(0.1)
    again = [open_from(broker, "127.0.0.1") for _ in range(200)]
    assert all(served(s) for s in again)
    for s in again:
        s.close()
    assert vm_kib(broker, "VmHWM") - hwm_before < 64 * 1024
    assert broker.running()


def test_thousands_of_connections_hit_the_descriptor_reserve_and_survive(brokers, request):
    """With RLIMIT_NOFILE at 1024, 3000 client connections: the broker keeps
    descriptors in reserve, refuses the excess with a log line, still creates
    a topic (new segment files) and serves produce on a connection it holds,
    and serves everyone once they leave."""
    broker = brokers(start=False)
    broker.nofile = (1024, 1024)  # a hard limit: sluiced raises a soft one to it
    broker.start()
    topic = unique_topic(request)
    keeper = connect(broker)
    keeper.settimeout(30)
    held = []
    try:
        for _ in range(3000):
            try:
                held.append(open_from(broker, "127.0.0.1"))
            except OSError:
                break
        answered = sum(served(s, i) for i, s in enumerate(held))
        assert 500 < answered < 1024, answered
        assert any("RLIMIT_NOFILE" in ln for ln in broker.log_text().splitlines())
        # The reserve: a topic's files still open; the held connection still produces.
        keeper.sendall(request_frame(3, 1, 3, struct.pack(">i", 1) + struct.pack(
            ">h", len(topic)) + topic.encode()))
        recv_response(keeper)
        assert produce(keeper, topic, batch(records_of([b"during"]), 0, 1)) == (0, 0)
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        s = open_from(broker, "127.0.0.1")
        ok = served(s)
        s.close()
        if ok:
            break
        time.sleep(0.1)
    assert ok
    assert produce(keeper, topic, batch(records_of([b"after"]), 0, 1)) == (0, 1)
    keeper.close()
    assert broker.running()


# ---- internal RPC: protobuf unpack budget -----------------------------------

def rpc_request_frame(method, corr, body):
    header = (b"\x10" + uvarint(method) + b"\x18\x01" + b"\x20" + uvarint(corr) +
              b"\x28" + uvarint(len(body)))
    rest = struct.pack(">I", len(header)) + header + body
    return struct.pack(">I", len(rest)) + rest


def rpc_response_error(s):
    """RpcHeader.error (field 7) of the next response frame on `s`."""
    (length,) = struct.unpack(">I", recv_exact(s, 4))
    frame = recv_exact(s, length)
    (hlen,) = struct.unpack(">I", frame[:4])
    header, pos, error = frame[4:4 + hlen], 0, 0
    while pos < len(header):
        key, pos = _pb_read_varint(header, pos)
        if key & 7 == 0:
            value, pos = _pb_read_varint(header, pos)
            if key >> 3 == 7:
                error = value
        else:  # length-delimited (error_message)
            n, pos = _pb_read_varint(header, pos)
            pos += n
    return error


def _pb_read_varint(b, pos):
    n = shift = 0
    while True:
        byte = b[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, pos


def test_rpc_unknown_field_flood_is_refused_within_budget(clusters):
    """3 MiB of 2-byte unknown fields (under the 4 MiB control request bound)
    sent to the controller's RPC port as a FetchMetadata request: protobuf-c
    would spend ~30x that on bookkeeping; the budget (16x + 64 KiB) refuses it
    as MALFORMED, the peak RSS grows by less than the frame plus the budget,
    and the cluster keeps serving."""
    c = clusters(n=1)
    node = c[0]
    body = b"\x78\x00" * ((3 << 20) // 2)  # field 15, varint 0
    host, port = node.controller.split(":")
    hwm_before = vm_kib(node, "VmHWM")
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.settimeout(60)
        s.sendall(rpc_request_frame(8, 42, body))
        assert rpc_response_error(s) == 2  # RPC_ERROR_MALFORMED
    growth_kib = vm_kib(node, "VmHWM") - hwm_before
    assert growth_kib < 64 * 1024, f"peak RSS grew {growth_kib} KiB"
    assert any("memory budget" in ln for ln in node.log_text().splitlines())
    c.wait_healthy()
    with connect(node) as s:
        s.sendall(request_frame(18, 0, 6, b""))
        assert struct.unpack(">ih", recv_response(s)[:6]) == (6, 0)


def test_connection_creation_rate_refuses_the_excess(brokers):
    """max.connection.creation.rate=5: of 200 connections opened at once,
    most are refused (all 200 would take 40 s of windows), refusals are
    logged with the limit, and the held ones keep working."""
    broker = brokers(overrides={"max.connection.creation.rate": "5"})
    time.sleep(1.1)  # the readiness probes spent the first window
    held = [open_from(broker, "127.0.0.1") for _ in range(200)]
    results = [served(s, i) for i, s in enumerate(held)]
    assert 5 <= sum(results) < 100, sum(results)
    assert results[:5] == [True] * 5
    assert any("limit=max.connection.creation.rate" in ln
               for ln in broker.log_text().splitlines())
    first = held[0]
    assert served(first, 999)
    for s in held:
        s.close()


# ---- partitions per broker ---------------------------------------------------

def _partition_limit_checks(admin, topic, expect_hosted):
    from confluent_kafka.admin import NewPartitions
    from clustertest import create
    err = create(admin, topic + "-big", 5000, 1)
    assert err is not None and err.code() == 44, err  # POLICY_VIOLATION
    assert "max.broker.partitions" in err.str()
    assert create(admin, topic, 30, 1) is None
    err = create(admin, topic + "-more", 30, 1)  # 60 > 50
    assert err is not None and err.code() == 44, err
    fut = admin.create_partitions([NewPartitions(topic, 60)], request_timeout=15)[topic]
    with pytest.raises(Exception) as e:
        fut.result(timeout=20)
    assert "max.broker.partitions" in str(e.value)
    names = set(admin.list_topics(timeout=10).topics)
    assert topic in names and topic + "-big" not in names and topic + "-more" not in names
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == expect_hosted


def test_partition_limit_standalone_broker(brokers, request):
    from confluent_kafka.admin import AdminClient
    broker = brokers(overrides={"max.broker.partitions": "50"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    _partition_limit_checks(admin, unique_topic(request), 30)
    assert broker.running()


def test_partition_limit_checked_by_the_controller(clusters, request):
    from clustertest import admin_for
    c = clusters(n=1, overrides={"max.broker.partitions": "50"})
    _partition_limit_checks(admin_for(c), unique_topic(request), 30)
    assert c[0].running()


def test_partition_limit_default_follows_the_descriptor_limit(brokers, request):
    """RLIMIT_NOFILE 1024 gives (1024 - 512) / 3 = 170 replicas per broker."""
    from clustertest import create
    from confluent_kafka.admin import AdminClient
    broker = brokers(start=False)
    broker.nofile = (1024, 1024)  # a hard limit: sluiced raises a soft one to it
    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = unique_topic(request)
    err = create(admin, topic, 171, 1)
    assert err is not None and err.code() == 44 and "170 per broker" in err.str(), err
    assert create(admin, topic, 170, 1) is None
    with connect(broker) as s:
        assert produce(s, topic, batch(records_of([b"x"]), 0, 1)) == (0, 0)
    assert broker.running()
