"""franz-go and sarama (tests/go/security_test.go) over SSL, mutual TLS,
SASL_PLAINTEXT and SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512:
each produces 20 records and reads them back. One broker serves every
listener; the test CA and certificates are made with openssl at test time and
the SCRAM user is set with `sluicectl user set-password`."""

import os
import subprocess

import pytest

from conftest import GO_DIR
from securitytest import Pki, secure_broker

CASES = [
    # (Go test, listener, SASL mechanism or None, client certificate)
    ("TestFranzSecure", "SSL", None, False),
    ("TestFranzSecure", "SSL", None, True),
    ("TestFranzSecure", "SASL_PLAINTEXT", "SCRAM-SHA-256", False),
    ("TestFranzSecure", "SASL_SSL", "PLAIN", False),
    ("TestFranzSecure", "SASL_SSL", "SCRAM-SHA-256", False),
    ("TestFranzSecure", "SASL_SSL", "SCRAM-SHA-512", False),
    ("TestSaramaSecure", "SSL", None, False),
    ("TestSaramaSecure", "SSL", None, True),
    ("TestSaramaSecure", "SASL_PLAINTEXT", "PLAIN", False),
    ("TestSaramaSecure", "SASL_SSL", "PLAIN", False),
    ("TestSaramaSecure", "SASL_SSL", "SCRAM-SHA-256", False),
    ("TestSaramaSecure", "SASL_SSL", "SCRAM-SHA-512", False),
]


def case_id(case):
    name, listener, mechanism, cert = case
    client = "franz" if "Franz" in name else "sarama"
    return f"{client}-{listener}-{mechanism or ('mtls' if cert else 'tls')}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_go_client_secure(brokers, tmp_path, franz_test_binary, case):
    name, listener, mechanism, cert = case
    pki = Pki(str(tmp_path / "pki"))
    b = secure_broker(brokers, pki)
    env = dict(os.environ, SLUICE_BOOTSTRAP=f"127.0.0.1:{b.ports[listener]}",
               SLUICE_SECURITY=listener, SLUICE_CA=pki.ca,
               SLUICE_SASL_MECHANISM=mechanism or "", SLUICE_SASL_USER="alice",
               SLUICE_SASL_PASSWORD=b.password)
    if cert:
        env.update(SLUICE_CERT=pki.alice, SLUICE_KEY=pki.path("alice.key"))
    try:
        p = subprocess.run([franz_test_binary, "-test.v", "-test.count=1", "-test.timeout=90s",
                            "-test.run", f"^{name}$"], cwd=GO_DIR, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{name} timed out:\n{(e.stdout or b'').decode(errors='replace')}")
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and f"--- PASS: {name}" in out, out[-6000:]
    log = b.log_text()
    if cert:
        assert "principal=User:CN=alice,OU=eng,O=Sluice" in log
    if mechanism:
        assert "SASL authenticated" in log and f"mechanism={mechanism} user=alice" in log
