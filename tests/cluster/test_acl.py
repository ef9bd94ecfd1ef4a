"""ACLs (KIP-801's StandardAuthorizer) with real clients. The broker runs
with authorizer.class.name set and allow.everyone.if.no.acl.found false;
its PLAINTEXT listener (User:ANONYMOUS) is a super user, standing for the
operator's admin listener, and the SCRAM users alice and bob come through a
SASL_PLAINTEXT listener. confluent-kafka's AdminClient creates, describes
and deletes bindings (CreateAcls, DescribeAcls, DeleteAcls through the
controller into the metadata log); alice is denied produce and consume
until an ALLOW binding and again after a DENY; prefixed patterns; Metadata
hides what she may not describe; bindings survive a restart."""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType,
                         ACLResourcePatternType, KafkaAdminClient, NewTopic, ResourcePattern,
                         ResourcePatternFilter, ResourceType)
from kafka.errors import ClusterAuthorizationFailedError, SecurityDisabledError

from securitytest import listeners_overrides, sluicectl
from sluicetest import unique_topic

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}
ANY_FILTER = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                       ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))


def acl_broker(brokers, extra=None):
    b = brokers(start=False)
    b.ports = listeners_overrides(b, [("SASL_PLAINTEXT", "SASL_PLAINTEXT")])
    b.overrides["authorizer.class.name"] = AUTHORIZER
    b.overrides["super.users"] = "User:ANONYMOUS;User:admin"
    b.overrides.update(extra or {})
    b.start()
    for user, password in PASSWORDS.items():
        sluicectl("user", "set-password", user, "--password", password, "--bootstrap-server",
                  b.bootstrap)
    return b


def admin(b, **kw):
    return KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=30000, **kw)


def user_conf(b, user):
    return {"bootstrap.servers": f"127.0.0.1:{b.ports['SASL_PLAINTEXT']}",
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": user, "sasl.password": PASSWORDS[user]}


def user_admin(b, user):
    return KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{b.ports['SASL_PLAINTEXT']}",
                            security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
                            sasl_plain_username=user, sasl_plain_password=PASSWORDS[user],
                            request_timeout_ms=30000)


def create_topic(b, topic, partitions=1):
    a = admin(b)
    a.create_topics([NewTopic(topic, partitions, 1)])
    a.close()


def binding(name, op, perm=ACLPermissionType.ALLOW, principal="User:alice",
            pattern=ACLResourcePatternType.LITERAL, rtype=ResourceType.TOPIC):
    return ACL(principal, "*", op, perm, ResourcePattern(rtype, name, pattern))


def key(acl):
    p = acl.resource_pattern
    return (int(p.resource_type), p.resource_name, int(p.pattern_type), acl.principal, acl.host,
            int(acl.operation), int(acl.permission_type))


def create_acls(b, bindings, client=None):
    a = client or admin(b)
    result = a.create_acls(bindings)
    assert result["failed"] == [], result["failed"]
    assert len(result["succeeded"]) == len(bindings)
    if client is None:
        a.close()


def describe(b, flt=ANY_FILTER):
    a = admin(b)
    acls, error = a.describe_acls(flt)
    a.close()
    return sorted(key(x) for x in acls)


def produce(b, user, topic, n=5):
    """Produce n records as `user`; returns the delivery error codes."""
    errors = []
    p = Producer({**user_conf(b, user), "message.timeout.ms": 15000, "retries": 0})
    for i in range(n):
        p.produce(topic, f"v{i}".encode(),
                  on_delivery=lambda err, msg: errors.append(err.code() if err else None))
    p.flush(30)
    return errors


def consume(b, user, topic, group, timeout=20):
    """Consume from the beginning as `user`: (values, first error code)."""
    c = Consumer({**user_conf(b, user), "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    values, error, deadline = [], None, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and error is None:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    error = m.error().code()
                continue
            values.append(m.value())
            if len(values) >= 5:
                break
    finally:
        c.close()
    return values, error


def test_admin_client_creates_describes_and_deletes_acls(brokers, request):
    b = acl_broker(brokers)
    topic = unique_topic(request)
    create_acls(b, [binding(topic, ACLOperation.READ),
                    binding(topic, ACLOperation.WRITE, ACLPermissionType.DENY,
                            principal="User:bob"),
                    binding("pre.", ACLOperation.WRITE, pattern=ACLResourcePatternType.PREFIXED),
                    binding("g1", ACLOperation.READ, rtype=ResourceType.GROUP)])
    got = describe(b)
    assert len(got) == 4
    assert key(binding(topic, ACLOperation.READ)) in got
    # A filter on the topic's name, and MATCH (what applies to pre.x).
    by_name = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY, ResourcePatternFilter(
        ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL))
    assert len(describe(b, by_name)) == 2
    match = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY, ResourcePatternFilter(
        ResourceType.TOPIC, "pre.x", ACLResourcePatternType.MATCH))
    assert [k[1] for k in describe(b, match)] == ["pre."]
    # Creating an existing binding again changes nothing.
    create_acls(b, [binding(topic, ACLOperation.READ)])
    assert len(describe(b)) == 4
    # The CLUSTER resource has one name: anything else is INVALID_REQUEST.
    a = admin(b)
    result = a.create_acls([binding("kafka", ACLOperation.CREATE, rtype=ResourceType.CLUSTER)])
    assert len(result["failed"]) == 1 and result["failed"][0][1].errno == 42
    (flt, matches, error), = a.delete_acls([ACLFilter(
        "User:bob", None, ACLOperation.ANY, ACLPermissionType.ANY,
        ResourcePatternFilter(ResourceType.TOPIC, topic, ACLResourcePatternType.ANY))])
    a.close()
    assert [key(m) for m, _ in matches] == [
        key(binding(topic, ACLOperation.WRITE, ACLPermissionType.DENY, principal="User:bob"))]
    assert len(describe(b)) == 3
    # The bindings are in the metadata log: a restart replays them.
    b.restart()
    assert len(describe(b)) == 3


def test_acl_apis_need_alter_on_cluster(brokers):
    b = acl_broker(brokers)
    a = user_admin(b, "alice")
    with pytest.raises(ClusterAuthorizationFailedError):
        a.describe_acls(ANY_FILTER)
    create_acls(b, [binding("kafka-cluster", ACLOperation.ALTER, rtype=ResourceType.CLUSTER)])
    create_acls(b, [binding("t", ACLOperation.READ)], client=a)
    a.close()
    assert key(binding("t", ACLOperation.READ)) in describe(b)


def test_acl_apis_without_authorizer_are_security_disabled(brokers):
    b = brokers()
    a = admin(b)
    with pytest.raises(SecurityDisabledError):
        a.describe_acls(ANY_FILTER)
    a.close()


def wait_until(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_user_needs_acls_to_produce_and_consume(brokers, request):
    b = acl_broker(brokers)
    topic = unique_topic(request)
    group = topic + "-g"
    create_topic(b, topic)
    # No binding: alice's records are refused with TOPIC_AUTHORIZATION_FAILED.
    assert produce(b, "alice", topic) == [KafkaError.TOPIC_AUTHORIZATION_FAILED] * 5
    create_acls(b, [binding(topic, ACLOperation.WRITE)])
    assert produce(b, "alice", topic) == [None] * 5
    # Consuming needs READ on the group and on the topic.
    values, error = consume(b, "alice", topic, group)
    assert values == [] and error in (KafkaError.GROUP_AUTHORIZATION_FAILED,
                                      KafkaError.TOPIC_AUTHORIZATION_FAILED)
    create_acls(b, [binding(group, ACLOperation.READ, rtype=ResourceType.GROUP),
                    binding(topic, ACLOperation.READ)])
    values, error = consume(b, "alice", topic, group)
    assert error is None and values == [f"v{i}".encode() for i in range(5)]
    # bob has nothing; a DENY for alice beats her ALLOW.
    assert produce(b, "bob", topic, 1) == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
    create_acls(b, [binding(topic, ACLOperation.WRITE, ACLPermissionType.DENY,
                            principal="User:*")])
    assert produce(b, "alice", topic, 1) == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_prefixed_acl_and_metadata_hides_topics(brokers, request):
    b = acl_broker(brokers)
    mine, other = "team-a." + unique_topic(request), "team-b." + unique_topic(request)
    create_topic(b, mine)
    create_topic(b, other)
    create_acls(b, [binding("team-a.", ACLOperation.WRITE,
                            pattern=ACLResourcePatternType.PREFIXED)])
    assert produce(b, "alice", mine, 1) == [None]
    assert produce(b, "alice", other, 1) == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
    # WRITE implies DESCRIBE: alice's metadata lists team-a.* and nothing else.
    p = Producer(user_conf(b, "alice"))
    listed = set(p.list_topics(timeout=30).topics)
    assert mine in listed and other not in listed
    # The super user sees everything.
    assert {mine, other} <= set(Producer({"bootstrap.servers": b.bootstrap})
                                .list_topics(timeout=30).topics)


def test_super_user_bypasses_and_everyone_if_no_acl(brokers, request):
    b = acl_broker(brokers, {"super.users": "User:ANONYMOUS;User:bob"})
    topic = unique_topic(request)
    create_topic(b, topic)
    assert produce(b, "bob", topic, 1) == [None]
    assert produce(b, "alice", topic, 1) == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
    b.stop()
    b.overrides["allow.everyone.if.no.acl.found"] = "true"
    b.start()
    wait_until(lambda: produce(b, "alice", topic, 1) == [None], "open topic without ACLs")
    # One binding on the topic (for someone else) closes it to alice again.
    create_acls(b, [binding(topic, ACLOperation.WRITE, principal="User:carol")])
    assert produce(b, "alice", topic, 1) == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
