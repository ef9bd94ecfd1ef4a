"""Log compaction with real processes and real clients: a replicated topic
with cleanup.policy=compact and small segments compacts on every replica to
the latest value per key at the original offsets, refuses keyless records,
drops tombstones once delete.retention.ms has passed, and a reader after a
leader kill sees the same latest values from the new leader."""

import contextlib
import os
import re
import struct
import time

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from clustertest import admin_for, create, partitions_of, wait_until
from sluicetest import binary, run, unique_topic

KEYS = 10
ROUNDS = 10


def leader_of(cluster, topic, exclude=()):
    s = cluster.wait_status(
        lambda s: partitions_of(s, topic) and partitions_of(s, topic)[0]["leader"] > 0 and
        partitions_of(s, topic)[0]["leader"] not in exclude,
        40, f"a leader for {topic}/0")
    return cluster.node(partitions_of(s, topic)[0]["leader"])


def read_all(bootstrap, topic):
    """[(offset, key, value or None)] of partition 0, read with kcat."""
    p = run(["kcat", "-C", "-q", "-e", "-m", "10", "-X", "socket.timeout.ms=10000",
             "-b", bootstrap, "-t", topic, "-p", "0", "-o", "beginning",
             "-f", "%o %k %S %s\n"], timeout=60)
    out = []
    for line in p.stdout.decode().splitlines():
        offset, key, vlen, *value = line.split(" ")
        out.append((int(offset), key, None if int(vlen) < 0 else value[0]))
    return out


def latest(records):
    values = {}
    for _, key, value in records:
        values[key] = value
    return values


def produce_one(p, topic, key, value):
    errors = []
    p.produce(topic, key=key, value=value, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert len(errors) == 1
    return errors[0]


def cleaned_on(node, topic):
    return re.search(r"cleaned dir=\S*/" + re.escape(topic) + r"-0 segments=", node.log_text())


def _varint(data, pos):
    """A zigzag varint of the record format, and the position after it."""
    shift = raw = 0
    while True:
        b = data[pos]
        pos += 1
        raw |= (b & 0x7F) << shift
        if not b & 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
        shift += 7


def _bytes(data, pos):
    n, pos = _varint(data, pos)
    return (None, pos) if n < 0 else (data[pos:pos + n].decode(), pos + n)


def replica_segments(node, topic):
    """[[(offset, key, value or None)] per segment, in offset order] of
    partition 0 as it is on the node's disk: each replica compacts its own
    copy, and the Kafka protocol only reads the leader's. Records are
    uncompressed (the producer's default); an incomplete batch at the end of
    the active segment (an append in progress) is left out."""
    d = os.path.join(node.data_dir, f"{topic}-0")
    segments = []
    for name in sorted(f for f in os.listdir(d) if f.endswith(".log")):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        records, pos = [], 0
        while pos + 61 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            if length <= 0 or pos + 12 + length > len(data):
                break
            assert struct.unpack_from(">h", data, pos + 21)[0] & 0x07 == 0, "compressed batch"
            count = struct.unpack_from(">i", data, pos + 57)[0]
            at = pos + 61
            for _ in range(count):
                size, at = _varint(data, at)
                end = at + size
                _, r = _varint(data, at + 1)  # after attributes: timestamp delta
                delta, r = _varint(data, r)
                key, r = _bytes(data, r)
                value, r = _bytes(data, r)
                records.append((base + delta, key, value))
                at = end
            pos += 12 + length
        segments.append(records)
    return segments


def compacted_on(node, topic):
    """The node's copy is compacted below its active segment: a clean ran,
    and no key appears twice in the segments before the active one. A clean
    begun while records were still coming covers only the segments rolled by
    then; the next ones take another clean (seconds each on a loaded
    machine), so "a clean ran" alone does not say the log is compacted."""
    if not cleaned_on(node, topic):
        return False
    older = [r for seg in replica_segments(node, topic)[:-1] for r in seg]
    keys = [k for _, k, _ in older]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    assert older and not dups, f"{node.name}: keys not yet compacted {dups}"
    return True


def cleans_in_flight(node, topic):
    """Cleans of partition 0 started and not yet finished (or abandoned)."""
    text = node.log_text()
    started = len(re.findall(r"cleaning topic=" + re.escape(topic) + r" partition=0 ", text))
    done = len(re.findall(r"(?:cleaned|clean abandoned) dir=\S*/" + re.escape(topic) + r"-0 ",
                          text))
    return started - done


def test_compaction_latest_value_per_key_on_every_replica(clusters, request):
    c = clusters(3, overrides={"log.cleaner.backoff.ms": "200"})
    topic = unique_topic(request)
    assert create(admin_for(c), topic, 1, 3, {
        "cleanup.policy": "compact", "segment.bytes": "1000", "delete.retention.ms": "4000",
        "min.cleanable.dirty.ratio": "0.01", "min.insync.replicas": "2"}) is None
    p = Producer({"bootstrap.servers": c.bootstrap, "linger.ms": 0, "acks": "all"})
    for r in range(ROUNDS):
        for k in range(KEYS):
            assert produce_one(p, topic, f"k{k}", f"r{r}") is None
    assert produce_one(p, topic, "k3", None) is None  # tombstone at offset 100
    err = produce_one(p, topic, None, "no key")
    assert err is not None and err.code() == KafkaError.INVALID_RECORD, err

    # Every replica compacts its own copy, at the original offsets.
    wait_until(lambda: all(compacted_on(n, topic) for n in c), 90,
               "every replica compacted below its active segment")
    for n in c:
        on_disk = [r for seg in replica_segments(n, topic) for r in seg]
        offsets = [o for o, _, _ in on_disk]
        assert offsets == sorted(set(offsets)), (n.name, offsets)
        values = latest(on_disk)
        for k in range(KEYS):
            assert values[f"k{k}"] == (None if k == 3 else f"r{ROUNDS - 1}"), (n.name, values)
        for offset, key, value in on_disk:
            if value is not None and offset < ROUNDS * KEYS:
                assert offset == int(value[1:]) * KEYS + int(key[1:]), (n.name, offset, key)
    records = read_all(c.bootstrap, topic)
    offsets = [o for o, _, _ in records]
    assert offsets == sorted(set(offsets)), offsets
    assert len(records) < ROUNDS * KEYS // 2, records
    values = latest(records)
    for k in range(KEYS):
        assert values[f"k{k}"] == (None if k == 3 else f"r{ROUNDS - 1}"), values
    for offset, key, value in records:
        if value is not None and offset < ROUNDS * KEYS:
            # Offsets are preserved: round r of key k was written at r*KEYS+k.
            assert offset == int(value[1:]) * KEYS + int(key[1:]), (offset, key, value)

    # Past delete.retention.ms, new dirty data brings another clean, which
    # drops the tombstone (and k3 with it).
    def tombstone_gone():
        produce_one(p, topic, "filler", "x" * 50)
        return "k3" not in latest(read_all(c.bootstrap, topic))
    wait_until(tombstone_gone, 60, "the tombstone to be cleaned away", interval=0.5)

    # A reader after the leader dies sees the same latest values.
    before = latest(read_all(c.bootstrap, topic))
    old = leader_of(c, topic)
    old.kill()
    leader_of(c, topic, exclude=(old.node_id,))
    after = latest(read_all(c.bootstrap, topic))
    for k in range(KEYS):
        assert after.get(f"k{k}") == before.get(f"k{k}"), (before, after)
    old.start()


def test_kill_during_clean_loses_nothing(brokers, request):
    """kill -9 while the cleaner rewrites a log (throttled so the clean takes
    seconds): after restart every key still reads back with its latest value,
    no cleaner leftovers remain, and the next clean completes."""
    b = brokers(overrides={"log.cleaner.backoff.ms": "200",
                           "log.cleaner.io.max.bytes.per.second": "40000"})
    topic = unique_topic(request)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={
        "cleanup.policy": "compact", "segment.bytes": "16384",
        "min.cleanable.dirty.ratio": "0.01"})])[topic].result(timeout=20)
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5, "acks": "all"})
    keys = 200
    for r in range(ROUNDS):
        for k in range(keys):
            p.produce(topic, key=f"k{k}", value=f"r{r}-" + "v" * 60)
        p.flush(30)
    assert len(p) == 0
    wait_until(lambda: re.search(r"cleaning topic=" + re.escape(topic), b.log_text()), 60,
               "a clean to start")
    time.sleep(0.5)
    assert not cleaned_on(b, topic), "the clean ended before the kill; lower the throttle"
    b.kill()
    b.start()

    def check():
        records = read_all(b.bootstrap, topic)
        offsets = [o for o, _, _ in records]
        assert offsets == sorted(set(offsets))
        values = latest(records)
        for k in range(keys):
            assert values[f"k{k}"].startswith(f"r{ROUNDS - 1}-"), (k, values.get(f"k{k}"))
        return records

    before = check()
    wait_until(lambda: cleaned_on(b, topic), 120, "the clean after restart")
    after = check()
    # Recovery removed the killed clean's files; the new clean left none.
    part = os.path.join(b.data_dir, f"{topic}-0")
    leftovers = [f for f in os.listdir(part) if f.endswith((".cleaned", ".swap"))]
    assert not leftovers, leftovers
    assert len(after) < len(before) or len(before) < keys * ROUNDS


def test_policy_switch_to_delete_then_kill_loses_nothing(brokers, request):
    """The cleaner's offset gaps stay when a compacted topic becomes
    cleanup.policy=delete. A restart after kill -9 re-validates every segment
    above the recovery point (all of them when the crash came before the
    rolled segments' flush was checkpointed; removing the checkpoint makes
    that certain here), and recovery must take the gaps for what they are,
    not for corruption to cut (which would lose acknowledged records)."""
    b = brokers(overrides={"log.cleaner.backoff.ms": "200"})
    topic = unique_topic(request)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={
        "cleanup.policy": "compact", "segment.bytes": "1000",
        "min.cleanable.dirty.ratio": "0.01"})])[topic].result(timeout=20)
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0, "acks": "all"})
    for r in range(ROUNDS):
        for k in range(KEYS):
            assert produce_one(p, topic, f"k{k}", f"r{r}") is None
    wait_until(lambda: cleaned_on(b, topic), 60, "a clean")

    run([binary("tools", "sluicectl", "sluicectl"), "topic", "alter-config", topic,
         "--config", "cleanup.policy=delete", "--bootstrap-server", b.bootstrap])
    wait_until(lambda: admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
               [ConfigResource(ConfigResource.Type.TOPIC, topic)].result(timeout=10)
               ["cleanup.policy"].value == "delete", 30, "cleanup.policy=delete")
    # A clean begun before the switch still swaps its segments in (and then
    # no other starts): read what survives only after it, or the restart
    # would be compared with records it removed (seen failing that way).
    wait_until(lambda: cleans_in_flight(b, topic) == 0, 60, "the clean in flight to finish")
    compacted = read_all(b.bootstrap, topic)
    offsets = [o for o, _, _ in compacted]
    assert len(offsets) < ROUNDS * KEYS and offsets[-1] == ROUNDS * KEYS - 1, offsets
    gaps = [a + 1 for a, b2 in zip([-1] + offsets, offsets) if b2 - a > 1]
    assert gaps, f"no gap to recover across: {offsets}"
    after_switch = [("k-new", f"v{i}") for i in range(5)]
    for key, value in after_switch:
        assert produce_one(p, topic, key, value) is None

    b.kill()
    with contextlib.suppress(FileNotFoundError):  # not written yet: full recovery anyway
        os.unlink(os.path.join(b.data_dir, f"{topic}-0", "log-offsets.checkpoint"))
    b.start()
    records = read_all(b.bootstrap, topic)
    want = compacted + [(ROUNDS * KEYS + i, k, v) for i, (k, v) in enumerate(after_switch)]
    assert records == want, (records, want)
    assert "truncating corrupt or torn" not in b.log_text()
    assert "dropping segments after" not in b.log_text()
