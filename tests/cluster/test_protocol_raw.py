"""Bad and unusual input through a raw socket: the broker answers or
disconnects as Kafka does, logs once per bad connection with the peer, never
crashes, keeps serving everyone else, and writes nothing bad to the log.

Requests are built by hand here (struct.pack) so they can be wrong on purpose.
"""

import socket
import struct
import time

import pytest

from sluicetest import recv_exact, unique_topic

TIMEOUT = 5.0


# ---- wire helpers ---------------------------------------------------------

def frame_of(api_key, version, corr, body, client_id=b"raw-test"):
    """A framed request with header v1 (api_key, version, correlation, client_id)."""
    head = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    msg = head + body
    return struct.pack(">i", len(msg)) + msg


def connect(broker):
    s = socket.create_connection(("127.0.0.1", broker.port), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def recv_response(s):
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    return recv_exact(s, size)


def closed_by_peer(s, timeout=TIMEOUT):
    """True once the broker closes the connection (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def api_versions_ok(broker):
    with connect(broker) as s:
        s.sendall(frame_of(18, 0, 7, b""))
        resp = recv_response(s)
    corr, err = struct.unpack(">ih", resp[:6])
    return corr == 7 and err == 0


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def uvarint(n):
    """An unsigned varint (protobuf's, and Kafka's in flexible versions)."""
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def zigzag(n):
    """A signed varint as record batches encode it."""
    return uvarint((n << 1) ^ (n >> 63))


def record_batch(values, corrupt_crc=False, producer_id=-1, producer_epoch=-1, base_sequence=-1):
    """A v2 record batch of uncompressed records with the given values (and,
    for an idempotent producer, its id, epoch and first sequence)."""
    records = b""
    for i, v in enumerate(values):
        body = b"\x00" + zigzag(0) + zigzag(i) + zigzag(-1) + zigzag(len(v)) + v + zigzag(0)
        records += zigzag(len(body)) + body
    now = int(time.time() * 1000)
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, now, now, producer_id, producer_epoch,
                            base_sequence, len(values))
    after_crc += records
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0x1
    rest = struct.pack(">ibI", -1, 2, crc) + after_crc  # leader epoch, magic, crc
    return struct.pack(">qi", 0, len(rest)) + rest


def produce_body(topic, batch, acks=1, partition=0):
    """Produce v3: transactional_id, acks, timeout, [topic [partition records]]."""
    return (struct.pack(">hhi", -1, acks, 5000) + struct.pack(">i", 1) + string(topic) +
            struct.pack(">i", 1) + struct.pack(">ii", partition, len(batch)) + batch)


def parse_produce_response(resp):
    """(error_code, base_offset) of the single partition of a Produce v3 response."""
    pos = 4 + 4  # correlation id, topic count
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len + 4  # name, partition count
    _, err, base = struct.unpack(">ihq", resp[pos:pos + 14])
    return err, base


def list_offsets_latest(broker, topic):
    """ListOffsets v1 for partition 0 at latest (-1): the log end offset."""
    body = struct.pack(">ii", -1, 1) + string(topic) + struct.pack(">iiq", 1, 0, -1)
    with connect(broker) as s:
        s.sendall(frame_of(2, 1, 11, body))
        resp = recv_response(s)
    # corr, [topic name [partition err timestamp offset]]
    pos = 4 + 4
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len + 4
    _, err, _, offset = struct.unpack(">ihqq", resp[pos:pos + 22])
    assert err == 0
    return offset


def create_topic(broker, topic):
    """Metadata v1 naming the topic: auto-creates it (auto.create.topics.enable)."""
    body = struct.pack(">i", 1) + string(topic)
    with connect(broker) as s:
        s.sendall(frame_of(3, 1, 3, body))
        recv_response(s)


def log_lines(broker, needle):
    return [line for line in broker.log_text().splitlines() if needle in line]


# ---- tests ----------------------------------------------------------------

def test_garbage_closes_connection_and_logs_once(broker):
    with connect(broker) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert closed_by_peer(s)
        port = s.getsockname()[1]
    lines = log_lines(broker, f"127.0.0.1:{port}")
    assert len(lines) == 1, lines
    assert api_versions_ok(broker)


def test_two_gib_frame_is_refused_without_allocating(broker):
    with connect(broker) as s:
        s.sendall(struct.pack(">i", 0x7FFFFFFF) + b"\x00" * 16)
        assert closed_by_peer(s)
        port = s.getsockname()[1]
    lines = log_lines(broker, f"127.0.0.1:{port}")
    assert len(lines) == 1 and "socket.request.max.bytes" in lines[0], lines
    assert broker.running()
    assert api_versions_ok(broker)


@pytest.mark.parametrize("frame", [
    struct.pack(">i", 4) + b"\x00\x12\x00\x00",            # shorter than any header
    struct.pack(">i", 10) + struct.pack(">hhih", 18, 0, 1, 50),  # client_id runs past the end
    struct.pack(">i", -5),                                  # negative size
], ids=["tiny", "client-id-past-end", "negative-size"])
def test_truncated_or_broken_header_closes(broker, frame):
    with connect(broker) as s:
        s.sendall(frame)
        assert closed_by_peer(s)
    assert api_versions_ok(broker)


def test_header_cut_short_by_disconnect_is_logged(broker):
    with connect(broker) as s:
        s.sendall(struct.pack(">i", 100) + b"\x00\x03")
        port = s.getsockname()[1]
    deadline = time.monotonic() + TIMEOUT
    while not log_lines(broker, f"127.0.0.1:{port}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(log_lines(broker, f"127.0.0.1:{port}")) == 1
    assert api_versions_ok(broker)


def test_unknown_api_key_closes(broker):
    with connect(broker) as s:
        s.sendall(frame_of(999, 0, 1, b""))
        assert closed_by_peer(s)
    with connect(broker) as s:
        s.sendall(frame_of(3, 99, 1, b""))  # Metadata at a version never advertised
        assert closed_by_peer(s)
    assert api_versions_ok(broker)


def test_api_versions_unknown_version_gets_v0_unsupported(broker):
    with connect(broker) as s:
        s.sendall(frame_of(18, 99, 42, b""))
        resp = recv_response(s)
        corr, err, count = struct.unpack(">ihi", resp[:10])
        assert (corr, err, count) == (42, 35, 1)
        assert struct.unpack(">hhh", resp[10:16]) == (18, 0, 4)
        assert len(resp) == 16  # v0 body, header v0, nothing more
        # The connection stays usable: the client retries lower.
        s.sendall(frame_of(18, 0, 43, b""))
        corr, err = struct.unpack(">ih", recv_response(s)[:6])
        assert (corr, err) == (43, 0)


def test_pipelined_requests_answered_in_order(broker):
    with connect(broker) as s:
        s.sendall(b"".join(frame_of(18, v % 3, 100 + v, b"") for v in range(20)))
        for v in range(20):
            (corr,) = struct.unpack(">i", recv_response(s)[:4])
            assert corr == 100 + v


def test_produce_bad_crc_is_corrupt_message_and_writes_nothing(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    with connect(broker) as s:
        s.sendall(request_frame(0, 3, 5, produce_body(topic, record_batch([b"ok"]))))
        assert parse_produce_response(recv_response(s)) == (0, 0)
        s.sendall(request_frame(0, 3, 6, produce_body(
            topic, record_batch([b"bad"], corrupt_crc=True))))
        err, _ = parse_produce_response(recv_response(s))
        assert err == 2  # CORRUPT_MESSAGE
    assert list_offsets_latest(broker, topic) == 1


def test_produce_v2_is_unsupported_version(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    body = produce_body(topic, record_batch([b"x"]))[2:]  # v2 has no transactional_id
    with connect(broker) as s:
        s.sendall(request_frame(0, 2, 8, body))
        resp = recv_response(s)
    pos = 4 + 4
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len + 4
    _, err = struct.unpack(">ih", resp[pos:pos + 6])
    assert err == 35
    assert list_offsets_latest(broker, topic) == 0


def test_oversized_batch_is_message_too_large(brokers, request):
    b = brokers(overrides={"message.max.bytes": "2000"})
    topic = unique_topic(request)
    create_topic(b, topic)
    with connect(b) as s:
        s.sendall(request_frame(0, 3, 9, produce_body(topic, record_batch([b"y" * 5000]))))
        err, _ = parse_produce_response(recv_response(s))
        assert err == 10  # MESSAGE_TOO_LARGE
        s.sendall(request_frame(0, 3, 10, produce_body(topic, record_batch([b"small"]))))
        assert parse_produce_response(recv_response(s)) == (0, 0)
    assert list_offsets_latest(b, topic) == 1


def test_acks_zero_gets_no_response(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    with connect(broker) as s:
        s.sendall(request_frame(0, 3, 20, produce_body(topic, record_batch([b"a"]), acks=0)) +
                  frame_of(18, 0, 21, b""))
        (corr,) = struct.unpack(">i", recv_response(s)[:4])
        assert corr == 21  # the produce was not answered
    assert list_offsets_latest(broker, topic) == 1


def test_request_above_max_bytes_closes(brokers):
    b = brokers(overrides={"socket.request.max.bytes": "1024"})
    with connect(b) as s:
        s.sendall(frame_of(18, 0, 1, b"\x00" * 2000))
        assert closed_by_peer(s)
    assert api_versions_ok(b)


def test_slow_client_blocks_nobody_and_is_closed_when_idle(brokers):
    b = brokers(overrides={"connections.max.idle.ms": "2500"})
    frame = frame_of(18, 0, 77, b"")
    slow = connect(b)
    started = time.monotonic()
    closed = False
    for i, byte in enumerate(frame[:8]):  # one byte a second-ish, never finishing
        try:
            slow.sendall(bytes([byte]))
        except OSError:
            closed = True
            break
        # Everyone else is served promptly meanwhile.
        t0 = time.monotonic()
        assert api_versions_ok(b)
        assert time.monotonic() - t0 < 1.0
        time.sleep(0.5)
    assert closed or closed_by_peer(slow, timeout=5.0)
    assert time.monotonic() - started < 10
    slow.close()
    port_lines = [line for line in b.log_text().splitlines() if "connections.max.idle.ms" in line]
    assert len(port_lines) == 1, port_lines
    assert b.running()


def request_frame(api_key, version, corr, body):
    return frame_of(api_key, version, corr, body)


# ---- Fetch long poll, DeleteRecords -----------------------------------------

def fetch_body(topic, offset, max_wait_ms, min_bytes=1, partition_max=1 << 20):
    """Fetch v4: replica_id, max_wait, min_bytes, max_bytes, isolation, topics."""
    return (struct.pack(">iiiib", -1, max_wait_ms, min_bytes, 50 << 20, 0) +
            struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1) +
            struct.pack(">iqi", 0, offset, partition_max))


def parse_fetch_response(resp):
    """(error, high_watermark, records bytes) of the single partition (Fetch v4)."""
    pos = 4 + 4 + 4  # correlation id, throttle, topic count
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len + 4
    _, err, hw, _lso = struct.unpack(">ihqq", resp[pos:pos + 22])
    pos += 22
    (aborted,) = struct.unpack(">i", resp[pos:pos + 4])
    pos += 4 + max(aborted, 0) * 16
    (size,) = struct.unpack(">i", resp[pos:pos + 4])
    return err, hw, resp[pos + 4:pos + 4 + max(size, 0)]


def produce_one(broker, topic, value):
    with connect(broker) as s:
        s.sendall(frame_of(0, 3, 1, produce_body(topic, record_batch([value]))))
        err, base = parse_produce_response(recv_response(s))
    assert err == 0
    return base


def test_fetch_long_poll_honours_max_wait(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    with connect(broker) as s:
        t0 = time.monotonic()
        s.sendall(frame_of(1, 4, 30, fetch_body(topic, 0, max_wait_ms=600)))
        err, hw, records = parse_fetch_response(recv_response(s))
        waited = time.monotonic() - t0
    assert (err, hw, records) == (0, 0, b"")
    assert 0.5 <= waited < 3.0, waited


def wait_parked(broker, correlation_id, timeout=10.0):
    """Until the broker logs (at debug) that this fetch is parked."""
    line = f"fetch parked correlation_id={correlation_id} "
    deadline = time.monotonic() + timeout
    while line not in broker.log_text():
        assert broker.running() and time.monotonic() < deadline, broker.log_text()[-2000:]
        time.sleep(0.01)


def test_fetch_long_poll_wakes_on_produce(brokers, request):
    broker = brokers(overrides={"log.level": "debug"})
    topic = unique_topic(request)
    create_topic(broker, topic)
    with connect(broker) as s:
        t0 = time.monotonic()
        s.sendall(frame_of(1, 4, 31, fetch_body(topic, 0, max_wait_ms=10000)))
        wait_parked(broker, 31)
        produce_one(broker, topic, b"wake up")
        err, hw, records = parse_fetch_response(recv_response(s))
        waited = time.monotonic() - t0
    assert err == 0 and hw == 1
    assert b"wake up" in records
    assert waited < 5.0, "the fetch waited for its deadline instead of the append"


def test_fetch_answers_in_order_behind_a_long_poll(broker, request):
    """A parked Fetch holds back the responses pipelined behind it."""
    topic = unique_topic(request)
    create_topic(broker, topic)
    with connect(broker) as s:
        s.sendall(frame_of(1, 4, 40, fetch_body(topic, 0, max_wait_ms=500)) +
                  frame_of(18, 0, 41, b""))
        (first,) = struct.unpack(">i", recv_response(s)[:4])
        (second,) = struct.unpack(">i", recv_response(s)[:4])
    assert (first, second) == (40, 41)


def delete_records(broker, topic, offset):
    body = struct.pack(">i", 1) + string(topic) + struct.pack(">iiq", 1, 0, offset)
    body += struct.pack(">i", 5000)
    with connect(broker) as s:
        s.sendall(frame_of(21, 0, 50, body))
        resp = recv_response(s)
    pos = 4 + 4 + 4  # corr, throttle, topic count
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len + 4
    _, low, err = struct.unpack(">iqh", resp[pos:pos + 14])
    return err, low


def test_delete_records_moves_log_start(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    for i in range(3):
        assert produce_one(broker, topic, b"r%d" % i) == i
    assert delete_records(broker, topic, 2) == (0, 2)
    assert delete_records(broker, topic, 10)[0] == 1  # above the high watermark
    with connect(broker) as s:
        s.sendall(frame_of(1, 4, 51, fetch_body(topic, 0, max_wait_ms=0)))
        err, hw, _ = parse_fetch_response(recv_response(s))
        assert (err, hw) == (1, 3)  # OFFSET_OUT_OF_RANGE below the log start
        s.sendall(frame_of(1, 4, 52, fetch_body(topic, 2, max_wait_ms=0)))
        err, _, records = parse_fetch_response(recv_response(s))
        assert err == 0 and b"r2" in records and b"r1" not in records


# ---- OffsetForLeaderEpoch (key 23), every version ---------------------------

UNKNOWN_TOPIC_OR_PARTITION = 3
UNKNOWN_LEADER_EPOCH = 75


def offset_for_leader_epoch(broker, version, topic, partition, epoch, current=-1):
    """One partition's (error, leader_epoch, end_offset); leader_epoch is -1
    before v1, which does not carry it. v4 is flexible (KIP-482): header v2,
    compact strings and arrays, empty tagged fields."""
    flexible = version >= 4
    name = topic.encode()
    part = struct.pack(">i", partition)
    if version >= 2:
        part += struct.pack(">i", current)
    part += struct.pack(">i", epoch)
    body = struct.pack(">i", -1) if version >= 3 else b""
    if flexible:
        body += bytes([2, len(name) + 1]) + name + bytes([2]) + part + b"\0\0\0"
        head = struct.pack(">hhih", 23, version, 41, 8) + b"raw-test" + b"\0"
        msg = head + body
        frame = struct.pack(">i", len(msg)) + msg
    else:
        body += struct.pack(">i", 1) + string(topic) + struct.pack(">i", 1) + part
        frame = frame_of(23, version, 41, body)
    with connect(broker) as s:
        s.sendall(frame)
        resp = recv_response(s)
    (corr,) = struct.unpack(">i", resp[:4])
    assert corr == 41
    pos = 4 + (1 if flexible else 0) + (4 if version >= 2 else 0)
    if flexible:
        assert resp[pos] == 2  # one topic
        name_len = resp[pos + 1] - 1
        pos += 2 + name_len
        assert resp[pos] == 2  # one partition
        pos += 1
    else:
        (n_topics,) = struct.unpack(">i", resp[pos:pos + 4])
        assert n_topics == 1
        (name_len,) = struct.unpack(">h", resp[pos + 4:pos + 6])
        pos += 6 + name_len + 4
    err, got_partition = struct.unpack(">hi", resp[pos:pos + 6])
    assert got_partition == partition
    pos += 6
    leader_epoch = -1
    if version >= 1:
        (leader_epoch,) = struct.unpack(">i", resp[pos:pos + 4])
        pos += 4
    (end_offset,) = struct.unpack(">q", resp[pos:pos + 8])
    return err, leader_epoch, end_offset


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_offset_for_leader_epoch_every_version(broker, request, version):
    topic = unique_topic(request)
    create_topic(broker, topic)
    for i in range(3):
        assert produce_one(broker, topic, b"v%d" % i) == i
    epoch_if_v1 = 0 if version >= 1 else -1
    # The single leader's epoch (0) is the latest: it ends at the log end.
    assert offset_for_leader_epoch(broker, version, topic, 0, 0) == (0, epoch_if_v1, 3)
    # An epoch newer than any in the log is unknown: no error, -1/-1.
    assert offset_for_leader_epoch(broker, version, topic, 0, 9) == (0, -1, -1)
    assert offset_for_leader_epoch(broker, version, topic, 7, 0)[0] == UNKNOWN_TOPIC_OR_PARTITION
    assert offset_for_leader_epoch(broker, version, topic + "-none", 0, 0)[0] == \
        UNKNOWN_TOPIC_OR_PARTITION
    if version >= 2:
        # KIP-320 fencing: a client that knows a newer epoch than the broker.
        assert offset_for_leader_epoch(broker, version, topic, 0, 0, current=5) == \
            (UNKNOWN_LEADER_EPOCH, -1, -1)
        assert offset_for_leader_epoch(broker, version, topic, 0, 0, current=0) == \
            (0, 0, 3)
