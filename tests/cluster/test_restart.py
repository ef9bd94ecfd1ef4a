"""Restarts, kill -9 included: everything acknowledged stays readable.

The promise under kill -9: a Produce acknowledged with acks=1 has been written
to the segment files (write(2) returned), so it sits in the kernel page cache.
The page cache belongs to the kernel, not the process, so SIGKILL loses
nothing acknowledged. (Losing power or the kernel is a different matter: only
what was fsynced, per flush.messages / flush.ms or replication, survives that,
and these tests do not cover it.)"""

import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from sluicetest import unique_topic

TIMEOUT = 30
PARTITIONS = 2


def create_topic(broker, topic):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)],
                        request_timeout=TIMEOUT)[topic].result(timeout=TIMEOUT)


def message(tag, i):
    return b"%s-key-%d" % (tag, i), b"%s-value-%d-" % (tag, i) + bytes(range(i % 256))


class AckedProducer:
    """acks=1 producer remembering where every acknowledged message landed."""

    def __init__(self, broker, **conf):
        self.acked = {}
        self.lock = threading.Lock()
        self.producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": 1,
                                  "linger.ms": 2, "message.timeout.ms": 20000, **conf})

    def produce(self, topic, tag, count):
        for i in range(count):
            key, value = message(tag, i)
            self.producer.produce(topic, key=key, value=value, partition=i % PARTITIONS,
                                  on_delivery=self._on_delivery)
            self.producer.poll(0)

    def _on_delivery(self, err, msg):
        if err is None:
            with self.lock:
                self.acked[(msg.partition(), msg.offset())] = (msg.key(), msg.value())

    def flush(self):
        return self.producer.flush(TIMEOUT)


def read_all(broker, topic, timeout=TIMEOUT):
    """Everything in the topic up to the high watermark, by (partition, offset)."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        got, at_end = {}, set()
        deadline = time.monotonic() + timeout
        while len(at_end) < PARTITIONS:
            assert time.monotonic() < deadline, f"read {len(got)} records, never reached the end"
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                if m.error() is not None:
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    at_end.add(m.partition())
                else:
                    got[(m.partition(), m.offset())] = (m.key(), m.value())
        return got
    finally:
        consumer.close()


def assert_acked_readable(acked, got):
    missing = [pos for pos in acked if pos not in got]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
    wrong = [pos for pos, rec in acked.items() if got[pos] != rec]
    assert not wrong, f"{len(wrong)} records changed, e.g. {wrong[:5]}"


def test_clean_restart_keeps_everything(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    p = AckedProducer(broker)
    p.produce(topic, b"a", 3000)
    assert p.flush() == 0
    assert len(p.acked) == 3000

    broker.restart()
    got = read_all(broker, topic)
    assert got == p.acked

    # Offsets continue after the restart: nothing overwritten, nothing skipped.
    p2 = AckedProducer(broker)
    p2.produce(topic, b"b", 1000)
    assert p2.flush() == 0
    assert set(p2.acked).isdisjoint(p.acked)
    assert sorted(o for (q, o) in p2.acked if q == 0) == list(range(1500, 2000))
    assert read_all(broker, topic) == {**p.acked, **p2.acked}


def test_kill9_after_acks_keeps_everything(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    p = AckedProducer(broker)
    p.produce(topic, b"a", 5000)
    assert p.flush() == 0
    assert broker.kill() == -9
    broker.start()
    got = read_all(broker, topic)
    assert got == p.acked

    # And again, kill -9 twice in a row with more data in between.
    p.produce(topic, b"b", 2000)
    assert p.flush() == 0
    assert broker.kill() == -9
    broker.start()
    assert broker.kill() == -9
    broker.start()
    assert_acked_readable(p.acked, read_all(broker, topic))
    assert len(p.acked) == 7000


def test_kill9_during_production_loses_nothing_acknowledged(broker, request):
    topic = unique_topic(request)
    create_topic(broker, topic)
    p = AckedProducer(broker, retries=0)
    stop = threading.Event()
    produced = [0]

    def produce_until_stopped():
        while not stop.is_set():
            p.produce(topic, b"c%d" % produced[0], 100)
            produced[0] += 100
            p.producer.poll(0.005)

    producing = threading.Thread(target=produce_until_stopped, daemon=True)
    producing.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(p.acked) < 2000:
            assert time.monotonic() < deadline, f"only {len(p.acked)} acks"
            time.sleep(0.01)
        assert broker.kill() == -9
        produced_at_kill = produced[0]
        time.sleep(0.3)
        broker.start()
        time.sleep(0.5)
    finally:
        stop.set()
        producing.join(TIMEOUT)
    assert produced[0] > produced_at_kill, "the producer kept going across the kill"
    # What was in flight now succeeded against the new process or failed;
    # every success counts as acknowledged too.
    p.flush()
    with p.lock:
        acked = dict(p.acked)
    assert_acked_readable(acked, read_all(broker, topic))
