"""Who a peer inside the cluster is, not only whether the cluster CA signed
its certificate (node.principal.pattern, default User:CN=sluice-node-{id}).

Shown with real processes, each node holding its own certificate
(CN=sluice-node-N): a process with node 2's valid certificate cannot
register or heartbeat as broker 3, cannot fetch as replica 3 (the leader's
high watermark does not move), cannot speak raft as voter 3; transaction markers come only from a
registered broker; a client
certificate is no voter's; a server with node 2's certificate is not
accepted as controller 1; a raft peer that connects and sends nothing is
dropped after ssl.handshake.timeout.ms; a voter's RequestVote naming
another voter as candidate is dropped before raft reads it; SIGHUP reloads a rotated node
certificate (new CA, trusted by all) for new connections. Every refusal is
logged with the peer's principal."""

import os
import re
import signal
import socket
import ssl
import struct
import threading

import pytest
from confluent_kafka import Producer

from clustertest import admin_for, broker_only_overrides, create, wait_until
from securitytest import tls_connect
from test_internal_tls import (internal_tls, node_keystore, outsider,  # noqa: F401
                               pki, raft_port, registered, tls_cluster, wait_log)
from test_replication import high_watermark, leader_of, wait_isr

# --- a minimal client of Sluice's internal RPC (proto/rpc.proto) -----------


def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb(*fields):
    """Protobuf message from (number, value): ints as varints, bytes/str as
    length-delimited."""
    out = b""
    for num, value in fields:
        if isinstance(value, (bytes, str)):
            value = value.encode() if isinstance(value, str) else value
            out += _varint(num << 3 | 2) + _varint(len(value)) + value
        else:
            out += _varint(num << 3) + _varint(value)
    return out


def pb_fields(data):
    """{number: value} of a protobuf message (varints and bytes only)."""
    out, pos = {}, 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        if key & 7 == 0:
            out[key >> 3], pos = _read_varint(data, pos)
        elif key & 7 == 2:
            n, pos = _read_varint(data, pos)
            out[key >> 3], pos = data[pos:pos + n], pos + n
        else:
            raise ValueError(f"wire type {key & 7}")
    return out


def _read_varint(data, pos):
    n = shift = 0
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def _recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def rpc_call(port, cert, key, cafile, method, body):
    """One request over mutual TLS; returns the response header's fields."""
    header = pb((1, 0), (2, method), (3, 1), (4, 7), (5, len(body)), (6, 0))
    frame = struct.pack(">I", len(header)) + header + body
    with tls_connect(port, cafile, cert, key, timeout=20, check_hostname=False) as s:
        s.sendall(struct.pack(">I", len(frame)) + frame)
        (length,) = struct.unpack(">I", _recv_exact(s, 4))
        rest = _recv_exact(s, length)
        (hlen,) = struct.unpack(">I", rest[:4])
        return pb_fields(rest[4:4 + hlen])


RPC_ERROR_NOT_AUTHORIZED = 5
REPLICA_FETCH = 1
BROKER_HEARTBEAT = 2
WRITE_TXN_MARKERS = 3


def cert_key(pki, name):
    return pki.path(f"{name}.pem"), pki.path(f"{name}.key")


# --- brokers and replicas -------------------------------------------------


def test_node_2s_certificate_cannot_register_or_heartbeat_as_broker_3(clusters, brokers, pki,
                                                                       tmp_path):
    cluster = tls_cluster(clusters, pki, tmp_path)
    fake = outsider(cluster, brokers, pki.nodes[2], pki.ca, node_id=3, name="fake3")
    leader = cluster.leader()
    wait_log(leader, r"refused method=1 peer=127\.0\.0\.1:\d+ reason=\"acting for another "
                     r"broker: principal User:CN=sluice-node-2 is node 2, not node 3\"")
    wait_log(fake, r"controller refused method=1 error=5 message=.*User:CN=sluice-node-2")
    # A heartbeat as broker 3 (the real one is registered) with node 2's
    # certificate, straight on the controller port: refused, with the reason.
    port = int(leader.controller.rsplit(":", 1)[1])
    hdr = rpc_call(port, *cert_key(pki, "node2"), pki.ca, BROKER_HEARTBEAT,
                   pb((1, 1), (2, 3), (3, 1), (4, 0)))
    assert hdr.get(7) == RPC_ERROR_NOT_AUTHORIZED, hdr
    assert b"not node 3" in hdr.get(8, b""), hdr
    assert registered(cluster) == [1, 2, 3]
    assert "broker unfenced" not in fake.log_text()
    assert fake.running()
    cluster.wait_healthy()


def test_node_2s_certificate_cannot_fetch_as_replica_3(clusters, pki, tmp_path):
    """With follower F paused, the leader's high watermark waits for F. A
    fetch as F at the log end, with another node's valid certificate, would
    move it: it is refused and the high watermark stays."""
    cluster = tls_cluster(clusters, pki, tmp_path, **{"replica.lag.time.max.ms": "60000",
                                                      "broker.session.timeout.ms": "60000"})
    topic = "hw-guard"
    assert create(admin_for(cluster), topic, 1, 3, {"min.insync.replicas": "1"}) is None
    wait_isr(cluster, topic, [1, 2, 3])
    leader = leader_of(cluster, topic)
    follower, other = [n for n in cluster if n is not leader]
    if follower is cluster.leader():  # pause a follower that is not raft's leader
        follower, other = other, follower
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    for i in range(10):
        p.produce(topic, f"before-{i}".encode())
    assert p.flush(30) == 0
    wait_until(lambda: high_watermark(cluster, topic, 0) == 10, 30, "high watermark 10")
    follower.proc.send_signal(signal.SIGSTOP)
    try:
        p = Producer({"bootstrap.servers": leader.bootstrap, "acks": "1"})
        for i in range(10):
            p.produce(topic, f"after-{i}".encode(), partition=0)
        assert p.flush(30) == 0
        assert high_watermark(cluster, topic, 0) == 10  # waits for the paused follower
        body = pb((1, 1), (2, follower.node_id), (3, 1), (4, 0), (5, 0), (6, 1 << 20),
                  (7, pb((1, topic), (2, 0), (3, 20), (4, -1), (5, -1), (6, 1 << 20))))
        hdr = rpc_call(leader.replication_port, *cert_key(pki, f"node{other.node_id}"), pki.ca,
                       REPLICA_FETCH, body)
        assert hdr.get(7) == RPC_ERROR_NOT_AUTHORIZED, hdr
        wait_log(leader, rf"refused method=1 peer=127\.0\.0\.1:\d+ reason=\"fetching as another "
                         rf"replica: principal User:CN=sluice-node-{other.node_id} is node "
                         rf"{other.node_id}, not node {follower.node_id}\"")
        # A client certificate of the same CA is no node at all.
        hdr = rpc_call(leader.replication_port, pki.alice, pki.path("alice.key"), pki.ca,
                       REPLICA_FETCH, body)
        assert hdr.get(7) == RPC_ERROR_NOT_AUTHORIZED, hdr
        assert b"is not a node's" in hdr.get(8, b""), hdr
        assert high_watermark(cluster, topic, 0) == 10
        # Transaction markers only from a registered broker: not from a
        # client certificate, nor from node 9's, which registered nothing.
        node_keystore(pki, 9)
        for cert, reason in (((pki.alice, pki.path("alice.key")), b"not a node's"),
                             (cert_key(pki, "node9"), b"not a registered broker")):
            hdr = rpc_call(leader.replication_port, *cert, pki.ca, WRITE_TXN_MARKERS, b"")
            assert hdr.get(7) == RPC_ERROR_NOT_AUTHORIZED, hdr
            assert reason in hdr.get(8, b""), hdr
    finally:
        follower.proc.send_signal(signal.SIGCONT)
    wait_until(lambda: high_watermark(cluster, topic, 0) == 20, 30, "the follower catches up")


def test_a_broker_does_not_take_another_node_for_its_controller(brokers, pki):
    """A server on controller 1's address with node 2's (valid) certificate:
    the broker refuses it as controller 1 and never registers there."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(*cert_key(pki, "node2"))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen = []

    def serve():
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(raw, server_side=True) as s:
                    seen.append(s.getpeercert()["subject"])
                    s.settimeout(5)
                    while s.recv(4096):
                        pass
            except (OSError, ssl.SSLError):
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        b = brokers(start=False, node_id=4, name="node4")
        b.overrides.update(broker_only_overrides(b, f"1@127.0.0.1:{port}"))
        b.overrides.update({
            "listener.security.protocol.map":
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL,REPLICATION:SSL",
        })
        b.overrides.update(internal_tls(node_keystore(pki, 4), pki.ca))
        b.spawn()
        wait_log(b, rf"server refused host=127\.0\.0\.1 port={port} reason=\"controller 1 at "
                    rf"127\.0\.0\.1:{port} presented principal User:CN=sluice-node-2, not voter "
                    rf"1's")
        assert seen, "the broker completed TLS with the impostor before refusing it"
        assert "registered" not in b.log_text()
    finally:
        listener.close()


# --- raft -------------------------------------------------------------------


def raft_connect(port, cert, key, cafile):
    return tls_connect(port, cafile, cert, key, timeout=30, check_hostname=False)


def raft_handshake(claimed_id, address="127.0.0.1:1"):
    addr = address.encode()
    padded = addr + b"\0" * (16 - len(addr) % 16 if len(addr) % 16 else 16)
    return struct.pack("<QQQ", 1, claimed_id, len(padded)) + padded


def closed_by_peer(s):
    try:
        return s.recv(100) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True


def test_raft_takes_the_voter_id_from_the_certificate(clusters, pki, tmp_path):
    cluster = tls_cluster(clusters, pki, tmp_path, **{"ssl.handshake.timeout.ms": "2000"})
    node = cluster[0]
    port = raft_port(node)
    # Node 2's certificate claiming to be voter 3: dropped before raft sees it.
    with raft_connect(port, *cert_key(pki, "node2"), pki.ca) as s:
        s.sendall(raft_handshake(3))
        assert closed_by_peer(s)
    wait_log(node, r"raft peer refused peer=127\.0\.0\.1:\d+ principal=User:CN=sluice-node-2 "
                   r"reason=\"claims to be voter 3, its certificate is voter 2's\"")
    # A certificate of the cluster CA that is no node's: refused at once.
    with raft_connect(port, pki.alice, pki.path("alice.key"), pki.ca) as s:
        assert closed_by_peer(s)
    wait_log(node, r"raft peer refused peer=127\.0\.0\.1:\d+ principal=User:CN=alice.* "
                   r"reason=\"not a voter's certificate")
    # Connects and sends nothing; then TLS but no raft handshake: both dropped.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        assert s.recv(100) == b""
    with raft_connect(port, *cert_key(pki, "node2"), pki.ca) as s:
        assert closed_by_peer(s)
    text = wait_log(node, r"raft TLS handshake timed out peer=127\.0\.0\.1:\d+")
    assert len(re.findall(r"raft TLS handshake timed out", node.log_text())) >= 2
    # The quorum goes on: a leader change works.
    leader = cluster.leader()
    leader.stop()
    cluster.wait_status(lambda s: s["leader_id"] > 0 and s["leader_id"] != leader.node_id, 60,
                        "a new raft leader")
    leader.start()
    cluster.wait_healthy()
    del text


def raft_request_vote(term, candidate, pre_vote=True):
    """raft 0.15's RequestVote as raft_uv_tcp frames it: type 3, header length,
    then term, candidate_id, last log index, last log term, flags."""
    header = struct.pack("<QQQQQ", term, candidate, 0, 0, 2 if pre_vote else 0)
    return struct.pack("<QQ", 3, len(header)) + header


def test_a_vote_request_naming_another_candidate_is_dropped(clusters, pki, tmp_path):
    """raft records a vote for RequestVote's candidate_id but answers the
    handshake's id: node 2 asking votes for voter 3 is dropped, with its
    connection, before raft reads it. Asking for itself passes (the
    connection stays open), and real elections still pass the check."""
    cluster = tls_cluster(clusters, pki, tmp_path)
    node = cluster[0]
    port = raft_port(node)
    with raft_connect(port, *cert_key(pki, "node2"), pki.ca) as s:
        s.sendall(raft_handshake(2) + raft_request_vote(1, 3))
        assert closed_by_peer(s)
    wait_log(node, r"raft message refused peer=127\.0\.0\.1:\d+ principal=User:CN=sluice-node-2 "
                   r"reason=\"RequestVote names candidate 3, its certificate is voter 2's\"")
    with raft_connect(port, *cert_key(pki, "node2"), pki.ca) as s:
        s.sendall(raft_handshake(2) + raft_request_vote(1, 2))
        s.settimeout(3)
        with pytest.raises(socket.timeout):
            s.recv(100)
    assert node.log_text().count("raft message refused") == 1
    leader = cluster.leader()
    leader.stop()
    cluster.wait_status(lambda s: s["leader_id"] > 0 and s["leader_id"] != leader.node_id, 60,
                        "a new raft leader")
    leader.start()
    cluster.wait_healthy()
    # No real election was refused: the count is unchanged (a node restarted
    # here, when it was the leader, starts a new log holding none).
    assert node.log_text().count("raft message refused") == (0 if leader is node else 1)


# --- SIGHUP -----------------------------------------------------------------


def issuer_cn(port, pki, cafile):
    with tls_connect(port, cafile, *cert_key(pki, "node3"), check_hostname=False) as s:
        return dict(x[0] for x in s.getpeercert()["issuer"])["commonName"]


def test_sighup_reloads_a_rotated_node_certificate(clusters, pki, tmp_path):
    """Every node trusts a bundle file; a new CA is added to it and node 1
    gets a certificate from the new CA in place of its keystore; after
    SIGHUP new connections to node 1 (replication, controller, raft) see the
    new certificate, and the cluster keeps working across a restart of
    another node, whose new connections meet it."""
    trust = str(tmp_path / "trust.pem")
    with open(pki.ca) as f, open(trust, "w") as out:
        out.write(f.read())
    cluster = tls_cluster(clusters, pki, tmp_path, start=False)
    # sluicectl (cluster status) trusts the same bundle, so it accepts node 1
    # after the rotation too.
    cluster.command_config = str(tmp_path / "sluicectl-bundle.properties")
    with open(cluster.command_config, "w") as f:
        f.write(f"security.protocol=SSL\nssl.keystore.location={pki.keystore}\n"
                f"ssl.truststore.location={trust}\n")
    for node in cluster:
        for listener in ("replication", "controller"):
            node.overrides[f"listener.name.{listener}.ssl.truststore.location"] = trust
    cluster.start()
    node1 = cluster.node(1)
    ports = [node1.replication_port, int(node1.controller.rsplit(":", 1)[1]),
             raft_port(node1)]
    assert [issuer_cn(p, pki, pki.ca) for p in ports] == ["Sluice test CA"] * 3
    pki.ca2 = pki._ca("ca2", "/CN=Sluice test CA 2")
    with open(pki.ca) as a, open(pki.ca2) as b, open(trust + ".tmp", "w") as out:
        out.write(a.read() + b.read())
    os.replace(trust + ".tmp", trust)
    rotated = node_keystore(pki, 1, ca="ca2", name="node1-rotated")
    os.replace(rotated, pki.nodes[1])
    for node in cluster:
        node.proc.send_signal(signal.SIGHUP)
    for node in cluster:
        wait_log(node, r"controller and raft TLS reloaded listener=CONTROLLER")
        wait_log(node, r"replication TLS reloaded listener=REPLICATION")
        wait_log(node, r"controller-link TLS reloaded listener=CONTROLLER")
    assert [issuer_cn(p, pki, pki.ca2) for p in ports] == ["Sluice test CA 2"] * 3
    # Node 2 restarts: its new connections to node 1 meet the rotated
    # certificate (and node 1's to it present it).
    cluster.node(2).stop()
    cluster.node(2).start()
    cluster.wait_healthy()
    topic = "after-rotation"
    assert create(admin_for(cluster), topic, 1, 3, {"min.insync.replicas": "3"}) is None
    wait_isr(cluster, topic, [1, 2, 3])
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    p.produce(topic, b"x")
    assert p.flush(30) == 0
