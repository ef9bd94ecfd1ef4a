"""TLS on the Kafka listeners (SSL protocol): kcat produces and consumes over
TLS, with and without a client certificate; the certificate's subject becomes
the principal through ssl.principal.mapping.rules; untrusted certificates,
missing ones under ssl.client.auth=required, plaintext clients on the TLS port
and protocols outside ssl.enabled.protocols are refused and served nothing;
SIGHUP reloads the server certificate. Certificates are made at test time."""

import re
import signal
import socket
import ssl
import time

import pytest
from confluent_kafka import KafkaError, Producer

from securitytest import (Pki, api_versions, listeners_overrides, sluicectl, tls_connect,
                          tls_overrides)
from sluicetest import run, run_refused, unique_topic


@pytest.fixture
def pki(tmp_path):
    return Pki(str(tmp_path / "pki"))


def tls_broker(brokers, pki, client_auth="requested", **extra):
    b = brokers(start=False)
    ports = listeners_overrides(b, [("SSL", "SSL")])
    b.overrides.update(tls_overrides(pki, client_auth))
    b.overrides["log.level"] = "debug"
    b.overrides.update(extra)
    b.start()
    b.ssl_port = ports["SSL"]
    return b


def kcat_tls(b, pki, *args, cert=None):
    cmd = ["kcat", "-m", "15", "-b", f"127.0.0.1:{b.ssl_port}", "-X", "security.protocol=SSL",
           "-X", f"ssl.ca.location={pki.ca}"]
    if cert:
        cmd += ["-X", f"ssl.certificate.location={pki.path(cert + '.pem')}", "-X",
                f"ssl.key.location={pki.path(cert + '.key')}"]
    return cmd + list(args)


def wait_log(b, pattern, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, b.log_text()):
            return
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not in the broker log:\n{b.log_text()[-3000:]}")


def roundtrip(b, pki, topic, cert=None, n=50, size=100):
    values = [(f"{i:06d}-" + "x" * size).encode() for i in range(n)]
    run(kcat_tls(b, pki, "-P", "-t", topic, cert=cert), input=b"\n".join(values) + b"\n",
        timeout=60)
    p = run(kcat_tls(b, pki, "-C", "-e", "-q", "-t", topic, "-f", "%s\n", cert=cert),
            timeout=60)
    assert p.stdout.splitlines() == values


def test_kcat_over_ssl_without_client_certificate(brokers, pki, request):
    b = tls_broker(brokers, pki)
    roundtrip(b, pki, unique_topic(request))
    wait_log(b, r"TLS established peer=\S+ listener=SSL TLSv1\.3 \S+ principal=User:ANONYMOUS")


def test_kcat_mutual_tls_maps_the_subject(brokers, pki, request):
    rules = r"RULE:^CN=([^,]*),OU=eng,O=Sluice$/$1-eng/U,DEFAULT"
    b = tls_broker(brokers, pki, "required", **{"ssl.principal.mapping.rules": rules})
    roundtrip(b, pki, unique_topic(request), cert="alice")
    wait_log(b, r"TLS established .* principal=User:ALICE-ENG")


def test_default_mapping_is_the_rfc2253_subject(brokers, pki, request):
    b = tls_broker(brokers, pki, "requested")
    roundtrip(b, pki, unique_topic(request), cert="alice", n=3)
    wait_log(b, r"principal=User:CN=alice,OU=eng,O=Sluice")


def test_each_listener_maps_the_certificate_with_its_own_rules(brokers, pki, request):
    """listener.name.partners.ssl.principal.mapping.rules: the same client
    certificate is User:alice on SSL (the global rules) and User:eng-alice on
    PARTNERS; with ACLs on, alice's binding lets her produce on SSL only,
    until eng-alice gets one of her own."""
    b = brokers(start=False)
    ports = listeners_overrides(b, [("SSL", "SSL"), ("PARTNERS", "SSL")])
    b.overrides.update(tls_overrides(pki, "required"))
    b.overrides.update({
        "log.level": "debug",
        "ssl.principal.mapping.rules": r"RULE:^CN=([^,]*),.*$/$1/,DEFAULT",
        "listener.name.partners.ssl.principal.mapping.rules":
            r"RULE:^CN=([^,]*),OU=([^,]*),.*$/$2-$1/,DEFAULT",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",  # the PLAINTEXT listener: the operator's
    })
    b.start()
    topic = unique_topic(request)
    sluicectl("topic", "create", topic, "--partitions", "1", "--replication-factor", "1",
              "--bootstrap-server", b.bootstrap)

    def produce(listener):
        conf = {"bootstrap.servers": f"127.0.0.1:{ports[listener]}", "security.protocol": "SSL",
                "ssl.ca.location": pki.ca, "ssl.certificate.location": pki.alice,
                "ssl.key.location": pki.path("alice.key"), "message.timeout.ms": 15000}
        results = []
        p = Producer(conf)
        p.produce(topic, listener.encode(), on_delivery=lambda err, msg: results.append(err))
        p.flush(30)
        assert len(results) == 1
        return results[0].code() if results[0] else None

    def allow(principal):
        sluicectl("acl", "create", "--allow-principal", principal, "--operation", "Write",
                  "--operation", "Describe", "--topic", topic, "--bootstrap-server", b.bootstrap)

    allow("User:alice")
    assert produce("SSL") is None
    assert produce("PARTNERS") == KafkaError.TOPIC_AUTHORIZATION_FAILED
    wait_log(b, r"TLS established peer=\S+ listener=SSL .* principal=User:alice\n")
    wait_log(b, r"TLS established peer=\S+ listener=PARTNERS .* principal=User:eng-alice\n")
    allow("User:eng-alice")
    assert produce("PARTNERS") is None


def test_fetch_over_tls_carries_megabytes_intact(brokers, pki, request):
    """Record data is spliced from the segment on plaintext; on TLS it is read
    in chunks and encrypted: several MiB in one consume cross many chunks."""
    b = tls_broker(brokers, pki)
    roundtrip(b, pki, unique_topic(request), n=4000, size=1024)


def test_client_certificate_required(brokers, pki):
    b = tls_broker(brokers, pki, "required")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        s = tls_connect(b.ssl_port, pki.ca)
        # TLS 1.3: the refusal of a missing certificate arrives after the
        # client's Finished, so it shows on the first exchange.
        api_versions(s)
    wait_log(b, r"TLS handshake failed: peer did not return a certificate")
    s = tls_connect(b.ssl_port, pki.ca, pki.alice, pki.path("alice.key"))
    assert api_versions(s) == 0
    s.close()


def test_untrusted_client_certificate_is_refused(brokers, pki, request):
    b = tls_broker(brokers, pki, "requested")
    refusal = r"TLS handshake failed: certificate verify failed"
    p = run_refused(kcat_tls(b, pki, "-L", "-t", unique_topic(request), cert="mallory"),
                    lambda err: re.search(refusal, b.log_text()))
    assert p.stdout == b"", p.stdout  # no metadata


def test_plaintext_client_on_tls_port_is_refused(brokers, pki):
    b = tls_broker(brokers, pki)
    with socket.create_connection(("127.0.0.1", b.ssl_port), timeout=10) as s:
        s.settimeout(10)
        with pytest.raises(ConnectionError):  # closed without an answer
            api_versions(s)
    wait_log(b, r"TLS handshake failed: (wrong version number|packet length too long|"
                r"unknown protocol|http request)")
    # The port still serves TLS clients.
    s = tls_connect(b.ssl_port, pki.ca)
    assert api_versions(s) == 0
    s.close()


def test_enabled_protocols_refuse_older_tls(brokers, pki):
    b = tls_broker(brokers, pki, **{"ssl.enabled.protocols": "TLSv1.3"})
    with pytest.raises(ssl.SSLError):
        tls_connect(b.ssl_port, pki.ca, max_version=ssl.TLSVersion.TLSv1_2)
    s = tls_connect(b.ssl_port, pki.ca)
    assert s.version() == "TLSv1.3"
    s.close()


def test_handshake_timeout_closes_a_silent_client(brokers, pki):
    b = tls_broker(brokers, pki, **{"ssl.handshake.timeout.ms": "300"})
    with socket.create_connection(("127.0.0.1", b.ssl_port), timeout=20) as s:
        s.settimeout(20)
        assert s.recv(1) == b""  # closed by the broker, nothing served
    wait_log(b, r"TLS handshake not completed within ssl.handshake.timeout.ms")


def test_sighup_reloads_the_certificate(brokers, pki):
    b = tls_broker(brokers, pki)
    s = tls_connect(b.ssl_port, pki.ca)
    before = s.getpeercert()["serialNumber"]
    s.close()
    pki.reissue_server(serial=0x5EC0DE)
    pki.write_keystore(pki.keystore, "server")
    b.proc.send_signal(signal.SIGHUP)
    wait_log(b, r"TLS key, certificates and trust store reloaded")
    s = tls_connect(b.ssl_port, pki.ca)
    after = s.getpeercert()["serialNumber"]
    assert api_versions(s) == 0
    s.close()
    assert before != after and int(after, 16) == 0x5EC0DE


def test_bad_keystore_stops_startup_with_a_reason(brokers, pki, tmp_path):
    bad = tmp_path / "empty.pem"
    bad.write_text("")
    b = brokers(start=False)
    listeners_overrides(b, [("SSL", "SSL")])
    b.overrides.update(tls_overrides(pki))
    b.overrides["ssl.keystore.location"] = str(bad)
    b.spawn()
    assert b.proc.wait(timeout=20) != 0
    assert "ssl.keystore.location" in b.log_text()
    b._log.close()


PY_CLIENTS = r"""
import sys
import time
client, port, ca, cert, key, topic = sys.argv[1:7]
values = ["%s-%d" % (client, i) for i in range(10)]
if client == "kafka-python":
    from kafka import KafkaConsumer, KafkaProducer
    kw = dict(bootstrap_servers="127.0.0.1:" + port, security_protocol="SSL", ssl_cafile=ca,
              ssl_certfile=cert, ssl_keyfile=key)
    p = KafkaProducer(**kw)
    for v in values:
        p.send(topic, v.encode())
    p.flush(30)
    p.close()
    c = KafkaConsumer(topic, auto_offset_reset="earliest", **kw)
    # Until the 10 arrive (not until 8 s pass without a record), then one
    # more poll in case anything follows them.
    got, deadline = [], time.monotonic() + 60
    while len(got) < 10 and time.monotonic() < deadline:
        got += [m.value.decode() for ms in c.poll(timeout_ms=500).values() for m in ms]
    got += [m.value.decode() for ms in c.poll(timeout_ms=500).values() for m in ms]
    c.close()
else:
    from confluent_kafka import Consumer, Producer
    conf = {"bootstrap.servers": "127.0.0.1:" + port, "security.protocol": "SSL",
            "ssl.ca.location": ca, "ssl.certificate.location": cert, "ssl.key.location": key}
    p = Producer(conf)
    for v in values:
        p.produce(topic, v.encode())
    assert p.flush(30) == 0
    c = Consumer(dict(conf, **{"group.id": "g-" + topic, "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got = []
    for _ in range(60):
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
        if len(got) == len(values):
            break
    c.close()
assert got == values, got
"""


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_python_clients_mutual_tls(brokers, pki, request, client):
    b = tls_broker(brokers, pki, "required")
    run(["/usr/bin/python3", "-c", PY_CLIENTS, client, str(b.ssl_port), pki.ca, pki.alice,
         pki.path("alice.key"), unique_topic(request)], timeout=120)
    wait_log(b, r"principal=User:CN=alice,OU=eng,O=Sluice")


def test_requests_before_close_notify_still_run(brokers, pki, request):
    """close_notify in the same read as pipelined requests, one of which
    waits for the loop's iteration budget behind a Produce that spends it
    (16 partitions of ~1 MiB-inflating gzip batches, yielding between
    them): the connection closes only once every request read before the
    close_notify has run, so the acks=0 Produce behind is appended (as it
    was before the iteration budget, when every request started as soon as
    it was read)."""
    from test_budgets import batch, compress, produce_body_many, records_of
    from test_protocol_raw import (create_topic, list_offsets_latest, produce_body,
                                   request_frame)
    b = tls_broker(brokers, pki, **{"num.partitions": "17"})
    topic = unique_topic(request)
    create_topic(b, topic)
    near = batch(compress(1, records_of([bytes(1000000)])), 1, 1)
    heavy = request_frame(0, 3, 1, produce_body_many(topic, [b""] + [near * 4] * 16))
    after = request_frame(0, 3, 2, produce_body(topic, batch(records_of([b"after"]), 0, 1),
                                                acks=0))
    ctx = ssl.create_default_context(cafile=pki.ca)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", b.ssl_port), timeout=30) as raw:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))
        raw.sendall(outgoing.read())
        tls.write(heavy + after)
        try:
            tls.unwrap()  # close_notify; the broker's answer is not awaited
        except ssl.SSLWantReadError:
            pass
        raw.sendall(outgoing.read())  # requests and close_notify in one write
        deadline = time.monotonic() + 30
        while list_offsets_latest(b, topic) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    # Partition 0 holds only the acks=0 Produce's record; the empty record
    # set the heavy request carried for it was refused.
    assert list_offsets_latest(b, topic) == 1
    assert b.running()
