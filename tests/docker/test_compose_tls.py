"""The secure compose profile (deploy/docker/tls.yml over docker-compose.yml),
as an operator deploys it: certificates and the admin's password made by
deploy/docker/make-certs, the admin's SCRAM credential set by
deploy/docker/bootstrap-admin (node1's certificate, a super user, on the
loopback-only ADMIN listener), clients on SASL_SSL with SCRAM-SHA-512, ACLs
enforced (allow.everyone.if.no.acl.found=false), the internal listeners
(replication, controller RPC, raft) mutual TLS.

From the host with confluent-kafka: the admin creates an RF=3 topic; a user
with ACLs on it produces (acks=all: only works if the brokers replicate to
each other over TLS) and consumes in a group; a user without ACLs is denied
with TOPIC_AUTHORIZATION_FAILED; a wrong password is an authentication
failure; a plaintext client and an SSL client without SASL get no metadata.
One project, torn down with `down -v`."""

import json
import os
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import ROOT
from test_compose import CONTROLLERS, PARTITIONS, TOPIC, Project

TLS_YML = os.path.join(ROOT, "deploy/docker/tls.yml")
CLIENT_PROPS = "/etc/sluice/tls/client.properties"
ADMIN_PROPS = "/etc/sluice/tls/admin.properties"
MECHANISM = "SCRAM-SHA-512"


class TlsProject(Project):
    def __init__(self, image, certs):
        super().__init__(image)
        self.certs = certs
        self.env["SLUICE_TLS_DIR"] = certs
        self.env["SLUICE_UP_STATUS_ARGS"] = f"--command-config {CLIENT_PROPS}"

    def compose(self, *args, check=True, timeout=120, input=None):
        p = subprocess.run(["docker-compose", "-f", os.path.join(ROOT, "docker-compose.yml"),
                            "-f", TLS_YML, "-p", self.name, *args], env=self.env, cwd=ROOT,
                           text=True, capture_output=True, timeout=timeout, input=input)
        if check:
            assert p.returncode == 0, f"docker-compose {args}: {p.stderr[-4000:]}"
        return p

    def status(self, via):
        p = self.compose("exec", "-T", f"node{via}", "sluicectl", "cluster", "status",
                         "--controller", CONTROLLERS, "--json", "--timeout-ms", "1000",
                         "--command-config", CLIENT_PROPS, check=False, timeout=30)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def as_admin(self, *args):
        """sluicectl in node1 over SASL_SSL (EXTERNAL) as the admin."""
        return self.compose("exec", "-T", "node1", "sluicectl", *args, "--bootstrap-server",
                            "127.0.0.1:9092", "--command-config", ADMIN_PROPS)

    def client_conf(self, user, password, protocol="SASL_SSL"):
        conf = {"bootstrap.servers": self.bootstrap(), "security.protocol": protocol,
                "ssl.ca.location": os.path.join(self.certs, "ca.pem")}
        if protocol.startswith("SASL"):
            conf.update({"sasl.mechanism": MECHANISM, "sasl.username": user,
                         "sasl.password": password})
        return conf


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
        boot = subprocess.run([os.path.join(ROOT, "deploy/docker/bootstrap-admin"), "-f", TLS_YML,
                               "-p", proj.name], env=proj.env, cwd=ROOT, text=True,
                              capture_output=True, timeout=120)
        assert boot.returncode == 0, boot.stdout + boot.stderr
        yield proj
    finally:
        print(proj.compose("logs", "--no-color", "--tail", "150", check=False).stdout)
        proj.compose("down", "-v", "--remove-orphans", "-t", "10", check=False)


def refused_metadata(conf):
    """list_topics fails, and what librdkafka reported (error_cb) is returned."""
    errors = []
    admin = AdminClient(dict(conf, error_cb=errors.append, **{"socket.timeout.ms": 5000}))
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=8)
    admin.poll(2)  # serves error_cb
    return errors


def test_secure_profile_sasl_ssl_with_acls_and_mutual_tls_inside(tls_project):
    proj = tls_project
    logs = proj.compose("logs", "--no-color").stdout
    for n in (1, 2, 3):
        node = "\n".join(line for line in logs.splitlines() if line.startswith(f"node{n}"))
        assert "security=SSL (mutual TLS)" in node, node[-2000:]
        assert "raft peers over mutual TLS" in node, node[-2000:]
    password = open(os.path.join(proj.certs, "admin.password")).read().strip()

    admin = AdminClient(proj.client_conf("admin", password))
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)], request_timeout=30)[TOPIC].result(40)
    for user in ("alice", "bob"):
        proj.as_admin("user", "set-password", user, "--mechanism", MECHANISM, "--password",
                      f"{user}-secret")
    proj.as_admin("acl", "create", "--allow-principal", "User:alice", "--operation", "Write",
                  "--operation", "Read", "--operation", "Describe", "--topic", TOPIC)
    proj.as_admin("acl", "create", "--allow-principal", "User:alice", "--operation", "Read",
                  "--group", "alice-group")

    # alice: allowed. acks=all on RF=3 is acknowledged only once both
    # followers fetched the records over mutual TLS.
    alice = proj.client_conf("alice", "alice-secret")
    values = [f"secure-{i}".encode() for i in range(30)]
    producer = Producer(dict(alice, acks="all"))
    for v in values:
        producer.produce(TOPIC, v, partition=0)
    assert producer.flush(60) == 0
    # An ACL reaches each broker with the metadata, as in Kafka: the group
    # ACL just created may not have reached the broker that answers
    # FindCoordinator yet. Only that refusal, and only for a while, starts
    # the consumer again.
    acl_deadline = time.monotonic() + 30
    got = []
    consumer = Consumer(dict(alice, **{"group.id": "alice-group", "auto.offset.reset": "earliest"}))
    consumer.subscribe([TOPIC])
    for _ in range(90):
        m = consumer.poll(1.0)
        if m is not None:
            if (m.error() is not None and
                    m.error().code() == KafkaError.GROUP_AUTHORIZATION_FAILED and
                    time.monotonic() < acl_deadline):
                consumer.close()
                time.sleep(0.5)
                got = []
                consumer = Consumer(dict(alice, **{"group.id": "alice-group",
                                                   "auto.offset.reset": "earliest"}))
                consumer.subscribe([TOPIC])
                continue
            assert m.error() is None, m.error()
            got.append(m.value())
        if len(got) == len(values):
            break
    consumer.close()
    assert got == values

    # bob: authenticated, no ACL.
    results = []
    producer = Producer(dict(proj.client_conf("bob", "bob-secret"),
                             **{"message.timeout.ms": 15000}))
    producer.produce(TOPIC, b"bob", partition=0, on_delivery=lambda err, msg: results.append(err))
    producer.flush(30)
    assert [e.code() if e else None for e in results] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]

    # Wrong password: an authentication failure, nothing served.
    errors = refused_metadata(proj.client_conf("alice", "not-it"))
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
    # No SASL: neither plaintext on the TLS port nor TLS without SASL is served.
    assert refused_metadata(proj.client_conf(None, None, "PLAINTEXT"))
    assert refused_metadata(proj.client_conf(None, None, "SSL"))
    logs = proj.compose("logs", "--no-color").stdout
    assert "reason=\"wrong password\"" in logs, logs[-3000:]
    assert "before SASL authentication" in logs, logs[-3000:]
