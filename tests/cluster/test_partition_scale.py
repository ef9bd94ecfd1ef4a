"""Topics of thousands of partitions (issue 14): creating them and restarting
with them keep the broker's event loop free.

A new partition's files (directory, first segment, partition.metadata, the
fsyncs that make them durable) are made on the thread pool, a few at a time,
with one fsync of the log directory for a batch of new partition
directories; a partition takes records only once its files are durable.
Before, creating 1,000 partitions held the loop past the broker session
timeout and the broker fenced itself. At start-up the logs are recovered on
the thread pool, in parallel.

The test brokers run with a 3 s session (sluicetest.py): a loop held for
3 s by partition work shows up as an isolation line, a fencing by the
controller, or a broker missing from the metadata."""

import json
import random
import re
import subprocess

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from clustertest import admin_for, create, read_back, wait_until
from metricstest import status_json
from sluicetest import binary, free_port, run, unique_topic

PARTITIONS = 2000
SAMPLE = 60
# Lines the broker and the controller log when a broker's session lapses.
FENCING_RE = re.compile(r"isolated: no heartbeat acknowledged|fencing broker after session "
                        r"timeout|(?<!un)fencing broker broker\.id|\[broker-session\] broker "
                        r"fenced")


UNFENCING_RE = re.compile(r"unfencing broker broker\.id=(\d+) epoch=(\d+)")


def assert_never_fenced(node):
    """No isolation or fencing of this process's registration. After a
    restart the controller fences the previous incarnation's registration
    (another epoch) once its session lapses: that one is not this process's."""
    text = node.log_text()
    mine = {m.group(2) for m in UNFENCING_RE.finditer(text) if m.group(1) == str(node.node_id)}
    lines = [line for line in text.splitlines() if FENCING_RE.search(line) and not (
        "after session timeout" in line and f"broker.id={node.node_id} " in line and
        not any(f"epoch={e}" in line for e in mine))]
    assert not lines, f"{node.name} lost its session: {lines[:5]}"


def produce_sample(bootstrap, topic, parts, tag):
    """One record per partition in `parts`, acknowledged (acks=all); returns
    {partition: value}. The client retries partitions still being opened
    (NOT_LEADER_OR_FOLLOWER) until they take records."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "message.timeout.ms": 60000})
    errors = []
    written = {}
    for part in parts:
        value = f"{tag}-{part}".encode()
        p.produce(topic, value=value, partition=part,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        written[part] = value
    assert p.flush(90) == 0, "records not acknowledged"
    assert not errors, errors[:5]
    return written


def sluicectl_create(bootstrap, topic, partitions, rf=1):
    run([binary("tools", "sluicectl", "sluicectl"), "topic", "create", topic,
         "--bootstrap-server", bootstrap, "--partitions", str(partitions),
         "--replication-factor", str(rf), "--timeout-ms", "60000"], timeout=120)


def broker_ids(bootstrap):
    """The brokers a Metadata answer lists (registered and unfenced)."""
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return sorted(md.brokers)


def test_thousands_of_partitions_created_and_restarted_on_one_broker(brokers, request):
    b = brokers()
    topic = unique_topic(request)
    sluicectl_create(b.bootstrap, topic, PARTITIONS)
    rng = random.Random(14)
    parts = sorted(rng.sample(range(PARTITIONS), SAMPLE)) + [PARTITIONS - 1]
    written = {part: [v] for part, v in produce_sample(b.bootstrap, topic, parts, "a").items()}
    # Every partition was opened, each once.
    wait_until(lambda: b.log_text().count("opened partition log") >= PARTITIONS, 60,
               "every partition log opened")
    read_back(b.bootstrap, topic, written, "scale-check")
    assert_never_fenced(b)
    assert broker_ids(b.bootstrap) == [b.node_id]

    # A restart recovers every partition as the metadata replays (on the
    # thread pool, a few at a time): the data is intact and the partitions
    # take records again.
    assert b.stop(timeout=120) == 0
    b.start(timeout=180)
    wait_until(lambda: b.log_text().count("opened partition log") >= PARTITIONS, 120,
               "every partition log recovered")
    for part, v in produce_sample(b.bootstrap, topic, parts, "b").items():
        written[part].append(v)
    read_back(b.bootstrap, topic, written, "scale-check")
    assert_never_fenced(b)
    assert broker_ids(b.bootstrap) == [b.node_id]
    assert b.stop(timeout=120) == 0


def test_admin_answers_do_not_wait_for_another_topics_opens(brokers, request):
    """An admin request answers once its own topics' partitions are open, not
    once every partition open in flight here is done: an AlterConfigs and a
    validate-only CreateTopics come back while a topic of thousands of
    partitions is still being opened (about 1,900 of them, on a test run);
    that topic's own CreateTopics answers once all of them are."""
    b = brokers(start=False)
    b.http_port = free_port()
    b.overrides["metrics.listener"] = f"127.0.0.1:{b.http_port}"
    b.start()
    small, wide = unique_topic(request, "-small"), unique_topic(request, "-wide")
    sluicectl_create(b.bootstrap, small, 1)
    ctl = binary("tools", "sluicectl", "sluicectl")
    creating = subprocess.Popen([ctl, "topic", "create", wide, "--bootstrap-server", b.bootstrap,
                                 "--partitions", str(PARTITIONS), "--timeout-ms", "60000"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: status_json(b.http_port)["broker"]["partitions_opening"] > 100, 60,
                   "the wide topic's partitions being opened")
        run([ctl, "topic", "alter-config", small, "--bootstrap-server", b.bootstrap,
             "--config", "retention.ms=123456"], timeout=60)
        assert status_json(b.http_port)["broker"]["partitions_opening"] > 0, \
            "AlterConfigs waited for the other topic's opens"
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        fut = admin.create_topics([NewTopic(unique_topic(request, "-dry"), 3, 1)],
                                  validate_only=True, request_timeout=60)
        assert list(fut.values())[0].result(timeout=60) is None
        assert status_json(b.http_port)["broker"]["partitions_opening"] > 0, \
            "a validate-only CreateTopics waited for the other topic's opens"
    finally:
        out, err = creating.communicate(timeout=180)
    assert creating.returncode == 0, (out, err)
    assert status_json(b.http_port)["broker"]["partitions_opening"] == 0, \
        "CreateTopics answered before its own partitions were open"
    desc = json.loads(run([ctl, "topic", "describe", small, "--bootstrap-server", b.bootstrap,
                           "--json"], timeout=30).stdout)
    assert desc["configs"]["retention.ms"]["value"] == "123456"
    assert_never_fenced(b)
    assert b.stop(timeout=120) == 0


def test_replicated_topic_of_many_partitions_on_three_nodes(clusters, request):
    n_parts = 600
    c = clusters(3)
    admin = admin_for(c)
    topic = unique_topic(request)
    assert create(admin, topic, n_parts, 3, timeout=60) is None
    rng = random.Random(15)
    parts = sorted(rng.sample(range(n_parts), 30))
    written = {part: [v] for part, v in produce_sample(c.bootstrap, topic, parts, "r").items()}
    read_back(c.bootstrap, topic, written, "scale-check")
    for node in c:
        wait_until(lambda node=node: node.log_text().count("opened partition log") >= n_parts,
                   60, f"every replica opened on {node.name}")
        assert_never_fenced(node)
    c.wait_healthy()
    assert broker_ids(c.bootstrap) == [1, 2, 3]
