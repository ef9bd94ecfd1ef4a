"""Helpers for multi-node tests: n sluiced processes with both roles
(process.roles=broker,controller) on loopback, observed through
`sluicectl cluster status --json` (the controllers' view) and kcat -L (each
broker's Kafka Metadata answer).

Ports: every node has a Kafka listener, a REPLICATION listener (the
inter-broker listener: followers fetch from leaders over Sluice's RPC there)
and a CONTROLLER listener; raft uses
the CONTROLLER port + 1 (controller/README.md), so CONTROLLER ports are
chosen with a free successor. Timing is short on purpose (session 3 s,
heartbeat 500 ms) so fencing is observable quickly; every wait polls against
a deadline.
"""

import json
import re
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from sluicetest import binary, free_port, run

SESSION_MS = 3000
HEARTBEAT_MS = 500
# A leader, three registered brokers, all unfenced: from a cold start on two
# busy cores this takes a few seconds (raft election timeout is 1 s).
HEALTHY_TIMEOUT = 30.0


# broker_session logs this when the controller unfences this process's
# registration, which it does only once the broker has caught up.
UNFENCED_RE = re.compile(r"\[broker-session\] broker unfenced\b")


def wait_until(probe, timeout, what, interval=0.2):
    """Call probe() until it returns something truthy; its last value is
    shown when the deadline passes. Exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = probe()
        except (AssertionError, OSError, ValueError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class Cluster:
    """n nodes with both roles. Nodes are `Broker`s (sluicetest.py) with
    `node_id` 1..n and `controller` ("127.0.0.1:port"); index with
    cluster.node(id) or cluster[i] (0-based)."""

    def __init__(self, factory, n=3, session_ms=SESSION_MS, heartbeat_ms=HEARTBEAT_MS,
                 overrides=None, hosts=None, netns=None):
        """hosts: each node's address (default all 127.0.0.1); netns: each
        node's network namespace (default none; see netns.py)."""
        self.session_ms = session_ms
        self.heartbeat_ms = heartbeat_ms
        # sluicectl --command-config for status(): set when the CONTROLLER
        # listener speaks mutual TLS (test_internal_tls.py).
        self.command_config = None
        hosts = hosts or ["127.0.0.1"] * n
        netns = netns or [None] * n
        ports = [free_port(pair=True) for _ in range(n)]
        voters = ",".join(f"{i + 1}@{hosts[i]}:{p}" for i, p in enumerate(ports))
        self.nodes = []
        for i in range(n):
            h = hosts[i]
            b = factory(start=False, node_id=i + 1, name=f"node{i + 1}", host=h, netns=netns[i])
            b.replication_port = free_port()
            b.overrides.update({
                "process.roles": "broker,controller",
                "listeners": f"PLAINTEXT://{h}:{b.port},CONTROLLER://{h}:{ports[i]},"
                             f"REPLICATION://{h}:{b.replication_port}",
                "advertised.listeners": f"PLAINTEXT://{h}:{b.port},"
                                        f"REPLICATION://{h}:{b.replication_port}",
                "inter.broker.listener.name": "REPLICATION",
                "controller.listener.names": "CONTROLLER",
                "controller.quorum.voters": voters,
                "broker.heartbeat.interval.ms": str(heartbeat_ms),
                "broker.session.timeout.ms": str(session_ms),
                "num.partitions": "3",
                "default.replication.factor": str(min(n, 3)),
            })
            b.overrides.update(overrides or {})
            b.controller = f"{h}:{ports[i]}"
            self.nodes.append(b)

    def __getitem__(self, i):
        return self.nodes[i]

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self):
        return len(self.nodes)

    def node(self, node_id):
        return self.nodes[node_id - 1]

    @property
    def bootstrap(self):
        """Every running node's Kafka listener, comma-separated."""
        return ",".join(b.bootstrap for b in self.nodes if b.running())

    def start(self, wait=True):
        """Start every stopped node (in parallel), wait until each is ready
        and, with wait, until the cluster is healthy."""
        stopped = [b for b in self.nodes if not b.running()]
        for b in stopped:
            b.spawn()
        for b in stopped:
            b.wait_ready()
        if wait:
            return self.wait_healthy()
        return None

    # -- the controllers' view ------------------------------------------------

    def status(self, timeout_ms=1000):
        """`sluicectl cluster status --json` against the running controllers
        (None while no leader is known). sluicectl asks every voter, so with
        a node down a call takes timeout_ms."""
        addrs = ",".join(b.controller for b in self.nodes if b.running())
        if not addrs:
            return None
        cmd = [binary("tools", "sluicectl", "sluicectl"), "cluster", "status", "--controller",
               addrs, "--json", "--timeout-ms", str(timeout_ms)]
        if self.command_config:
            cmd += ["--command-config", self.command_config]
        p = run(cmd, timeout=30, check=False)
        if p.returncode != 0:
            return None
        return json.loads(p.stdout)

    def wait_status(self, predicate, timeout, what, timeout_ms=1000):
        """Poll status() until predicate(status) holds; returns that status."""
        return wait_until(lambda: (lambda s: s if s is not None and predicate(s) else None)(
            self.status(timeout_ms)), timeout, what, interval=0.1)

    def wait_healthy(self, timeout=HEALTHY_TIMEOUT):
        """A raft leader and every running node registered and unfenced."""
        return self.wait_status(self.healthy, timeout, "a leader and all brokers unfenced")

    def healthy(self, s):
        """A leader, every running node alive in the image, and each running
        process itself unfenced (registered and caught up with the metadata).
        The image alone is not enough after a restart: a new raft leader
        gives the old registrations a fresh session, so they show as alive
        while the restarted brokers wait to register again."""
        running = [b for b in self.nodes if b.running()]
        alive = {b["id"] for b in s["brokers"] if b["status"] == "alive"}
        return (s["leader_id"] > 0 and alive == {b.node_id for b in running} and
                all(UNFENCED_RE.search(b.log_text()) for b in running))

    def leader(self, timeout=HEALTHY_TIMEOUT):
        """The node that leads the raft quorum now."""
        s = self.wait_status(lambda s: s["leader_id"] > 0, timeout, "a raft leader")
        return self.node(s["leader_id"])

    # -- the brokers' view (Kafka Metadata through kcat) -----------------------

    def kafka_metadata(self, b, topic=None, timeout=10):
        """Broker b's own Metadata answer, as kcat -L -J prints it. kcat asks
        its bootstrap broker first; an answer from another broker is retried."""
        def probe():
            cmd = ["kcat", "-L", "-J", "-b", b.bootstrap, "-m", "5"]
            if topic is not None:
                cmd += ["-t", topic]
            p = run(cmd, timeout=20, check=False)
            if p.returncode != 0:
                return None
            md = json.loads(p.stdout)
            return md if md.get("originating_broker", {}).get("id") == b.node_id else None
        return wait_until(probe, timeout, f"Metadata from {b.name}")


def broker_only_overrides(broker, voters):
    """The overrides of a node with process.roles=broker, as deploy/HOSTS.md
    configures one: its Kafka listener and a REPLICATION listener (on a free
    port) on loopback, and the running quorum's `voters`."""
    replication = free_port()
    return {
        "process.roles": "broker",
        "listeners": f"PLAINTEXT://127.0.0.1:{broker.port},REPLICATION://127.0.0.1:{replication}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{broker.port},"
                                f"REPLICATION://127.0.0.1:{replication}",
        "inter.broker.listener.name": "REPLICATION",
        "controller.listener.names": "CONTROLLER",
        "controller.quorum.voters": voters,
    }


def admin_for(cluster):
    """A confluent-kafka AdminClient bootstrapped from every running node."""
    return AdminClient({"bootstrap.servers": cluster.bootstrap, "socket.timeout.ms": 5000,
                        "reconnect.backoff.max.ms": 500,
                        "topic.metadata.refresh.interval.ms": 1000})


def create(admin, topic, partitions, rf, configs=None, timeout=20):
    """One CreateTopics; returns None on success, else the KafkaError."""
    fut = admin.create_topics([NewTopic(topic, partitions, rf, config=configs or {})],
                              operation_timeout=10, request_timeout=15)[topic]
    try:
        fut.result(timeout=timeout)
        return None
    except KafkaException as e:
        return e.args[0]
    except Exception as e:  # concurrent.futures.TimeoutError: outcome unknown
        return KafkaError(KafkaError._TIMED_OUT, str(e))


def read_back(bootstrap, topic, expected, group_id):
    """Read every partition of `expected` ({partition: [values]}) from the
    start with a confluent-kafka consumer (assigned, no commits) polling for
    up to 5 minutes; assert each holds exactly those values, in order."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id,
                  "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    try:
        c.assign([TopicPartition(topic, part, 0) for part in expected])
        want = sum(len(v) for v in expected.values())
        got = {}
        n = 0
        for _ in range(600):
            if n == want:
                break
            for m in c.consume(500, timeout=0.5):
                assert m.error() is None, m.error()
                got.setdefault(m.partition(), []).append(m.value())
                n += 1
        assert n == want, (n, want)
        for part, values in expected.items():
            assert got.get(part) == values, part
    finally:
        c.close()


def brokers_by_id(s):
    return {b["id"]: b for b in s["brokers"]}


def partitions_of(s, topic):
    """{partition: {leader, leader_epoch, isr, replicas, ...}} from a status."""
    for t in s["topics"]:
        if t["name"] == topic:
            return {p["partition"]: p for p in t["partitions"]}
    return None
