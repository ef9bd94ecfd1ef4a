"""The ACL matrix (tests/go/acl_matrix_test.go): every Kafka API the broker
serves, sent by franz-go's kmsg as User:alice over SASL_PLAINTEXT: denied
without its ACL with the error code Kafka returns, allowed with exactly the
bindings Kafka requires (literal and prefixed), denied again under a DENY
for User:*, and allowed for the super user. Also: revoking Read stops a
consumer in the middle of an incremental fetch session (KIP-227).

One broker for the module: authorizer.class.name set, User:ANONYMOUS (the
PLAINTEXT listener) a super user, alice a SCRAM user."""

import os
import subprocess

import pytest

from conftest import GO_DIR
from securitytest import listeners_overrides, sluicectl
from sluicetest import BrokerFactory

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
PASSWORD = "alice-secret"


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory):
    factory = BrokerFactory(tmp_path_factory.mktemp("acl-matrix"))
    if factory.external:
        pytest.skip("needs a sluiced process it controls")
    b = factory(start=False)
    b.ports = listeners_overrides(b, [("SASL_PLAINTEXT", "SASL_PLAINTEXT")])
    b.overrides["authorizer.class.name"] = AUTHORIZER
    b.overrides["super.users"] = "User:ANONYMOUS"
    b.start()
    sluicectl("user", "set-password", "alice", "--password", PASSWORD, "--bootstrap-server",
              b.bootstrap)
    yield b
    problems = factory.shutdown()
    assert not problems, "; ".join(problems)


def run_go(binary, broker, name):
    env = dict(os.environ, SLUICE_ADMIN_BOOTSTRAP=broker.bootstrap,
               SLUICE_BOOTSTRAP=f"127.0.0.1:{broker.ports['SASL_PLAINTEXT']}",
               SLUICE_SASL_USER="alice", SLUICE_SASL_PASSWORD=PASSWORD)
    try:
        p = subprocess.run([binary, "-test.v", "-test.count=1", "-test.timeout=240s",
                            "-test.run", f"^{name}$"], cwd=GO_DIR, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{name} timed out:\n{(e.stdout or b'').decode(errors='replace')}")
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and f"--- PASS: {name}" in out, out[-12000:]
    return out


def test_every_api_is_authorized(acl_broker, franz_test_binary):
    out = run_go(franz_test_binary, acl_broker, "TestAclMatrix")
    # Every case ran (a case filtered out by mistake would pass silently).
    assert out.count("    --- PASS: TestAclMatrix/") >= 45, out[-4000:]


def test_fetch_session_partitions_are_reauthorized(acl_broker, franz_test_binary):
    run_go(franz_test_binary, acl_broker, "TestAclFetchSessionReauthorized")
