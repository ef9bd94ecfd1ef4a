"""kafka-python 2.0.2 (Debian's python3-kafka): admin create/list/delete,
produce and consume (partition assignment, no consumer group).

kafka-python derives the "broker version" from the ApiVersions answer and picks
request versions from it, so this also checks that what we advertise makes
sense to it."""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from sluicetest import unique_topic

TIMEOUT_MS = 20000


def admin_client(broker):
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=TIMEOUT_MS,
                            client_id="sluice-test-admin")


def create_topic(broker, topic, partitions):
    admin = admin_client(broker)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)], timeout_ms=TIMEOUT_MS)
    finally:
        admin.close()


def wait_for(predicate, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def consume_all(broker, topic, partitions, expected, timeout=30):
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             request_timeout_ms=TIMEOUT_MS + 5000, fetch_max_wait_ms=200)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        consumer.seek_to_beginning()
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(records)
        return got
    finally:
        consumer.close()


def test_api_version_is_derived_from_api_versions(broker):
    admin = admin_client(broker)
    try:
        # With Fetch up to v11 advertised kafka-python 2.0.2 infers at least 2.3.
        assert admin.config["api_version"] >= (2, 3, 0), admin.config["api_version"]
    finally:
        admin.close()


def test_admin_create_list_delete(broker, request):
    topic = unique_topic(request)
    admin = admin_client(broker)
    try:
        admin.create_topics([NewTopic(topic, 3, 1)], timeout_ms=TIMEOUT_MS)
        assert topic in admin.list_topics()
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic(topic, 3, 1)], timeout_ms=TIMEOUT_MS)
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
        try:
            wait_for(lambda: consumer.partitions_for_topic(topic) == {0, 1, 2},
                     "three partitions in metadata")
        finally:
            consumer.close()
        admin.delete_topics([topic], timeout_ms=TIMEOUT_MS)
        wait_for(lambda: topic not in admin.list_topics(), "the topic to disappear")
    finally:
        admin.close()


# snappy, lz4 and zstd need python3-snappy, python3-lz4 and python3-zstandard (tools/dev).
@pytest.mark.parametrize("compression", [None, "gzip", "snappy", "lz4", "zstd"])
def test_produce_and_consume(broker, request, compression):
    topic = unique_topic(request)
    partitions = 3
    create_topic(broker, topic, partitions)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1, linger_ms=5,
                             compression_type=compression, request_timeout_ms=TIMEOUT_MS)
    sent = []
    try:
        futures = []
        for i in range(3000):
            key = b"k%d" % i if i % 10 else None
            value = bytes((i * 7 + j) % 256 for j in range(i % 300))
            headers = [("i", str(i).encode()), ("empty", b"")] if i % 2 else []
            p = i % partitions
            futures.append(producer.send(topic, value=value, key=key, headers=headers,
                                         partition=p))
            sent.append((p, key, value, headers))
        producer.flush(timeout=30)
        metadata = [f.get(timeout=30) for f in futures]
    finally:
        producer.close(timeout=10)

    # Offsets per partition are dense and in send order.
    for p in range(partitions):
        offsets = [m.offset for m in metadata if m.partition == p]
        assert offsets == list(range(len(offsets)))
    expected = {(m.partition, m.offset): s for m, s in zip(metadata, sent)}

    got = consume_all(broker, topic, partitions, len(sent))
    assert len(got) == len(sent)
    for r in got:
        p, key, value, headers = expected[(r.partition, r.offset)]
        assert (r.key, r.value, list(r.headers)) == (key, value, headers), (r.partition,
                                                                             r.offset)
