"""Incremental fetch sessions between followers and leaders (KIP-227, issue
14; broker/replica/replica_session.h), with real processes.

- Idle followers name no partitions in their fetches (the leader's
  sluice_replica_fetch_partitions_named_total stands still while
  ..._served_total grows by the sessions' cached partitions), and yet they
  stay in the ISR of every partition for several replica.lag.time.max.ms:
  the leader counts the partitions a session holds as fetched on every
  fetch, as it did when each fetch named them all.
- Busy followers: under a steady acks=all produce to one partition of
  300, the leaders look at the partitions that changed (and sweep each
  session's whole set every replica.lag.time.max.ms / 4), not at every
  partition of a session on every fetch (..._examined_total against
  ..._served_total), and every acknowledged record is on every replica.
- acks=all writes across many partitions, with leaders killed (-9) and
  restarted between rounds, are all read back at their acknowledged
  offsets, and every replica's log below the high watermark is the same
  on every node: the sessions that the restarted leaders lost start over,
  and the followers replicate through the new ones (whose fetches again
  name nothing once idle).
"""

import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from clustertest import partitions_of, wait_until
from metricstest import scrape, summed, value
from sluicetest import free_port
from test_replication import assert_replicas_identical, read_all, segment_batches

LAG_MS = 3000
PARTITIONS = 300


def metered_cluster(clusters, **overrides):
    """Three nodes, each with its own metrics listener (node.http_port)."""
    c = clusters(start=False, overrides={"replica.lag.time.max.ms": str(LAG_MS), **overrides})
    for b in c:
        b.http_port = free_port()
        b.overrides["metrics.listener"] = f"127.0.0.1:{b.http_port}"
    c.start()
    return c


def create_rf3(c, topic, partitions):
    admin = AdminClient({"bootstrap.servers": c.bootstrap, "socket.timeout.ms": 120000})
    admin.create_topics([NewTopic(topic, partitions, 3, config={"min.insync.replicas": "2"})],
                        operation_timeout=90, request_timeout=120)[topic].result(timeout=150)


def all_in_sync(c, topic, partitions):
    s = c.status()
    parts = partitions_of(s, topic) if s else None
    return parts is not None and len(parts) == partitions and \
        all(sorted(p["isr"]) == [1, 2, 3] and p["leader"] > 0 for p in parts.values())


def fetch_counters(c):
    """{node_id: (requests, named, served, answered, session_errors, isr_shrinks)}."""
    out = {}
    for b in c:
        m = scrape(b.http_port)
        out[b.node_id] = tuple(value(m, name) for name in (
            "sluice_replica_fetch_requests_total", "sluice_replica_fetch_partitions_named_total",
            "sluice_replica_fetch_partitions_served_total",
            "sluice_replica_fetch_partitions_answered_total",
            "sluice_replica_fetch_session_errors_total", "sluice_isr_shrinks_total"))
    return out


def assert_idle_fetches_name_nothing(c, topic, partitions, seconds):
    """Over `seconds` of idleness: followers keep fetching, their fetches
    name (almost) nothing and are answered with (almost) nothing while each
    serves every partition of its session, and no ISR shrinks."""
    wait_until(lambda: all_in_sync(c, topic, partitions), 90, "every replica in the ISR")
    time.sleep(1)  # the last offsets and high watermarks told once
    before = fetch_counters(c)
    time.sleep(seconds)
    after = fetch_counters(c)
    assert all_in_sync(c, topic, partitions), "an idle follower left the ISR"
    total = [0] * 4
    for node in before:
        delta = [a - b for a, b in zip(after[node], before[node])]
        total = [t + d for t, d in zip(total, delta[:4])]
        assert delta[4] == 0, f"node {node}: {delta[4]} session errors while idle"
        assert delta[5] == 0, f"node {node}: the ISR shrank {delta[5]} times while idle"
    requests, named, served, answered = total
    # Two followers fetch each partition about twice a second
    # (replica.fetch.wait.max.ms 500): at least `partitions` a second served.
    assert requests > 0, "no follower fetched"
    assert served >= partitions * seconds, f"served {served} partitions in {requests} fetches"
    assert named * 100 <= served, f"idle fetches named {named} partitions, served {served}"
    assert answered * 100 <= served, f"idle fetches answered {answered}, served {served}"


def test_idle_followers_fetch_nothing_and_stay_in_sync(clusters, request):
    c = metered_cluster(clusters)
    topic = "sessions-idle"
    create_rf3(c, topic, PARTITIONS)
    # Some data first, so the sessions carry real offsets.
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "linger.ms": 5})
    for part in range(0, PARTITIONS, 7):
        p.produce(topic, b"x", partition=part)
    assert p.flush(60) == 0
    assert_idle_fetches_name_nothing(c, topic, PARTITIONS, 4 * LAG_MS / 1000)


def examined_counters(c):
    """(requests, served, examined), summed over the nodes."""
    return summed(c, "sluice_replica_fetch_requests_total",
                  "sluice_replica_fetch_partitions_served_total",
                  "sluice_replica_fetch_partitions_examined_total")


def test_busy_followers_fetches_look_at_what_changed(clusters):
    c = metered_cluster(clusters)
    topic = "sessions-busy"
    create_rf3(c, topic, PARTITIONS)
    wait_until(lambda: all_in_sync(c, topic, PARTITIONS), 90, "every replica in the ISR")
    time.sleep(1)
    before = examined_counters(c)
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all", "linger.ms": 0})
    acked = {}

    def on_delivery(err, msg):
        if err is None:
            acked[msg.value().decode()] = msg.offset()
    # One record at a time, each acknowledged once both followers fetched
    # it: thousands of follower fetches, all to one partition's leader.
    sent = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        p.produce(topic, f"busy-{sent}".encode(), partition=0, on_delivery=on_delivery)
        assert p.flush(30) == 0, "a record was not acknowledged"
        sent += 1
    after = examined_counters(c)
    requests, served, examined = (a - b for a, b in zip(after, before))
    assert len(acked) == sent
    assert requests >= sent, f"{requests} follower fetches for {sent} acks=all records"
    # Sessions hold ~100 partitions each: a fetch that looked at all of
    # them would examine as many as it serves.
    assert examined * 4 <= served, \
        f"{requests} fetches examined {examined} partitions, served {served}"
    assert all_in_sync(c, topic, PARTITIONS), "a busy follower left the ISR"
    hw = high_watermarks(c, topic, 1)[0]
    got = read_all(c, topic, 0, hw)
    for v, off in acked.items():
        assert got.get(off) == v, f"{v} acknowledged at offset {off}, read {got.get(off)}"
    wait_until(lambda: all(any(x[1] == hw - 1 for x in segment_batches(b, topic, 0)) for b in c),
               60, "every replica at the high watermark")
    assert_replicas_identical(c, topic, 0, hw)


class AckedProducer:
    """acks=all producer recording where each acknowledged value landed."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.acked = {}
        self.lock = threading.Lock()
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
            "retries": 1000000, "retry.backoff.ms": 100, "message.timeout.ms": 120000,
            "request.timeout.ms": 5000, "socket.timeout.ms": 10000,
            "enable.idempotence": False, "max.in.flight.requests.per.connection": 1,
            "topic.metadata.refresh.interval.ms": 500, "reconnect.backoff.max.ms": 500})

    def _cb(self, err, msg):
        if err is None:
            with self.lock:
                self.acked[msg.value().decode()] = (msg.partition(), msg.offset())

    def send(self, value, partition):
        while True:
            try:
                self.producer.produce(self.topic, value.encode(), partition=partition,
                                      on_delivery=self._cb)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def flush(self):
        assert self.producer.flush(180) == 0, "records still unacknowledged"


def high_watermarks(c, topic, partitions):
    consumer = Consumer({"bootstrap.servers": c.bootstrap, "group.id": "hw"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)}
    finally:
        consumer.close()


def test_acks_all_survives_leader_restarts_with_sessions(clusters):
    c = metered_cluster(clusters)
    topic = "sessions-kill"
    partitions = 30
    create_rf3(c, topic, partitions)
    wait_until(lambda: all_in_sync(c, topic, partitions), 90, "every replica in the ISR")
    p = AckedProducer(c.bootstrap, topic)
    sent = 0
    for rnd, victim in enumerate([1, 2, 3, 1]):
        for i in range(600):
            p.send(f"{rnd}:{i}", i % partitions)
            sent += 1
        p.flush()
        node = c.node(victim)
        node.kill()
        for i in range(600):
            p.send(f"{rnd}k:{i}", i % partitions)
            sent += 1
        p.flush()
        node.start()
        c.wait_healthy()
        wait_until(lambda: all_in_sync(c, topic, partitions), 120, "every replica back in sync")
    assert len(p.acked) == sent, (len(p.acked), sent)
    # Every acknowledged value is at its acknowledged offset.
    hws = high_watermarks(c, topic, partitions)
    by_part = {}
    for v, (part, off) in p.acked.items():
        by_part.setdefault(part, {})[off] = v
    for part, want in by_part.items():
        got = read_all(c, topic, part, hws[part])
        for off, v in want.items():
            assert got.get(off) == v, f"{v} acknowledged at {part}/{off}, read {got.get(off)}"
    # Every replica holds every acknowledged record: the same batches
    # below the high watermark on every node.
    for part in range(partitions):
        wait_until(lambda: all(any(x[1] == hws[part] - 1 for x in segment_batches(b, topic, part))
                               for b in c), 60, f"every replica of {part} at the high watermark")
        assert_replicas_identical(c, topic, part, hws[part])
    # The restarted leaders' new sessions are incremental again once idle.
    assert_idle_fetches_name_nothing(c, topic, partitions, 2 * LAG_MS / 1000)
