"""A restarted follower rejoins the ISR without a refused proposal (Kafka's
isReplicaIsrEligible, KIP-841; broker/replica/replica_liveness.h).

A restarted broker fetches and catches up before the controller unfences
it. A leader that proposed it for the ISR as soon as it caught up was
refused (INELIGIBLE_REPLICA, error 107) and then proposed nothing for
REPLICA_ISR_ALTER_RETRY_MS (500 ms): the partition stayed that much longer
below its replication factor after every restart. The leader now proposes a
follower only while its own metadata shows that follower's broker
registered and unfenced, and proposes it as soon as it does.

RF=3, min.insync.replicas=2, acks=all: a follower is killed (SIGKILL), the
controllers fence it and take it out of the ISR, writes go on with the other
two, the follower is restarted on its directory and catches up. The ISR is
full again and the leader's log since the restart has no refusal for the
partition; the writes are all acknowledged and read back.
"""

import re

from clustertest import brokers_by_id, partitions_of, wait_until
from test_replication import (AckedProducer, create_replicated, follower_not_controller, leader_of,
                              read_all, wait_isr)

INELIGIBLE_REPLICA = 107


def refusals(text, topic):
    """The leader's "ISR change refused" lines for partition 0 of topic with
    INELIGIBLE_REPLICA."""
    pattern = re.compile(rf"ISR change refused topic={re.escape(topic)} partition=0 "
                         rf"error={INELIGIBLE_REPLICA}\b")
    return [line for line in text.splitlines() if pattern.search(line)]


def test_restarted_follower_rejoins_without_refusal(clusters):
    cluster = clusters()
    topic = "rejoin"
    create_replicated(cluster, topic)
    leader = leader_of(cluster, topic)
    victim = follower_not_controller(cluster, leader)

    p = AckedProducer(cluster, topic)
    for i in range(200):
        p.send(f"a:{i}")
    p.flush()
    victim.kill()
    # Fenced (its session lapsed) and out of the ISR: what it misses now it
    # must catch up after the restart, before the controller unfences it.
    cluster.wait_status(
        lambda s: brokers_by_id(s)[victim.node_id]["status"] != "alive" and
        victim.node_id not in partitions_of(s, topic)[0]["isr"],
        30, f"broker {victim.node_id} fenced and out of the ISR")
    for i in range(500):
        p.send(f"b:{i}")
    p.flush()
    assert not p.failed, p.failed[:5]

    since = len(leader.log_text())
    victim.start()
    wait_isr(cluster, topic, [1, 2, 3])
    # The leader proposed it (its own log says so) and the change it made
    # is the one that filled the ISR.
    wait_until(lambda: re.search(rf"ISR changed topic={topic} partition=0 isr_size=3\b",
                                 leader.log_text()[since:]),
               20, "the leader's ISR change to three members")
    after = leader.log_text()[since:]
    assert "follower caught up: proposing it for the ISR" in after
    assert not refusals(after, topic), refusals(after, topic)

    for i in range(100):
        p.send(f"c:{i}")
    p.flush()
    assert not p.failed, p.failed[:5]
    got = read_all(cluster, topic, 0, len(p.acked))
    for value, (_, offset) in p.acked.items():
        assert got.get(offset) == value, (value, offset)
