"""Real clients against a three-node cluster whose partitions are led by
different brokers: kcat produces to and consumes from every partition (each
request has to reach that partition's leader), and librdkafka
(tests/clients/rdkafka_roundtrip) creates a 6-partition topic through a
broker that forwards to the controller, produces with delivery reports and
consumes everything back.
"""

import os

from clustertest import admin_for, create, partitions_of
from sluicetest import binary, run
from test_kcat import kcat, parse, FORMAT

TOPIC = "spread"
PARTITIONS = 6


def leaders(cluster, topic, partitions):
    s = cluster.wait_status(lambda s: partitions_of(s, topic) and
                            len(partitions_of(s, topic)) == partitions, 20,
                            f"{topic} in the image")
    return {p: st["leader"] for p, st in partitions_of(s, topic).items()}


def test_kcat_on_partitions_led_by_every_broker(cluster):
    err = create(admin_for(cluster), TOPIC, PARTITIONS, 1)
    assert err is None, err
    led = leaders(cluster, TOPIC, PARTITIONS)
    assert set(led.values()) == {1, 2, 3}, led

    # Each kcat knows one broker only; the others are learnt from Metadata.
    sent = {}
    for p in range(PARTITIONS):
        entry = cluster[p % 3]
        values = [b"p%d-%d-%s" % (p, i, b"v" * (i % 17)) for i in range(50)]
        run(kcat("-P", "-b", entry.bootstrap, "-t", TOPIC, "-p", str(p), "-X", "acks=all"),
            input=b"".join(v + b"\n" for v in values), timeout=60)
        sent[p] = values
    for p in range(PARTITIONS):
        entry = cluster[(p + 1) % 3]
        out = run(kcat("-C", "-q", "-e", "-b", entry.bootstrap, "-t", TOPIC, "-p", str(p),
                       "-f", FORMAT), timeout=60).stdout
        records = parse(out)
        assert [r["value"] for r in records] == sent[p], f"partition {p} (leader {led[p]})"
        assert [r["offset"] for r in records] == list(range(len(sent[p])))

    # Each leader holds its partitions' data: a partition's records are on
    # the broker that leads it and on no other (replication factor 1).
    for p, leader in led.items():
        for b in cluster:
            path = f"{b.data_dir}/{TOPIC}-{p}"
            assert os.path.isdir(path) == (b.node_id == leader), (path, leader)


def test_rdkafka_roundtrip_across_brokers(cluster):
    topic = "rdkafka-spread"
    p = run([binary("tests", "clients", "rdkafka_roundtrip"), "--bootstrap-server",
             cluster.bootstrap, "--topic", topic, "--messages", "30000", "--partitions",
             str(PARTITIONS)], timeout=120, check=False)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-4000:]
    assert p.stdout.startswith(b"ok: ")
    led = leaders(cluster, topic, PARTITIONS)
    assert set(led.values()) == {1, 2, 3}, led
