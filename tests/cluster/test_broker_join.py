"""Scaling out (issue 13, deploy/HOSTS.md "Adding a broker-only node"): a
broker-only node joins a running three-node cluster, and a partition is
reassigned onto it while an acks=all idempotent producer writes. Every
acknowledged record reads back once, from the new broker too."""

import json
import os

from clustertest import admin_for, broker_only_overrides, create, wait_until
from sluicetest import unique_topic
from test_partition_moves import IdempotentProducer, leaders, read_back_exactly_once, reassign


def broker_only(cluster, brokers, node_id):
    """A node with process.roles=broker, configured as deploy/HOSTS.md says:
    the voters of the running quorum, its own listeners."""
    b = brokers(start=False, node_id=node_id, name=f"node{node_id}")
    first = cluster[0].overrides
    b.overrides.update(broker_only_overrides(b, first["controller.quorum.voters"]))
    b.overrides.update({
        "broker.heartbeat.interval.ms": first["broker.heartbeat.interval.ms"],
        "broker.session.timeout.ms": first["broker.session.timeout.ms"],
    })
    b.spawn()
    b.wait_ready()
    return b


def test_broker_only_node_joins_and_takes_a_partition_under_load(clusters, brokers, request,
                                                                  tmp_path):
    c = clusters(3, overrides={"auto.leader.rebalance.enable": "false"})
    topic = unique_topic(request)
    partitions = 3
    assert create(admin_for(c), topic, partitions, 2, {"min.insync.replicas": "2"}) is None
    wait_until(lambda: (lambda p: p if p and all(x["leader"] > 0 and len(x["isr"]) == 2
                                                 for x in p.values()) else None)(
        leaders(c, topic)), 60, "leaders and full ISRs")

    with IdempotentProducer(c.bootstrap, topic, partitions,
                            log_path=tmp_path / "producer.log") as prod:
        prod.wait_more(300, "300 acknowledged records")
        new = broker_only(c, brokers, 4)
        wait_until(lambda: (lambda s: s and any(b["id"] == 4 and b.get("fenced") is False
                                                for b in s["brokers"]))(c.status()),
                   60, "broker 4 registered and unfenced")
        prod.wait_more(200, "writes acknowledged with broker 4 in the cluster")

        parts = leaders(c, topic)
        keep = parts[0]["leader"]  # stays; the other replica moves to broker 4
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps({"version": 1, "partitions": [
            {"topic": topic, "partition": 0, "replicas": [keep, 4]}]}))
        boot = c.node(keep).bootstrap
        x = reassign(boot, plan, "--execute")
        assert x.returncode == 0, x.stdout + x.stderr
        prod.wait_more(200, "writes acknowledged during the move")
        wait_until(lambda: reassign(boot, plan, "--verify").returncode == 0, 120,
                   "the reassignment onto broker 4 complete")
        parts = leaders(c, topic)
        assert parts[0]["replicas"] == [keep, 4]
        assert sorted(parts[0]["isr"]) == sorted([keep, 4])
        assert os.path.isdir(os.path.join(new.data_dir, f"{topic}-0"))
        prod.wait_more(200, "writes acknowledged after the move")
    prod.check()
    assert not prod.errors, prod.errors[:5]
    read_back_exactly_once(new.bootstrap, topic, partitions, prod.acked, prod.log_excerpt)
