"""Moving partitions with sluicectl (issue 13): `sluicectl partition
elect-leaders` (kafka-leader-election.sh's options) really moves leadership
back to the preferred replica after a failover. auto.leader.rebalance.enable
is off here, so only the command moves it."""

import json
import logging
import os
import re
import subprocess
import threading

from confluent_kafka import Consumer, Producer, TopicPartition

from clustertest import admin_for, create, partitions_of, wait_until
from conftest import GO_DIR
from metricstest import scrape
from metricstest import value as value_of
from sluicetest import binary, free_port, run, unique_topic


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
    record. Values are unique, so a duplicate in the log is visible.

    One request in flight per connection: with more, librdkafka 2.0.2
    (Debian bookworm's) mishandles a race these tests provoke on purpose. A
    replica down takes an RF=2, min.insync.replicas=2 partition below its
    minimum; the producer retries its pipelined batches, each answered
    NOT_ENOUGH_REPLICAS, until the ISR grows back between two of them: the
    first is refused, the next gets OUT_OF_ORDER_SEQUENCE_NUMBER (as Kafka
    answers it). librdkafka then either fails the producer ("rewound sequence
    number", its #3584, fixed in 2.3.0; seen here twice in 65 runs), or bumps
    the producer's epoch, which re-sends every partition's possibly-written
    batches under new sequence numbers that no broker can recognise as
    retries (rdkafka_request.c, "skipped sequence numbers"): duplicates the
    broker did not make. Retries of batches written but not acknowledged
    (NOT_ENOUGH_REPLICAS_AFTER_APPEND, a leader change) still come, one at a
    time, and must be answered as duplicates. librdkafka's idempotence log
    (debug eos,msg) goes to `log_path` when one is given, for a failure's
    post-mortem."""

    def __init__(self, bootstrap, topic, partitions, log_path=None):
        conf = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                "max.in.flight.requests.per.connection": 1, "linger.ms": 2,
                "message.timeout.ms": 120000, "socket.timeout.ms": 10000,
                "error_cb": self.on_error}
        if log_path is not None:
            logger = logging.getLogger(f"idempotent-producer-{id(self)}")
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            logger.addHandler(logging.FileHandler(log_path, mode="w"))
            conf.update({"debug": "eos,msg", "logger": logger})
        self.log_path = log_path
        self.p = Producer(conf)
        self.topic, self.partitions, self.acked, self.sent = topic, partitions, [], 0
        self.errors = []
        # A fatal producer error (an idempotent producer's
        # OUT_OF_ORDER_SEQUENCE_NUMBER, say) or any exception that ends the
        # thread: the test fails on it, instead of waiting for acks that
        # never come or passing with a dead producer.
        self.fatal = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def on_error(self, err):
        if err.fatal():
            self.fatal.append(err)

    def on_delivery(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            self.errors.append(err)

    def run(self):
        try:
            while not self.stop.is_set():
                try:
                    self.p.produce(self.topic, value=b"v%08d" % self.sent,
                                   partition=self.sent % self.partitions,
                                   on_delivery=self.on_delivery)
                    self.sent += 1
                except BufferError:
                    pass
                self.p.poll(0.005)
            self.p.flush(120)
        except BaseException as e:  # noqa: B902 -- recorded, asserted by the test
            self.fatal.append(e)

    def log_excerpt(self, lines=80):
        """The producer's last errors, PID and epoch changes, from its log."""
        if self.log_path is None or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, errors="replace") as f:
            hits = [ln.rstrip() for ln in f if not ln.startswith("PRODUCE ") and re.search(
                r"error|fatal|bump|drain|DUPSEQ|ERRSEQ|NEWPID|RESETSEQ|IDEMPSTATE", ln, re.I)]
        return "\nproducer log (errors, PID, epochs; all of it: %s):\n%s" % (
            self.log_path, "\n".join(hits[-lines:]))

    def check(self):
        """Fails the test at once when the producer thread died or the
        producer hit a fatal error (RuntimeError: wait_until does not take
        it for "not yet")."""
        if self.fatal:
            raise RuntimeError(f"producer failed: {self.fatal[:3]}{self.log_excerpt()}")
        if not self.thread.is_alive() and not self.stop.is_set():
            raise RuntimeError("producer thread ended")

    def wait_more(self, n, what):
        base = len(self.acked)
        wait_until(lambda: self.check() or len(self.acked) >= base + n, 90, what)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(150)
        assert not self.thread.is_alive(), "producer thread did not finish its flush"


def read_back_exactly_once(bootstrap, topic, partitions, acked, context=lambda: ""):
    """Every acknowledged record at its offset, and no value twice;
    `context()` is added to a failure's message."""
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
            f"partition {part} offset {off}: acked {value!r}, read {got[part].get(off)!r}" \
            f"{context()}"
    values = [v for offs in got.values() for v in offs.values()]
    dups = {v for v in values if values.count(v) > 1}
    assert not dups, f"duplicated records: {sorted(dups)[:10]}{context()}"


def reassign(boot, plan_path, *mode):
    return sluicectl("partition", "reassign", "--bootstrap-server", boot,
                     "--reassignment-json-file", str(plan_path), *mode)


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

    with IdempotentProducer(c.bootstrap, topic, partitions,
                            log_path=tmp_path / "producer.log") as prod:
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
    prod.check()
    assert not prod.errors, prod.errors[:5]
    read_back_exactly_once(c.node(third).bootstrap, topic, partitions, prod.acked,
                           prod.log_excerpt)


# ---- replication throttles -------------------------------------------------

THROTTLE = 256 * 1024
FETCH_MAX = 256 * 1024  # replica.fetch.max.bytes: what one fetch may add past the limit


def log_end(samples, topic, partition):
    """The replica's log end offset from its /metrics (0 before it hosts it)."""
    return value_of(samples, "sluice_partition_log_end_offset", topic=topic,
                    partition=partition) or 0


def topic_configs(boot, topic):
    p = sluicectl("topic", "describe", topic, "--bootstrap-server", boot, "--json")
    assert p.returncode == 0, p.stderr
    return {k: v["value"] for k, v in json.loads(p.stdout)["configs"].items()}


def test_reassignment_throttle(clusters, request, tmp_path):
    """`reassign --execute --throttle 256KiB/s` sets Kafka's throttle configs
    (the topic's leader/follower throttled-replica lists, the brokers' rates);
    a replica added to a partition holding 6 MiB then catches up in
    observable steps (Kafka's rate windows let about ten seconds' worth
    through at once), the follower's measured rate never above the limit plus
    one fetch, the leader holding back what it serves. A higher throttle lets
    it finish, and `--verify` removes every throttle config."""
    c = clusters(3, start=False, overrides={"auto.leader.rebalance.enable": "false",
                                            "replica.fetch.max.bytes": str(FETCH_MAX)})
    for b in c:
        b.http_port = free_port()
        b.overrides["metrics.listener"] = f"127.0.0.1:{b.http_port}"
    c.start()
    topic = unique_topic(request)
    assert create(admin_for(c), topic, 1, 1) is None
    parts = wait_until(lambda: (lambda p: p if p and p[0]["leader"] > 0 else None)(
        leaders(c, topic)), 60, "a leader")
    src = parts[0]["leader"]
    dst = next(n.node_id for n in c if n.node_id != src)
    boot = c.node(src).bootstrap
    p = Producer({"bootstrap.servers": boot, "acks": "all", "linger.ms": 0,
                  "compression.type": "none"})
    value = os.urandom(8192)
    for i in range(768):  # 6 MiB in small batches, so fetches are small too
        p.produce(topic, value=value, key=b"%d" % i, partition=0)
        if i % 8 == 7:
            assert p.flush(30) == 0
    total = log_end(scrape(c.node(src).http_port), topic, 0)
    assert total == 768

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [src, dst]}]}))
    assert reassign(boot, plan, "--throttle", "-5", "--execute").returncode == 2
    assert reassign(boot, plan, "--throttle", "5", "--verify").returncode == 2
    x = reassign(boot, plan, "--execute", "--throttle", str(THROTTLE))
    assert x.returncode == 0, x.stdout + x.stderr
    assert f"The inter-broker throttle limit was set to {THROTTLE} B/s" in x.stdout.decode()
    cfg = topic_configs(boot, topic)
    assert cfg["leader.replication.throttled.replicas"] == f"0:{src}"
    assert cfg["follower.replication.throttled.replicas"] == f"0:{dst}"

    # Progress in steps: several distinct partial sizes seen on the new
    # replica, the follower's measured rate within the limit plus one fetch.
    seen = set()
    follower, leader = c.node(dst), c.node(src)

    def stepping():
        m = scrape(follower.http_port)
        now = log_end(m, topic, 0)
        if 0 < now < total:
            seen.add(now)
        assert value_of(m, "sluice_replication_throttle_limit_bytes", side="follower") == THROTTLE
        rate = value_of(m, "sluice_replication_throttle_rate_bytes", side="follower")
        assert rate <= THROTTLE + FETCH_MAX / 10 + 1, rate
        if now >= total:
            raise RuntimeError("the throttled move finished before its progress was seen: "
                               f"{sorted(seen)}; follower "
                               f"{[(k, v) for k, v in m.items() if 'throttle' in k[0]]}; leader "
                               f"{[(k, v) for k, v in scrape(leader.http_port).items() if 'throttle' in k[0]]}")
        # The rate is measured over 11 windows of 1 s (padded to 10 s while
        # younger, Kafka's Rate), so progress comes in bursts of about ten
        # seconds' worth: two partial sizes are two separate bursts.
        return len(seen) >= 2
    wait_until(stepping, 120, "throttled progress in steps", interval=0.2)
    assert reassign(boot, plan, "--verify").returncode == 1  # still in progress
    assert topic_configs(boot, topic)["follower.replication.throttled.replicas"] == f"0:{dst}"
    m = scrape(follower.http_port)
    assert value_of(m, "sluice_replication_throttled_bytes_total", side="follower") > 0
    held = (value_of(m, "sluice_replication_throttle_held_back_total", side="follower") +
            value_of(scrape(leader.http_port), "sluice_replication_throttle_held_back_total",
                     side="leader"))
    assert held > 0

    # Lift it (kafka-reassign-partitions.sh: --execute again with a new
    # --throttle): the move completes, and --verify clears the throttles.
    x = reassign(boot, plan, "--execute", "--throttle", str(1 << 40))
    assert x.returncode == 0, x.stdout + x.stderr
    wait_until(lambda: reassign(boot, plan, "--verify").returncode == 0, 120,
               "the reassignment complete")
    assert log_end(scrape(follower.http_port), topic, 0) == total
    cfg = topic_configs(boot, topic)
    assert cfg.get("leader.replication.throttled.replicas") in (None, "")
    assert cfg.get("follower.replication.throttled.replicas") in (None, "")
    # Each broker applies the removed rates from its own metadata, a moment
    # after the controller committed them (--verify's answer).
    def unthrottled():
        for n in c:
            m = scrape(n.http_port)
            for side in ("leader", "follower"):
                if value_of(m, "sluice_replication_throttle_limit_bytes", side=side) != -1:
                    return False
        return True
    wait_until(unthrottled, 30, "every broker's throttle limits lifted")


def test_replica_moved_away_while_down_is_deleted(clusters, request, tmp_path):
    """A replica reassigned away while its broker was down (Kafka's stray
    replica): on restart the broker deletes the directory, and only once it
    has caught up with the metadata (its log says so first)."""
    c = clusters(3, overrides={"auto.leader.rebalance.enable": "false"})
    topic = unique_topic(request)
    assert create(admin_for(c), topic, 1, 2) is None
    parts = wait_until(lambda: (lambda p: p if p and p[0]["leader"] > 0 and len(p[0]["isr"]) == 2
                                else None)(leaders(c, topic)), 60, "a leader and a full ISR")
    a, b = parts[0]["replicas"]
    third = next(n.node_id for n in c if n.node_id not in (a, b))
    p = Producer({"bootstrap.servers": c.bootstrap, "acks": "all"})
    for i in range(100):
        p.produce(topic, value=b"r%d" % i, partition=0)
    assert p.flush(30) == 0
    stray = os.path.join(c.node(b).data_dir, f"{topic}-0")
    wait_until(lambda: os.path.isdir(stray), 30, "the replica on " + str(b))

    c.node(b).kill()
    boot = c.node(a).bootstrap
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [a, third]}]}))
    assert reassign(boot, plan, "--execute").returncode == 0
    wait_until(lambda: reassign(boot, plan, "--verify").returncode == 0, 120,
               "the reassignment complete while " + str(b) + " is down")
    assert os.path.isdir(stray)  # it was down: nothing could delete it

    victim = c.node(b)
    victim.start()
    wait_until(lambda: not os.path.exists(stray), 60, f"{stray} deleted")
    log = victim.log_text()
    mark = log.rfind("accepting Kafka clients: caught up with the cluster metadata")
    stray_line = f"deleting a stray replica: the metadata does not assign topic={topic} partition=0"
    moved_line = f"no longer a replica: deleting topic={topic} partition=0"
    # Either the stray scan after catching up, or a metadata update that
    # named the move: never a guess from stale metadata.
    assert (mark >= 0 and log.find(stray_line) > mark) or moved_line in log, log[-3000:]
    # The moved partition still reads back whole from its new replicas.
    cons = Consumer({"bootstrap.servers": boot, "group.id": "stray-check",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
    cons.assign([TopicPartition(topic, 0, 0)])
    got = []
    try:
        wait_until(lambda: (lambda m: got.append(m.value()) if m is not None and m.error() is None
                            else None)(cons.poll(0.5)) or len(got) >= 100, 60, "100 records back",
                   interval=0)
    finally:
        cons.close()
    assert got == [b"r%d" % i for i in range(100)]
