"""The active controller commits a partition leader's ISR change and is
killed (SIGKILL) before its answer reaches the leader, which lives on
(Kafka's AlterPartition, KIP-497; broker/replica/replica_isr.h,
controller/service_alter.c).

The cluster, the iptables rules and the final checks are those of
test_isr_answer_lost.py: nodes in network namespaces, RF=3,
min.insync.replicas=2, idempotent acks=all; L leads the partition, B is the
active controller (and a replica), X the third replica. L's controller
requests reach B only and nothing but the TCP handshake comes back, so B
commits the change and L never hears of it; then B is killed and L reaches
the other controllers. L sends its proposal again, against the partition
epoch it proposed from, and the new active controller finds that epoch
moved on. Kafka's answers: success with the committed state when the
committed ISR is the one proposed, else INVALID_UPDATE_VERSION (the leader
then waits for the metadata's newer partition epoch). Either way the leader
must end up using the committed ISR: not keep a stale one, not propose
again and again.

- A shrink, the retry answered with success: B is kept from fetching, L
  proposes the ISR without it, B commits that and is killed. Writes made
  meanwhile wait for B, which L still counts (its proposal is unresolved);
  once L knows the outcome they are acknowledged by L and X alone. B, dead,
  is outside the committed ISR, so its fencing changes nothing here: a
  leader that kept counting B would hold them for ever.
- An expansion, then the epoch moved again: B, kept from fetching, is
  committed out of the ISR the ordinary way; then, L's answers dropped, B
  fetches again, L proposes it back and B commits the full ISR. B's own
  broker is then cut from the controllers, so B fences it and takes it out
  of the ISR again; B is killed. L's retry (the full ISR) no longer matches
  the committed ISR: it is answered INVALID_UPDATE_VERSION, or the metadata
  settles it first, whichever comes first. Meanwhile L, unanswered for a
  session, counts itself isolated, so it may shrink the ISR and grow it
  again once back.

Both: the partition keeps its leader and leader epoch; L stops proposing
(no resends, no further commits); the Kafka Metadata of L and of X shows
the committed ISR, the one L acknowledges acks=all writes with; the high
watermark never goes back; once B is back and in the ISR again, every
acknowledged value is at its offset and nowhere else, and every replica's
log is the same, batch by batch.
"""

import re
import time

from clustertest import partitions_of, wait_until
from netns import network  # noqa: F401 - the fixture
from test_isr_answer_lost import Case, Rules

# Slower than test_isr_answer_lost.py's, so that a follower the leader
# serves is not taken out of the ISR for a scheduling hiccup on a busy
# machine (while the leader's answers are dropped such a proposal would
# never be answered, and block the one under test); the session is longer
# to match, so the leader is not cut off for a session before the new
# controller answers it in the shrink case.
OVERRIDES = {"replica.lag.time.max.ms": "2000"}
SESSION_MS = 10000
# Longer than a few rounds of the leader's resends
# (REPLICA_ISR_ALTER_RETRY_MS, 500 ms): a loop shows within it.
QUIET_S = 3.0
PROPOSAL_RE = re.compile(r"ISR change|shrinking the ISR|proposing it for the ISR")


def proposal_lines(c, node):
    """node's log lines about this partition's ISR proposals and their
    answers: proposals, answers applied, refusals, a lost compare-and-set,
    and the rounds of unanswered ones that name it."""
    own = re.compile(rf"topic={re.escape(c.topic)} partition={c.index}\b")
    name = f"{c.topic}-{c.index}"
    out = []
    for line in node.log_text().splitlines():
        if not PROPOSAL_RE.search(line):
            continue
        first = re.search(r" first=(\S+)", line)
        if own.search(line) or (first and name in first.group(1).split(",")):
            out.append(line)
    return out


def isr_metadata(c, node):
    """The partition's ISR in node's own Kafka Metadata answer (kcat -L)."""
    md = c.cluster.kafka_metadata(node, c.topic)
    topic = next(t for t in md["topics"] if t["topic"] == c.topic)
    part = next(p for p in topic["partitions"] if p["partition"] == c.index)
    return sorted(r["id"] for r in part["isrs"])


def kill_controller(c, rules, b, committed):
    """Kill B, the active controller that committed `committed` (the
    partition's state in the controllers' status) without L hearing, and
    let L reach the other controllers: one of them takes over. What comes
    from B's controller port is still dropped at L: B's kernel goes on
    retransmitting the answers its process sent (and on closing the
    sockets), as a crashed host would not."""
    assert c.cluster.leader() is b, "B lost the quorum before it was killed"
    b.kill()
    rules.clear(c.leader, "OUTPUT")
    s = c.cluster.wait_status(lambda s: s["leader_id"] > 0 and s["leader_id"] != b.node_id, 60,
                              "a new active controller", timeout_ms=400)
    part = partitions_of(s, c.topic)[c.index]
    assert part["partition_epoch"] >= committed["partition_epoch"], (part, committed)
    assert part["leader"] == c.leader.node_id, f"the partition changed leader: {part}"
    assert part["leader_epoch"] == committed["leader_epoch"], part


def isolated(node):
    """Whether node counted itself cut off from the controllers at some
    point (no heartbeat acknowledged within the session timeout): it then
    refuses its followers' fetches, so once back it may take them out of
    the ISR and in again."""
    return "isolated: no heartbeat acknowledged" in node.log_text()


def wait_quiet(c):
    """The state of the partition once L has stopped proposing changes to
    it: QUIET_S without a proposal or an answer in L's log and without a
    commit. A leader that keeps proposing never gets there."""
    def quiet():
        lines, before = proposal_lines(c, c.leader), c.state()
        time.sleep(QUIET_S)
        after = c.state()
        again = proposal_lines(c, c.leader)[len(lines):]
        return after if not again and after["partition_epoch"] == before["partition_epoch"] \
            else again or "committed again"
    return wait_until(quiet, 30, "the leader done proposing")


def assert_converged(c, isr, writes):
    """The `writes` (50) acknowledged, then as many more: L, which
    acknowledges acks=all writes only with an ISR of min.insync.replicas,
    uses one of live members only. L stops proposing; the partition's ISR
    is then `isr` (ids), for the controllers and in the Metadata of every
    live replica; the high watermark never went back. Returns the
    partition's state."""
    c.producer.flush(60)
    assert not c.producer.failed, c.producer.failed[:5]
    assert all(f"{writes}:{i}" in c.producer.acked for i in range(50))
    part = wait_quiet(c)
    assert sorted(part["isr"]) == sorted(isr), part
    assert part["leader"] == c.leader.node_id, part
    for node in (c.leader, c.x):
        assert isr_metadata(c, node) == sorted(isr), f"{node.name}'s Metadata"
    c.check_high_watermark()
    c.send(f"{writes}-after", 50)
    c.producer.flush(60)
    assert not c.producer.failed, c.producer.failed[:5]
    c.check_high_watermark()
    return part


def test_controller_killed_after_committing_shrink(network, clusters):
    c = Case(network, clusters, "ctl-killed-shrink", SESSION_MS, OVERRIDES)
    leader, b, x = c.leader, c.b, c.x
    rules = Rules(network)
    try:
        answered = c.shrink_unanswered(rules, b)
        committed = c.state(
            lambda part: sorted(part["isr"]) == sorted([leader.node_id, x.node_id]),
            "the ISR without B committed")
        assert committed["leader"] == leader.node_id, committed
        assert committed["partition_epoch"] > c.before["partition_epoch"], committed
        # Until L knows, it counts B (the ISR it had) for the high watermark.
        acked = len(c.producer.acked)
        c.send("t", 50)
        c.producer.producer.poll(1.0)
        assert len(c.producer.acked) == acked, "acknowledged before the leader knew its ISR"
        assert c.isr_answers(leader) == answered, "the answer reached the leader"
        c.check_high_watermark()

        kill_controller(c, rules, b, committed)
        part = assert_converged(c, [leader.node_id, x.node_id], "t")
        if not isolated(leader):
            # The change B committed, not a commit of its retry.
            assert part["partition_epoch"] == committed["partition_epoch"], (part, committed)
        c.heal_and_check(rules)
    finally:
        rules.clear()


def test_controller_killed_after_committing_expansion_then_fencing(network, clusters):
    c = Case(network, clusters, "ctl-killed-expand", SESSION_MS, OVERRIDES)
    leader, b, x = c.leader, c.b, c.x
    rules = Rules(network)
    try:
        rules.fetches(b, leader)
        shrunk = c.state(lambda part: sorted(part["isr"]) == sorted([leader.node_id, x.node_id]),
                         "B out of the ISR")
        wait_until(lambda: c.isr_answers(leader) >= 1, 30, "the leader applying the shrink")
        answered = c.isr_answers(leader)
        rules.controller_answers(c.cluster, leader, b)
        rules.clear(b)
        committed = c.state(lambda part: sorted(part["isr"]) == [1, 2, 3],
                            "B back in the committed ISR")
        assert committed["leader"] == leader.node_id, committed
        assert committed["partition_epoch"] > shrunk["partition_epoch"], committed
        # B's broker cut from the controllers, B's own included: once its
        # session lapses B fences it and takes it out of the ISR again, a
        # second change L does not hear of.
        rules.controller_requests(c.cluster, b)
        moved = c.state(lambda part: sorted(part["isr"]) == sorted([leader.node_id, x.node_id]),
                        "B fenced and out of the committed ISR")
        assert moved["partition_epoch"] > committed["partition_epoch"], moved
        assert c.isr_answers(leader) == answered, "an answer reached the leader"

        kill_controller(c, rules, b, moved)
        c.send("t", 50)
        part = assert_converged(c, [leader.node_id, x.node_id], "t")
        assert part["partition_epoch"] >= moved["partition_epoch"], (part, moved)
        c.heal_and_check(rules)
    finally:
        rules.clear()
