"""docker-compose.yml: three nodes (broker and controller each) brought up
by deploy/docker/up, reached from the host by real clients through the
published ports. One node is killed (docker kill): the survivors fence it
and elect new leaders for its partitions, and clients carry on.

Each run is its own compose project (unique name, free host ports, short
session timeout) and is always torn down with `down -v`."""
import json
import os
import socket
import subprocess
import time
import uuid

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import BUILD_ENV, ROOT

SESSION_MS = 3000
HEARTBEAT_MS = 500
CONTROLLERS = "node1:9190,node2:9190,node3:9190"
TOPIC = "compose"
PARTITIONS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Project:
    def __init__(self, image):
        self.name = f"sluicetest{uuid.uuid4().hex[:8]}"
        self.ports = [free_port() for _ in range(3)]
        # BUILD_ENV: `up --build` finds sluice_image's layers and rebuilds nothing.
        self.env = dict(os.environ, SLUICE_IMAGE=image, **BUILD_ENV,
                        SLUICE_BROKER_SESSION_TIMEOUT_MS=str(SESSION_MS),
                        SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=str(HEARTBEAT_MS),
                        **{f"SLUICE_KAFKA_PORT_{i + 1}": str(p) for i, p in enumerate(self.ports)})

    def compose(self, *args, check=True, timeout=120):
        p = subprocess.run(["docker-compose", "-f", os.path.join(ROOT, "docker-compose.yml"),
                            "-p", self.name, *args], env=self.env, cwd=ROOT, text=True,
                           capture_output=True, timeout=timeout)
        if check:
            assert p.returncode == 0, f"docker-compose {args}: {p.stderr[-4000:]}"
        return p

    def bootstrap(self, nodes=(1, 2, 3)):
        return ",".join(f"127.0.0.1:{self.ports[n - 1]}" for n in nodes)

    def status(self, via):
        p = self.compose("exec", "-T", f"node{via}", "sluicectl", "cluster", "status",
                         "--controller", CONTROLLERS, "--json", "--timeout-ms", "1000",
                         check=False, timeout=30)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def wait_status(self, via, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.status(via)
            if last is not None and predicate(last):
                return last
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; last status: {last}")


@pytest.fixture
def project(sluice_image):
    proj = Project(sluice_image)
    try:
        up = subprocess.run([os.path.join(ROOT, "deploy/docker/up"), "-p", proj.name],
                            env=proj.env, cwd=ROOT, text=True, capture_output=True, timeout=600)
        assert up.returncode == 0, up.stderr[-6000:]
        assert proj.bootstrap((1,)) in up.stdout
        yield proj
    finally:
        # Shown by pytest only when the test fails.
        print(proj.compose("logs", "--no-color", "--tail", "150", check=False).stdout)
        proj.compose("down", "-v", "--remove-orphans", "-t", "10", check=False)


def kcat(*args, input=None, timeout=60):
    p = subprocess.run(["kcat", "-m", "10", "-X", "socket.timeout.ms=10000", *args], input=input,
                       capture_output=True, timeout=timeout)
    assert p.returncode == 0, f"kcat {args}: {p.stderr.decode(errors='replace')[-2000:]}"
    return p.stdout


def roundtrip(proj, nodes, tag):
    """Produce 20 values to every partition through `nodes`' ports and read
    the last 20 of each back."""
    for p in range(PARTITIONS):
        values = [f"{tag}-{p}-{i}".encode() for i in range(20)]
        kcat("-P", "-b", proj.bootstrap(nodes), "-t", TOPIC, "-p", str(p),
             input=b"\n".join(values) + b"\n")
        got = kcat("-C", "-q", "-e", "-b", proj.bootstrap(nodes), "-t", TOPIC, "-p", str(p),
                   "-o", "-20", "-f", "%s\n")
        assert got.splitlines() == values, f"partition {p}"


def leaders(status):
    topic = next(t for t in status["topics"] if t["name"] == TOPIC)
    return {p["partition"]: p for p in topic["partitions"]}


def test_compose_cluster_survives_a_killed_node(project):
    admin = AdminClient({"bootstrap.servers": project.bootstrap()})
    fut = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)], request_timeout=30)[TOPIC]
    try:
        fut.result(timeout=40)
    except KafkaException as e:
        raise AssertionError(f"CreateTopics: {e}")
    before = project.wait_status(1, lambda s: any(t["name"] == TOPIC for t in s["topics"]), 30,
                                 "the topic in the image")
    md = json.loads(kcat("-L", "-J", "-b", project.bootstrap((2,))))
    assert sorted(b["name"] for b in md["brokers"]) == sorted(
        f"127.0.0.1:{p}" for p in project.ports), "advertised EXTERNAL endpoints"
    roundtrip(project, (1, 2, 3), "before")

    parts = leaders(before)
    victim = parts[0]["leader"]
    survivors = tuple(n for n in (1, 2, 3) if n != victim)
    project.compose("kill", f"node{victim}")

    def failed_over(s):
        b = {x["id"]: x for x in s["brokers"]}
        now = leaders(s)
        return b[victim]["fenced"] and all(p["leader"] != victim and victim not in p["isr"]
                                           for p in now.values())
    s = project.wait_status(survivors[0], failed_over, SESSION_MS / 1000 + 30,
                            f"node {victim} fenced and its leaderships moved")
    for p, st in leaders(s).items():
        old = parts[p]
        assert st["leader"] in old["isr"], (p, st, old)
        if old["leader"] == victim:
            assert st["leader_epoch"] > old["leader_epoch"], (p, st, old)

    # Clients on the survivors' ports see the new leaders and carry on. The
    # status above is the controllers' committed view; each broker applies it
    # from the metadata stream a moment later (as in KRaft), so the answer
    # may lag by that moment, never by more than a few heartbeats.
    expected = {p: st["leader"] for p, st in leaders(s).items()}
    deadline = time.monotonic() + 15
    while True:
        md = json.loads(kcat("-L", "-J", "-t", TOPIC, "-b", project.bootstrap(survivors)))
        served = {p["partition"]: p["leader"] for p in md["topics"][0]["partitions"]}
        if served == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert served == expected
    roundtrip(project, survivors, "after")
