"""Moving partitions with sluicectl (issue 13): `sluicectl partition
elect-leaders` (kafka-leader-election.sh's options) really moves leadership
back to the preferred replica after a failover. auto.leader.rebalance.enable
is off here, so only the command moves it."""

import json
import os
import subprocess
import threading

from confluent_kafka import Consumer, Producer, TopicPartition

from clustertest import admin_for, create, partitions_of, wait_until
from conftest import GO_DIR
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


# ---- reassignment (KIP-455) ------------------------------------------------

class IdempotentProducer:
    """acks=all, idempotent, in a thread until stopped, round-robin over the
    partitions; remembers (partition, offset, value) of every acknowledged
    record. Values are unique, so a duplicate in the log is visible."""

    def __init__(self, bootstrap, topic, partitions):
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                           "enable.idempotence": True, "linger.ms": 2,
                           "message.timeout.ms": 120000, "socket.timeout.ms": 10000})
        self.topic, self.partitions, self.acked, self.sent = topic, partitions, [], 0
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def on_delivery(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            self.errors.append(err)

    def run(self):
        while not self.stop.is_set():
            try:
                self.p.produce(self.topic, value=b"v%08d" % self.sent,
                               partition=self.sent % self.partitions, on_delivery=self.on_delivery)
                self.sent += 1
            except BufferError:
                pass
            self.p.poll(0.005)
        self.p.flush(120)

    def wait_more(self, n, what):
        base = len(self.acked)
        wait_until(lambda: len(self.acked) >= base + n, 90, what)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(150)


def read_back_exactly_once(bootstrap, topic, partitions, acked):
    """Every acknowledged record at its offset, and no value twice."""
    ends = {}
    for part, off, _ in acked:
        ends[part] = max(ends.get(part, -1), off)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reassign-check",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {}

    def done():
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.setdefault(m.partition(), {})[m.offset()] = m.value()
        return all(max(got.get(p, {-1: None})) >= e for p, e in ends.items())
    try:
        wait_until(done, 120, "every acknowledged record read back", interval=0)
    finally:
        c.close()
    for part, off, value in acked:
        assert got[part].get(off) == value, \
            f"partition {part} offset {off}: acked {value!r}, read {got[part].get(off)!r}"
    values = [v for offs in got.values() for v in offs.values()]
    dups = {v for v in values if values.count(v) > 1}
    assert not dups, f"duplicated records: {sorted(dups)[:10]}"


def reassign(boot, plan_path, mode):
    return sluicectl("partition", "reassign", "--bootstrap-server", boot,
                     "--reassignment-json-file", str(plan_path), mode)


def run_franz(binary, name, bootstrap, env):
    env = dict(os.environ, SLUICE_BOOTSTRAP=bootstrap, **env)
    p = subprocess.run([binary, "-test.v", "-test.count=1", "-test.timeout=60s",
                        "-test.run", f"^{name}$"], cwd=GO_DIR, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=90)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and f"--- PASS: {name}" in out, out[-6000:]


def test_reassignment_and_decommission_under_load(clusters, request, tmp_path,
                                                  franz_test_binary):
    """Partition 0 moves from {a, b} (a leading) to {b, c} while an acks=all
    idempotent producer writes; c is down when the move starts, so the move
    is held in progress and listed (sluicectl --verify, kadm), until c comes
    back, catches up and joins the ISR: then the replica set switches,
    leadership leaves a, and a deletes its copy. A cancelled move leaves the
    replicas as they were. Finally `sluicectl broker decommission` empties
    a broker. Nothing acknowledged is lost or duplicated."""
    c = clusters(3, overrides={"auto.leader.rebalance.enable": "false"})
    topic = unique_topic(request)
    partitions = 3
    assert create(admin_for(c), topic, partitions, 2, {"min.insync.replicas": "2"}) is None
    parts = wait_until(lambda: (lambda p: p if p and all(x["leader"] > 0 and len(x["isr"]) == 2
                                                         for x in p.values()) else None)(
        leaders(c, topic)), 60, "leaders and full ISRs")
    a, b = parts[0]["replicas"]
    wait_until(lambda: leaders(c, topic)[0]["leader"] == a, 30, "partition 0 led by " + str(a))
    third = next(n.node_id for n in c if n.node_id not in (a, b))
    boot = c.node(b).bootstrap
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [b, third], "log_dirs": ["any", "any"]}]}))

    with IdempotentProducer(c.bootstrap, topic, partitions) as prod:
        prod.wait_more(300, "300 acknowledged records")
        c.node(third).kill()
        p = reassign(boot, plan, "--execute")
        assert p.returncode == 0, p.stderr
        out = p.stdout.decode()
        assert "Current partition replica assignment" in out
        assert f'"partition":0,"replicas":[{a},{b}]' in out
        assert f"Successfully started partition reassignment for {topic}-0" in out

        # Held in progress while the new replica's broker is down.
        v = reassign(boot, plan, "--verify")
        assert v.returncode == 1 and f"Reassignment of partition {topic}-0 is still in progress" \
            in v.stdout.decode(), v.stdout + v.stderr
        run_franz(franz_test_binary, "TestListReassignmentsInProgress", boot, {
            "SLUICE_REASSIGN_TOPIC": topic, "SLUICE_REASSIGN_PARTITION": "0",
            "SLUICE_REASSIGN_REPLICAS": f"{b},{third},{a}", "SLUICE_REASSIGN_ADDING": str(third),
            "SLUICE_REASSIGN_REMOVING": str(a)})
        prod.wait_more(200, "writes acknowledged during the move")

        c.node(third).start()
        wait_until(lambda: reassign(boot, plan, "--verify").returncode == 0, 120,
                   "the reassignment complete")
        parts = leaders(c, topic)
        assert parts[0]["replicas"] == [b, third]
        assert parts[0]["leader"] in (b, third) and sorted(parts[0]["isr"]) == sorted([b, third])
        # The removed replica deletes its copy.
        gone = os.path.join(c.node(a).data_dir, f"{topic}-0")
        wait_until(lambda: not os.path.exists(gone), 60, f"{gone} deleted")
        prod.wait_more(200, "writes acknowledged after the move")

        # Cancel: a move held in progress (its target broker down) goes back.
        back = tmp_path / "back.json"
        back.write_text(json.dumps({"version": 1, "partitions": [
            {"topic": topic, "partition": 0, "replicas": [b, a]}]}))
        c.node(a).kill()
        assert reassign(boot, back, "--execute").returncode == 0
        assert reassign(boot, back, "--verify").returncode == 1
        p = reassign(boot, back, "--cancel")
        assert p.returncode == 0, p.stderr
        assert reassign(boot, back, "--cancel").returncode == 1  # nothing left to cancel
        wait_until(lambda: leaders(c, topic)[0]["replicas"] == [b, third], 30,
                   "the replicas as before the cancelled move")
        c.node(a).start()
        c.wait_healthy()
        prod.wait_more(200, "writes acknowledged after the cancellation")

        # Decommission: every replica leaves broker b.
        d = sluicectl("broker", "decommission", str(b), "--bootstrap-server",
                      c.node(third).bootstrap, "--wait-timeout-ms", "180000")
        assert d.returncode == 0, d.stdout + d.stderr
        parts = leaders(c, topic)
        assert all(b not in p["replicas"] for p in parts.values()), parts
        for i in range(partitions):
            wait_until(lambda: not os.path.exists(os.path.join(c.node(b).data_dir,
                                                               f"{topic}-{i}")),
                       60, f"{topic}-{i} deleted on broker {b}")
        prod.wait_more(200, "writes acknowledged after the decommission")
    assert not prod.errors, prod.errors[:5]
    read_back_exactly_once(c.node(third).bootstrap, topic, partitions, prod.acked)
