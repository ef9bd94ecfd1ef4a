"""Idempotent producers (issue 10, promise D of RELIABILITY.md): InitProducerId
hands out producer ids from controller-allocated blocks, and the leader's
producer state answers a retried batch with its original offset without
writing it again, refuses sequence gaps and stale epochs as Kafka does, and
keeps doing so after a restart (rebuilt from the log and its snapshots).

Real clients: confluent-kafka (librdkafka) with enable.idempotence=true;
the raw-protocol tests resend the very same batch, which no client does on
demand."""

import json
import os
import struct
import subprocess
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from sluicetest import binary, run, unique_topic
from test_protocol_raw import (connect, create_topic, frame_of, list_offsets_latest,
                               parse_produce_response, produce_body, record_batch,
                               recv_response)

TIMEOUT = 30
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47


def init_producer_id(broker, version=0):
    """InitProducerId without a transactional id: (error, producer id, epoch)."""
    body = struct.pack(">hi", -1, 60000)  # null transactional id, timeout
    with connect(broker) as s:
        s.sendall(frame_of(22, version, 5, body))
        resp = recv_response(s)
    _corr, _throttle, err, pid, epoch = struct.unpack(">iihqh", resp[:20])
    return err, pid, epoch


def produce_raw(broker, topic, batch):
    with connect(broker) as s:
        s.sendall(frame_of(0, 3, 9, produce_body(topic, batch)))
        return parse_produce_response(recv_response(s))


def describe_producers(broker, topic, partition=0):
    """`sluicectl producers` --json, without the (clock-dependent) timestamps."""
    out = subprocess.run([binary("tools", "sluicectl", "sluicectl"), "producers", topic,
                          str(partition), "--bootstrap-server", broker.bootstrap, "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=True)
    found = json.loads(out.stdout)["producers"]
    for p in found:
        assert p.pop("last_timestamp") > 0
    return found


def wait_for(probe, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_init_producer_id_hands_out_distinct_ids(broker):
    ids = set()
    for _ in range(5):
        err, pid, epoch = init_producer_id(broker)
        assert err == 0 and pid >= 0 and epoch == 0
        ids.add(pid)
    assert len(ids) == 5
    # After a restart the broker gets a new block: no id is given twice.
    broker.restart()
    err, pid, _ = init_producer_id(broker)
    assert err == 0 and pid not in ids and pid > max(ids)


def test_retried_batch_is_answered_with_its_offset_and_not_written(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    wait_for(lambda: produce_raw(broker, topic, record_batch([b"warm"]))[0] == 0, "topic")
    err, pid, epoch = init_producer_id(broker)
    assert err == 0

    first = record_batch([b"a", b"b"], producer_id=pid, producer_epoch=epoch, base_sequence=0)
    assert produce_raw(broker, topic, first) == (0, 1)
    end = list_offsets_latest(broker, topic)
    assert produce_raw(broker, topic, first) == (0, 1), "a duplicate gets the original offset"
    assert list_offsets_latest(broker, topic) == end, "and is not written again"

    second = record_batch([b"c"], producer_id=pid, producer_epoch=epoch, base_sequence=2)
    assert produce_raw(broker, topic, second) == (0, 3)
    gap = record_batch([b"d"], producer_id=pid, producer_epoch=epoch, base_sequence=5)
    assert produce_raw(broker, topic, gap)[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    # A bumped epoch (KIP-360) restarts at sequence 0; the old epoch is fenced.
    bumped = record_batch([b"e"], producer_id=pid, producer_epoch=epoch + 1, base_sequence=0)
    assert produce_raw(broker, topic, bumped) == (0, 4)
    stale = record_batch([b"f"], producer_id=pid, producer_epoch=epoch, base_sequence=3)
    assert produce_raw(broker, topic, stale)[0] == INVALID_PRODUCER_EPOCH
    assert list_offsets_latest(broker, topic) == 5
    # DescribeProducers through sluicectl: the leader's state for this producer.
    assert describe_producers(broker, topic) == [
        {"producer_id": pid, "producer_epoch": epoch + 1, "last_sequence": 0,
         "current_txn_start_offset": -1}]

    # The state is rebuilt from the log on restart: the retry is still a duplicate.
    broker.restart()
    wait_for(lambda: produce_raw(broker, topic, bumped)[0] == 0, "the partition after restart")
    assert produce_raw(broker, topic, bumped) == (0, 4)
    assert list_offsets_latest(broker, topic) == 5


def snapshot_offsets(broker, topic):
    d = os.path.join(broker.data_dir, f"{topic}-0")
    return sorted(int(n[:20]) for n in os.listdir(d) if n.endswith(".snapshot"))


def segment_bases(broker, topic):
    d = os.path.join(broker.data_dir, f"{topic}-0")
    return sorted(int(n[:20]) for n in os.listdir(d) if n.endswith(".log"))


def test_producer_snapshot_is_written_at_roll_and_used_after_a_crash(broker, request):
    """A roll writes `<offset>.snapshot` (off the event loop, after the rolled
    segment is durable); after a SIGKILL the broker rebuilds the producer
    state from it plus the batches after it, and still answers a retry."""
    topic = unique_topic(request)
    run([binary("tools", "sluicectl", "sluicectl"), "topic", "create", topic,
         "--bootstrap-server", broker.bootstrap, "--config", "segment.bytes=2000"], timeout=30)
    err, pid, epoch = init_producer_id(broker)
    assert err == 0
    batches = [record_batch([b"v" * 300], producer_id=pid, producer_epoch=epoch,
                            base_sequence=i) for i in range(12)]
    wait_for(lambda: produce_raw(broker, topic, batches[0])[0] == 0, "the topic")
    for i, b in enumerate(batches[1:], 1):
        assert produce_raw(broker, topic, b) == (0, i)
    bases = segment_bases(broker, topic)
    assert len(bases) >= 3, bases
    wait_for(lambda: bases[-1] in snapshot_offsets(broker, topic), "the last roll's snapshot")

    assert broker.kill() != 0
    broker.start()
    wait_for(lambda: produce_raw(broker, topic, batches[-1])[0] == 0, "the partition after restart")
    assert produce_raw(broker, topic, batches[-1]) == (0, 11), "a retry is still a duplicate"
    assert list_offsets_latest(broker, topic) == 12
    loaded = [line for line in broker.log_text().splitlines()
              if "loaded producer state" in line and f"{topic}-0" in line]
    assert loaded and loaded[-1].endswith(f"snapshot={bases[-1]}"), loaded


def test_confluent_kafka_idempotent_producer(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    errors, delivered = [], []

    def report(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered.append((msg.partition(), msg.offset(), msg.value()))

    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                         "linger.ms": 5, "error_cb": errors.append})
    sent = [f"m{i}".encode() for i in range(2000)]
    for v in sent:
        producer.produce(topic, v, partition=0, on_delivery=report)
        producer.poll(0)
    assert producer.flush(TIMEOUT) == 0
    assert errors == []
    assert len(delivered) == len(sent)

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "idem-check",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < len(sent) and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value())
    consumer.close()
    assert got == sent, "every record exactly once, in order"
    assert "producer id block start=" in broker.log_text()


def test_idle_producer_expires(brokers, request):
    """producer.id.expiration.ms: a forgotten producer starts afresh, so a
    sequence that was a gap before expiry is accepted after it."""
    broker = brokers(overrides={"producer.id.expiration.ms": "1000",
                                "log.retention.check.interval.ms": "200"})
    topic = unique_topic(request)
    create_topic(broker, topic)
    err, pid, epoch = init_producer_id(broker)
    assert err == 0
    first = record_batch([b"a"], producer_id=pid, producer_epoch=epoch, base_sequence=0)
    wait_for(lambda: produce_raw(broker, topic, first)[0] == 0, "the topic")
    # Batch timestamps are the producer's clock (now): expiry needs a second of idleness.
    wait_for(lambda: "expired idle producers" in broker.log_text(), "the producer to expire")
    later = record_batch([b"b"], producer_id=pid, producer_epoch=epoch, base_sequence=7)
    assert produce_raw(broker, topic, later)[0] == 0


def test_producer_ids_never_repeat_across_controller_failover(cluster):
    """Blocks are committed in the metadata log (compare-and-set on the next
    id), so after kill -9 of the active controller the new one continues
    after every block handed out; a restarted broker gets a fresh block."""

    def granted(b):
        """A producer id from broker b (retrying its retriable refusals)."""
        def probe():
            err, pid, _ = init_producer_id(b)
            return (pid,) if err == 0 else None  # a tuple: id 0 is an answer too
        return wait_for(probe, f"a producer id from node {b.node_id}")[0]

    cluster.wait_healthy()
    seen = [granted(b) for b in cluster for _ in range(3)]
    victim = cluster.leader()
    victim.kill()
    cluster.leader()  # a new active controller among the survivors
    victim.start()
    cluster.wait_healthy()
    seen += [granted(b) for b in cluster]
    assert len(seen) == len(set(seen)), f"a producer id was handed out twice: {sorted(seen)}"
