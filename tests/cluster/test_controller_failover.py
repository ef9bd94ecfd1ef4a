"""A broker dies (kill -9) in a three-node cluster: within
broker.session.timeout.ms plus one heartbeat the active controller fences
it, and each partition it led gets a new leader from its ISR with a bumped
leader epoch, as `sluicectl cluster status --json` and every surviving
broker's Kafka Metadata (kcat -L) show. The broker is not fenced early
either: only silence longer than the session does that. A broker stopped
with SIGTERM instead moves its leaderships off before it exits.
"""

import time

from clustertest import admin_for, brokers_by_id, create, partitions_of, wait_until

TOPIC = "failover"
PARTITIONS = 6

# Observation slack on top of session + heartbeat: one status poll, which
# waits STATUS_TIMEOUT_MS for the dead voter, plus process start-up and
# scheduling on two busy cores.
STATUS_TIMEOUT_MS = 400
SLACK_S = 2.0


def test_killed_broker_is_fenced_and_loses_its_leaderships(cluster):
    err = create(admin_for(cluster), TOPIC, PARTITIONS, 3)
    assert err is None, err
    before = cluster.wait_status(
        lambda s: partitions_of(s, TOPIC) and len(
            {p["leader"] for p in partitions_of(s, TOPIC).values()}) == 3,
        20, "the topic with leaders on every broker")
    # The victim is not the raft leader: its session is then continuous and
    # the fencing deadline exact (a new raft leader gives fresh sessions).
    victim = next(b for b in cluster if b.node_id != before["leader_id"])
    vid = victim.node_id
    parts_before = partitions_of(before, TOPIC)
    led = sorted(p for p, st in parts_before.items() if st["leader"] == vid)
    assert led, "the victim leads nothing"

    victim.kill()
    killed_at = time.monotonic()
    s = cluster.wait_status(lambda s: brokers_by_id(s)[vid]["fenced"],
                            (cluster.session_ms + cluster.heartbeat_ms) / 1000 + 10,
                            f"broker {vid} fenced", timeout_ms=STATUS_TIMEOUT_MS)
    elapsed = time.monotonic() - killed_at
    limit = (cluster.session_ms + cluster.heartbeat_ms) / 1000 + SLACK_S
    assert elapsed <= limit, f"fenced after {elapsed:.1f}s, limit {limit:.1f}s"
    # Its last heartbeat was at most one interval before the kill.
    assert elapsed >= (cluster.session_ms - cluster.heartbeat_ms) / 1000 - 0.2, \
        f"fenced after only {elapsed:.1f}s"

    # Elections come with (or right after) the fencing record.
    s = cluster.wait_status(
        lambda s: all(p["leader"] != vid for p in partitions_of(s, TOPIC).values()), 5,
        "new leaders for the victim's partitions")
    assert s["leader_id"] == before["leader_id"]
    parts = partitions_of(s, TOPIC)
    for p, st in parts.items():
        old = parts_before[p]
        assert vid not in st["isr"], f"partition {p}: fenced broker still in ISR {st['isr']}"
        assert st["replicas"] == old["replicas"]
        if p in led:
            assert st["leader"] in old["isr"] and st["leader"] != vid, (p, st, old)
            assert st["leader_epoch"] > old["leader_epoch"], (p, st, old)
        else:
            assert st["leader"] == old["leader"], (p, st, old)
            assert st["leader_epoch"] == old["leader_epoch"], (p, st, old)
        assert st["leader"] in st["isr"]

    # The survivors' Kafka Metadata shows the same leaders and no victim.
    for b in cluster:
        if not b.running():
            continue

        def served(b=b):
            md = cluster.kafka_metadata(b, topic=TOPIC)
            if vid in [x["id"] for x in md["brokers"]]:
                return None
            got = {p["partition"]: p for p in md["topics"][0]["partitions"]}
            ok = all(got[p]["leader"] == parts[p]["leader"] and
                     sorted(r["id"] for r in got[p]["isrs"]) == sorted(parts[p]["isr"])
                     for p in parts)
            return md if ok else None
        wait_until(served, 15, f"{b.name}'s Metadata to show the new leaders")

    # Back again: a new registration, unfenced; it leads nothing until elected.
    victim.start()
    s = cluster.wait_healthy()
    assert brokers_by_id(s)[vid]["epoch"] > brokers_by_id(before)[vid]["epoch"]


def test_sigterm_moves_leadership_before_the_broker_exits(cluster):
    """Controlled shutdown (KIP-631): a broker stopped with SIGTERM asks the
    controller to move its leaderships and fence it before it exits, so
    right after the exit nothing is led by it - no session timeout wait."""
    err = create(admin_for(cluster), TOPIC, PARTITIONS, 3)
    assert err is None, err
    before = cluster.wait_status(
        lambda s: partitions_of(s, TOPIC) and len(
            {p["leader"] for p in partitions_of(s, TOPIC).values()}) == 3,
        20, "the topic with leaders on every broker")
    victim = next(b for b in cluster if b.node_id != before["leader_id"])
    vid = victim.node_id
    assert victim.stop() == 0, victim.log_text()
    s = cluster.status(timeout_ms=STATUS_TIMEOUT_MS)
    assert s is not None
    assert brokers_by_id(s)[vid]["fenced"], brokers_by_id(s)[vid]
    parts_before = partitions_of(before, TOPIC)
    for p, st in partitions_of(s, TOPIC).items():
        assert st["leader"] != vid and vid not in st["isr"], (p, st)
        assert st["leader"] in parts_before[p]["isr"]
