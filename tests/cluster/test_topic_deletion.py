"""Deleting a topic of many partitions (issue 14: no blocking I/O on the event
loop). The broker renames each partition directory to
`<topic>-<partition>.<id>-delete` on its loop and removes the files on the
thread pool (Kafka's LogManager.asyncDelete); before, 1,000 partitions meant
thousands of unlinks and rmdirs on the loop while every client waited.

A confluent-kafka admin client deletes the topic while a producer writes to
another topic with acks=all throughout: the deleted topic leaves Metadata,
its directories (renamed or not) leave log.dirs, the broker keeps its
session, and every acknowledged record of the other topic reads back. The
removals take their turn on the pool, two at a time, behind the log
manager's queue, whose length /metrics shows (`sluice_log_deletions_pending`,
back to 0 once they are done)."""

import os
import threading

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from clustertest import read_back, wait_until
from metricstest import scrape, value
from sluicetest import unique_topic
from test_metrics import with_metrics
from test_partition_scale import assert_never_fenced, produce_sample, sluicectl_create

PARTITIONS = 1000
BUSY_PARTITIONS = 4


def entries_of(b, topic):
    """log.dirs entries of `topic`'s partitions: `<topic>-<n>` directories and
    those renamed for deletion (`<topic>-<n>.<id>-delete`)."""
    return [e for e in os.listdir(b.data_dir)
            if e.startswith(topic + "-") and e[len(topic) + 1:].split(".")[0].isdigit()]


class BusyProducer:
    """acks=all records to every partition of `topic` until stopped; keeps the
    acknowledged values per partition, in order, and any delivery error."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.acked = {p: [] for p in range(BUSY_PARTITIONS)}
        self.errors = []
        self.stop = threading.Event()
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 2,
                                  "message.timeout.ms": 60000})
        self.thread = threading.Thread(target=self.run, daemon=True)

    def on_delivery(self, err, msg):
        if err is not None:
            self.errors.append(err)
        else:
            self.acked[msg.partition()].append(msg.value())

    def run(self):
        i = 0
        while not self.stop.is_set():
            part = i % BUSY_PARTITIONS
            self.producer.produce(self.topic, value=f"busy-{i}".encode(), partition=part,
                                  on_delivery=self.on_delivery)
            self.producer.poll(0.005)
            i += 1
        assert self.producer.flush(60) == 0

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(90)


def test_deleting_a_topic_of_many_partitions(brokers, request):
    b = brokers(start=False)
    with_metrics(b).start()
    doomed, busy = unique_topic(request, "-doomed"), unique_topic(request, "-busy")
    sluicectl_create(b.bootstrap, doomed, PARTITIONS)
    sluicectl_create(b.bootstrap, busy, BUSY_PARTITIONS)
    produce_sample(b.bootstrap, doomed, range(PARTITIONS), "d")
    assert len(entries_of(b, doomed)) == PARTITIONS
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    with BusyProducer(b.bootstrap, busy) as producer:
        wait_until(lambda: all(producer.acked.values()), 60, "the busy topic taking records")
        admin.delete_topics([doomed], operation_timeout=60)[doomed].result(timeout=90)
        wait_until(lambda: doomed not in admin.list_topics(timeout=10).topics, 60,
                   "the deleted topic gone from Metadata")
        wait_until(lambda: not entries_of(b, doomed), 120,
                   "the deleted topic's directories gone from log.dirs")
        wait_until(lambda: value(scrape(b.http_port), "sluice_log_deletions_pending") == 0, 60,
                   "no deletion pending")
        acked_during = sum(len(v) for v in producer.acked.values())
        wait_until(lambda: sum(len(v) for v in producer.acked.values()) > acked_during, 60,
                   "the busy topic still taking records")
    assert not producer.errors, producer.errors[:5]
    assert not [e for e in os.listdir(b.data_dir) if e.endswith("-delete")]
    text = b.log_text()
    assert "cannot delete" not in text and "cannot rename" not in text
    # Each directory went aside by a rename on the loop, then the pool.
    assert text.count(f"deleting partition directory dir={b.data_dir}/{doomed}-") == PARTITIONS
    read_back(b.bootstrap, busy, producer.acked, "deletion-check")
    assert_never_fenced(b)
    assert b.stop(timeout=120) == 0
