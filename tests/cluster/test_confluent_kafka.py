"""confluent-kafka-python 1.7 (Debian, over librdkafka 2.0.2): admin
create/list/delete, produce with delivery reports, consume by assignment.

confluent-kafka insists on a group.id for a Consumer; the tests only assign
partitions at explicit offsets and never commit, so no group API is needed."""

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from sluicetest import unique_topic

TIMEOUT = 20


def admin_client(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap, "socket.timeout.ms": 10000})


def create_topic(admin, topic, partitions):
    futures = admin.create_topics([NewTopic(topic, partitions, 1)],
                                  operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
    futures[topic].result(timeout=TIMEOUT)


def wait_for(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def partitions_of(admin, topic):
    md = admin.list_topics(timeout=TIMEOUT)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return sorted(t.partitions)


def test_admin_create_list_delete(broker, request):
    topic = unique_topic(request)
    admin = admin_client(broker)
    create_topic(admin, topic, 4)
    wait_for(lambda: partitions_of(admin, topic) == [0, 1, 2, 3], "four partitions")
    md = admin.list_topics(timeout=TIMEOUT)
    assert [b.id for b in md.brokers.values()] == [1]
    assert md.controller_id == 1
    assert {p.leader for p in md.topics[topic].partitions.values()} == {1}

    again = admin.create_topics([NewTopic(topic, 4, 1)], request_timeout=TIMEOUT)[topic]
    with pytest.raises(Exception) as err:
        again.result(timeout=TIMEOUT)
    assert err.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    admin.delete_topics([topic], operation_timeout=TIMEOUT,
                        request_timeout=TIMEOUT)[topic].result(timeout=TIMEOUT)
    wait_for(lambda: partitions_of(admin, topic) is None, "the topic to disappear")


def test_validate_only_creates_nothing(broker, request):
    topic = unique_topic(request)
    admin = admin_client(broker)
    futures = admin.create_topics([NewTopic(topic, 2, 1)], validate_only=True,
                                  request_timeout=TIMEOUT)
    futures[topic].result(timeout=TIMEOUT)
    assert partitions_of(admin, topic) is None


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_and_consume(broker, request, codec):
    topic = unique_topic(request)
    partitions = 3
    create_topic(admin_client(broker), topic, partitions)

    reports = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": 1, "linger.ms": 5,
                         "compression.codec": codec})
    sent = []
    for i in range(5000):
        key = b"key-%d" % i if i % 7 else None
        value = bytes((i * 13 + j) % 256 for j in range(i % 500))
        headers = [("n", str(i).encode())] if i % 3 == 0 else None
        sent.append((key, value, headers or []))
        producer.produce(topic, value=value, key=key, headers=headers, partition=i % partitions,
                         on_delivery=lambda err, msg, i=i: reports.append((i, err, msg)))
        producer.poll(0)
    assert producer.flush(TIMEOUT) == 0, "messages still in flight"
    assert [err for _, err, _ in reports if err is not None] == []
    assert sorted(i for i, _, _ in reports) == list(range(len(sent)))
    where = {(m.partition(), m.offset()): i for i, _, m in reports}
    for p in range(partitions):
        offsets = sorted(o for (q, o) in where if q == p)
        assert offsets == list(range(len(offsets)))

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        got = {}
        deadline = time.monotonic() + TIMEOUT
        while len(got) < len(sent) and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                assert m.error() is None, m.error()
                got[(m.partition(), m.offset())] = (m.key(), m.value(), m.headers() or [])
    finally:
        consumer.close()
    assert len(got) == len(sent)
    for pos, record in got.items():
        assert record == sent[where[pos]], pos
