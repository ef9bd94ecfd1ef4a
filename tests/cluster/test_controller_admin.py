"""Topic administration through a real Kafka admin client (confluent-kafka,
librdkafka underneath) against three nodes with both roles: brokers forward
CreateTopics to the active controller, so the metadata every broker serves
comes from the raft quorum.

- kill -9 of the raft leader in the middle of a burst of creations: a new
  leader appears, every acknowledged creation exists afterwards, exactly
  once, on every broker;
- all three restarted: topics, partitions, topic ids and configs intact;
- every broker's Metadata answer agrees with the others and with the
  controllers' image.
"""

import threading
import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import ConfigResource

from clustertest import admin_for, create, partitions_of, wait_until

BURST = 60
KILL_AFTER = 15


class Burst(threading.Thread):
    """Creates PREFIX-0..n-1 one after another, retrying each (as an
    application would) until it is acknowledged or reported to exist.
    outcomes[name] = ("acked" | "exists" | "failed", attempts, last error)."""

    def __init__(self, admin, prefix, n, deadline):
        super().__init__(daemon=True)
        self.admin, self.prefix, self.n, self.deadline = admin, prefix, n, deadline
        self.outcomes = {}
        self.acked = 0

    def run(self):
        for i in range(self.n):
            name = f"{self.prefix}-{i}"
            attempts, err = 0, None
            while True:
                attempts += 1
                err = create(self.admin, name, 2, 2)
                if err is None:
                    self.outcomes[name] = ("acked", attempts, None)
                    self.acked += 1
                    break
                if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    self.outcomes[name] = ("exists", attempts, err)
                    break
                if time.monotonic() > self.deadline:
                    self.outcomes[name] = ("failed", attempts, err)
                    return
                time.sleep(0.2)


def topic_names(md):
    return [t["topic"] for t in md["topics"]]


def test_leader_kill_during_admin_creations(cluster):
    old = cluster.leader()
    admin = admin_for(cluster)
    burst = Burst(admin, "adminburst", BURST, time.monotonic() + 90)
    burst.start()
    wait_until(lambda: burst.acked >= KILL_AFTER or not burst.is_alive(), 60,
               f"{KILL_AFTER} acknowledged creations")
    old.kill()
    burst.join(timeout=120)
    assert not burst.is_alive(), "the burst did not finish"

    outcomes = burst.outcomes
    failed = {n: o for n, o in outcomes.items() if o[0] != "acked" and o[0] != "exists"}
    assert len(outcomes) == BURST and not failed, failed
    # A first attempt can never find the topic already there: names are new.
    first_exists = [n for n, o in outcomes.items() if o[0] == "exists" and o[1] == 1]
    assert not first_exists, first_exists

    s = cluster.wait_status(lambda s: s["leader_id"] not in (-1, old.node_id), 30,
                            "a new raft leader")
    names = [t["name"] for t in s["topics"]]
    assert len(names) == len(set(names)), "a topic exists twice"
    ids = [t["id"] for t in s["topics"]]
    assert len(ids) == len(set(ids)), "two topics share an id"
    assert sorted(n for n in names if n.startswith("adminburst-")) == sorted(outcomes)
    for name in outcomes:
        assert len(partitions_of(s, name)) == 2, name

    # The dead node comes back and catches up; then every broker lists each
    # created topic exactly once.
    old.start()
    cluster.wait_healthy()
    for b in cluster:
        def converged(b=b):
            md = cluster.kafka_metadata(b)
            listed = [n for n in topic_names(md) if n.startswith("adminburst-")]
            return md if sorted(listed) == sorted(outcomes) else None
        md = wait_until(converged, 30, f"{b.name} listing every created topic")
        listed = topic_names(md)
        assert len(listed) == len(set(listed)), f"{b.name} lists a topic twice"


TOPICS = {
    "restart-a": (1, 1, {"retention.ms": "3600000"}),
    "restart-b": (4, 2, {"segment.bytes": "1048576", "cleanup.policy": "delete"}),
    "restart-c": (3, 3, {"max.message.bytes": "65536", "retention.bytes": "1073741824"}),
}


def described_configs(admin, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([res], request_timeout=15)[res].result(timeout=20)
    return {k: v.value for k, v in entries.items()}


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_restart_all_keeps_topics_partitions_and_configs(cluster, how):
    admin = admin_for(cluster)
    for name, (parts, rf, configs) in TOPICS.items():
        err = create(admin, name, parts, rf, configs)
        assert err is None, f"{name}: {err}"
    before = cluster.wait_status(lambda s: all(partitions_of(s, n) for n in TOPICS), 20,
                                 "the topics in the image")
    configs_before = {n: described_configs(admin, n) for n in TOPICS}
    for name, (_, _, configs) in TOPICS.items():
        for key, value in configs.items():
            assert configs_before[name][key] == value, (name, key)

    for b in cluster:
        if how == "sigterm":
            assert b.stop() == 0, b.log_text()
        else:
            b.kill()
    cluster.start()

    # Old registrations expire while the restarted brokers wait to register
    # again, so single-replica partitions may pass through "no leader";
    # once every broker is back, every partition has a leader again.
    after = cluster.wait_status(
        lambda s: all(p["leader"] >= 0 for n in TOPICS for p in (partitions_of(s, n) or {
            0: {"leader": -1}}).values()), 20, "a leader for every partition")
    assert after["cluster_id"] == before["cluster_id"]
    ids_before = {t["name"]: t["id"] for t in before["topics"]}
    ids_after = {t["name"]: t["id"] for t in after["topics"]}
    assert ids_after == ids_before
    for name, (parts, rf, _) in TOPICS.items():
        p_before, p_after = partitions_of(before, name), partitions_of(after, name)
        assert sorted(p_after) == list(range(parts))
        for p in range(parts):
            assert p_after[p]["replicas"] == p_before[p]["replicas"]
            assert len(p_after[p]["replicas"]) == rf
            assert p_after[p]["leader"] in p_after[p]["replicas"]
            # Leader epochs never go backwards across restarts.
            assert p_after[p]["leader_epoch"] >= p_before[p]["leader_epoch"]

    admin = admin_for(cluster)
    for name in TOPICS:
        assert wait_until(lambda: described_configs(admin, name), 20,
                          f"configs of {name}") == configs_before[name]
    for b in cluster:
        def listed(b=b):
            md = cluster.kafka_metadata(b)
            got = {t["topic"]: len(t["partitions"]) for t in md["topics"]}
            return md if all(got.get(n) == TOPICS[n][0] for n in TOPICS) else None
        wait_until(listed, 30, f"{b.name} serving the topics after the restart")


def summary(md):
    """What must agree between brokers in a Metadata answer. Not
    controller_id: with forwarding (KIP-590) any live broker accepts admin
    requests, so each may name itself (checked separately)."""
    brokers = sorted((b["id"], b["name"]) for b in md["brokers"])
    topics = {}
    for t in md["topics"]:
        topics[t["topic"]] = sorted(
            (p["partition"], p["leader"], tuple(r["id"] for r in p["replicas"]),
             tuple(sorted(r["id"] for r in p["isrs"]))) for p in t["partitions"])
    return {"brokers": brokers, "topics": topics}


def test_every_broker_serves_the_same_metadata(cluster):
    admin = admin_for(cluster)
    for i, (parts, rf) in enumerate([(1, 1), (3, 2), (6, 3), (5, 1)]):
        err = create(admin, f"converge-{i}", parts, rf)
        assert err is None, err
    s = cluster.wait_status(lambda s: all(partitions_of(s, f"converge-{i}") for i in range(4)),
                            20, "the topics in the image")
    expect_brokers = sorted(
        (b["id"], f"{e['host']}:{e['port']}") for b in s["brokers"] for e in b["endpoints"]
        if e["listener"] == "PLAINTEXT")

    def agree():
        views = [summary(cluster.kafka_metadata(b)) for b in cluster]
        return views if all(v == views[0] for v in views) else None
    views = wait_until(agree, 30, "every broker's Metadata to agree")
    view = views[0]
    assert view["brokers"] == expect_brokers
    for b in cluster:
        assert cluster.kafka_metadata(b)["controllerid"] in [x.node_id for x in cluster]
    for i, (parts, rf) in enumerate([(1, 1), (3, 2), (6, 3), (5, 1)]):
        name = f"converge-{i}"
        image = partitions_of(cluster.status(), name)
        served = view["topics"][name]
        assert len(served) == parts
        for part, leader, replicas, isr in served:
            assert len(replicas) == rf
            assert leader == image[part]["leader"]
            assert list(replicas) == image[part]["replicas"]
            assert list(isr) == sorted(image[part]["isr"])
    # Leaders are spread: the 6-partition, RF 3 topic has every broker leading.
    assert {leader for _, leader, _, _ in view["topics"]["converge-2"]} == {1, 2, 3}
