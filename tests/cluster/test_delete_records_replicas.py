"""DeleteRecords waits for the followers, as Kafka's does (ReplicaManager.
deleteRecords, DelayedDeleteRecords, Partition.lowWatermarkIfLeader): on an
RF=3 partition the leader answers with the low watermark, the lowest log
start offset over itself and every replica on a live broker, once it has
reached the offset asked for; followers move their log start up to the
leader's from their fetch answers and report it in their next fetch. The
calls go through franz-go's admin client (kadm.DeleteRecords, the Go test
TestDeleteRecordsLowWatermark): neither Debian's confluent-kafka (1.7) nor
its kafka-python (2.0.2) has a DeleteRecords API.

With a follower paused (SIGSTOP, its broker still registered and unfenced:
the session timeout is long), its log start cannot follow: the request
times out (REQUEST_TIMED_OUT), and once it runs again the same request is
answered with the offset as low watermark."""

import os
import signal

from confluent_kafka import Consumer, Producer, TopicPartition

from clustertest import admin_for, create, wait_until
from conftest import run_go_test
from test_replication import leader_of, wait_isr

TOPIC = "delete-records-replicas"
# Long enough that the paused follower stays registered and in the ISR
# while it is paused: only its log start holds the low watermark back.
SESSION_MS = 30000
OVERRIDES = {"replica.lag.time.max.ms": "30000"}


def delete_records(binary, node, offset, timeout_ms, want):
    """kadm.DeleteRecords of partition 0 up to `offset`, bootstrapped from
    `node` (the leader: the paused follower is never asked for metadata);
    `want` is what the Go test asserts ("low_watermark" or "timed_out")."""
    env = dict(os.environ, SLUICE_BOOTSTRAP=node.bootstrap, SLUICE_DR_TOPIC=TOPIC,
               SLUICE_DR_OFFSET=str(offset), SLUICE_DR_TIMEOUT_MS=str(timeout_ms),
               SLUICE_DR_WANT=want)
    run_go_test(binary, "TestDeleteRecordsLowWatermark", env)


def low_offset(node):
    c = Consumer({"bootstrap.servers": node.bootstrap, "group.id": "unused"})
    try:
        return c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
    finally:
        c.close()


def test_delete_records_waits_for_every_live_replica(clusters, franz_test_binary):
    cluster = clusters(session_ms=SESSION_MS, overrides=OVERRIDES)
    assert create(admin_for(cluster), TOPIC, 1, 3, {"min.insync.replicas": "1"}) is None
    wait_isr(cluster, TOPIC, [1, 2, 3])
    leader = leader_of(cluster, TOPIC)
    p = Producer({"bootstrap.servers": leader.bootstrap, "acks": "all"})
    for i in range(30):
        p.produce(TOPIC, f"record-{i}".encode(), partition=0)
    assert p.flush(30) == 0
    wait_until(lambda: low_offset(leader) == (0, 30), 30, "high watermark 30")

    # Every follower fetches: the answer's low watermark is the offset.
    delete_records(franz_test_binary, leader, 10, 20000, "low_watermark")
    assert low_offset(leader)[0] == 10

    # A paused follower (not raft's leader: the metadata must go on) holds
    # the low watermark at its log start, 10: the request times out, though
    # the leader's own log start moved at once (Kafka's too).
    followers = [n for n in cluster if n is not leader]
    follower = followers[0] if followers[0] is not cluster.leader() else followers[1]
    os.kill(follower.proc.pid, signal.SIGSTOP)
    try:
        delete_records(franz_test_binary, leader, 20, 1500, "timed_out")
        assert low_offset(leader)[0] == 20
    finally:
        os.kill(follower.proc.pid, signal.SIGCONT)
    # Running again, it fetches, follows the leader's log start and tells it.
    delete_records(franz_test_binary, leader, 20, 20000, "low_watermark")
