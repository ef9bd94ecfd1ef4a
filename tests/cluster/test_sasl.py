"""SASL on the Kafka listeners: SCRAM users set with `sluicectl user`
(AlterUserScramCredentials; the credential goes through the controller into
the metadata log), then kcat, confluent-kafka and kafka-python (which speaks
SaslHandshake v0 and bare tokens) produce and consume with PLAIN,
SCRAM-SHA-256 and SCRAM-SHA-512 over SASL_PLAINTEXT and SASL_SSL. A wrong
password, an unknown user and a request before authentication are refused and
served nothing; credentials survive a restart (replayed from the log)."""

import socket
import struct

import pytest

from securitytest import Pki, api_versions, listeners_overrides, sluicectl, tls_overrides
from sluicetest import recv_exact, run, run_refused, unique_topic

MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
PASSWORD = "alice-secret"


@pytest.fixture
def pki(tmp_path):
    return Pki(str(tmp_path / "pki"))


def sasl_broker(brokers, pki=None):
    b = brokers(start=False)
    extra = [("SASL_PLAINTEXT", "SASL_PLAINTEXT")]
    if pki is not None:
        extra.append(("SASL_SSL", "SASL_SSL"))
        b.overrides.update(tls_overrides(pki, "none"))
    b.ports = listeners_overrides(b, extra)
    b.overrides["log.level"] = "debug"
    b.start()
    sluicectl("user", "set-password", "alice", "--password", PASSWORD, "--bootstrap-server",
              b.bootstrap)
    return b


def kcat_sasl(b, protocol, mechanism, *args, password=PASSWORD, user="alice", pki=None):
    cmd = ["kcat", "-m", "15", "-b", f"127.0.0.1:{b.ports[protocol]}", "-X",
           f"security.protocol={protocol}", "-X", f"sasl.mechanism={mechanism}", "-X",
           f"sasl.username={user}", "-X", f"sasl.password={password}"]
    if pki is not None:
        cmd += ["-X", f"ssl.ca.location={pki.ca}"]
    return cmd + list(args)


def kcat_roundtrip(b, protocol, mechanism, topic, pki=None):
    values = [f"{mechanism}-{i}".encode() for i in range(20)]
    run(kcat_sasl(b, protocol, mechanism, "-P", "-t", topic, pki=pki),
        input=b"\n".join(values) + b"\n")
    p = run(kcat_sasl(b, protocol, mechanism, "-C", "-e", "-q", "-t", topic, pki=pki))
    assert p.stdout.splitlines() == values


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kcat_sasl_plaintext(brokers, request, mechanism):
    b = sasl_broker(brokers)
    kcat_roundtrip(b, "SASL_PLAINTEXT", mechanism, unique_topic(request))
    assert "SASL authenticated" in b.log_text()
    assert f"mechanism={mechanism} user=alice" in b.log_text()


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kcat_sasl_ssl(brokers, pki, request, mechanism):
    b = sasl_broker(brokers, pki)
    kcat_roundtrip(b, "SASL_SSL", mechanism, unique_topic(request), pki=pki)


KAFKA_PYTHON = r"""
import sys
import time
from kafka import KafkaConsumer, KafkaProducer
port, protocol, mechanism, password, topic, ca = sys.argv[1:7]
kw = dict(bootstrap_servers="127.0.0.1:" + port, security_protocol=protocol,
          sasl_mechanism=mechanism, sasl_plain_username="alice", sasl_plain_password=password)
if ca != "-":
    kw.update(ssl_cafile=ca, ssl_check_hostname=True)
p = KafkaProducer(**kw)
for i in range(10):
    p.send(topic, ("%s-%d" % (mechanism, i)).encode())
p.flush(30)
p.close()
c = KafkaConsumer(topic, auto_offset_reset="earliest", **kw)
# Until the 10 arrive (not until 8 s pass without a record), then one more
# poll in case anything follows them.
got, deadline = [], time.monotonic() + 60
while len(got) < 10 and time.monotonic() < deadline:
    got += [m.value.decode() for ms in c.poll(timeout_ms=500).values() for m in ms]
got += [m.value.decode() for ms in c.poll(timeout_ms=500).values() for m in ms]
print("\n".join(got))
c.close()
"""


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python(brokers, pki, request, protocol, mechanism):
    b = sasl_broker(brokers, pki)
    topic = unique_topic(request)
    p = run(["/usr/bin/python3", "-c", KAFKA_PYTHON, str(b.ports[protocol]), protocol, mechanism,
             PASSWORD, topic, pki.ca if protocol == "SASL_SSL" else "-"], timeout=90)
    assert p.stdout.decode().split() == [f"{mechanism}-{i}" for i in range(10)]


CONFLUENT = r"""
import sys
from confluent_kafka import Consumer, Producer
port, protocol, mechanism, password, topic, ca = sys.argv[1:7]
conf = {"bootstrap.servers": "127.0.0.1:" + port, "security.protocol": protocol,
        "sasl.mechanism": mechanism, "sasl.username": "alice", "sasl.password": password}
if ca != "-":
    conf["ssl.ca.location"] = ca
p = Producer(conf)
for i in range(10):
    p.produce(topic, ("%s-%d" % (mechanism, i)).encode())
assert p.flush(30) == 0
c = Consumer(dict(conf, **{"group.id": "g-" + topic, "auto.offset.reset": "earliest"}))
c.subscribe([topic])
got = []
for _ in range(60):
    m = c.poll(1.0)
    if m is not None and m.error() is None:
        got.append(m.value().decode())
    if len(got) == 10:
        break
c.close()
print("\n".join(got))
"""


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_confluent_kafka(brokers, pki, request, protocol, mechanism):
    b = sasl_broker(brokers, pki)
    topic = unique_topic(request)
    p = run(["/usr/bin/python3", "-c", CONFLUENT, str(b.ports[protocol]), protocol, mechanism,
             PASSWORD, topic, pki.ca if protocol == "SASL_SSL" else "-"], timeout=120)
    assert p.stdout.decode().split() == [f"{mechanism}-{i}" for i in range(10)]


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_wrong_password_and_unknown_user_are_refused(brokers, request, mechanism):
    b = sasl_broker(brokers)
    topic = unique_topic(request)
    for user, password in (("alice", "not-it"), ("mallory", PASSWORD)):
        p = run_refused(kcat_sasl(b, "SASL_PLAINTEXT", mechanism, "-L", "-t", topic, user=user,
                                  password=password), lambda err: b"Authentication failed" in err)
        assert p.stdout == b"", p.stdout  # no metadata
    log = b.log_text()
    assert f"mechanism={mechanism} user=alice reason=\"wrong password\"" in log
    assert f"mechanism={mechanism} user=mallory reason=\"unknown user\"" in log
    # Nothing was served: the refused clients' Metadata did not auto-create it.
    listed = sluicectl("topic", "list", "--bootstrap-server", b.bootstrap).stdout.decode()
    assert topic not in listed.split()


def frame(api, version, corr, body=b""):
    client = b"raw"
    header = struct.pack(">hhih", api, version, corr, len(client)) + client
    return struct.pack(">i", len(header) + len(body)) + header + body


def test_nothing_is_served_before_authentication(brokers):
    b = sasl_broker(brokers)
    with socket.create_connection(("127.0.0.1", b.ports["SASL_PLAINTEXT"]), timeout=10) as s:
        s.settimeout(10)
        assert api_versions(s) == 0  # allowed before authentication
        s.sendall(frame(3, 1, 9, struct.pack(">i", -1)))  # Metadata: refused
        with pytest.raises((ConnectionError, OSError)):
            recv_exact(s, 4)
    assert "request api_key=3 before SASL authentication" in b.log_text()


def test_unsupported_mechanism_is_answered_then_closed(brokers):
    b = sasl_broker(brokers)
    with socket.create_connection(("127.0.0.1", b.ports["SASL_PLAINTEXT"]), timeout=10) as s:
        s.settimeout(10)
        mech = b"GSSAPI"
        s.sendall(frame(17, 1, 5, struct.pack(">h", len(mech)) + mech))
        (size,) = struct.unpack(">i", recv_exact(s, 4))
        body = recv_exact(s, size)
        corr, err = struct.unpack(">ih", body[:6])
        assert (corr, err) == (5, 33)  # UNSUPPORTED_SASL_MECHANISM
        assert b"SCRAM-SHA-256" in body
        assert s.recv(1) == b""


def test_users_listed_deleted_and_kept_across_restart(brokers, request):
    b = sasl_broker(brokers)
    listed = sluicectl("user", "list", "--json", "--bootstrap-server", b.bootstrap).stdout
    assert b'"user":"alice"' in listed and b'"iterations":8192' in listed
    assert b"SCRAM-SHA-512" in listed
    b.restart()
    kcat_roundtrip(b, "SASL_PLAINTEXT", "SCRAM-SHA-256", unique_topic(request))
    sluicectl("user", "delete", "alice", "--bootstrap-server", b.bootstrap)
    assert b"alice" not in sluicectl("user", "list", "--bootstrap-server", b.bootstrap).stdout
    p = run_refused(kcat_sasl(b, "SASL_PLAINTEXT", "SCRAM-SHA-256", "-L"),
                    lambda err: b"Authentication failed" in err)
    assert p.stdout == b"", p.stdout  # no metadata
    p = sluicectl("user", "delete", "alice", "--bootstrap-server", b.bootstrap, check=False)
    assert p.returncode == 1 and b"RESOURCE_NOT_FOUND" in p.stderr
    p = sluicectl("user", "set-password", "bob", "--password", "x", "--iterations", "100",
                  "--bootstrap-server", b.bootstrap, check=False)
    assert p.returncode == 1 and b"UNACCEPTABLE_CREDENTIAL" in p.stderr
