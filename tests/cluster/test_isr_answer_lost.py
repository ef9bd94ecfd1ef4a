"""A partition leader's ISR change whose fate it never learns, then the
leader dies (Kafka's AlterPartition, KIP-497; broker/replica/replica_isr.h).

Each node runs in its own network namespace (netns.py), so one node's
controller traffic can be dropped with iptables while its raft traffic
(CONTROLLER port + 1), its Kafka listener and its replication go on. RF=3,
min.insync.replicas=2, acks=all; leader L, followers B and X.

- The answer is lost after the commit: L's controller requests reach the
  active controller (B) only, and nothing it sends back but the TCP
  handshake reaches L (iptables in L's namespace), then X is kept from
  fetching. L proposes the ISR without X, the active controller
  commits it (the controllers' status shows it), L never hears (it logs no
  answer). B is then kept from fetching too and L takes a few writes it
  holds alone; L is killed. The new leader must come from the committed
  ISR: B, never X. Nothing acknowledged is lost, the high watermark never
  goes back, and L, back, cuts the tail it wrote alone: every replica's log
  is the same, batch by batch (with leader epochs).
- The request is lost before the commit: L's requests to the controllers
  are dropped, then X is kept from fetching. L proposes the ISR without X
  and waits for an answer that never comes: writes B has fetched must not
  be acknowledged, since the committed ISR still holds X. B's controller
  traffic is dropped too, so once L is killed the controllers fence L and B
  and must elect X, the one ISR member left, which lacks those writes: any
  of them acknowledged would be lost. L and B, back, cut their tails.
"""

import os
import re
import subprocess

import pytest
from confluent_kafka import Producer

from clustertest import admin_for, create, partitions_of, wait_until
from netns import network  # noqa: F401 - the fixture
from sluicetest import run
from test_replication import (AckedProducer, assert_replicas_identical, read_all,
                              segment_batch_headers, wait_isr)

OVERRIDES = {"replica.lag.time.max.ms": "1000"}
# Long enough that a leader cut off from the controllers is still leading
# (not isolated yet) when it proposes the ISR without a follower that
# stopped fetching a replica.lag.time.max.ms earlier.
SESSION_MS = 8000
STATUS_TIMEOUT_MS = 400


class Rules:
    """iptables rules in the nodes' namespaces, each removed by clear()
    (the nodes must reach the controllers again to stop cleanly)."""

    def __init__(self, network):
        self.network = network
        self.added = []

    def _run(self, node, action, chain, rule):
        subprocess.run(self.network.exec_prefix(node.node_id - 1) +
                       ["iptables", action, chain, *rule], check=True, timeout=30)

    def add(self, node, chain, *rule):
        self._run(node, "-A", chain, rule)
        self.added.append((node, chain, rule))

    def clear(self, node=None, chain=None):
        """Remove the rules added in node's namespace (default: every
        node's), only those of `chain` if given."""
        kept = []
        while self.added:
            n, c, rule = self.added.pop()
            if node in (None, n) and chain in (None, c):
                self._run(n, "-D", c, rule)
            else:
                kept.append((n, c, rule))
        self.added = kept[::-1]

    def fetches(self, follower, leader):
        """follower still registers and heartbeats, but cannot fetch: both
        ways, or the answer to a fetch parked at the leader would still
        bring the next records."""
        port = str(leader.replication_port)
        self.add(follower, "OUTPUT", "-d", leader.host, "-p", "tcp", "--dport", port, "-j", "DROP")
        self.add(follower, "INPUT", "-s", leader.host, "-p", "tcp", "--sport", port, "-j", "DROP")

    def controller_answers(self, cluster, node, active):
        """node's controller clients reach only the active controller (the
        others refuse their connections at once, so no request waits on
        one), and hear nothing from it but the handshake: every request
        arrives, no AlterPartition answer, heartbeat answer or metadata
        comes back."""
        others = [port_of(n) for n in cluster if n is not active]
        self.add(node, "OUTPUT", "-p", "tcp", "-m", "multiport", "--dports", ",".join(others),
                 "-j", "REJECT", "--reject-with", "tcp-reset")
        self.add(node, "INPUT", "-s", active.host, "-p", "tcp", "--sport", port_of(active),
                 "--tcp-flags", "SYN", "NONE", "-j", "DROP")

    def controller_requests(self, cluster, node):
        """Nothing node's controller clients send reaches a controller."""
        self.add(node, "OUTPUT", "-p", "tcp", "-m", "multiport", "--dports",
                 ",".join(port_of(n) for n in cluster), "-j", "DROP")


def port_of(node):
    """node's CONTROLLER port (raft listens on the next one)."""
    return node.controller.rsplit(":", 1)[1]


class Case:
    """The cluster and a topic of three partitions (the controllers spread
    their leaders) with a full ISR. The partition under test is one led by
    a node that is not the active controller: L leads it, B is the active
    controller, X the third replica. 200 records are acknowledged there."""

    def __init__(self, network, clusters, topic, session_ms=SESSION_MS, overrides=OVERRIDES):
        self.cluster = clusters(hosts=network.hosts, netns=network.namespaces,
                                session_ms=session_ms, overrides=overrides)
        self.topic = topic
        assert create(admin_for(self.cluster), topic, 3, 3, {"min.insync.replicas": "2"}) is None
        self.b = self.cluster.leader()
        s = self.cluster.wait_status(
            lambda s: partitions_of(s, topic) and len(partitions_of(s, topic)) == 3 and all(
                len(p["isr"]) == 3 for p in partitions_of(s, topic).values()),
            60, "every ISR full", timeout_ms=STATUS_TIMEOUT_MS)
        # Where it can, one whose replica list names X before B: a
        # controller electing in replica order, not from the ISR, would pick X.
        candidates = [(p["replicas"][-1] != self.b.node_id, i, p)
                      for i, p in partitions_of(s, topic).items()
                      if p["leader"] != self.b.node_id]
        _, self.index, self.before = min(candidates, key=lambda c: c[:2])
        self.leader = self.cluster.node(self.before["leader"])
        self.x = next(n for n in self.cluster if n not in (self.leader, self.b))
        self.producer = AckedProducer(self.cluster, topic)
        # Idempotent, so a value written twice is a violation (D), not the
        # retry of a request that timed out.
        self.producer.producer = Producer({
            "bootstrap.servers": self.cluster.bootstrap, "acks": "all", "linger.ms": 2,
            "enable.idempotence": True, "message.timeout.ms": 120000,
            "request.timeout.ms": 5000, "socket.timeout.ms": 10000,
            "topic.metadata.refresh.interval.ms": 500, "reconnect.backoff.max.ms": 500})
        self.send("a", 200)
        self.producer.flush()
        assert not self.producer.failed and len(self.producer.acked) == 200
        self.hws = [self.high_watermark()]

    def send(self, tag, n):
        for i in range(n):
            self.producer.send(f"{tag}:{i}", partition=self.index)
        self.producer.producer.poll(0)

    def high_watermark(self):
        """The partition's high watermark (ListOffsets latest) by kcat, a
        process that can be timed out: librdkafka's own watermark query
        once waited without end past its timeout here, right after a
        leader change."""
        def probe():
            p = run(["kcat", "-Q", "-b", self.cluster.bootstrap, "-t",
                     f"{self.topic}:{self.index}:-1"], timeout=20, check=False)
            m = re.search(rb" offset (\d+)$", p.stdout.strip()) if p.returncode == 0 else None
            return int(m.group(1)) if m else None
        # (the new leader may answer none until its followers fetched, KIP-207)
        return wait_until(lambda: (lambda hw: hw is not None and (hw,))(probe()), 60,
                          "the high watermark")[0]

    def check_high_watermark(self):
        """The high watermark now: never below one seen before (E)."""
        hw = self.high_watermark()
        assert hw >= max(self.hws), (hw, self.hws)
        self.hws.append(hw)

    def state(self, predicate=lambda part: True, what="the partition", timeout=60):
        """The partition in the controllers' status, once predicate holds."""
        s = self.cluster.wait_status(lambda s: partitions_of(s, self.topic) and predicate(
            partitions_of(s, self.topic)[self.index]), timeout, what,
            timeout_ms=STATUS_TIMEOUT_MS)
        return partitions_of(s, self.topic)[self.index]

    def batches(self, node):
        """segment_batch_headers of this partition in node's log."""
        return segment_batch_headers(node, self.topic, self.index)

    def log_end(self, node):
        """node's log end, from its segment files."""
        batches = self.batches(node)
        return batches[-1][1] + 1 if batches else 0

    def logged(self, node, what):
        return node.log_text().count(f"{what} topic={self.topic} partition={self.index} ")

    def isr_answers(self, node):
        """How many ISR changes node applied from a controller's answer."""
        return self.logged(node, "ISR changed")

    def shrink_proposals(self, node):
        return self.logged(node, "followers lag: shrinking the ISR")

    def shrink_unanswered(self, rules, follower):
        """The leader's controller requests reach only the active
        controller (B), which answers nothing it hears; `follower` is kept
        from fetching, until the leader proposes the ISR without it.
        Returns how many ISR answers the leader had applied before."""
        answered = self.isr_answers(self.leader)
        rules.controller_answers(self.cluster, self.leader, self.b)
        rules.fetches(follower, self.leader)
        wait_until(lambda: self.shrink_proposals(self.leader) >= 1, 30,
                   f"the leader proposing the ISR without {follower.name}")
        return answered

    def heal_and_check(self, rules):
        """Every rule gone and every node back: the ISR full again, 200 more
        acknowledged records, every acknowledged value at its offset, the
        high watermark never lower than one seen before, every replica's log
        the same batch by batch."""
        rules.clear()
        for n in self.cluster:
            if not n.running():
                n.start()
        self.cluster.wait_healthy()
        wait_isr(self.cluster, self.topic, [1, 2, 3], partition=self.index)
        self.send("c", 200)
        self.producer.flush()
        hw = self.high_watermark()
        assert hw >= max(self.hws), (hw, self.hws)
        got = read_all(self.cluster, self.topic, self.index, hw)
        for value, (_, offset) in self.producer.acked.items():
            assert got.get(offset) == value, \
                f"{value} acknowledged at {offset}, read {got.get(offset)}"
        seen = {}
        for offset, value in sorted(got.items()):
            seen.setdefault(value, []).append(offset)
        twice = {v: o for v, o in seen.items() if len(o) > 1}
        assert not twice, f"values at two offsets: {twice}"
        wait_until(lambda: all(self.log_end(n) >= hw for n in self.cluster), 60,
                   "every replica at the high watermark")
        assert_replicas_identical(self.cluster, self.topic, self.index, hw)
        logs = {n.name: self.batches(n) for n in self.cluster}
        first = logs[self.leader.name]
        for name, log in logs.items():
            assert log == first, f"{name} differs from {self.leader.name}: a divergent tail kept"


def test_committed_shrink_answer_lost_then_leader_dies(network, clusters):
    c = Case(network, clusters, "answer-lost")
    leader, b, x = c.leader, c.b, c.x
    rules = Rules(network)
    try:
        answered = c.shrink_unanswered(rules, x)
        # A tail only the leader holds: B stops fetching, writes come
        # (acks=all: they wait for X, whom the leader still counts).
        rules.fetches(b, leader)
        end_b = c.log_end(b)
        c.send("t", 50)
        wait_until(lambda: c.log_end(leader) > end_b, 30, "a tail on the leader alone")
        # The controllers commit the ISR without X; the leader never hears.
        part = c.state(lambda part: sorted(part["isr"]) == sorted([leader.node_id, b.node_id]),
                       "the ISR without X committed")
        assert part["leader"] == leader.node_id, part
        assert part["leader_epoch"] == c.before["leader_epoch"], part
        assert c.isr_answers(leader) == answered, "the answer reached the leader"
        leader.kill()

        part = c.state(lambda part: part["leader"] not in (-1, 0, leader.node_id),
                       "a new leader")
        assert part["leader"] == b.node_id, f"not elected from the committed ISR: {part}"
        assert part["leader_epoch"] > c.before["leader_epoch"], part
        c.check_high_watermark()
        c.heal_and_check(rules)
    finally:
        rules.clear()


def test_shrink_request_lost_leader_acknowledges_nothing_then_dies(network, clusters):
    c = Case(network, clusters, "request-lost")
    leader, b, x = c.leader, c.b, c.x
    acked = len(c.producer.acked)
    rules = Rules(network)
    try:
        rules.controller_requests(c.cluster, leader)
        rules.controller_requests(c.cluster, b)
        rules.fetches(x, leader)
        wait_until(lambda: c.shrink_proposals(leader) >= 1, 30,
                   "the leader proposing the ISR without X")
        end_x = c.log_end(x)
        c.send("t", 50)
        # B holds them: under the ISR the leader proposed they would be
        # committed, under the controllers' they are not.
        wait_until(lambda: c.log_end(b) > end_x and c.log_end(b) == c.log_end(leader), 30,
                   "B holding the writes")
        c.producer.producer.poll(1.0)
        assert len(c.producer.acked) == acked, \
            "acknowledged on an ISR the controllers never committed"
        part = c.state()
        assert sorted(part["isr"]) == [1, 2, 3] and part["leader"] == leader.node_id, part
        leader.kill()

        # L and B fenced: X, the one ISR member left, leads.
        part = c.state(lambda part: part["leader"] == x.node_id, "X elected")
        assert part["leader_epoch"] > c.before["leader_epoch"], part
        c.check_high_watermark()
        c.heal_and_check(rules)
    finally:
        rules.clear()
