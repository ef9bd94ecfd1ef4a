"""A real network partition (issue 8, "Leadership that cannot split"): each
node runs in its own network namespace (netns.py), and the partition
leader's link is taken down while its process keeps running. A client inside
the leader's namespace still reaches it, as a client on the leader's side of
a split would.

With RF=3, min.insync.replicas=2:
- the cut-off leader keeps taking acks=1 writes from its side only until it
  finds itself isolated (no heartbeat acknowledged for
  broker.session.timeout.ms, less a margin). It stops acknowledging before
  the controllers fence it, so its last acknowledgement arrives before the
  test sees another replica lead, and it says so in its log;
- another replica leads, and acks=all writes from the majority's side go on
  there, none lost;
- after the link is healed the old leader rejoins the ISR and cuts the tail
  it wrote alone (KIP-101/279): every value it acknowledged is either at its
  acknowledged offset or gone, some are gone, and every replica's log is
  identical, batch by batch (CRCs from the segment files).
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from clustertest import UNFENCED_RE, admin_for, create, partitions_of, wait_until
from netns import Network, network  # noqa: F401 - the fixture
from sluicetest import ROOT
from test_replication import (AckedProducer, assert_replicas_identical, high_watermark, leader_of,
                              read_all, segment_batches, wait_isr)

ISOLATED_RE = re.compile(r"\[broker-session\] isolated: no heartbeat acknowledged")


def acked_count(log_path):
    with open(log_path, "rb") as f:
        lines = [x for x in f.read().decode(errors="replace").splitlines()
                 if x.startswith("acked ")]
    return int(lines[-1].split()[1]) if lines else 0


def test_cut_off_leader_stops_acknowledging_and_truncates(network, clusters, tmp_path):
    cluster = clusters(hosts=network.hosts, netns=network.namespaces,
                       overrides={"replica.lag.time.max.ms": "3000"})
    topic = "partitioned"
    assert create(admin_for(cluster), topic, 1, 3, {"min.insync.replicas": "2"}) is None
    wait_isr(cluster, topic, [1, 2, 3])
    victim = leader_of(cluster, topic)
    cut = victim.node_id - 1

    # The majority's side: acks=all, all the time.
    majority = AckedProducer(cluster, topic)
    stop = threading.Event()
    sent = [0]

    def produce():
        while not stop.is_set():
            majority.send(f"m:{sent[0]}")
            sent[0] += 1
            if sent[0] % 20 == 0:
                time.sleep(0.02)

    # The leader's side: acks=1 straight at the leader, from its namespace.
    stop_file, out, log = (str(tmp_path / n) for n in ("iso.stop", "iso.json", "iso.log"))
    with open(log, "wb") as f:
        lone = subprocess.Popen(
            network.exec_prefix(cut) + [sys.executable,
                                        os.path.join(ROOT, "tests", "clients", "timed_producer.py"),
                                        victim.bootstrap, topic, "iso", "1", stop_file, out],
            stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    writer = threading.Thread(target=produce)
    writer.start()
    healed = False
    try:
        wait_until(lambda: acked_count(log) > 100 and len(majority.acked) > 100, 60,
                   "writes acknowledged on both sides before the cut")
        t_cut = time.time()
        network.cut(cut)
        leader_of(cluster, topic, exclude=(victim.node_id,))
        t_new_leader = time.time()
        before = len(majority.acked)
        wait_until(lambda: len(majority.acked) > before + 200, 60,
                   "acks=all writes going on at the new leader")
        wait_until(lambda: ISOLATED_RE.search(victim.log_text()), 30,
                   f"{victim.name} to log that it is isolated")
        open(stop_file, "w").close()
        assert lone.wait(timeout=60) == 0, open(log).read()[-3000:]
        network.heal(cut)
        healed = True
        cluster.wait_healthy()
        wait_isr(cluster, topic, [1, 2, 3])
    finally:
        stop.set()
        writer.join()
        if not healed:
            network.heal(cut)
        if lone.poll() is None:
            lone.kill()
            lone.wait()
    majority.flush()

    with open(out) as f:
        outcomes = json.load(f)["outcomes"]
    acks = [o for o in outcomes if o[2] is None]
    after_cut = [o for o in acks if o[3] > t_cut]
    refused = [o for o in outcomes if o[2] is not None and o[3] > t_cut]
    shown = (f"cut at {t_cut:.3f}, new leader seen {t_new_leader - t_cut:.2f}s later; "
             f"{len(acks)} acks=1 acknowledged, {len(after_cut)} after the cut, the last "
             f"{(acks[-1][3] - t_cut) if acks else 0:.2f}s after it; refused after the cut: "
             f"{sorted({o[2] for o in refused})}")
    print(shown)
    # It stopped acknowledging before anyone else could lead.
    assert acks and acks[-1][3] < t_new_leader, shown
    assert refused, f"the isolated leader never refused a write: {shown}"

    # Majority side: nothing acknowledged lost, every value at its offset.
    assert not majority.failed, majority.failed[:5]
    assert len(majority.acked) == sent[0]
    hw = high_watermark(cluster, topic, 0)
    got = read_all(cluster, topic, 0, hw)
    for value, (_, offset) in majority.acked.items():
        assert got.get(offset) == value, f"{value} acknowledged at {offset}, read {got.get(offset)}"
    # The lone leader's tail is cut, not kept: what it acknowledged alone
    # after the cut is gone, nothing moved to another offset.
    where = {v: o for o, v in got.items()}
    for value, offset, _, _ in acks:
        assert where.get(value, offset) == offset, f"{value} moved from {offset}"
    lost_alone = [v for v, o, _, _ in after_cut if got.get(o) != v]
    assert lost_alone, f"no divergent tail was cut: {shown}"
    wait_until(lambda: all(
        any(x[1] == hw - 1 for x in segment_batches(b, topic, 0)) for b in cluster), 30,
        "every replica at the high watermark")
    assert_replicas_identical(cluster, topic, 0, hw)
    logs = [segment_batches(b, topic, 0) for b in cluster]
    assert all(log == logs[0] for log in logs), "a replica kept a divergent tail"


@pytest.fixture
def network5():
    net = Network(5).setup()
    yield net
    net.teardown()


def _fetch_rule(network, node, leader, action):
    """Add (-A) or delete (-D) the rule, in node's namespace, that drops its
    packets to the leader's replication listener."""
    subprocess.run(network.exec_prefix(node.node_id - 1) + [
        "iptables", action, "OUTPUT", "-d", leader.host, "-p", "tcp", "--dport",
        str(leader.replication_port), "-j", "DROP"], check=True, timeout=30)


def block_fetches(network, node, leader):
    """node can register and heartbeat, but not fetch from the leader."""
    _fetch_rule(network, node, leader, "-A")


def unblock_fetches(network, node, leader):
    _fetch_rule(network, node, leader, "-D")


def test_broker_back_with_an_empty_disk_is_not_electable(network5, clusters):
    """KIP-903: a follower killed, its log lost, and restarted at once
    registers with a new broker epoch and is out of the ISR from that
    registration on. Kept from catching up (its fetches to the leader are
    dropped), it stays out; with the leader and the other in-sync replica
    dead it is not elected (five nodes, so the controller quorum survives):
    the partition waits without a leader, and once a former ISR member is
    back nothing acknowledged is lost and the emptied replica catches up."""
    import shutil
    net = network5
    cluster = clusters(n=5, hosts=net.hosts, netns=net.namespaces)
    topic = "empty-disk"
    assert create(admin_for(cluster), topic, 1, 3, {"min.insync.replicas": "2"}) is None
    s = cluster.wait_status(lambda s: partitions_of(s, topic) and
                            len(partitions_of(s, topic)[0]["isr"]) == 3, 60, "a full ISR")
    part = partitions_of(s, topic)[0]
    leader = cluster.node(part["leader"])
    emptied, other = (cluster.node(r) for r in part["replicas"] if r != leader.node_id)
    p = AckedProducer(cluster, topic)
    for i in range(2000):
        p.send(f"a:{i}")
    p.flush()
    emptied.kill()
    shutil.rmtree(os.path.join(emptied.data_dir, f"{topic}-0"))
    block_fetches(net, emptied, leader)
    emptied.start()
    wait_until(lambda: UNFENCED_RE.search(emptied.log_text()), 60,
               f"{emptied.name} registered again and unfenced")
    wait_isr(cluster, topic, [leader.node_id, other.node_id])
    for i in range(500):
        p.send(f"b:{i}")
    p.flush()
    assert not p.failed and len(p.acked) == 2500
    leader.kill()
    other.kill()
    survivors = {b.node_id for b in cluster if b.running()}
    cluster.wait_status(lambda s: {b["id"] for b in s["brokers"] if b["status"] == "alive"} ==
                        survivors, 60, "the dead replicas fenced")
    # A few heartbeats more: still no leader, and never the emptied replica.
    for _ in range(10):
        s = cluster.status()
        if s is not None:
            part = partitions_of(s, topic)[0]
            assert part["leader"] != emptied.node_id, f"the emptied replica leads: {part}"
            assert emptied.node_id not in part["isr"], part
        time.sleep(cluster.heartbeat_ms / 1000)
    assert part["leader"] in (-1, 0), part
    unblock_fetches(net, emptied, leader)
    other.start()
    leader.start()
    cluster.wait_healthy()
    wait_isr(cluster, topic, sorted(part["replicas"]))
    hw = high_watermark(cluster, topic, 0)
    got = read_all(cluster, topic, 0, hw)
    for value, (_, offset) in p.acked.items():
        assert got.get(offset) == value, f"{value} acknowledged at {offset}, read {got.get(offset)}"
    wait_until(lambda: any(x[1] == hw - 1 for x in segment_batches(emptied, topic, 0)), 60,
               "the emptied replica caught up")
    assert_replicas_identical(cluster, topic, 0, hw, nodes=[leader, emptied, other])
