"""Mutated requests through a real broker: valid requests of every advertised
API with random bytes flipped, cut or extended, plus random bodies. Whatever
the broker makes of them (an answer, an error code, a closed connection), it
must stay up, keep answering everyone, and its partition logs must stay
readable and contiguous. Deterministic seeds, bounded time."""

import random
import socket
import struct
import time

from test_protocol_raw import (connect, create_topic, fetch_body, frame_of, list_offsets_latest,
                               parse_fetch_response, produce_body, record_batch, recv_response,
                               string)
from sluicetest import binary, run, unique_topic

ADVERTISED = {0: (0, 7), 1: (4, 12), 2: (1, 5), 3: (0, 8), 18: (0, 4), 19: (2, 4), 20: (1, 3),
              21: (0, 1), 32: (1, 2), 37: (0, 1), 33: (0, 1), 44: (0, 1)}


def valid_bodies(topic):
    """(api_key, version, body) of well-formed requests to mutate."""
    return [
        (0, 3, produce_body(topic, record_batch([b"seed-%d" % i for i in range(3)]))),
        (1, 4, fetch_body(topic, 0, max_wait_ms=0)),
        (2, 1, struct.pack(">ii", -1, 1) + string(topic) + struct.pack(">iiq", 1, 0, -2)),
        (3, 1, struct.pack(">i", 1) + string(topic)),
        (32, 1, struct.pack(">ib", 1, 2) + string(topic) + struct.pack(">ib", -1, 0)),
        (21, 0, struct.pack(">i", 1) + string(topic) + struct.pack(">iiqi", 1, 0, 0, 1000)),
    ]


def earliest_offset(broker, topic):
    body = struct.pack(">ii", -1, 1) + string(topic) + struct.pack(">iiq", 1, 0, -2)
    with connect(broker) as s:
        s.sendall(frame_of(2, 1, 12, body))
        resp = recv_response(s)
    pos = 4 + 4
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len + 4
    _, err, _, offset = struct.unpack(">ihqq", resp[pos:pos + 22])
    assert err == 0
    return offset


def mutate(rng, body):
    b = bytearray(body)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.5 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.7 and b:
            del b[rng.randrange(len(b)):]
        elif op < 0.85:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif len(b) >= 4:
            i = rng.randrange(len(b) - 3)
            b[i:i + 4] = struct.pack(">i", rng.choice([-1, 0, 0x7FFFFFFF, 1 << 20, 65535]))
    return bytes(b)


def exchange(broker, sock, frame):
    """Send one request; read one response if the broker answers. Returns the
    socket to use next (a fresh one if the broker closed this one)."""
    try:
        sock.sendall(frame)
        sock.settimeout(2.0)
        recv_response(sock)
        return sock
    except (ConnectionError, socket.timeout, OSError):
        sock.close()
        return connect(broker)


def test_mutated_requests_never_hurt_the_broker(brokers, request):
    b = brokers(overrides={"auto.create.topics.enable": "false"})
    topic = unique_topic(request)
    # auto-create off so random names do not litter the data dir; create ours.
    run([binary("tools", "sluicectl", "sluicectl"), "topic", "create", topic,
         "--bootstrap-server", b.bootstrap], timeout=30)
    rng = random.Random(20261121)
    seeds = valid_bodies(topic)
    sock = connect(b)
    deadline = time.monotonic() + 40
    sent = 0
    while sent < 1500 and time.monotonic() < deadline:
        if rng.random() < 0.8:
            key, version, body = rng.choice(seeds)
            body = mutate(rng, body)
        else:
            key = rng.choice(list(ADVERTISED))
            version = rng.randint(*ADVERTISED[key])
            body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
        sock = exchange(b, sock, frame_of(key, version, sent, body))
        sent += 1
    sock.close()
    assert sent >= 200
    assert b.running(), b.log_text()[-2000:]
    # Still serving, and the log reads back as whole, contiguous batches.
    end = list_offsets_latest(b, topic)
    offset = earliest_offset(b, topic)  # DeleteRecords mutations may have moved it
    # Some mutated produce must have been appended, or the walk below reads
    # nothing and proves nothing.
    assert end > 0, "no mutated produce was appended"
    assert 0 <= offset <= end
    first = True
    walked = 0
    with connect(b) as s:
        while offset < end:
            s.sendall(frame_of(1, 4, 1, fetch_body(topic, offset, max_wait_ms=0)))
            err, hw, records = parse_fetch_response(recv_response(s))
            assert err == 0 and hw == end
            assert records, f"nothing readable at {offset} below {end}"
            pos = 0
            while pos + 12 <= len(records):
                base, length = struct.unpack(">qi", records[pos:pos + 12])
                last_delta, = struct.unpack(">i", records[pos + 23:pos + 27])
                if pos + 12 + length > len(records):
                    break
                # The first read may start inside a batch (it comes whole);
                # after that batches follow each other exactly.
                if first:
                    assert base <= offset <= base + last_delta, (base, offset)
                    first = False
                else:
                    assert base == offset, (base, offset)
                offset = base + last_delta + 1
                pos += 12 + length
                walked += 1
    # With this seed some appended batches stay above the log start that
    # mutated DeleteRecords leave; none walked would check no contiguity.
    assert walked > 0, f"no batch left to walk below {end}"
    assert b.stop() == 0
