"""sluicectl --command-config: Kafka client properties for SSL and SASL
listeners (security.protocol, sasl.mechanism, sasl.username/password or
sasl.jaas.config, ssl.ca.location, a client certificate)."""

import pytest

from securitytest import Pki, secure_broker, sluicectl


@pytest.fixture
def pki(tmp_path):
    return Pki(str(tmp_path / "pki"))


def config(tmp_path, name, lines):
    path = tmp_path / f"{name}.properties"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("listener,mechanism", [("SASL_SSL", "SCRAM-SHA-512"),
                                                ("SASL_SSL", "PLAIN"),
                                                ("SASL_PLAINTEXT", "SCRAM-SHA-256")])
def test_sasl(brokers, pki, tmp_path, listener, mechanism):
    b = secure_broker(brokers, pki)
    cfg = config(tmp_path, "client", [
        f"security.protocol={listener}", f"sasl.mechanism={mechanism}",
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
        f'username="alice" password="{b.password}";',
        f"ssl.ca.location={pki.ca}"])
    server = f"127.0.0.1:{b.ports[listener]}"
    sluicectl("topic", "create", "secured", "--partitions", "2", "--bootstrap-server", server,
              "--command-config", cfg)
    out = sluicectl("topic", "describe", "secured", "--bootstrap-server", server,
                    "--command-config", cfg).stdout
    assert b"secured" in out
    assert b"alice" in sluicectl("user", "list", "--bootstrap-server", server,
                                 "--command-config", cfg).stdout
    assert f"mechanism={mechanism} user=alice" in b.log_text()


def test_wrong_password_is_refused(brokers, pki, tmp_path):
    b = secure_broker(brokers, pki)
    cfg = config(tmp_path, "bad", ["security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-256",
                                   "sasl.username=alice", "sasl.password=nope",
                                   f"ssl.ca.location={pki.ca}"])
    p = sluicectl("topic", "list", "--bootstrap-server", f"127.0.0.1:{b.ports['SASL_SSL']}",
                  "--command-config", cfg, check=False)
    assert p.returncode == 3 and b"SASL_AUTHENTICATION_FAILED" in p.stderr, p.stderr


def test_mutual_tls_and_untrusted_server(brokers, pki, tmp_path):
    b = secure_broker(brokers, pki)
    server = f"127.0.0.1:{b.ports['SSL']}"
    cfg = config(tmp_path, "mtls", ["security.protocol=SSL", f"ssl.ca.location={pki.ca}",
                                    f"ssl.certificate.location={pki.alice}",
                                    f"ssl.key.location={pki.path('alice.key')}"])
    sluicectl("topic", "list", "--bootstrap-server", server, "--command-config", cfg)
    assert "principal=User:CN=alice,OU=eng,O=Sluice" in b.log_text()
    rogue = config(tmp_path, "rogue", ["security.protocol=SSL",
                                       f"ssl.ca.location={pki.rogue_ca}"])
    p = sluicectl("topic", "list", "--bootstrap-server", server, "--command-config", rogue,
                  check=False)
    assert p.returncode == 3 and b"certificate verify failed" in p.stderr, p.stderr
