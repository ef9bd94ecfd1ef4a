"""sluice-probe (tools/bench/produce_probe.c), the bare Produce client partition_scale uses to
measure the brokers' latency apart from librdkafka's per-partition cost: what it reports as
acknowledged is really in the log, readable by a real client, and a refusal fails the run
instead of vanishing from the latency table."""

import re

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from sluicetest import binary, run, unique_topic

PARTITIONS = 8
RECORDS = 400
LINE = re.compile(r"^(\d+) records sent in [0-9.]+ s: .*p50 [0-9.]+, p99 [0-9.]+, p999 [0-9.]+, "
                  r"max [0-9.]+$")


def create_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
    md = admin.list_topics(topic, timeout=30)
    return md.brokers, md.topics[topic].partitions


def write_leaders(path, brokers, partitions, extra=""):
    with open(path, "w") as f:
        for p in sorted(partitions.values(), key=lambda p: p.id):
            b = brokers[p.leader]
            f.write(f"{p.id} {b.host}:{b.port}\n")
        f.write(extra)


def probe(leaders, topic, check=True):
    return run([binary("tools", "bench", "sluice-probe"), "--leaders", leaders, "--topic", topic,
                "--num-records", str(RECORDS), "--record-size", "1024", "--acks", "-1",
                "--throughput", "2000"], timeout=120, check=check)


def test_what_the_probe_reports_acknowledged_is_in_the_log(broker, request, tmp_path):
    topic = unique_topic(request)
    brokers, partitions = create_topic(broker.bootstrap, topic)
    leaders = tmp_path / "leaders.txt"
    write_leaders(leaders, brokers, partitions)

    out = probe(leaders, topic).stdout.decode().strip()
    m = LINE.match(out)
    assert m, out
    assert int(m.group(1)) == RECORDS

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": topic,
                  "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        values, offsets = [], {}
        for _ in range(120):
            if len(values) >= RECORDS:
                break
            for msg in c.consume(500, timeout=0.5):
                assert msg.error() is None, msg.error()
                values.append(msg.value())
                offsets.setdefault(msg.partition(), []).append(msg.offset())
        marks = [c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                 for p in range(PARTITIONS)]
    finally:
        c.close()
    assert len(values) == RECORDS
    assert sum(marks) == RECORDS, marks
    assert {len(v) for v in values} == {1024}
    assert len(set(values)) == 1  # every request carries the same batch
    # Spread over the partitions (pseudo-random), each one's offsets consecutive from 0.
    assert len(offsets) == PARTITIONS, sorted(offsets)
    for p, seen in offsets.items():
        assert seen == list(range(len(seen))), p


def test_a_refused_record_fails_the_probe(broker, request, tmp_path):
    topic = unique_topic(request)
    brokers, partitions = create_topic(broker.bootstrap, topic)
    leaders = tmp_path / "leaders.txt"
    b = brokers[partitions[0].leader]
    # Partitions PARTITIONS..PARTITIONS+7 do not exist: the broker answers
    # UNKNOWN_TOPIC_OR_PARTITION for every record sent there.
    write_leaders(leaders, brokers, partitions,
                  "".join(f"{p} {b.host}:{b.port}\n" for p in range(PARTITIONS, 2 * PARTITIONS)))
    res = probe(leaders, topic, check=False)
    assert res.returncode != 0, res.stdout.decode()
    assert "refused with error 3" in res.stderr.decode(), res.stderr.decode()


def test_record_times_list_every_record_where_it_went(broker, request, tmp_path):
    """--record-times (partition_scale --attribute-stalls matches these with what the machine
    ran): one line per record, on the probe's fixed schedule, each with its latency and the
    partition it went to, which the log confirms."""
    topic = unique_topic(request)
    brokers, partitions = create_topic(broker.bootstrap, topic)
    leaders = tmp_path / "leaders.txt"
    write_leaders(leaders, brokers, partitions)
    times = tmp_path / "times.txt"
    run([binary("tools", "bench", "sluice-probe"), "--leaders", leaders, "--topic", topic,
         "--num-records", str(RECORDS), "--record-size", "1024", "--acks", "-1",
         "--throughput", "2000", "--record-times", times], timeout=120)

    lines = [tuple(int(x) for x in line.split()) for line in times.read_text().splitlines()]
    assert len(lines) == RECORDS
    sent = [s for s, _, _ in lines]
    # the open-loop schedule: one record every 1/2000 s from the first
    assert [b - a for a, b in zip(sent, sent[1:])] == [500000] * (RECORDS - 1)
    assert all(lat > 0 for _, lat, _ in lines), [x for x in lines if x[1] <= 0][:3]
    per_partition = {}
    for _, _, p in lines:
        assert 0 <= p < PARTITIONS, p
        per_partition[p] = per_partition.get(p, 0) + 1
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": topic})
    try:
        marks = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                 for p in range(PARTITIONS)}
    finally:
        c.close()
    assert marks == {p: per_partition.get(p, 0) for p in range(PARTITIONS)}
