"""Consumer groups with real clients (broker/group/): kcat -G, confluent-kafka
subscribe(), kafka-python KafkaConsumer(group_id=...) each consume through a
group, commit, and a second consumer resumes from the committed offsets;
members joining and leaving rebalance with nothing lost; a static member
restarts without a rebalance; admin clients list and describe groups;
committed offsets survive a broker restart and, with RF=3, the loss of the
coordinator's broker."""

import datetime
import os
import signal
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import json

from sluicetest import binary, run, unique_topic

TIMEOUT = 30
# kafka-python gives up on a bootstrap whose ApiVersions answer takes over
# 2 s (NoBrokersAvailable); a loaded CI machine can take longer than that.
KADMIN_OPTS = {"api_version_auto_timeout_ms": 10000}
# Few offsets partitions and no initial delay keep the tests quick; the
# defaults (50, 3000 ms) are Kafka's.
GROUP_CFG = {"offsets.topic.num.partitions": "5", "group.initial.rebalance.delay.ms": "0"}


@pytest.fixture
def gbroker(brokers):
    return brokers(overrides=GROUP_CFG)


def create_topic(bootstrap, topic, partitions, rf=1):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, rf)],
                        request_timeout=TIMEOUT)[topic].result(timeout=TIMEOUT)


def produce(bootstrap, topic, values, partitions):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for v in values:
        p.produce(topic, value=str(v).encode(), partition=v % partitions)
    assert p.flush(TIMEOUT) == 0


def consumer(bootstrap, group, **extra):
    conf = {"bootstrap.servers": bootstrap, "group.id": group,
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "session.timeout.ms": 10000, "heartbeat.interval.ms": 500}
    conf.update(extra)
    return Consumer(conf)


def poll_values(consumers, want, timeout=TIMEOUT):
    """Poll every consumer in turn until `want` values arrived in total."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        for c in consumers:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append(int(m.value()))
    return got


def poll_until_seen(consumers, seen, want, timeout=TIMEOUT):
    """Poll every consumer in turn, adding to `seen`, until it holds `want`."""
    deadline = time.monotonic() + timeout
    while not want <= set(seen) and time.monotonic() < deadline:
        for c in consumers:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                seen.append(int(m.value()))


def committed(bootstrap, group, topic, partitions):
    c = consumer(bootstrap, group)
    try:
        tps = c.committed([TopicPartition(topic, i) for i in range(partitions)], timeout=TIMEOUT)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def test_confluent_group_commits_and_second_consumer_resumes(gbroker, request):
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 3)
    produce(gbroker.bootstrap, topic, range(30), 3)

    c1 = consumer(gbroker.bootstrap, group)
    c1.subscribe([topic])
    first = poll_values([c1], 30)
    assert sorted(first) == list(range(30))
    c1.commit(asynchronous=False)
    c1.close()
    assert committed(gbroker.bootstrap, group, topic, 3) == {0: 10, 1: 10, 2: 10}

    produce(gbroker.bootstrap, topic, range(30, 45), 3)
    c2 = consumer(gbroker.bootstrap, group)
    c2.subscribe([topic])
    second = poll_values([c2], 15)
    time.sleep(1)  # anything re-read from before the commit would show up now
    m = c2.poll(0.5)
    assert m is None or m.error() is not None
    c2.close()
    assert sorted(second) == list(range(30, 45))


def test_commit_metadata_round_trips(gbroker, request):
    from kafka import KafkaAdminClient, KafkaConsumer, OffsetAndMetadata
    from kafka import TopicPartition as KTopicPartition
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 1)
    c = KafkaConsumer(bootstrap_servers=gbroker.bootstrap, group_id=group,
                      enable_auto_commit=False)
    tp = KTopicPartition(topic, 0)
    c.assign([tp])
    c.commit({tp: OffsetAndMetadata(42, "checkpoint-7")})
    c.close(autocommit=False)
    kadmin = KafkaAdminClient(bootstrap_servers=gbroker.bootstrap, **KADMIN_OPTS)
    got = kadmin.list_consumer_group_offsets(group)
    kadmin.close()
    assert got == {tp: OffsetAndMetadata(42, "checkpoint-7")}


def test_kcat_group_consumer_resumes(gbroker, request):
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 2)
    produce(gbroker.bootstrap, topic, range(20), 2)
    kcat = ["kcat", "-b", gbroker.bootstrap, "-G", group, topic, "-q", "-e", "-f", "%s\n",
            "-X", "auto.offset.reset=earliest", "-X", "enable.auto.commit=true",
            "-X", "auto.commit.interval.ms=100"]
    out = run(kcat, timeout=90).stdout.decode().split()
    assert sorted(int(v) for v in out) == list(range(20))
    # kcat commits what it consumed as it closes; the group resumes there.
    assert committed(gbroker.bootstrap, group, topic, 2) == {0: 10, 1: 10}
    produce(gbroker.bootstrap, topic, range(20, 26), 2)
    out = run(kcat, timeout=90).stdout.decode().split()
    assert sorted(int(v) for v in out) == list(range(20, 26))


def test_kafka_python_group_resumes(gbroker, request):
    from kafka import KafkaConsumer
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 2)
    produce(gbroker.bootstrap, topic, range(12), 2)

    def consume(n):
        c = KafkaConsumer(topic, bootstrap_servers=gbroker.bootstrap, group_id=group,
                          auto_offset_reset="earliest", enable_auto_commit=False,
                          consumer_timeout_ms=3000)
        got = []
        deadline = time.monotonic() + TIMEOUT
        while len(got) < n and time.monotonic() < deadline:
            for batch in c.poll(timeout_ms=500).values():
                got.extend(int(r.value) for r in batch)
        c.commit()
        c.close()
        return got

    assert sorted(consume(12)) == list(range(12))
    produce(gbroker.bootstrap, topic, range(12, 16), 2)
    assert sorted(consume(4)) == list(range(12, 16))
    assert committed(gbroker.bootstrap, group, topic, 2) == {0: 8, 1: 8}


def assignment_of(c):
    return {tp.partition for tp in c.assignment()}


def wait_assignments(consumers, predicate, what, seen=None):
    """Poll until the assignments satisfy `predicate`; values polled on the
    way go to `seen` (a consumer commits what it delivered)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        for c in consumers:
            m = c.poll(0.1)
            if seen is not None and m is not None and m.error() is None:
                seen.append(int(m.value()))
        sets = [assignment_of(c) for c in consumers]
        if predicate(sets):
            return sets
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {sets}"


def test_join_and_leave_rebalance_without_loss(gbroker, request):
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 4)
    produce(gbroker.bootstrap, topic, range(40), 4)
    # Auto-commit keeps what was consumed committed across each rebalance
    # (librdkafka commits before it gives partitions up).
    a = consumer(gbroker.bootstrap, group, **{"enable.auto.commit": True,
                                              "auto.commit.interval.ms": 100})
    a.subscribe([topic])
    seen = poll_values([a], 10)
    wait_assignments([a], lambda s: s[0] == {0, 1, 2, 3}, "one member owning everything", seen)

    b = consumer(gbroker.bootstrap, group, **{"enable.auto.commit": True,
                                              "auto.commit.interval.ms": 100})
    b.subscribe([topic])
    sets = wait_assignments([a, b], lambda s: s[0] and s[1] and not (s[0] & s[1])
                            and s[0] | s[1] == {0, 1, 2, 3}, "the partitions split in two", seen)
    assert len(sets[0]) == 2 and len(sets[1]) == 2
    poll_until_seen([a, b], seen, set(range(40)))
    b.close()
    wait_assignments([a], lambda s: s[0] == {0, 1, 2, 3}, "the survivor owning everything", seen)
    produce(gbroker.bootstrap, topic, range(40, 48), 4)
    poll_until_seen([a], seen, set(range(48)))
    a.close()
    # Nothing lost; anything read twice was read past its last commit.
    assert set(seen) == set(range(48))


def test_cooperative_sticky_rebalance_moves_only_what_moves(gbroker, request):
    """Cooperative (incremental, KIP-429) rebalancing is client-side over the
    classic protocol: with librdkafka's cooperative-sticky assignor, a member
    joining makes the first give up only the partitions that move to it
    (an eager rebalance would revoke all four), and nothing is lost."""
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 4)
    produce(gbroker.bootstrap, topic, range(40), 4)
    coop = {"partition.assignment.strategy": "cooperative-sticky",
            "enable.auto.commit": True, "auto.commit.interval.ms": 100}
    revoked = []
    a = consumer(gbroker.bootstrap, group, **coop)
    a.subscribe([topic], on_revoke=lambda c, ps: revoked.append({p.partition for p in ps}))
    seen = poll_values([a], 10)
    wait_assignments([a], lambda s: s[0] == {0, 1, 2, 3}, "one member owning everything", seen)
    assert revoked == []

    b = consumer(gbroker.bootstrap, group, **coop)
    b.subscribe([topic])
    sets = wait_assignments([a, b], lambda s: s[0] and s[1] and not (s[0] & s[1])
                            and s[0] | s[1] == {0, 1, 2, 3}, "the partitions split in two", seen)
    assert len(sets[0]) == 2 and len(sets[1]) == 2, sets
    assert revoked and all(r != {0, 1, 2, 3} for r in revoked), revoked
    assert set().union(*revoked) == sets[1], (revoked, sets)  # given up = taken over
    poll_until_seen([a, b], seen, set(range(40)))
    assert set(seen) == set(range(40))
    b.close()
    a.close()


def test_static_member_restarts_without_rebalance(gbroker, request):
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 2)
    revoked = []

    def on_revoke(c, parts):
        revoked.append([p.partition for p in parts])

    static = {"session.timeout.ms": 10000}
    a = consumer(gbroker.bootstrap, group, **{"group.instance.id": "a", **static})
    b = consumer(gbroker.bootstrap, group, **{"group.instance.id": "b", **static})
    a.subscribe([topic])
    b.subscribe([topic], on_revoke=on_revoke)
    wait_assignments([a, b], lambda s: s[0] and s[1], "both static members assigned")
    before = assignment_of(b)
    revoked.clear()
    a.close()  # a static member leaves no LeaveGroup behind
    a = consumer(gbroker.bootstrap, group, **{"group.instance.id": "a", **static})
    a.subscribe([topic])
    wait_assignments([a, b], lambda s: s[0] and s[1], "the restarted member assigned again")
    for _ in range(20):  # a few heartbeats: a rebalance would show up as a revoke
        b.poll(0.1)
        a.poll(0.1)
    assert revoked == []
    assert assignment_of(b) == before
    a.close()
    b.close()


def test_admin_clients_list_and_describe(gbroker, request):
    from kafka import KafkaAdminClient
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 2)
    c = consumer(gbroker.bootstrap, group, **{"client.id": "describe-me"})
    c.subscribe([topic])
    wait_assignments([c], lambda s: s[0] == {0, 1}, "an assignment")

    admin = AdminClient({"bootstrap.servers": gbroker.bootstrap})
    listed = admin.list_groups(timeout=TIMEOUT)
    assert group in [g.id for g in listed]

    kadmin = KafkaAdminClient(bootstrap_servers=gbroker.bootstrap, **KADMIN_OPTS)
    (info,) = kadmin.describe_consumer_groups([group])
    assert info.state == "Stable"
    assert info.protocol_type == "consumer"
    assert [m.client_id for m in info.members] == ["describe-me"]
    assert info.members[0].client_host.startswith("/127.0.0.1")
    assert group in [g for g, _ in kadmin.list_consumer_groups()]
    c.close()
    kadmin.close()


def test_delete_groups(gbroker, request):
    from kafka import KafkaAdminClient
    from kafka.errors import GroupIdNotFoundError, NonEmptyGroupError
    topic = unique_topic(request)
    idle, busy = topic + "-idle", topic + "-busy"
    create_topic(gbroker.bootstrap, topic, 1)
    c = consumer(gbroker.bootstrap, idle)
    c.assign([TopicPartition(topic, 0)])
    c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    c.close()
    member = consumer(gbroker.bootstrap, busy)
    member.subscribe([topic])
    wait_assignments([member], lambda s: s[0] == {0}, "an assignment")

    kadmin = KafkaAdminClient(bootstrap_servers=gbroker.bootstrap, **KADMIN_OPTS)
    results = dict(kadmin.delete_consumer_groups([idle, busy, topic + "-never"]))
    assert getattr(results[idle], "errno", 0) == 0  # kafka-python answers error classes
    assert results[busy] is NonEmptyGroupError
    assert results[topic + "-never"] is GroupIdNotFoundError
    assert kadmin.list_consumer_group_offsets(idle) == {}
    kadmin.close()
    member.close()
    # Deleted means gone for good, across a restart too.
    gbroker.stop()
    gbroker.start()
    assert committed(gbroker.bootstrap, idle, topic, 1) == {0: -1001}


def test_committed_offsets_survive_a_restart(gbroker, request):
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 3)
    c = consumer(gbroker.bootstrap, group)
    c.assign([TopicPartition(topic, i) for i in range(3)])
    c.commit(offsets=[TopicPartition(topic, i, 100 + i) for i in range(3)], asynchronous=False)
    c.close()
    gbroker.stop()
    gbroker.start()
    assert committed(gbroker.bootstrap, group, topic, 3) == {0: 100, 1: 101, 2: 102}


def test_members_survive_a_coordinator_restart(gbroker, request):
    """The GroupMetadata record brings the stable generation back: the member
    carries on with its id and assignment, no rebalance."""
    from kafka import KafkaAdminClient
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 2)
    revoked = []
    c = consumer(gbroker.bootstrap, group, **{"session.timeout.ms": 30000})
    c.subscribe([topic], on_revoke=lambda cons, parts: revoked.append(parts))
    wait_assignments([c], lambda s: s[0] == {0, 1}, "an assignment")
    kadmin = KafkaAdminClient(bootstrap_servers=gbroker.bootstrap, **KADMIN_OPTS)
    (before,) = kadmin.describe_consumer_groups([group])
    kadmin.close()
    gbroker.stop()
    gbroker.start()
    produce(gbroker.bootstrap, topic, range(4), 2)
    assert sorted(poll_values([c], 4)) == [0, 1, 2, 3]
    kadmin = KafkaAdminClient(bootstrap_servers=gbroker.bootstrap, **KADMIN_OPTS)
    (after,) = kadmin.describe_consumer_groups([group])
    kadmin.close()
    assert after.state == "Stable"
    assert [m.member_id for m in after.members] == [m.member_id for m in before.members]
    assert revoked == []
    c.close()


def test_generation_fencing(gbroker, request):
    """A member of an old generation cannot commit (kafka-python's low-level
    client, so the errors are seen as the broker sends them)."""
    from kafka import KafkaConsumer
    from kafka.errors import CommitFailedError
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 2)
    produce(gbroker.bootstrap, topic, range(4), 2)
    old = KafkaConsumer(topic, bootstrap_servers=gbroker.bootstrap, group_id=group,
                        auto_offset_reset="earliest", enable_auto_commit=False,
                        session_timeout_ms=6000, heartbeat_interval_ms=5000,
                        max_poll_interval_ms=6000)
    deadline = time.monotonic() + TIMEOUT
    while not old.assignment() and time.monotonic() < deadline:
        old.poll(timeout_ms=200)
    assert old.assignment()
    # Another member takes over while `old` stays silent past its session.
    new = consumer(gbroker.bootstrap, group)
    new.subscribe([topic])
    wait_assignments([new], lambda s: s[0] == {0, 1}, "the new member owning everything")
    with pytest.raises(CommitFailedError):
        old.commit({tp: __import__("kafka").OffsetAndMetadata(1, "") for tp in old.assignment()})
    old.close(autocommit=False)
    new.close()


def test_coordinator_failover_keeps_committed_offsets(clusters, request):
    cluster = clusters(3, overrides={"offsets.topic.num.partitions": "3",
                                     "group.initial.rebalance.delay.ms": "0"})
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(cluster.bootstrap, topic, 2, rf=3)
    c = consumer(cluster.bootstrap, group)
    c.assign([TopicPartition(topic, i) for i in range(2)])
    c.commit(offsets=[TopicPartition(topic, 0, 7), TopicPartition(topic, 1, 9)],
             asynchronous=False)
    c.close()
    from kafka import KafkaAdminClient
    kadmin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, **KADMIN_OPTS)
    coordinator = kadmin._find_coordinator_ids([group])[group]
    kadmin.close()
    cluster.node(coordinator).kill()
    survivors = ",".join(b.bootstrap for b in cluster if b.running())
    deadline = time.monotonic() + 60
    while True:
        try:
            got = committed(survivors, group, topic, 2)
        except Exception:  # the coordinator moves: clients retry
            got = None
        if got == {0: 7, 1: 9}:
            break
        assert time.monotonic() < deadline, f"committed offsets after failover: {got}"
        time.sleep(0.5)


def test_group_deletion_waits_for_replication(clusters, request):
    """DeleteGroups writes its tombstones to __consumer_offsets with acks=all:
    while the coordinator's two followers are paused (SIGSTOP) the high
    watermark cannot pass them, so the deletion is not acknowledged
    (kafka-python gets an error, never success); once they resume, a retry
    succeeds and the offsets are gone."""
    from kafka import KafkaAdminClient
    cluster = clusters(3, overrides={"offsets.topic.num.partitions": "3",
                                     "group.initial.rebalance.delay.ms": "0",
                                     "request.timeout.ms": "4000"})
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(cluster.bootstrap, topic, 1, rf=3)
    c = consumer(cluster.bootstrap, group)
    c.assign([TopicPartition(topic, 0)])
    c.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
    c.close()
    kadmin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, **KADMIN_OPTS)
    coordinator = kadmin._find_coordinator_ids([group])[group]
    kadmin.close()
    followers = [b for b in cluster if b.node_id != coordinator]
    kadmin = KafkaAdminClient(bootstrap_servers=cluster.node(coordinator).bootstrap,
                              **KADMIN_OPTS)
    for b in followers:
        os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        results = dict(kadmin.delete_consumer_groups([group]))
        assert getattr(results[group], "errno", 0) != 0, results
    finally:
        for b in followers:
            os.kill(b.proc.pid, signal.SIGCONT)
        kadmin.close()

    def deleted():
        try:
            admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, **KADMIN_OPTS)
            try:
                err = dict(admin.delete_consumer_groups([group]))[group]
            finally:
                admin.close()
        except Exception:  # the coordinator may move: clients retry
            return False
        # Done now, or by the paused attempt once it replicated.
        return getattr(err, "errno", 0) == 0 or err.__name__ == "GroupIdNotFoundError"
    deadline = time.monotonic() + 60
    while not deleted():
        assert time.monotonic() < deadline, "the group was never deleted"
        time.sleep(0.5)
    assert committed(cluster.bootstrap, group, topic, 1) == {0: -1001}


def test_assignment_waits_for_group_metadata_replication(clusters, request):
    """SyncGroup hands out the leader's assignment only once the group's
    GroupMetadata record is replicated (Kafka's storeGroup callback), so a
    coordinator after a failover knows the generation every member was told:
    while the coordinator's followers are paused (SIGSTOP) a new consumer
    gets no assignment; once they resume it gets one."""
    from kafka import KafkaAdminClient
    cluster = clusters(3, overrides={"offsets.topic.num.partitions": "3",
                                     "group.initial.rebalance.delay.ms": "0",
                                     "request.timeout.ms": "4000"})
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(cluster.bootstrap, topic, 2, rf=3)
    kadmin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, **KADMIN_OPTS)
    deadline = time.monotonic() + 60
    while True:  # the first FindCoordinator creates __consumer_offsets
        try:
            coordinator = kadmin._find_coordinator_ids([group])[group]
            break
        except Exception:
            assert time.monotonic() < deadline, "no coordinator"
            time.sleep(0.5)
    kadmin.close()
    followers = [b for b in cluster if b.node_id != coordinator]
    c = consumer(cluster.node(coordinator).bootstrap, group)
    # A replicated commit first: the coordinator has loaded its partition.
    c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    for b in followers:
        os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 8  # long enough for a join and a sync to answer
        while time.monotonic() < deadline:
            c.poll(0.2)
            assert assignment_of(c) == set(), "assigned before its group metadata replicated"
    finally:
        for b in followers:
            os.kill(b.proc.pid, signal.SIGCONT)
    deadline = time.monotonic() + 90
    while assignment_of(c) != {0, 1}:
        assert time.monotonic() < deadline, "no assignment after the followers resumed"
        c.poll(0.2)
    c.close()


def sluicectl_group(broker, *args, check=True):
    return run([binary("tools", "sluicectl", "sluicectl"), "group", *args,
                "--bootstrap-server", broker.bootstrap], check=check)


def test_sluicectl_group_list_describe_delete(gbroker, request):
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 2)
    produce(gbroker.bootstrap, topic, range(10), 2)
    c = consumer(gbroker.bootstrap, group, **{"client.id": "ctl-client"})
    c.subscribe([topic])
    assert sorted(poll_values([c], 10)) == list(range(10))
    c.commit(offsets=[TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 2)],
             asynchronous=False)

    listed = json.loads(sluicectl_group(gbroker, "list", "--json").stdout)
    assert {"group": group, "state": "Stable", "protocol_type": "consumer"} in listed
    d = json.loads(sluicectl_group(gbroker, "describe", group, "--json").stdout)
    assert d["state"] == "Stable" and d["protocol"] == "range"
    assert [m["client_id"] for m in d["members"]] == ["ctl-client"]
    assert d["members"][0]["assignment"] == f"{topic}:0,1"
    lag = {(o["topic"], o["partition"]): (o["committed"], o["end"], o["lag"]) for o in d["offsets"]}
    assert lag == {(topic, 0): (5, 5, 0), (topic, 1): (2, 5, 3)}
    table = sluicectl_group(gbroker, "describe", group).stdout.decode()
    assert "LAG" in table and "ctl-client" in table

    refused = sluicectl_group(gbroker, "delete", group, check=False)
    assert refused.returncode == 1 and b"NON_EMPTY_GROUP" in refused.stderr
    c.close()
    sluicectl_group(gbroker, "delete", group)
    gone = sluicectl_group(gbroker, "describe", group, check=False)
    assert gone.returncode == 1 and b"does not exist" in gone.stderr


def test_sluicectl_group_reset_offsets(gbroker, request):
    """reset-offsets refuses an active group, plans without committing by
    default, and with --execute commits earliest/latest/offset/shift/datetime
    targets (clamped to the partition's range); a consumer of the group then
    resumes from the reset offsets."""
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(gbroker.bootstrap, topic, 2)
    base = (int(time.time()) - 600) * 1000  # recent: retention.ms keeps it
    p = Producer({"bootstrap.servers": gbroker.bootstrap, "acks": "all"})
    for v in range(10):  # partition v % 2; v's timestamp is base + v seconds
        p.produce(topic, value=str(v).encode(), partition=v % 2, timestamp=base + v * 1000)
    assert p.flush(TIMEOUT) == 0
    c = consumer(gbroker.bootstrap, group)
    c.subscribe([topic])
    assert sorted(poll_values([c], 10)) == list(range(10))
    c.commit(offsets=[TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 2)],
             asynchronous=False)

    def reset(*args, check=True):
        return sluicectl_group(gbroker, "reset-offsets", group, *args, check=check)

    def plan(*args):
        out = json.loads(reset(*args, "--json").stdout)
        return {o["partition"]: (o["current"], o["new"]) for o in out["offsets"]}, out["executed"]

    refused = reset("--topic", topic, "--to-earliest", check=False)
    assert refused.returncode == 1 and b"is active" in refused.stderr, refused.stderr
    c.close()

    assert plan("--topic", topic, "--to-earliest") == ({0: (5, 0), 1: (2, 0)}, False)
    assert committed(gbroker.bootstrap, group, topic, 2) == {0: 5, 1: 2}  # a dry run
    table = reset("--topic", topic, "--to-latest").stdout.decode()
    assert "NEW-OFFSET" in table and "dry run" in table

    assert plan("--topic", f"{topic}:1", "--to-offset", "3", "--execute") == ({1: (2, 3)}, True)
    assert committed(gbroker.bootstrap, group, topic, 2) == {0: 5, 1: 3}
    assert plan("--topic", topic, "--shift-by", "-4", "--execute") == \
        ({0: (5, 1), 1: (3, 0)}, True)  # 3 - 4 clamps to the earliest
    assert plan("--all-topics", "--to-offset", "100", "--execute") == \
        ({0: (1, 5), 1: (0, 5)}, True)  # clamps to the latest
    # The first record at or after base + 2.5 s: value 4 (offset 2) and 3 (offset 1).
    at = datetime.datetime.fromtimestamp((base + 2500) / 1000, datetime.timezone.utc)
    assert plan("--topic", topic, "--to-datetime", at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
                "--execute") == ({0: (5, 2), 1: (5, 1)}, True)
    assert committed(gbroker.bootstrap, group, topic, 2) == {0: 2, 1: 1}

    resumed = consumer(gbroker.bootstrap, group)
    resumed.subscribe([topic])
    assert sorted(poll_values([resumed], 7)) == [3, 4, 5, 6, 7, 8, 9]
    resumed.close()

    bad = reset("--topic", topic + "-none", "--to-latest", check=False)
    assert bad.returncode == 1 and b"does not exist" in bad.stderr
    usage = reset("--topic", topic, check=False)
    assert usage.returncode == 2
