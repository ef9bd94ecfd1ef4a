"""Three bare-metal hosts as deploy/HOSTS.md sets them up: containers running
systemd as PID 1 with the Debian package installed (tests/docker/systemd-host),
each with its template from deploy/config/hosts/ (host names changed, one
generated cluster.id), the packaged unit enabled and started.

The cluster forms under that id; kcat round-trips records; `kill -9` of one
host's sluiced is restarted by systemd (Restart=on-failure) and its broker
registers again; `systemctl stop` of another host stops it cleanly and the
remaining two keep serving acks=all writes (min.insync.replicas=2).

systemd as PID 1 needs the cgroup hierarchy writable and, for the unit's
sandboxing (mount namespaces, its own seccomp filter), CAP_SYS_ADMIN without
Docker's seccomp profile. --privileged would give that, but this engine
cannot grant CAP_SYS_RESOURCE ("unable to apply caps"), so the containers
get every capability but that one."""
import base64
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, docker

HOSTS = (1, 2, 3)
CONTROLLERS = "sluice1:9093,sluice2:9093,sluice3:9093"
TOPIC = "hosts"


@pytest.fixture(scope="module")
def host_image(sluice_image):
    tag = "sluice-systemd-host:test"
    build = subprocess.run(["docker", "build", "-q", "--build-arg", f"SLUICE_IMAGE={sluice_image}",
                            "-t", tag, os.path.join(ROOT, "tests/docker/systemd-host")],
                           text=True, capture_output=True, timeout=900)
    assert build.returncode == 0, build.stderr[-4000:]
    return tag


def host_properties(n, cluster_id):
    """deploy/config/hosts/hostN.properties with this test's host names and id."""
    with open(os.path.join(ROOT, f"deploy/config/hosts/host{n}.properties")) as f:
        text = f.read()
    text = text.replace(".example.com", "")
    assert "#cluster.id=\n" in text
    return text.replace("#cluster.id=\n", f"cluster.id={cluster_id}\n")


class Hosts:
    def __init__(self, image):
        self.image = image
        self.prefix = f"sluice-sd-{uuid.uuid4().hex[:8]}"
        self.network = self.prefix
        # The guide's command (HOSTS.md, "Cluster id and first start").
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")

    def name(self, n):
        return f"{self.prefix}-{n}"

    def start(self):
        docker("network", "create", self.network)
        for n in HOSTS:
            docker("run", "-d", "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                   "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                   "--name", self.name(n), "--hostname",
                   f"sluice{n}", "--network", self.network, "--network-alias", f"sluice{n}",
                   "--tmpfs", "/run", "--tmpfs", "/run/lock",
                   "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", self.image)
        for n in HOSTS:
            self.wait(n, lambda out: out.strip() in ("running", "degraded"),
                      ["systemctl", "is-system-running"], 60, "systemd up")
            # Writing into the packaged file keeps its owner and mode (root:sluice 0640).
            self.exec(n, "sh", "-c", "cat > /etc/sluice/server.properties",
                      input=host_properties(n, self.cluster_id))
        # --no-block: a first start is ready only once a quorum (two hosts) is up.
        for n in HOSTS:
            self.exec(n, "systemctl", "enable", "--now", "--no-block", "sluiced")

    def exec(self, n, *cmd, input=None, check=True, timeout=60):
        p = subprocess.run(["docker", "exec", "-i", self.name(n), *cmd], input=input, text=True,
                           capture_output=True, timeout=timeout)
        if check:
            assert p.returncode == 0, f"host{n} {cmd}: {p.stdout[-2000:]}{p.stderr[-2000:]}"
        return p.stdout

    def wait(self, n, predicate, cmd, timeout, what):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            p = subprocess.run(["docker", "exec", self.name(n), *cmd], text=True,
                               capture_output=True, timeout=60)
            last = p.stdout + p.stderr
            if p.returncode == 0 or cmd[:2] == ["systemctl", "is-system-running"]:
                try:
                    if predicate(p.stdout):
                        return p.stdout
                except (ValueError, KeyError):
                    pass
            time.sleep(0.5)
        raise AssertionError(f"host{n}: timed out waiting for {what}; last: {last[-3000:]}")

    def unit(self, n, *props):
        out = self.exec(n, "systemctl", "show", "sluiced", *(f"--property={p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def status(self, via, predicate, timeout, what):
        out = self.wait(via, lambda o: predicate(json.loads(o)),
                        ["sluicectl", "cluster", "status", "--controller", CONTROLLERS, "--json",
                         "--timeout-ms", "2000"], timeout, what)
        return json.loads(out)

    def kcat(self, via, *args, input=None):
        return self.exec(via, "kcat", "-m", "30", "-X", "socket.timeout.ms=10000", *args,
                         input=input, timeout=90)

    def logs(self):
        out = []
        for n in HOSTS:
            p = subprocess.run(["docker", "exec", self.name(n), "journalctl", "-u", "sluiced",
                                "--no-pager", "-n", "60"], text=True, capture_output=True,
                               timeout=60)
            out.append(f"--- host{n} journal ---\n{p.stdout}{p.stderr}")
        return "\n".join(out)

    def remove(self):
        for n in HOSTS:
            docker("rm", "-f", "-v", self.name(n), check=False)
        docker("network", "rm", self.network, check=False)


@pytest.fixture
def hosts(host_image):
    h = Hosts(host_image)
    try:
        h.start()
        yield h
    finally:
        print(h.logs())  # shown by pytest only when the test fails
        h.remove()


def brokers(status):
    return {b["id"]: b for b in status["brokers"]}


def all_alive(status, ids):
    b = brokers(status)
    return all(i in b and not b[i]["fenced"] for i in ids)


def produce_and_read_back(hosts, via, bootstrap, tag, count):
    values = [f"{tag}-{i}" for i in range(count)]
    hosts.kcat(via, "-P", "-b", bootstrap, "-t", TOPIC, "-X", "acks=all",
               input="\n".join(values) + "\n")
    got = hosts.kcat(via, "-C", "-q", "-e", "-b", bootstrap, "-t", TOPIC, "-o", "beginning",
                     "-f", "%s\n").split()
    missing = [v for v in values if v not in got]
    assert not missing, f"{len(missing)} of {count} {tag} records not read back"
    return got


def test_three_systemd_hosts(hosts):
    # The cluster forms under the generated id; each unit reached READY=1.
    s = hosts.status(1, lambda s: all_alive(s, HOSTS), 150, "three unfenced brokers")
    assert s["cluster_id"] == hosts.cluster_id
    for n in HOSTS:
        hosts.wait(n, lambda o: o.strip() == "active", ["systemctl", "is-active", "sluiced"], 90,
                   "sluiced active (READY=1)")
        meta = hosts.exec(n, "cat", "/var/lib/sluice/data/meta.properties")
        assert f"cluster.id={hosts.cluster_id}" in meta and f"node.id={n}" in meta, meta

    everyone = "sluice1:9092,sluice2:9092,sluice3:9092"
    hosts.exec(1, "sluicectl", "topic", "create", TOPIC, "--partitions", "3",
               "--replication-factor", "3", "--bootstrap-server", "sluice1:9092")
    produce_and_read_back(hosts, 1, everyone, "first", 100)

    # kill -9: systemd restarts the process, its broker registers again.
    before = hosts.unit(2, "MainPID", "NRestarts")
    epoch = brokers(s)[2]["epoch"]
    hosts.exec(2, "sh", "-c", f"kill -9 {before['MainPID']}")
    hosts.wait(2, lambda o: int(o.split("=")[1]) > int(before["NRestarts"]),
               ["systemctl", "show", "sluiced", "--property=NRestarts"], 60,
               "systemd to restart sluiced")
    hosts.wait(2, lambda o: o.strip() == "active", ["systemctl", "is-active", "sluiced"], 120,
               "the restarted sluiced ready")
    assert hosts.unit(2, "MainPID")["MainPID"] != before["MainPID"]
    hosts.status(1, lambda s: all_alive(s, HOSTS) and brokers(s)[2]["epoch"] > epoch, 60,
                 "broker 2 registered again")
    produce_and_read_back(hosts, 2, everyone, "after-kill", 100)

    # systemctl stop: a clean exit (status 0, not a failure), the others serve.
    hosts.exec(3, "systemctl", "stop", "sluiced", timeout=120)
    stopped = hosts.unit(3, "ActiveState", "Result", "ExecMainStatus")
    assert stopped == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}, \
        stopped
    hosts.status(1, lambda s: brokers(s).get(3, {"fenced": True})["fenced"] and all(
        p["leader"] in (1, 2) and 3 not in p["isr"] for t in s["topics"] if t["name"] == TOPIC
        for p in t["partitions"]), 90, "host 3 out of every leadership and ISR")
    got = produce_and_read_back(hosts, 1, "sluice1:9092,sluice2:9092", "after-stop", 100)
    for tag in ("first", "after-kill"):
        assert sum(v.startswith(tag + "-") for v in got) >= 100, tag
