"""acks=all is acknowledged only when it can be kept (RELIABILITY.md).

On a single broker the ISR is that broker alone, so a topic whose
min.insync.replicas asks for two copies must refuse acks=all produces with
NOT_ENOUGH_REPLICAS before appending anything, while acks=1 still works
there and acks=all works where one copy is all that is promised.
(test_replication.py covers acks=all across replicas.)"""

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from sluicetest import unique_topic

TIMEOUT = 20


def produce(broker, topic, acks, value):
    """Send one record; return the delivery error (None when acknowledged)."""
    outcome = []
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": acks,
                         "message.send.max.retries": 0, "message.timeout.ms": 10000})
    producer.produce(topic, value, partition=0, on_delivery=lambda err, msg: outcome.append(err))
    producer.flush(TIMEOUT)
    assert len(outcome) == 1, "no delivery report"
    return outcome[0]


def end_offset(broker, topic):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)[1]
    finally:
        consumer.close()


def test_acks_all_refused_when_min_insync_needs_copies_that_do_not_exist(broker, request):
    strict = unique_topic(request) + "-strict"
    relaxed = unique_topic(request) + "-relaxed"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([
        NewTopic(strict, 1, 1, config={"min.insync.replicas": "2"}),
        NewTopic(relaxed, 1, 1),
    ], request_timeout=TIMEOUT)
    for f in futures.values():
        f.result(timeout=TIMEOUT)

    err = produce(broker, strict, "all", b"must-not-be-acked")
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
    assert end_offset(broker, strict) == 0, "a refused write reached the log"

    assert produce(broker, strict, "1", b"leader-only") is None
    assert end_offset(broker, strict) == 1

    assert produce(broker, relaxed, "all", b"one-copy-promised") is None
    assert end_offset(broker, relaxed) == 1
