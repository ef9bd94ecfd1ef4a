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
answered with the offset as low watermark.

A parked request is answered as soon as what it waits for happens, well
before a long timeout_ms (60 s; each call's own deadline is 20 s): the
followers' fetches parked on the leader are answered when its log start
moves (not when records come or their wait, here longer than the call,
ends); a paused follower stops holding the low watermark once its broker
is fenced (out of the ISR before, so its fencing changes no partition);
and a deleted topic answers UNKNOWN_TOPIC_OR_PARTITION at once."""

import os
import signal
import threading

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from clustertest import admin_for, create, partitions_of, wait_until
from conftest import run_go_test
from test_replication import leader_of, wait_isr

TOPIC = "delete-records-replicas"
# Long enough that the paused follower stays registered and in the ISR
# while it is paused: only its log start holds the low watermark back.
SESSION_MS = 30000
OVERRIDES = {"replica.lag.time.max.ms": "30000"}


# A timeout_ms no answer below waits for, and the deadline of those calls.
LONG_TIMEOUT_MS = 60000
DEADLINE_MS = 20000


def delete_records(binary, node, offset, timeout_ms, want, deadline_ms=None, topic=TOPIC):
    """kadm.DeleteRecords of partition 0 of `topic` up to `offset`,
    bootstrapped from `node` (the leader: the paused follower is never asked
    for metadata); `want` is what the Go test asserts ("low_watermark",
    "timed_out" or "unknown_topic"); `deadline_ms` bounds the call (default
    30 s)."""
    env = dict(os.environ, SLUICE_BOOTSTRAP=node.bootstrap, SLUICE_DR_TOPIC=topic,
               SLUICE_DR_OFFSET=str(offset), SLUICE_DR_TIMEOUT_MS=str(timeout_ms),
               SLUICE_DR_WANT=want)
    if deadline_ms is not None:
        env["SLUICE_DR_DEADLINE_MS"] = str(deadline_ms)
    run_go_test(binary, "TestDeleteRecordsLowWatermark", env)


def low_offset(node, topic=TOPIC):
    c = Consumer({"bootstrap.servers": node.bootstrap, "group.id": "unused"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        c.close()


def replicated_topic(cluster):
    """TOPIC (RF=3) with 30 records, every replica in the ISR; its leader."""
    assert create(admin_for(cluster), TOPIC, 1, 3, {"min.insync.replicas": "1"}) is None
    wait_isr(cluster, TOPIC, [1, 2, 3])
    leader = leader_of(cluster, TOPIC)
    p = Producer({"bootstrap.servers": leader.bootstrap, "acks": "all"})
    for i in range(30):
        p.produce(TOPIC, f"record-{i}".encode(), partition=0)
    assert p.flush(30) == 0
    wait_until(lambda: low_offset(leader) == (0, 30), 30, "high watermark 30")
    return leader


def follower_to_pause(cluster, leader):
    """A follower of TOPIC that is not raft's leader (the metadata must go
    on while it is paused)."""
    followers = [n for n in cluster if n is not leader]
    return followers[0] if followers[0] is not cluster.leader() else followers[1]


def test_delete_records_waits_for_every_live_replica(clusters, franz_test_binary):
    cluster = clusters(session_ms=SESSION_MS, overrides=OVERRIDES)
    leader = replicated_topic(cluster)

    # Every follower fetches: the answer's low watermark is the offset.
    delete_records(franz_test_binary, leader, 10, 20000, "low_watermark")
    assert low_offset(leader)[0] == 10

    # A paused follower (not raft's leader: the metadata must go on) holds
    # the low watermark at its log start, 10: the request times out, though
    # the leader's own log start moved at once (Kafka's too).
    follower = follower_to_pause(cluster, leader)
    os.kill(follower.proc.pid, signal.SIGSTOP)
    try:
        delete_records(franz_test_binary, leader, 20, 1500, "timed_out")
        assert low_offset(leader)[0] == 20
    finally:
        os.kill(follower.proc.pid, signal.SIGCONT)
    # Running again, it fetches, follows the leader's log start and tells it.
    delete_records(franz_test_binary, leader, 20, 20000, "low_watermark")


def test_leader_log_start_wakes_parked_follower_fetches(clusters, franz_test_binary):
    """The followers' fetches wait on the leader up to 60 s for records
    (the ISR allows twice that): with nothing new to read, only the move of
    the leader's log start answers them, and the followers' next fetches
    report their log starts before the call's deadline."""
    cluster = clusters(overrides={"replica.fetch.wait.max.ms": str(LONG_TIMEOUT_MS),
                                  "replica.lag.time.max.ms": str(2 * LONG_TIMEOUT_MS)})
    leader = replicated_topic(cluster)
    delete_records(franz_test_binary, leader, 10, LONG_TIMEOUT_MS, "low_watermark", DEADLINE_MS)
    delete_records(franz_test_binary, leader, 30, LONG_TIMEOUT_MS, "low_watermark", DEADLINE_MS)
    assert low_offset(leader) == (30, 30)


def broker_fenced(status, node_id):
    return any(b["id"] == node_id and b.get("fenced") for b in status["brokers"])


def test_fenced_follower_stops_holding_delete_records(clusters, franz_test_binary):
    """A paused follower leaves the ISR (lag 2 s) while its broker is still
    unfenced (session 12 s), then is fenced: the fence changes no partition,
    yet the parked request is answered then, the fenced replica no longer
    counting for the low watermark (Kafka's lowWatermarkIfLeader counts
    replicas on live brokers only)."""
    cluster = clusters(session_ms=12000, overrides={"replica.lag.time.max.ms": "2000"})
    leader = replicated_topic(cluster)
    follower = follower_to_pause(cluster, leader)
    others = sorted(n.node_id for n in cluster if n is not follower)
    os.kill(follower.proc.pid, signal.SIGSTOP)
    try:
        cluster.wait_status(
            lambda s: sorted(partitions_of(s, TOPIC)[0]["isr"]) == others and
            not broker_fenced(s, follower.node_id), 30,
            "the paused follower out of the ISR, its broker not fenced yet")
        delete_records(franz_test_binary, leader, 20, LONG_TIMEOUT_MS, "low_watermark",
                       DEADLINE_MS)
        assert broker_fenced(cluster.status(), follower.node_id)
        assert low_offset(leader)[0] == 20
    finally:
        os.kill(follower.proc.pid, signal.SIGCONT)


def test_topic_deleted_answers_parked_delete_records(clusters, franz_test_binary):
    """A request parked on a paused (unfenced) follower's log start is
    answered UNKNOWN_TOPIC_OR_PARTITION when the topic is deleted, not at
    its timeout_ms."""
    cluster = clusters(session_ms=SESSION_MS, overrides=OVERRIDES)
    leader = replicated_topic(cluster)
    follower = follower_to_pause(cluster, leader)
    os.kill(follower.proc.pid, signal.SIGSTOP)
    try:
        failure = []

        def call():
            try:
                delete_records(franz_test_binary, leader, 20, LONG_TIMEOUT_MS, "unknown_topic",
                               DEADLINE_MS)
            except BaseException as e:  # pytest.fail's too: reported by the test's thread
                failure.append(e)

        t = threading.Thread(target=call)
        t.start()
        # The leader moves its own log start at once, then parks the request.
        wait_until(lambda: low_offset(leader)[0] == 20, 20, "the leader's log start at 20")
        admin = AdminClient({"bootstrap.servers": leader.bootstrap, "socket.timeout.ms": 5000})
        admin.delete_topics([TOPIC], operation_timeout=10)[TOPIC].result(timeout=30)
        t.join(DEADLINE_MS / 1000 + 60)
    finally:
        os.kill(follower.proc.pid, signal.SIGCONT)
    assert not t.is_alive()
    if failure:
        raise failure[0]
    # Running again, the follower deletes its replica too: the test ends
    # once it has (its shutdown is not what this test is about).
    wait_until(lambda: f"topic removed from the view topic={TOPIC}" in follower.log_text(), 30,
               "the resumed follower deleting its replica")
