"""The TLS compose profile (deploy/docker/tls.yml over docker-compose.yml):
certificates made by deploy/docker/make-certs, every listener SSL, the
internal ones (replication, controller RPC, raft) mutual TLS. kcat produces
and consumes over SSL through the published ports on an RF=3 topic, which
only works if the brokers replicate to each other over TLS; each node logs
its internal listeners as mutual TLS. One project, torn down with `down -v`."""

import os
import subprocess

import json

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import ROOT
from test_compose import CONTROLLERS, PARTITIONS, TOPIC, Project

TLS_YML = os.path.join(ROOT, "deploy/docker/tls.yml")
CLIENT_PROPS = "/etc/sluice/tls/client.properties"


class TlsProject(Project):
    def __init__(self, image, certs):
        super().__init__(image)
        self.certs = certs
        self.env["SLUICE_TLS_DIR"] = certs
        self.env["SLUICE_UP_STATUS_ARGS"] = f"--command-config {CLIENT_PROPS}"

    def compose(self, *args, check=True, timeout=120):
        p = subprocess.run(["docker-compose", "-f", os.path.join(ROOT, "docker-compose.yml"),
                            "-f", TLS_YML, "-p", self.name, *args], env=self.env, cwd=ROOT,
                           text=True, capture_output=True, timeout=timeout)
        if check:
            assert p.returncode == 0, f"docker-compose {args}: {p.stderr[-4000:]}"
        return p

    def status(self, via):
        p = self.compose("exec", "-T", f"node{via}", "sluicectl", "cluster", "status",
                         "--controller", CONTROLLERS, "--json", "--timeout-ms", "1000",
                         "--command-config", CLIENT_PROPS, check=False, timeout=30)
        return json.loads(p.stdout) if p.returncode == 0 else None


@pytest.fixture
def tls_project(sluice_image, tmp_path):
    certs = subprocess.run([os.path.join(ROOT, "deploy/docker/make-certs"), str(tmp_path / "tls")],
                           check=True, text=True, capture_output=True, timeout=120).stdout.strip()
    proj = TlsProject(sluice_image, certs)
    try:
        up = subprocess.run([os.path.join(ROOT, "deploy/docker/up"), "-f", TLS_YML, "-p",
                             proj.name], env=proj.env, cwd=ROOT, text=True, capture_output=True,
                            timeout=600)
        assert up.returncode == 0, up.stderr[-6000:]
        yield proj
    finally:
        print(proj.compose("logs", "--no-color", "--tail", "150", check=False).stdout)
        proj.compose("down", "-v", "--remove-orphans", "-t", "10", check=False)


def kcat_ssl(proj, *args, input=None, timeout=60):
    p = subprocess.run(["kcat", "-m", "10", "-X", "socket.timeout.ms=10000", "-X",
                        "security.protocol=SSL", "-X",
                        f"ssl.ca.location={os.path.join(proj.certs, 'ca.pem')}", *args],
                       input=input, capture_output=True, timeout=timeout)
    assert p.returncode == 0, f"kcat {args}: {p.stderr.decode(errors='replace')[-2000:]}"
    return p.stdout


def test_tls_profile_produces_and_consumes_over_ssl_with_mutual_tls_inside(tls_project):
    proj = tls_project
    logs = proj.compose("logs", "--no-color").stdout
    for n in (1, 2, 3):
        node = "\n".join(line for line in logs.splitlines() if line.startswith(f"node{n}"))
        assert "security=SSL (mutual TLS)" in node, node[-2000:]
        assert "raft peers over mutual TLS" in node, node[-2000:]
    admin = AdminClient({"bootstrap.servers": proj.bootstrap(), "security.protocol": "SSL",
                         "ssl.ca.location": os.path.join(proj.certs, "ca.pem")})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)], request_timeout=30)[TOPIC].result(40)
    for p in range(PARTITIONS):
        values = [f"tls-{p}-{i}".encode() for i in range(50)]
        # acks=all on RF=3: acknowledged only once both followers fetched it over TLS.
        kcat_ssl(proj, "-P", "-b", proj.bootstrap(), "-t", TOPIC, "-p", str(p), "-X", "acks=all",
                 input=b"\n".join(values) + b"\n")
        got = kcat_ssl(proj, "-C", "-q", "-e", "-b", proj.bootstrap(), "-t", TOPIC, "-p", str(p),
                       "-f", "%s\n")
        assert got.splitlines() == values, f"partition {p}"
    s = proj.wait_status(1, lambda s: any(t["name"] == TOPIC for t in s["topics"]), 30, "topic")
    topic = next(t for t in s["topics"] if t["name"] == TOPIC)
    for part in topic["partitions"]:
        assert sorted(part["isr"]) == [1, 2, 3], part
