"""Preferred leader election (issue 13): after a failover and the failed
broker's return, leadership goes back to each partition's preferred replica
(the first in its replica list), run by the active controller because
auto.leader.rebalance.enable is on (checked every
leader.imbalance.check.interval.seconds, here 1 s). Nothing acknowledged is
lost: every record acknowledged with acks=all (min.insync.replicas=2) before,
during and after the moves is read back, in order, at its acknowledged
offset.
"""

import threading

from confluent_kafka import Consumer, Producer, TopicPartition

from clustertest import admin_for, create, partitions_of, wait_until
from sluicetest import unique_topic

PARTITIONS = 3


def preferred_leaders(cluster, topic):
    s = cluster.wait_status(lambda s: partitions_of(s, topic) and
                            all(p["leader"] > 0 for p in partitions_of(s, topic).values()),
                            40, f"leaders for {topic}")
    return {i: p["replicas"][0] for i, p in partitions_of(s, topic).items()}, s


def all_preferred(cluster, topic, want):
    s = cluster.status()
    if s is None or not partitions_of(s, topic):
        return None
    parts = partitions_of(s, topic)
    return s if all(parts[i]["leader"] == want[i] and len(parts[i]["isr"]) == 3
                    for i in want) else None


class AckedProducer:
    """acks=all in a thread until stopped; remembers (partition, offset, value) acked."""

    def __init__(self, bootstrap, topic):
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 2,
                           "message.timeout.ms": 60000, "retry.backoff.ms": 100})
        self.topic, self.acked, self.sent = topic, [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def on_delivery(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))

    def run(self):
        while not self.stop.is_set():
            try:
                self.p.produce(self.topic, value=b"v%08d" % self.sent, partition=self.sent % PARTITIONS,
                               on_delivery=self.on_delivery)
                self.sent += 1
            except BufferError:
                pass
            self.p.poll(0.005)
        self.p.flush(60)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(90)


def read_back(bootstrap, topic, acked):
    want = {}
    for part, off, value in acked:
        want.setdefault(part, {})[off] = value
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "preferred-check",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = {}
    ends = {p: max(offs) for p, offs in want.items()}
    def done():
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.setdefault(m.partition(), {})[m.offset()] = m.value()
        return all(max(got.get(p, {-1: None})) >= e for p, e in ends.items())
    try:
        wait_until(done, 120, "every acknowledged record read back", interval=0)
    finally:
        c.close()
    for p, offs in want.items():
        for off, value in offs.items():
            assert got[p].get(off) == value, f"partition {p} offset {off}: acked {value!r}, " \
                                            f"read {got[p].get(off)!r}"


def test_leadership_returns_to_preferred_replicas(clusters, request):
    c = clusters(3, overrides={"leader.imbalance.check.interval.seconds": "1",
                               "leader.imbalance.per.broker.percentage": "0"})
    topic = unique_topic(request)
    assert create(admin_for(c), topic, PARTITIONS, 3, {"min.insync.replicas": "2"}) is None
    want, _ = preferred_leaders(c, topic)
    wait_until(lambda: all_preferred(c, topic, want), 60, "preferred leaders at start")

    with AckedProducer(c.bootstrap, topic) as prod:
        wait_until(lambda: len(prod.acked) >= 200, 60, "200 acknowledged records")
        victim = c.node(want[0])
        victim.kill()
        # Failover: partition 0 is led by another broker while writes go on.
        wait_until(lambda: (lambda s: s and partitions_of(s, topic)[0]["leader"] not in
                            (-1, victim.node_id))(c.status()), 60, "a new leader for partition 0")
        n = len(prod.acked)
        wait_until(lambda: len(prod.acked) >= n + 200, 60, "writes acknowledged after failover")
        victim.start()
        # The preferred replica catches up, rejoins the ISR, and the active
        # controller hands leadership back to it.
        s = wait_until(lambda: all_preferred(c, topic, want), 90,
                       "leadership back on the preferred replicas")
        assert partitions_of(s, topic)[0]["leader"] == victim.node_id
        n = len(prod.acked)
        wait_until(lambda: len(prod.acked) >= n + 200, 60, "writes acknowledged after the move")
    assert len(prod.acked) >= 600
    read_back(c.bootstrap, topic, prod.acked)
