"""Brokers serving Kafka clients from the controller quorum's metadata
(issue 4, "Brokers use it"): three sluiced processes with both roles; admin
requests from a real admin client are forwarded to the active controller,
every broker's Metadata shows the same placement, and each partition is
served by the broker that leads it."""

import os
import struct

import pytest

from clustertest import partitions_of, wait_until
from sluicetest import run
from test_protocol_raw import (connect, fetch_body, frame_of, parse_fetch_response,
                               parse_produce_response, produce_body, record_batch, recv_response,
                               string)

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka.admin import (AdminClient, ConfigResource, NewPartitions,  # noqa: E402
                                   NewTopic)

NOT_LEADER = 6
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75
PARTITIONS = 6
REPLICATION = 3


def layout(md, topic):
    """{partition: (leader, replicas, isr)} of `topic` in a kcat -L -J answer
    (None when the topic is missing or has an error)."""
    for t in md["topics"]:
        if t["topic"] == topic:
            if t.get("error") or not t["partitions"]:
                return None
            return {p["partition"]: (p["leader"], sorted(r["id"] for r in p["replicas"]),
                                     sorted(r["id"] for r in p["isrs"]))
                    for p in t["partitions"]}
    return None


def metadata_everywhere(cluster, topic):
    """Each node's own Metadata answer for all topics (naming `topic` would
    auto-create it)."""
    return {b.node_id: cluster.kafka_metadata(b) for b in cluster}


def create_topic(cluster, topic, partitions, replication, validate_only=False):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    futures = admin.create_topics([NewTopic(topic, partitions, replication)],
                                  operation_timeout=20, request_timeout=30,
                                  validate_only=validate_only)
    return futures[topic].result(timeout=60)


def describe(admin, topic):
    r = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([r], request_timeout=30)[r].result(timeout=60)
    return {k: v.value for k, v in entries.items()}


def produce(b, topic, partition, lines):
    run(["kcat", "-P", "-b", b.bootstrap, "-t", topic, "-p", str(partition),
         "-X", "message.timeout.ms=20000"], input=("\n".join(lines) + "\n").encode(), timeout=60)


def consume(b, topic, partition, count):
    p = run(["kcat", "-C", "-b", b.bootstrap, "-t", topic, "-p", str(partition), "-o",
             "beginning", "-c", str(count), "-e", "-q"], timeout=60)
    return p.stdout.decode().splitlines()


def test_admin_forwarding_placement_and_round_trip(cluster, request):
    topic = "integ-" + request.node.name[-20:].replace("_", "-")

    # validate_only goes to the controller too and changes nothing.
    create_topic(cluster, topic, PARTITIONS, REPLICATION, validate_only=True)
    md = cluster.kafka_metadata(cluster[0])  # naming the topic would auto-create it
    assert layout(md, topic) is None

    # Manual placement is not forwarded (yet): refused, not silently ignored.
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    manual = NewTopic(topic + "-manual", 2, replica_assignment=[[1], [2]])
    with pytest.raises(confluent_kafka.KafkaException) as e:
        admin.create_topics([manual], request_timeout=30)[manual.topic].result(timeout=60)
    assert e.value.args[0].code() == confluent_kafka.KafkaError.INVALID_REPLICA_ASSIGNMENT

    create_topic(cluster, topic, PARTITIONS, REPLICATION)
    # The answer came after the receiving broker saw the topic; the others
    # converge within a metadata fetch.
    views = wait_until(lambda: (lambda v: v if all(layout(m, topic) for m in v.values()) else None)(
        metadata_everywhere(cluster, topic)), 20, "the topic on every broker")
    layouts = {n: layout(m, topic) for n, m in views.items()}
    first = layouts[1]
    assert all(l == first for l in layouts.values()), layouts
    assert sorted(first) == list(range(PARTITIONS))
    for leader, replicas, isr in first.values():
        assert replicas == [1, 2, 3]
        assert isr == [1, 2, 3]
        assert leader in replicas
    leaders = {p: l for p, (l, _, _) in first.items()}
    assert set(leaders.values()) == {1, 2, 3}, f"leaders not spread: {leaders}"
    for n, m in views.items():
        assert sorted(b["id"] for b in m["brokers"]) == [1, 2, 3], (n, m["brokers"])
        assert m["controllerid"] in (1, 2, 3)

    # Produce through a broker that leads nothing in particular: kcat follows
    # the Metadata to each partition's leader; then read back from another.
    for p in range(PARTITIONS):
        produce(cluster[p % 3], topic, p, [f"p{p}-m{i}" for i in range(5)])
    for p in range(PARTITIONS):
        got = consume(cluster[(p + 1) % 3], topic, p, 5)
        assert got == [f"p{p}-m{i}" for i in range(5)], (p, got)

    # CreatePartitions (validate_only first: nothing changes), seen everywhere.
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    grow = NewPartitions(topic, PARTITIONS + 2)
    admin.create_partitions([grow], validate_only=True, request_timeout=30)[topic].result(60)
    assert len(layout(cluster.kafka_metadata(cluster[1]), topic)) == PARTITIONS
    admin.create_partitions([grow], request_timeout=30)[topic].result(60)
    wait_until(lambda: all(len(layout(m, topic) or {}) == PARTITIONS + 2
                           for m in metadata_everywhere(cluster, topic).values()),
               20, "the new partitions on every broker")

    # AlterConfigs goes to the controller too; every broker then describes it.
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, {"retention.ms": "123456"})
    admin.alter_configs([resource], request_timeout=30)[resource].result(timeout=60)
    for b in cluster:
        one = AdminClient({"bootstrap.servers": b.bootstrap})
        wait_until(lambda: describe(one, topic)["retention.ms"] == "123456", 20,
                   f"retention.ms on {b.name}")
    bad = ConfigResource(ConfigResource.Type.TOPIC, topic, {"no.such.key": "1"})
    with pytest.raises(confluent_kafka.KafkaException) as e:
        admin.alter_configs([bad], request_timeout=30)[bad].result(timeout=60)
    assert e.value.args[0].code() == confluent_kafka.KafkaError.INVALID_CONFIG

    admin.delete_topics([topic], operation_timeout=20)[topic].result(timeout=60)
    wait_until(lambda: all(layout(m, topic) is None
                           for m in metadata_everywhere(cluster, topic).values()),
               20, "the topic gone from every broker")


def fetch_v9_body(topic, partition, current_leader_epoch, offset=0):
    """Fetch v9 (KIP-320 current_leader_epoch): one partition, no wait."""
    return (struct.pack(">iiiibii", -1, 0, 0, 1 << 20, 0, 0, -1) + struct.pack(">i", 1) +
            string(topic) + struct.pack(">i", 1) +
            struct.pack(">iiqqi", partition, current_leader_epoch, offset, -1, 1 << 20) +
            struct.pack(">i", 0))


def fetch_v9_error(b, topic, partition, epoch):
    with connect(b) as s:
        s.sendall(frame_of(1, 9, 7, fetch_v9_body(topic, partition, epoch)))
        resp = recv_response(s)
    pos = 4 + 4 + 2 + 4 + 4  # corr, throttle, error, session, topic count
    (name_len,) = struct.unpack(">h", resp[pos:pos + 2])
    pos += 2 + name_len + 4
    _, err = struct.unpack(">ih", resp[pos:pos + 6])
    return err


def produce_error(b, topic, partition, value):
    with connect(b) as s:
        s.sendall(frame_of(0, 3, 1, produce_body(topic, record_batch([value]),
                                                 partition=partition)))
        return parse_produce_response(recv_response(s))


def test_only_the_leader_serves_a_partition(cluster):
    """A broker that merely hosts a replica answers NOT_LEADER_OR_FOLLOWER;
    the leader checks the client's leader epoch (KIP-320) and stamps batches
    with its own; after the leader dies the new one takes over with a newer
    epoch."""
    topic = "integ-leadership"
    create_topic(cluster, topic, 1, 3)
    md = wait_until(lambda: (lambda m: m if layout(m, topic) else None)(
        cluster.kafka_metadata(cluster[0])), 20, "the topic")
    leader = cluster.node(layout(md, topic)[0][0])
    followers = [b for b in cluster if b is not leader]
    epoch = wait_until(lambda: partitions_of(cluster.status(), topic), 20,
                       "the topic in the controllers' status")[0]["leader_epoch"]
    for f in followers:
        wait_until(lambda: produce_error(f, topic, 0, b"x")[0] == NOT_LEADER, 10,
                   f"NOT_LEADER_OR_FOLLOWER from {f.name}")
        assert fetch_v9_error(f, topic, 0, -1) == NOT_LEADER
    err, base = produce_error(leader, topic, 0, b"first")
    assert (err, base) == (0, 0)
    assert fetch_v9_error(leader, topic, 0, epoch) == 0
    assert fetch_v9_error(leader, topic, 0, epoch + 1) == UNKNOWN_LEADER_EPOCH
    if epoch > 0:
        assert fetch_v9_error(leader, topic, 0, epoch - 1) == FENCED_LEADER_EPOCH

    # Committed (the high watermark passed it: every ISR member has it).
    def committed():
        with connect(leader) as s:
            s.sendall(frame_of(1, 4, 8, fetch_body(topic, 0, 0)))
            return parse_fetch_response(recv_response(s))[1] >= 1
    wait_until(committed, 20, "the first record committed")

    # Kill the leader: a follower takes over from the ISR with a newer epoch,
    # serves produce, and fences clients still on the old epoch.
    leader.kill()
    def new_leader():
        s = cluster.status()  # None while the quorum elects a new leader
        p = (partitions_of(s, topic) or {}).get(0) if s else None
        return p if p and p["leader"] not in (-1, leader.node_id) else None
    new = wait_until(new_leader, 30, "a new leader")
    assert new["leader_epoch"] > epoch
    successor = cluster.node(new["leader"])
    wait_until(lambda: produce_error(successor, topic, 0, b"second")[0] == 0, 20,
               f"produce accepted by {successor.name}")
    assert fetch_v9_error(successor, topic, 0, epoch) == FENCED_LEADER_EPOCH
    # (NOT_LEADER_OR_FOLLOWER until the new leader's high watermark reaches
    # the start of its epoch: it may not show a lower one than the old did.)
    wait_until(lambda: fetch_v9_error(successor, topic, 0, new["leader_epoch"]) == 0, 20,
               f"fetch served by {successor.name}")
    # The successor replicated the old leader's batch as it was (offset 0,
    # the old epoch), and the batch it appended itself carries its own
    # leader epoch (partitionLeaderEpoch).
    def batches():
        with connect(successor) as s:
            s.sendall(frame_of(1, 4, 9, fetch_body(topic, 0, 0)))
            err, _, records = parse_fetch_response(recv_response(s))
        assert err == 0
        out, pos = {}, 0
        while pos + 16 <= len(records):
            base, length, batch_epoch = struct.unpack_from(">qii", records, pos)
            out[base] = batch_epoch
            pos += 12 + length
        return out if 1 in out else None
    epochs = wait_until(batches, 20, "both batches below the successor's high watermark")
    assert epochs[0] == epoch
    assert epochs[1] == new["leader_epoch"]


def partition_dir_state(b, topic, partition):
    """(topic id recorded in partition.metadata, total bytes of .log files)
    of a node's partition directory (None if it has no such directory)."""
    d = os.path.join(b.data_dir, f"{topic}-{partition}")
    if not os.path.isdir(d):
        return None
    topic_id = None
    path = os.path.join(d, "partition.metadata")
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("topic_id: "):
                topic_id = line.split(": ", 1)[1].strip()
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".log"))
    return topic_id, size


def test_recreated_topic_does_not_inherit_a_stale_directory(cluster):
    """A topic deleted while a broker was down and re-created under the same
    name: the broker deletes its leftover directory as a stray replica once it
    has caught up, and the new topic starts empty under its own topic id
    (partition.metadata, KIP-516) instead of serving the old records."""
    topic = "integ-recreated"
    create_topic(cluster, topic, 1, 3)
    md = wait_until(lambda: (lambda m: m if layout(m, topic) else None)(
        cluster.kafka_metadata(cluster[0])), 20, "the topic")
    leader = cluster.node(layout(md, topic)[0][0])
    wait_until(lambda: produce_error(leader, topic, 0, b"old")[0] == 0, 20, "a produce")
    old_id, old_size = partition_dir_state(leader, topic, 0)
    assert old_id and old_size > 0

    rc = leader.stop()
    assert rc == 0, f"unclean shutdown rc={rc}:\n{leader.log_text()[-3000:]}"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.delete_topics([topic], operation_timeout=20)[topic].result(timeout=60)
    leader.start()
    cluster.wait_healthy()
    # Its leftover directory is a stray once the broker has the current
    # metadata, and is deleted (before this, it was left behind, and only the
    # topic id check below kept its records out of a re-created topic).
    wait_until(lambda: partition_dir_state(leader, topic, 0) is None, 30,
               "the stray directory of the deleted topic to go")
    assert "deleting a stray replica" in leader.log_text()

    create_topic(cluster, topic, 1, 3)
    def fresh():
        s = partition_dir_state(leader, topic, 0)
        return s if s and s[0] and s[0] != old_id else None
    new_id, new_size = wait_until(fresh, 20, "the directory taken over by the new topic")
    assert new_size == 0
