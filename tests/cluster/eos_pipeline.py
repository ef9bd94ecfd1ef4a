"""A consume-transform-produce pipeline with exactly-once semantics, run as
its own process by test_exactly_once.py (which kills it with SIGKILL and
starts it again with the same transactional.id):

    eos_pipeline.py BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP TRANSACTIONAL_ID

A read_committed consumer in GROUP; a transactional producer; per batch of
input records one transaction holding their transformed copies ("out:" +
value, same partition) and the consumer's positions
(send_offsets_to_transaction). An abortable error aborts the transaction and
rewinds the consumer to the group's committed offsets; any other error exits
with status 3 (the test starts the pipeline again: init_transactions fences
the old instance and aborts what it left open). Prints one line per commit.
EOS_DEBUG (e.g. cgrp,eos,fetch) turns on librdkafka's debug contexts in
both clients, to see in pipeline.log where a stalled pipeline waits."""

import os
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer

TIMEOUT = 30


def rewind(consumer):
    """Back to the committed offsets (the aborted batch is read again)."""
    parts = consumer.assignment()
    for tp in consumer.committed(parts, timeout=TIMEOUT):
        if tp.offset < 0:
            tp.offset = OFFSET_BEGINNING
        consumer.seek(tp)


def main():
    bootstrap, in_topic, out_topic, group, txn_id = sys.argv[1:6]
    debug = {"debug": os.environ["EOS_DEBUG"]} if os.environ.get("EOS_DEBUG") else {}
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                         "transaction.timeout.ms": 10000, "linger.ms": 5,
                         "message.timeout.ms": 10000, "socket.timeout.ms": 5000,
                         "reconnect.backoff.max.ms": 500, **debug})
    producer.init_transactions(TIMEOUT)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 500, "socket.timeout.ms": 5000,
                         "reconnect.backoff.max.ms": 500,
                         "topic.metadata.refresh.interval.ms": 1000, **debug})
    consumer.subscribe([in_topic])
    commits = 0
    while True:
        msgs = [m for m in consumer.consume(num_messages=50, timeout=0.5) if m.error() is None]
        if not msgs:
            continue
        try:
            producer.begin_transaction()
            for m in msgs:
                producer.produce(out_topic, value=b"out:" + m.value(), partition=m.partition())
            producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                 consumer.consumer_group_metadata(), TIMEOUT)
            producer.commit_transaction(TIMEOUT)
        except KafkaException as e:
            err = e.args[0]
            print(f"transaction failed: {err}", flush=True)
            if not err.txn_requires_abort():
                sys.exit(3)
            producer.abort_transaction(TIMEOUT)
            rewind(consumer)
            continue
        commits += 1
        print(f"committed {commits}: {len(msgs)} records", flush=True)


if __name__ == "__main__":
    try:
        main()
    except KafkaException as e:
        print(f"pipeline stops: {e}", flush=True)
        sys.exit(3)
