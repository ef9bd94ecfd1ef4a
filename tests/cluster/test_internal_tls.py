"""Mutual TLS inside the cluster: with the REPLICATION (inter-broker) and
CONTROLLER listeners mapped to SSL, registration and heartbeats, the
controller RPC and the replication RPC are TLS with certificates required on
both sides. The certificates are given per listener
(listener.name.<name>.ssl.*), so the global ssl.* keys stay unset.

Shown with real processes: an RF=3 acks=all topic replicates and a leader
kill loses no acknowledged write; a broker whose certificate another CA
signed is refused by the controllers and never registers; a plaintext peer
on the internal ports is refused; each refusal is logged with its reason."""

import re
import socket
import ssl
import time

import pytest

from clustertest import admin_for, broker_only_overrides, create, wait_until
from securitytest import Pki, api_versions, listeners_overrides
from test_replication import (TOPIC_CONFIG, AckedProducer, assert_replicas_identical,
                              high_watermark, leader_of, read_all, wait_isr)

INTERNAL_MAP = "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL,REPLICATION:SSL"


def node_keystore(p, node_id, ca="ca", name=None):
    """Node `node_id`'s keystore: CN=sluice-node-N (node.principal.pattern's
    default), for localhost and 127.0.0.1."""
    name = name or f"node{node_id}"
    p._leaf(name, f"/CN=sluice-node-{node_id}", ca, "subjectAltName=DNS:localhost,IP:127.0.0.1")
    path = p.path(f"{name}-keystore.pem")
    p.write_keystore(path, name)
    return path


@pytest.fixture
def pki(tmp_path):
    p = Pki(str(tmp_path / "pki"))
    p.rogue_keystore = p.path("rogue-keystore.pem")
    p.write_keystore(p.rogue_keystore, "mallory")
    p.nodes = {i: node_keystore(p, i) for i in (1, 2, 3)}
    return p


def internal_tls(keystore, truststore):
    """Both internal listeners over mutual TLS, each configured on its own."""
    o = {"listener.security.protocol.map": INTERNAL_MAP}
    for listener in ("replication", "controller"):
        o[f"listener.name.{listener}.ssl.keystore.location"] = keystore
        o[f"listener.name.{listener}.ssl.truststore.location"] = truststore
    return o


def command_config(pki, tmp_path):
    path = str(tmp_path / "sluicectl-tls.properties")
    with open(path, "w") as f:
        f.write(f"security.protocol=SSL\nssl.keystore.location={pki.keystore}\n"
                f"ssl.truststore.location={pki.ca}\n")
    return path


def tls_cluster(clusters, pki, tmp_path, start=True, **overrides):
    """Each node with its own certificate (CN=sluice-node-N)."""
    o = internal_tls(pki.keystore, pki.ca)
    o.update(overrides)
    cluster = clusters(start=False, overrides=o)
    for node in cluster:
        node.overrides.update(internal_tls(pki.nodes[node.node_id], pki.ca))
        node.overrides.update(overrides)
    cluster.command_config = command_config(pki, tmp_path)
    if start:
        cluster.start()
    return cluster


def wait_log(node, pattern, timeout=30):
    return wait_until(lambda: re.search(pattern, node.log_text()), timeout,
                      f"{pattern!r} in {node.name}'s log")


def test_replication_over_mutual_tls_loses_nothing_on_a_leader_kill(clusters, pki, tmp_path):
    cluster = tls_cluster(clusters, pki, tmp_path, **{"replica.lag.time.max.ms": "5000"})
    for node in cluster:
        assert "replication listening listener=REPLICATION" in node.log_text()
        assert "security=SSL (mutual TLS)" in node.log_text()
    topic = "mtls-kill"
    assert create(admin_for(cluster), topic, 1, 3, TOPIC_CONFIG) is None
    wait_isr(cluster, topic, [1, 2, 3])
    p = AckedProducer(cluster, topic)
    for i in range(2000):
        p.send(f"a:{i}" + "x" * 200)
    p.flush()
    victim = leader_of(cluster, topic)
    victim.kill()
    for i in range(1000):
        p.send(f"b:{i}")
    p.flush()
    assert not p.failed, p.failed[:5]
    assert len(p.acked) == 3000
    hw = high_watermark(cluster, topic, 0)
    got = read_all(cluster, topic, 0, hw)
    for value, (part, offset) in p.acked.items():
        assert got.get(offset) == value, f"{value} acknowledged at {offset}, read {got.get(offset)}"
    victim.start()
    cluster.wait_healthy()
    wait_isr(cluster, topic, [1, 2, 3])
    hw = high_watermark(cluster, topic, 0)
    wait_until(lambda: all(
        any(x[1] == hw - 1 for x in __import__("test_replication").segment_batches(b, topic, 0))
        for b in cluster), 30, "every replica at the high watermark")
    assert_replicas_identical(cluster, topic, 0, hw)


def outsider(cluster, brokers, keystore, truststore, protocol_map=INTERNAL_MAP, node_id=4,
             name="node4"):
    """A broker-only node (4) that tries to join `cluster` with these credentials."""
    b = brokers(start=False, node_id=node_id, name=name)
    b.overrides.update(broker_only_overrides(b, cluster[0].overrides["controller.quorum.voters"]))
    b.overrides["listener.security.protocol.map"] = protocol_map
    if keystore:
        b.overrides.update(internal_tls(keystore, truststore))
        b.overrides["listener.security.protocol.map"] = protocol_map
    b.spawn()
    return b


def registered(cluster):
    s = cluster.status()
    return sorted(x["id"] for x in s["brokers"]) if s else None


def test_a_broker_certified_by_another_ca_cannot_register(clusters, brokers, pki, tmp_path):
    cluster = tls_cluster(clusters, pki, tmp_path)
    rogue = outsider(cluster, brokers, pki.rogue_keystore, pki.rogue_ca)
    # The rogue broker does not trust the controllers' CA and they do not
    # trust its: both sides refuse, and both say why.
    wait_log(rogue, r"TLS handshake failed host=127\.0\.0\.1 port=\d+ reason=\".*certificate")
    leader = cluster.leader()
    wait_log(leader, r"TLS handshake refused peer=127\.0\.0\.1:\d+ reason=")
    assert registered(cluster) == [1, 2, 3]
    assert "broker unfenced" not in rogue.log_text()


def test_a_broker_trusting_the_ca_with_a_foreign_certificate_is_refused(clusters, brokers, pki,
                                                                       tmp_path):
    """It trusts the cluster's CA (so it would accept the controllers), but
    its own certificate is signed by another CA: the controllers refuse it."""
    cluster = tls_cluster(clusters, pki, tmp_path)
    rogue = outsider(cluster, brokers, pki.rogue_keystore, pki.ca)
    leader = cluster.leader()
    wait_log(leader, r"TLS handshake refused peer=127\.0\.0\.1:\d+ reason=\".*certificate")
    time.sleep(2)  # heartbeat intervals in which it would have registered
    assert registered(cluster) == [1, 2, 3]
    assert rogue.running()


def test_a_plaintext_broker_is_refused(clusters, brokers, pki, tmp_path):
    cluster = tls_cluster(clusters, pki, tmp_path)
    outsider(cluster, brokers, None, None,
             protocol_map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,REPLICATION:PLAINTEXT")
    leader = cluster.leader()
    wait_log(leader, r"TLS handshake refused peer=127\.0\.0\.1:\d+ reason=")
    assert registered(cluster) == [1, 2, 3]


def test_the_replication_port_refuses_clients_without_a_trusted_certificate(clusters, pki,
                                                                           tmp_path):
    cluster = tls_cluster(clusters, pki, tmp_path)
    node = cluster[0]
    port = node.replication_port
    # Plaintext bytes (an RPC frame header) on the TLS port.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x00\x00\x00\x10" + b"\x00" * 16)
        assert s.recv(100) in (b"",) or True
    wait_log(node, r"TLS handshake refused peer=127\.0\.0\.1:\d+ reason=")
    # TLS without a client certificate, and with one from another CA.
    for cert in (None, (pki.mallory, pki.path("mallory.key"))):
        ctx = ssl.create_default_context(cafile=pki.ca)
        ctx.check_hostname = False
        if cert:
            ctx.load_cert_chain(*cert)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"\x00\x00\x00\x04ping")
                    if s.recv(100) == b"":
                        raise ssl.SSLError("closed")
    # A trusted certificate gets through the handshake.
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.load_cert_chain(pki.alice, pki.path("alice.key"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")


def raft_port(node):
    return int(node.controller.rsplit(":", 1)[1]) + 1


def test_the_raft_port_speaks_mutual_tls_only(clusters, pki, tmp_path):
    """The quorum formed over TLS (every node logs its relay); a peer with a
    certificate from another CA, one without a certificate, and plaintext
    bytes are each refused on the raft port with the reason logged, and the
    quorum goes on."""
    cluster = tls_cluster(clusters, pki, tmp_path)
    for node in cluster:
        assert re.search(r"raft peers over mutual TLS on 127\.0\.0\.1:\d+", node.log_text())
    node = cluster[0]
    port = raft_port(node)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x01" + b"\x00" * 31)  # the start of a raft handshake, in the clear
        s.settimeout(10)
        assert s.recv(100) == b"" or True
    wait_log(node, r"raft TLS handshake refused peer=127\.0\.0\.1:\d+ reason=")
    for cert in (None, (pki.mallory, pki.path("mallory.key"))):
        ctx = ssl.create_default_context(cafile=pki.ca)
        ctx.check_hostname = False
        if cert:
            ctx.load_cert_chain(*cert)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"\x01" + b"\x00" * 31)
                    if s.recv(100) == b"":
                        raise ssl.SSLError("closed")
    text = node.log_text()
    assert len(re.findall(r"raft TLS handshake refused", text)) >= 3, text[-3000:]
    # Still a quorum: a leader change works over TLS.
    leader = cluster.leader()
    leader.stop()
    cluster.wait_status(lambda s: s["leader_id"] > 0 and s["leader_id"] != leader.node_id, 60,
                        "a new raft leader")
    leader.start()
    cluster.wait_healthy()


def test_a_kafka_listener_takes_its_own_certificate(brokers, pki):
    """listener.name.<name>.ssl.* on a Kafka listener: the SSL listener
    presents its own certificate, with no global ssl.keystore.* set."""
    pki._leaf("other", "/CN=other-listener", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    keystore = pki.path("other-keystore.pem")
    pki.write_keystore(keystore, "other")
    b = brokers(start=False)
    ports = listeners_overrides(b, [("SSL", "SSL")])
    b.overrides["listener.name.ssl.ssl.keystore.location"] = keystore
    b.start()
    ctx = ssl.create_default_context(cafile=pki.ca)
    with socket.create_connection(("127.0.0.1", ports["SSL"]), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
            assert subject["commonName"] == "other-listener"
            assert api_versions(s) == 0
