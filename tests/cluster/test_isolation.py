"""A broker paused (SIGSTOP) past broker.session.timeout.ms in a three-node
cluster (issue 8, "leadership that cannot split"): the controllers fence it
and move its leaderships to ISR members, its partitions show as
under-replicated; after SIGCONT it finds itself isolated (no heartbeat
acknowledged within the session), is unfenced again once caught up, and
leads nothing: neither the controllers' image (`sluicectl cluster status
--json`) nor its own Kafka Metadata answer (kcat -L) names it leader.
"""

import json
import os
import re
import signal

from clustertest import admin_for, brokers_by_id, create, partitions_of, wait_until
from sluicetest import binary, run

TOPIC = "isolated"
PARTITIONS = 6
STATUS_TIMEOUT_MS = 400
ISOLATED_RE = re.compile(r"\[broker-session\] isolated: no heartbeat acknowledged")


def describe(bootstrap, topic):
    """`sluicectl topic describe --json` through one broker."""
    p = run([binary("tools", "sluicectl", "sluicectl"), "topic", "describe", topic,
             "--bootstrap-server", bootstrap, "--json"], timeout=30, check=False)
    assert p.returncode == 0, p.stderr
    return {x["partition"]: x for x in json.loads(p.stdout)["partitions"]}


def test_paused_broker_is_fenced_and_leads_nothing_after_resuming(cluster):
    err = create(admin_for(cluster), TOPIC, PARTITIONS, 3)
    assert err is None, err
    before = cluster.wait_status(
        lambda s: partitions_of(s, TOPIC) and len(
            {p["leader"] for p in partitions_of(s, TOPIC).values()}) == 3,
        20, "the topic with leaders on every broker")
    for st in partitions_of(before, TOPIC).values():
        assert sorted(st["isr"]) == [1, 2, 3] and not st["under_replicated"], st
    # Not the raft leader: pausing it pauses only a broker and a follower
    # controller.
    victim = next(b for b in cluster if b.node_id != before["leader_id"])
    vid = victim.node_id
    led = sorted(p for p, st in partitions_of(before, TOPIC).items() if st["leader"] == vid)
    assert led, "the victim leads nothing"

    os.kill(victim.proc.pid, signal.SIGSTOP)
    try:
        s = cluster.wait_status(
            lambda s: brokers_by_id(s)[vid]["fenced"] and all(
                p["leader"] != vid and vid not in p["isr"]
                for p in partitions_of(s, TOPIC).values()),
            (cluster.session_ms + cluster.heartbeat_ms) / 1000 + 15,
            f"broker {vid} fenced and out of every ISR", timeout_ms=STATUS_TIMEOUT_MS)
        for p, st in partitions_of(s, TOPIC).items():
            assert st["under_replicated"] and not st["offline"], (p, st)
            assert st["leader"] in partitions_of(before, TOPIC)[p]["isr"], (p, st)
        # sluicectl topic describe (Kafka Metadata) agrees.
        other = next(b for b in cluster if b is not victim)
        desc = wait_until(
            lambda: (lambda d: d if all(x["under_replicated"] and x["leader"] != vid
                                        for x in d.values()) else None)(
                describe(other.bootstrap, TOPIC)), 15, "describe to show the new leaders")
        assert all(vid not in x["isr"] for x in desc.values()), desc
        assert not ISOLATED_RE.search(victim.log_text())
    finally:
        os.kill(victim.proc.pid, signal.SIGCONT)

    # Resumed: it notices it was cut off, then is unfenced again (same
    # registration) once caught up, and leads nothing.
    wait_until(lambda: ISOLATED_RE.search(victim.log_text()), 15,
               f"{victim.name} to log that it is isolated")
    s = cluster.wait_status(lambda s: not brokers_by_id(s)[vid]["fenced"], 20,
                            f"broker {vid} unfenced again")
    assert brokers_by_id(s)[vid]["epoch"] == brokers_by_id(before)[vid]["epoch"]
    for p, st in partitions_of(s, TOPIC).items():
        assert st["leader"] != vid, (p, st)

    def own_view():
        md = cluster.kafka_metadata(victim, topic=TOPIC)
        parts = md["topics"][0]["partitions"]
        return md if len(parts) == PARTITIONS and all(
            p["leader"] != vid and p["leader"] >= 0 for p in parts) else None
    md = wait_until(own_view, 20, f"{victim.name}'s own Metadata to show it leads nothing")
    assert vid in [b["id"] for b in md["brokers"]]
