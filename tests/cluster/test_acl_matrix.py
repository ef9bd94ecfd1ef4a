"""The ACL matrix (tests/go/acl_matrix_test.go): every Kafka API the broker
serves, sent by franz-go's kmsg as User:alice over SASL_PLAINTEXT: denied
without its ACL with the error code Kafka returns, allowed with exactly the
bindings Kafka requires (literal and prefixed), denied again under a DENY
for User:*, and allowed for the super user. Also: revoking Read stops a
consumer in the middle of an incremental fetch session (KIP-227). And
`sluicectl acl create | list | delete` (kafka-acls.sh's --add, --list,
--remove), over PLAINTEXT and, with --command-config, as alice over SASL.

One broker for the module: authorizer.class.name set, User:ANONYMOUS (the
PLAINTEXT listener) a super user, alice a SCRAM user."""

import json
import os

import pytest

from conftest import run_go_test
from securitytest import module_sasl_broker, sluicectl

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
PASSWORD = "alice-secret"


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory):
    yield from module_sasl_broker(tmp_path_factory, "acl-matrix", PASSWORD,
                                  {"authorizer.class.name": AUTHORIZER,
                                   "super.users": "User:ANONYMOUS"})


def run_go(binary, broker, name):
    env = dict(os.environ, SLUICE_ADMIN_BOOTSTRAP=broker.bootstrap,
               SLUICE_BOOTSTRAP=f"127.0.0.1:{broker.ports['SASL_PLAINTEXT']}",
               SLUICE_SASL_USER="alice", SLUICE_SASL_PASSWORD=PASSWORD)
    return run_go_test(binary, name, env, timeout_s=240, tail=12000)


def test_every_api_is_authorized(acl_broker, franz_test_binary):
    out = run_go(franz_test_binary, acl_broker, "TestAclMatrix")
    # Every case ran (a case filtered out by mistake would pass silently).
    assert out.count("    --- PASS: TestAclMatrix/") >= 45, out[-4000:]


def test_fetch_session_partitions_are_reauthorized(acl_broker, franz_test_binary):
    run_go(franz_test_binary, acl_broker, "TestAclFetchSessionReauthorized")


def acl_json(broker, *args, config=None):
    extra = ["--command-config", config] if config else []
    server = (f"127.0.0.1:{broker.ports['SASL_PLAINTEXT']}" if config else broker.bootstrap)
    out = sluicectl("acl", *args, "--json", "--bootstrap-server", server, *extra).stdout
    return json.loads(out)


def brief(bindings):
    return sorted((b["resource_type"], b["resource_name"], b["pattern_type"], b["principal"],
                   b["host"], b["operation"], b["permission"]) for b in bindings)


def test_sluicectl_acl_create_list_delete(acl_broker, tmp_path):
    b = acl_broker
    sluicectl("acl", "delete", "--bootstrap-server", b.bootstrap)  # start from none
    created = acl_json(b, "create", "--allow-principal", "User:alice", "--allow-principal",
                       "User:bob", "--operation", "Read", "--operation", "describe",
                       "--topic", "ctl-t", "--group", "ctl-g")
    assert len(created) == 8
    acl_json(b, "create", "--deny-principal", "User:bob", "--operation", "Write", "--host",
             "10.0.0.1", "--topic", "ctl-", "--resource-pattern-type", "prefixed")
    acl_json(b, "create", "--allow-principal", "User:alice", "--operation", "Alter",
             "--cluster")
    acl_json(b, "create", "--allow-principal", "User:alice", "--operation", "Write",
             "--transactional-id", "ctl-txn")
    everything = brief(acl_json(b, "list"))
    assert len(everything) == 11
    assert ("Topic", "ctl-", "PREFIXED", "User:bob", "10.0.0.1", "Write", "DENY") in everything
    assert ("Cluster", "kafka-cluster", "LITERAL", "User:alice", "*", "Alter",
            "ALLOW") in everything
    # Filters: a principal, a resource, and MATCH (what applies to ctl-topic).
    assert len(acl_json(b, "list", "--principal", "User:bob")) == 5
    assert len(acl_json(b, "list", "--topic", "ctl-t")) == 4
    match = brief(acl_json(b, "list", "--topic", "ctl-topic", "--resource-pattern-type",
                           "match"))
    assert [m[1] for m in match] == ["ctl-"]
    # The text form names each binding.
    text = sluicectl("acl", "list", "--group", "ctl-g", "--bootstrap-server",
                     b.bootstrap).stdout.decode()
    assert "Group:LITERAL:ctl-g\tUser:alice\thost=*\tRead\tALLOW" in text
    # alice may Alter the cluster: she manages ACLs herself over SASL.
    cfg = tmp_path / "alice.properties"
    cfg.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"
                   f"sasl.username=alice\nsasl.password={PASSWORD}\n")
    deleted = acl_json(b, "delete", "--principal", "User:bob", "--operation", "Read",
                       config=str(cfg))
    assert brief(deleted) == [("Group", "ctl-g", "LITERAL", "User:bob", "*", "Read", "ALLOW"),
                              ("Topic", "ctl-t", "LITERAL", "User:bob", "*", "Read", "ALLOW")]
    assert len(acl_json(b, "list", config=str(cfg))) == 9
    # Without Alter on the cluster she may not.
    acl_json(b, "delete", "--cluster")
    p = sluicectl("acl", "list", "--bootstrap-server",
                  f"127.0.0.1:{b.ports['SASL_PLAINTEXT']}", "--command-config", str(cfg),
                  check=False)
    assert p.returncode == 1 and b"CLUSTER_AUTHORIZATION_FAILED" in p.stderr
    acl_json(b, "delete")
    assert acl_json(b, "list") == []


def test_sluicectl_acl_refuses_bad_input(acl_broker):
    b = acl_broker
    for args, why in [
            (["create", "--topic", "t", "--operation", "Read"], b"allow-principal"),
            (["create", "--allow-principal", "alice", "--topic", "t", "--operation", "Read"],
             b"User:NAME"),
            (["create", "--allow-principal", "User:a", "--topic", "t", "--operation", "Fly"],
             b"unknown operation"),
            (["create", "--allow-principal", "User:a", "--topic", "t", "--operation", "Read",
              "--resource-pattern-type", "match"], b"literal or prefixed"),
            (["frobnicate"], b"expected create, list or delete")]:
        p = sluicectl("acl", *args, "--bootstrap-server", b.bootstrap, check=False)
        assert p.returncode == 2 and why in p.stderr, (args, p.stderr)
