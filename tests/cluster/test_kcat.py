"""kcat (librdkafka 2.0.2) against a real broker: metadata, produce from stdin
(keys, headers, every codec), consume from beginning / end / an offset / a
timestamp, contents compared byte for byte."""

import json
import os
import subprocess
import threading
import time

import pytest

from sluicetest import run, unique_topic

# One record per block: the lengths come first, so keys and values may hold any
# byte (newlines included) and are sliced out exactly.
FORMAT = r"M %p %o %T %K %S\n%k%s\nH %h\n"

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def kcat(*args):
    return ["kcat", "-m", "10", "-X", "socket.timeout.ms=10000", *args]


def produce(broker, topic, lines, *extra, partition=0, timeout=60):
    data = b"".join(line + b"\n" for line in lines)
    return run(kcat("-P", "-b", broker.bootstrap, "-t", topic, "-p", str(partition), *extra),
               input=data, timeout=timeout)


def parse(out):
    """kcat -f FORMAT output -> list of dicts (partition, offset, ts, key, value, headers)."""
    records = []
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        tag, p, o, ts, klen, vlen = out[pos:nl].split(b" ")
        assert tag == b"M", out[pos:nl]
        pos = nl + 1
        klen, vlen = int(klen), int(vlen)
        key = out[pos:pos + max(klen, 0)] if klen >= 0 else None
        pos += max(klen, 0)
        value = out[pos:pos + max(vlen, 0)] if vlen >= 0 else None
        pos += max(vlen, 0)
        assert out[pos:pos + 3] == b"\nH ", out[pos:pos + 40]
        pos += 3
        nl = out.index(b"\n", pos)
        headers = out[pos:nl].decode()
        pos = nl + 1
        records.append(dict(partition=int(p), offset=int(o), ts=int(ts), key=key, value=value,
                            headers=headers))
    return records


def consume(broker, topic, *extra, partition=0, timeout=60):
    p = run(kcat("-C", "-q", "-e", "-b", broker.bootstrap, "-t", topic, "-p", str(partition),
                 "-f", FORMAT, *extra), timeout=timeout)
    return parse(p.stdout)


def sample_lines(n, tag=b""):
    """Values of varied length and content (UTF-8, tabs, punctuation, repeats
    that compress and noise that does not); never a newline or empty."""
    lines = []
    for i in range(n):
        noise = os.urandom(i % 50).hex().encode()
        body = b"x" * (i * 7 % 300)
        lines.append(b"%s%d \xc3\xa9t\xc3\xa9\t{a:b}=%s|%s" % (tag, i, noise, body))
    return lines


def assert_values(records, values, first_offset=0):
    assert [r["value"] for r in records] == values
    assert [r["offset"] for r in records] == list(range(first_offset,
                                                        first_offset + len(values)))


def test_metadata_lists_broker_and_topic(broker, request):
    topic = unique_topic(request)
    produce(broker, topic, [b"hello"])
    p = run(kcat("-L", "-J", "-b", broker.bootstrap), timeout=30)
    md = json.loads(p.stdout)
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(1, broker.bootstrap)]
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic in topics
    parts = topics[topic]["partitions"]
    assert [(x["partition"], x["leader"]) for x in parts] == [(0, 1)]

    p = run(kcat("-L", "-J", "-b", broker.bootstrap, "-t", topic), timeout=30)
    md = json.loads(p.stdout)
    assert [t["topic"] for t in md["topics"]] == [topic]


def test_produce_without_keys_consume_from_beginning(broker, request):
    topic = unique_topic(request)
    lines = sample_lines(500)
    produce(broker, topic, lines)
    records = consume(broker, topic, "-o", "beginning")
    assert_values(records, lines)
    assert all(r["key"] is None for r in records), "no -K: keys are null"
    assert all(r["headers"] == "" for r in records)


def test_produce_with_keys(broker, request):
    topic = unique_topic(request)
    pairs = [(b"key-%d" % i, b"value %d \xe2\x82\xac" % i) for i in range(300)]
    pairs.append((b"", b"empty key is not a null key"))
    produce(broker, topic, [k + b":" + v for k, v in pairs], "-K:")
    records = consume(broker, topic, "-o", "beginning")
    assert [(r["key"], r["value"]) for r in records] == pairs
    assert_values(records, [v for _, v in pairs])


def test_produce_with_headers(broker, request):
    topic = unique_topic(request)
    lines = sample_lines(50)
    produce(broker, topic, lines, "-H", "trace=abc123", "-H", "empty=", "-H", "utf8=\u00e9")
    records = consume(broker, topic, "-o", "beginning")
    assert_values(records, lines)
    assert {r["headers"] for r in records} == {"trace=abc123,empty=,utf8=\u00e9"}


@pytest.mark.parametrize("codec", CODECS)
def test_produce_with_codec(broker, request, codec):
    topic = unique_topic(request)
    lines = sample_lines(2000, tag=codec.encode())
    pairs = [(b"k%d" % i, v) for i, v in enumerate(lines)]
    produce(broker, topic, [k + b":" + v for k, v in pairs], "-K:", "-z", codec,
            "-H", "codec=" + codec)
    records = consume(broker, topic, "-o", "beginning")
    assert [(r["key"], r["value"]) for r in records] == pairs
    assert_values(records, lines)
    assert {r["headers"] for r in records} == {"codec=" + codec}


def test_whole_files_as_binary_messages(broker, request, tmp_path):
    """Every byte value, newlines included, survives the round trip."""
    topic = unique_topic(request)
    payloads = [bytes(range(256)) * 4, b"\n\n\x00\n", os.urandom(100_000), b"\xff"]
    files = []
    for i, data in enumerate(payloads):
        path = tmp_path / f"msg{i}"
        path.write_bytes(data)
        files.append(str(path))
    run(kcat("-P", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-z", "lz4", *files),
        timeout=60)
    records = consume(broker, topic, "-o", "beginning")
    assert sorted(r["value"] for r in records) == sorted(payloads)
    assert sorted(r["offset"] for r in records) == [0, 1, 2, 3]


def test_consume_from_offset_and_relative_to_end(broker, request):
    topic = unique_topic(request)
    lines = sample_lines(100)
    produce(broker, topic, lines)
    assert_values(consume(broker, topic, "-o", "42"), lines[42:], first_offset=42)
    assert_values(consume(broker, topic, "-o", "99"), lines[99:], first_offset=99)
    assert_values(consume(broker, topic, "-o", "-3"), lines[-3:], first_offset=97)
    assert_values(consume(broker, topic, "-o", "10", "-c", "5"), lines[10:15], first_offset=10)


def test_consume_from_end_sees_only_new_messages(broker, request):
    topic = unique_topic(request)
    old = sample_lines(20, tag=b"old")
    produce(broker, topic, old)
    new = sample_lines(3, tag=b"new")
    # Without -q kcat reports "Reached end of topic" once it sits at the end;
    # only then is it safe to produce the messages it must see.
    cmd = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-o", "end", "-c",
               str(len(new)), "-f", FORMAT)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reached = threading.Event()
    stderr_lines = []

    def watch():
        for line in proc.stderr:
            stderr_lines.append(line)
            if b"Reached end of topic" in line:
                reached.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert reached.wait(30), f"kcat never reached the end: {b''.join(stderr_lines)!r}"
        produce(broker, topic, new)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, b"".join(stderr_lines)
    assert_values(parse(out), new, first_offset=len(old))


def test_consume_from_timestamp(broker, request):
    topic = unique_topic(request)
    before = sample_lines(10, tag=b"before")
    after = sample_lines(10, tag=b"after")
    produce(broker, topic, before)
    time.sleep(0.05)
    cut = int(time.time() * 1000)
    time.sleep(0.05)
    produce(broker, topic, after)

    records = consume(broker, topic, "-o", "beginning")
    assert all(r["ts"] < cut for r in records[:10]), "CreateTime is the producer's clock"
    assert all(r["ts"] > cut for r in records[10:])

    assert_values(consume(broker, topic, "-o", f"s@{cut}"), after, first_offset=10)
    first_ts = records[0]["ts"]
    assert_values(consume(broker, topic, "-o", f"s@{first_ts}"), before + after)
    # A timestamp after the last record resolves to the end: nothing to read.
    assert consume(broker, topic, "-o", f"s@{cut + 3_600_000}") == []
    # e@: stop before the first record at or after the timestamp.
    assert_values(consume(broker, topic, "-o", "beginning", "-o", f"e@{cut}"), before)


def test_produce_to_explicit_partitions(brokers, request):
    broker = brokers(overrides={"num.partitions": "3"})
    topic = unique_topic(request)
    per_partition = {p: sample_lines(30, tag=b"p%d-" % p) for p in range(3)}
    for p in (2, 0, 1):
        produce(broker, topic, per_partition[p], partition=p)
    for p in range(3):
        records = consume(broker, topic, "-o", "beginning", partition=p)
        assert_values(records, per_partition[p])
        assert {r["partition"] for r in records} == {p}
