"""SIGHUP with a certificate that does not load keeps the one in use.

Node 1 of a three-node cluster serves its own certificate (CN=sluice-node-1)
on a Kafka SSL listener and on its internal ones (replication, controller
RPC, raft; mutual TLS). Its keystore file is replaced first with garbage,
then with a new certificate beside another node's key; after each SIGHUP
node 1 logs, for every TLS context, that the reload failed, naming the file,
and new connections to every port still get the old certificate. Node 2
restarts meanwhile, so connections node 1 opens and accepts after the
failures are new ones, and an acks=all write on an RF=3 topic with
min.insync.replicas=3 goes through. A good certificate put in place is then
picked up by the next SIGHUP on every port."""

import os
import signal

from confluent_kafka import Producer

from clustertest import admin_for, create, wait_until
from securitytest import api_versions, tls_connect
from sluicetest import free_port
from test_internal_tls import INTERNAL_MAP, node_keystore, pki, raft_port, tls_cluster  # noqa: F401
from test_internal_tls import wait_log
from test_replication import wait_isr

ROTATED_SERIAL = 0x5EC0DE


def peer_serial(port, pki, kafka=False):
    """The serial of the certificate `port` presents to a new connection
    (as node 3 inside the cluster); on the Kafka port, ApiVersions answers."""
    with tls_connect(port, pki.ca, pki.path("node3.pem"), pki.path("node3.key"),
                     check_hostname=False) as s:
        if kafka:
            assert api_versions(s) == 0
        return int(s.getpeercert()["serialNumber"], 16)


def write_keystore(path, key, cert):
    with open(path + ".tmp", "w") as out:
        for part in (key, cert):
            with open(part) as f:
                out.write(f.read())
    os.replace(path + ".tmp", path)


FAILURES = ("TLS reload failed for listener SSL, keeping the previous certificates",
            "replication TLS reload failed, keeping the previous certificates",
            "controller-link TLS reload failed, keeping the previous certificates",
            "controller TLS reload failed, keeping the previous certificates")


def sighup_fails(node, keystore, times):
    """SIGHUP node: every TLS context's reload fails (the `times`th time),
    each logged with `keystore`'s path; returns those log lines."""
    node.proc.send_signal(signal.SIGHUP)

    def failed():
        lines = [line for line in node.log_text().splitlines()
                 if any(f in line for f in FAILURES)]
        return lines if len(lines) >= times * len(FAILURES) else None
    lines = wait_until(failed, 30, f"{len(FAILURES)} reload failures in {node.name}'s log")
    for line in lines:
        assert keystore in line, line
    return lines[-len(FAILURES):]


def test_a_certificate_that_fails_to_reload_keeps_the_old_one(clusters, pki, tmp_path):
    cluster = tls_cluster(clusters, pki, tmp_path, start=False)
    node1 = cluster.node(1)
    keystore = pki.nodes[1]
    ssl_port = free_port()
    node1.overrides["listeners"] += f",SSL://127.0.0.1:{ssl_port}"
    node1.overrides["advertised.listeners"] += f",SSL://127.0.0.1:{ssl_port}"
    node1.overrides["listener.security.protocol.map"] = INTERNAL_MAP + ",SSL:SSL"
    node1.overrides["listener.name.ssl.ssl.keystore.location"] = keystore
    cluster.start()
    internal = [node1.replication_port, int(node1.controller.rsplit(":", 1)[1]), raft_port(node1)]

    def serials():
        return [peer_serial(ssl_port, pki, kafka=True)] + [peer_serial(p, pki) for p in internal]

    old = serials()
    assert len(set(old)) == 1, old

    # Garbage in place of the keystore.
    with open(keystore, "w") as f:
        f.write("this is not a PEM file\n")
    for line in sighup_fails(node1, keystore, 1):
        assert "cannot read the certificate chain of ssl.keystore.location" in line, line
    assert serials() == old

    # A valid certificate of node 1 with node 2's key: they do not match.
    pki._leaf("node1-new", "/CN=sluice-node-1", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    write_keystore(keystore, pki.path("node2.key"), pki.path("node1-new.pem"))
    for line in sighup_fails(node1, keystore, 2):
        assert "does not match" in line or "key values mismatch" in line, line
    assert "TLS reloaded" not in node1.log_text()
    assert serials() == old

    # The cluster still works over TLS with node 1's old certificate, on new
    # connections both ways: node 2 restarts.
    cluster.node(2).stop()
    cluster.node(2).start()
    cluster.wait_healthy()
    topic = "after-failed-reload"
    assert create(admin_for(cluster), topic, 1, 3, {"min.insync.replicas": "3"}) is None
    wait_isr(cluster, topic, [1, 2, 3])
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    p.produce(topic, b"x")
    assert p.flush(30) == 0

    # A good certificate: the next SIGHUP takes it everywhere.
    pki._leaf("node1-rotated", "/CN=sluice-node-1", "ca",
              "subjectAltName=DNS:localhost,IP:127.0.0.1", serial=ROTATED_SERIAL)
    write_keystore(keystore, pki.path("node1-rotated.key"), pki.path("node1-rotated.pem"))
    node1.proc.send_signal(signal.SIGHUP)
    for line in (r"TLS reloaded listener=SSL", r"replication TLS reloaded listener=REPLICATION",
                 r"controller-link TLS reloaded listener=CONTROLLER",
                 r"controller and raft TLS reloaded listener=CONTROLLER"):
        wait_log(node1, line)
    assert serials() == [ROTATED_SERIAL] * 4
