"""Requests parked on a leader are answered when what they wait for changes
for good, as Kafka answers them, not at their timeout:

- an acks=all Produce waiting for a paused (unfenced, in-sync) follower is
  answered UNKNOWN_TOPIC_OR_PARTITION when its topic is deleted (Kafka's
  DelayedProduce asks ReplicaManager.getPartitionOrError), not
  NOT_LEADER_OR_FOLLOWER, which would send the client looking for a leader
  of a topic that no longer exists;
- the followers' fetches, parked on the leader for far longer than the test
  (replica.fetch.wait.max.ms), are answered when the leader's retention
  deletes segments and so moves its log start: the followers follow it and
  report theirs in their next fetch, so a DeleteRecords up to that start
  finds the low watermark there, instead of waiting for their next fetch.

The Produce is sent raw (Produce v3, test_protocol_raw's helpers), for its
exact error code and its own long timeout; DeleteRecords goes through
franz-go's admin client, as in test_delete_records_replicas.py."""

import os
import signal
import socket
import struct

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from clustertest import admin_for, create, wait_until
from test_delete_records_replicas import (DEADLINE_MS, LONG_TIMEOUT_MS, OVERRIDES, SESSION_MS,
                                          TOPIC, delete_records, follower_to_pause, low_offset,
                                          replicated_topic)
from test_protocol_raw import (connect, frame_of, parse_produce_response, record_batch,
                               recv_response, string)
from test_replication import leader_of, wait_isr

UNKNOWN_TOPIC_OR_PARTITION = 3


def produce_all_body(topic, batch, timeout_ms):
    """Produce v3 with acks=all and `timeout_ms`, one partition (0)."""
    return (struct.pack(">hhi", -1, -1, timeout_ms) + struct.pack(">i", 1) + string(topic) +
            struct.pack(">i", 1) + struct.pack(">ii", 0, len(batch)) + batch)


def test_topic_deleted_answers_parked_acks_all_produce(clusters):
    cluster = clusters(session_ms=SESSION_MS, overrides=OVERRIDES)
    leader = replicated_topic(cluster)
    follower = follower_to_pause(cluster, leader)
    os.kill(follower.proc.pid, signal.SIGSTOP)
    try:
        with connect(leader) as s:
            s.sendall(frame_of(0, 3, 41, produce_all_body(TOPIC, record_batch([b"parked"]),
                                                           LONG_TIMEOUT_MS)))
            # The paused follower is in the ISR: the write is not acknowledged.
            s.settimeout(2.0)
            try:
                early = s.recv(1)
            except socket.timeout:
                early = None
            assert early is None, "answered while a follower in the ISR was paused"
            admin = AdminClient({"bootstrap.servers": leader.bootstrap, "socket.timeout.ms": 5000})
            admin.delete_topics([TOPIC], operation_timeout=10)[TOPIC].result(timeout=30)
            s.settimeout(DEADLINE_MS / 1000)
            err, base = parse_produce_response(recv_response(s))
    finally:
        os.kill(follower.proc.pid, signal.SIGCONT)
    assert (err, base) == (UNKNOWN_TOPIC_OR_PARTITION, -1)
    # Running again, the follower deletes its replica too: the test ends
    # once it has (its shutdown is not what this test is about).
    wait_until(lambda: f"topic removed from the view topic={TOPIC}" in follower.log_text(), 30,
               "the resumed follower deleting its replica")


RETAINED = "retention-wakes-followers"


def test_leader_retention_wakes_parked_follower_fetches(clusters, franz_test_binary):
    """Small segments, no retention while the records are written and every
    follower catches up (its fetches then park for up to 60 s); then
    retention.bytes shrinks and the leader's retention deletes its oldest
    segments. The followers' log starts reach the leader's before the
    call's deadline (20 s) only if their parked fetches were answered then."""
    cluster = clusters(overrides={"replica.fetch.wait.max.ms": str(LONG_TIMEOUT_MS),
                                  "replica.lag.time.max.ms": str(2 * LONG_TIMEOUT_MS),
                                  "log.retention.check.interval.ms": "200"})
    configs = {"min.insync.replicas": "1", "segment.bytes": "1000"}
    assert create(admin_for(cluster), RETAINED, 1, 3, configs) is None
    wait_isr(cluster, RETAINED, [1, 2, 3])
    leader = leader_of(cluster, RETAINED)
    # Idempotent: a retried batch is not written twice.
    p = Producer({"bootstrap.servers": leader.bootstrap, "acks": "all", "linger.ms": 0,
                  "enable.idempotence": True})
    for i in range(30):
        p.produce(RETAINED, b"x" * 200, partition=0)
        assert p.flush(30) == 0
    wait_until(lambda: low_offset(leader, RETAINED) == (0, 30), 30, "high watermark 30")

    resource = ConfigResource(ConfigResource.Type.TOPIC, RETAINED,
                              dict(configs, **{"retention.bytes": "1000"}))
    admin = admin_for(cluster)
    admin.alter_configs([resource], request_timeout=30)[resource].result(timeout=60)
    wait_until(lambda: low_offset(leader, RETAINED)[0] > 0, 30, "retention on the leader")
    start = low_offset(leader, RETAINED)[0]
    delete_records(franz_test_binary, leader, start, LONG_TIMEOUT_MS, "low_watermark",
                   DEADLINE_MS, topic=RETAINED)
