"""One Python Kafka client (confluent-kafka or kafka-python) producing and
consuming one partition while the cluster test kills its leader
(tests/cluster/test_client_failover.py; the franz-go twin is
tests/go/failover_test.go).

usage: failover_client.py confluent|confluent-idempotent|kafka-python BOOTSTRAP TOPIC PREFIX STOP_FILE OUT_JSON

The producer (acks=all, retries on, one request in flight, no idempotence;
confluent-idempotent: enable.idempotence=true with librdkafka's five requests
in flight) sends PREFIX:0, PREFIX:1, ... to
partition 0 until STOP_FILE exists, then flushes. A consumer assigned to
partition 0 from offset 0 (no group) reads throughout, and after the flush
until it has seen every acknowledged offset (or 60 s passed). Progress goes to
stdout as "acked N consumed M" lines. Every error the client library hands to
the application is recorded by name, in OUT_JSON:
  {"sent": n, "acked": {value: offset}, "produce_errors": [...],
   "consume_errors": [...], "consumed": {offset: value}}
Exit 0 once OUT_JSON is written (the test judges it), 2 on usage errors.
"""

import json
import os
import sys
import threading
import time

READ_AFTER_FLUSH_S = 60.0
FLUSH_TIMEOUT_S = 90.0


class Outcome:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.acked = {}
        self.produce_errors = []
        self.consume_errors = []
        self.consumed = {}

    def ack(self, value, offset):
        with self.lock:
            self.acked[value] = offset

    def produce_error(self, name):
        with self.lock:
            self.produce_errors.append(name)

    def consume_error(self, name):
        with self.lock:
            self.consume_errors.append(name)

    def consume(self, offset, value):
        with self.lock:
            self.consumed[offset] = value

    def missing(self):
        with self.lock:
            return [o for o in self.acked.values() if o not in self.consumed]

    def progress(self):
        with self.lock:
            return f"acked {len(self.acked)} consumed {len(self.consumed)}"

    def dump(self, path):
        with self.lock:
            doc = {"sent": self.sent, "acked": self.acked, "produce_errors": self.produce_errors,
                   "consume_errors": self.consume_errors,
                   "consumed": {str(o): v for o, v in self.consumed.items()}}
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.replace(path + ".tmp", path)


class Confluent:
    """confluent-kafka (librdkafka). Delivery reports carry the producer's
    errors; Consumer.consume() hands out error events as messages."""

    def __init__(self, bootstrap, topic, outcome, idempotent=False):
        from confluent_kafka import Consumer, Producer, TopicPartition
        self.topic, self.outcome = topic, outcome
        common = {"bootstrap.servers": bootstrap, "topic.metadata.refresh.interval.ms": 1000,
                  "reconnect.backoff.max.ms": 500}
        ordering = ({"enable.idempotence": True} if idempotent else
                    {"enable.idempotence": False, "max.in.flight.requests.per.connection": 1})
        self.producer = Producer(dict(common, **ordering, **{
            "acks": "all", "retries": 1000000, "retry.backoff.ms": 100,
            "message.timeout.ms": 120000, "request.timeout.ms": 5000, "linger.ms": 5}))
        self.consumer = Consumer(dict(common, **{
            "group.id": "failover-unused", "enable.auto.commit": False,
            "fetch.wait.max.ms": 100}))
        self.consumer.assign([TopicPartition(topic, 0, 0)])

    def _delivered(self, err, msg):
        if err is None:
            self.outcome.ack(msg.value().decode(), msg.offset())
        else:
            self.outcome.produce_error(err.name())

    def send(self, value):
        while True:
            try:
                self.producer.produce(self.topic, value.encode(), partition=0,
                                      on_delivery=self._delivered)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def flush(self):
        self.producer.flush(FLUSH_TIMEOUT_S)

    def poll(self):
        for m in self.consumer.consume(500, timeout=0.2):
            if m.error() is not None:
                self.outcome.consume_error(m.error().name())
            else:
                self.outcome.consume(m.offset(), m.value().decode())

    def close(self):
        self.consumer.close()


class KafkaPython:
    """kafka-python. A failed send surfaces as the future's exception (seen
    in the errback); poll() raises what the consumer cannot handle itself."""

    def __init__(self, bootstrap, topic, outcome):
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition
        self.topic, self.outcome = topic, outcome
        servers = bootstrap.split(",")
        # kafka-python 2.0.2 predates delivery.timeout.ms (KIP-91): a batch
        # that cannot be sent (no leader yet) expires with KafkaTimeoutError
        # after request_timeout_ms. Its default (30 s) outlasts a failover;
        # 5 s did not always on this busy machine.
        self.producer = KafkaProducer(
            bootstrap_servers=servers, acks="all", retries=1000000, retry_backoff_ms=100,
            request_timeout_ms=30000, max_in_flight_requests_per_connection=1, linger_ms=5,
            metadata_max_age_ms=1000, reconnect_backoff_max_ms=500)
        self.consumer = KafkaConsumer(
            bootstrap_servers=servers, enable_auto_commit=False, metadata_max_age_ms=1000,
            reconnect_backoff_max_ms=500, fetch_max_wait_ms=100, request_timeout_ms=10000)
        tp = TopicPartition(topic, 0)
        self.consumer.assign([tp])
        self.consumer.seek(tp, 0)

    def send(self, value):
        fut = self.producer.send(self.topic, value.encode(), partition=0)
        fut.add_callback(lambda md, v=value: self.outcome.ack(v, md.offset))
        fut.add_errback(lambda e: self.outcome.produce_error(type(e).__name__))

    def flush(self):
        self.producer.flush(FLUSH_TIMEOUT_S)

    def poll(self):
        try:
            batches = self.consumer.poll(timeout_ms=200, max_records=500)
        except Exception as e:  # noqa: BLE001: whatever reaches the application is the result
            self.outcome.consume_error(type(e).__name__)
            time.sleep(0.2)
            return
        for records in batches.values():
            for r in records:
                self.outcome.consume(r.offset, r.value.decode())

    def close(self):
        self.consumer.close()
        self.producer.close(5)


def main(argv):
    if len(argv) != 7 or argv[1] not in ("confluent", "confluent-idempotent", "kafka-python"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    kind, bootstrap, topic, prefix, stop_file, out = argv[1:]
    outcome = Outcome()
    if kind == "kafka-python":
        client = KafkaPython(bootstrap, topic, outcome)
    else:
        client = Confluent(bootstrap, topic, outcome, idempotent=kind == "confluent-idempotent")
    producing = threading.Event()
    producing.set()

    # The consumer polls on this thread; the producer runs on its own, paced
    # to a few hundred records/s so four clients fit on two cores.
    def produce():
        i = 0
        while not os.path.exists(stop_file):
            client.send(f"{prefix}:{i}")
            i += 1
            outcome.sent = i
            if i % 20 == 0:
                time.sleep(0.05)
        client.flush()
        producing.clear()

    t = threading.Thread(target=produce)
    t.start()
    last_report = 0.0
    deadline = None
    while True:
        client.poll()
        now = time.monotonic()
        if now - last_report > 0.5:
            print(outcome.progress(), flush=True)
            last_report = now
        if not producing.is_set():
            deadline = deadline or now + READ_AFTER_FLUSH_S
            if not outcome.missing() or now > deadline:
                break
    t.join()
    print(outcome.progress(), flush=True)
    outcome.dump(out)
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
