"""Moving partitions with sluicectl (issue 13): `sluicectl partition
elect-leaders` (kafka-leader-election.sh's options) really moves leadership
back to the preferred replica after a failover. auto.leader.rebalance.enable
is off here, so only the command moves it."""

import json

from clustertest import admin_for, create, partitions_of, wait_until
from sluicetest import binary, run, unique_topic


def sluicectl(*args):
    return run([binary("tools", "sluicectl", "sluicectl"), *args], timeout=90, check=False)


def leaders(cluster, topic):
    s = cluster.status()
    return {i: p for i, p in partitions_of(s, topic).items()} if s else None


def test_elect_leaders_returns_leadership_to_the_preferred_replica(clusters, request, tmp_path):
    c = clusters(3, overrides={"auto.leader.rebalance.enable": "false"})
    topic = unique_topic(request)
    assert create(admin_for(c), topic, 2, 3, {"min.insync.replicas": "2"}) is None
    parts = wait_until(lambda: (lambda p: p if p and all(x["leader"] > 0 and len(x["isr"]) == 3
                                                         for x in p.values()) else None)(
        leaders(c, topic)), 60, "leaders and full ISRs")
    preferred = parts[0]["replicas"][0]
    assert parts[0]["leader"] == preferred
    # sluicectl takes one bootstrap broker: one that stays up.
    boot = next(b.bootstrap for b in c if b.node_id != preferred)

    # Nothing to do yet: the named partition is already led by its preferred replica.
    p = sluicectl("partition", "elect-leaders", "--bootstrap-server", boot,
                  "--election-type", "preferred", "--topic", topic, "--partition", "0")
    assert p.returncode == 0, p.stderr
    assert f"Valid replica already elected for partitions {topic}-0" in p.stdout.decode()

    victim = c.node(preferred)
    victim.kill()
    wait_until(lambda: (lambda p: p and p[0]["leader"] not in (-1, preferred))(leaders(c, topic)),
               60, "a new leader for partition 0")
    victim.start()
    # The preferred replica catches up and rejoins the ISR, but stays a
    # follower: automatic rebalancing is off.
    wait_until(lambda: (lambda p: p and preferred in p[0]["isr"] and len(p[0]["isr"]) == 3)(
        leaders(c, topic)), 90, "the restarted replica back in the ISR")
    assert leaders(c, topic)[0]["leader"] != preferred

    # Unclean elections are refused per partition (Sluice never elects
    # outside the ISR): exit 1 with the partition's error.
    unclean = sluicectl("partition", "elect-leaders", "--bootstrap-server", boot,
                        "--election-type", "unclean", "--topic", topic, "--partition", "0")
    assert unclean.returncode == 1
    assert f"Error completing leader election (UNCLEAN) for partition: {topic}-0:" in \
        unclean.stdout.decode()

    plan = tmp_path / "elect.json"
    plan.write_text(json.dumps({"partitions": [{"topic": topic, "partition": 0},
                                               {"topic": topic, "partition": 1}]}))
    p = sluicectl("partition", "elect-leaders", "--bootstrap-server", boot,
                  "--election-type", "PREFERRED", "--path-to-json-file", str(plan), "--json")
    assert p.returncode == 0, p.stderr
    results = {r["partition"]: r for r in json.loads(p.stdout)}
    assert results[0]["error"] is None
    wait_until(lambda: (lambda p: p and p[0]["leader"] == preferred)(leaders(c, topic)), 60,
               "partition 0 led by its preferred replica again")

    # Every partition now has its preferred leader: --all-topic-partitions
    # has nothing left to elect.
    p = sluicectl("partition", "elect-leaders", "--bootstrap-server", boot,
                  "--election-type", "preferred", "--all-topic-partitions")
    assert p.returncode == 0, p.stderr
    assert topic not in p.stdout.decode()


def test_elect_leaders_usage_errors(cluster, tmp_path):
    base = ["partition", "elect-leaders", "--bootstrap-server", cluster[0].bootstrap]
    assert sluicectl(*base, "--all-topic-partitions").returncode == 2  # no type
    assert sluicectl(*base, "--election-type", "random", "--all-topic-partitions").returncode == 2
    assert sluicectl(*base, "--election-type", "preferred").returncode == 2  # no partitions
    assert sluicectl(*base, "--election-type", "preferred", "--topic", "t").returncode == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"partitions": [{"topic": "t", "partition": 0.5}]}')
    p = sluicectl(*base, "--election-type", "preferred", "--path-to-json-file", str(bad))
    assert p.returncode == 2 and b"only integers" in p.stderr
    bad.write_text('{"partitions": [{"topic": "t", "partition": 0}, {"topic": "t", "partition": 0}]}')
    p = sluicectl(*base, "--election-type", "preferred", "--path-to-json-file", str(bad))
    assert p.returncode == 2 and b"listed twice" in p.stderr
    missing = sluicectl(*base, "--election-type", "preferred", "--topic", "no-such-topic",
                        "--partition", "0")
    assert missing.returncode == 1 and b"UNKNOWN_TOPIC_OR_PARTITION" in missing.stdout
