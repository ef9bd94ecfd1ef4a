"""sluicectl topic create|list|describe|delete|alter-config against a real
broker: output (tables and --json) and exit codes (0 ok, 1 failed, 2 usage,
3 cannot connect)."""

import json

from sluicetest import binary, free_port, run, unique_topic


def ctl(broker, *args, check=False):
    cmd = [binary("tools", "sluicectl", "sluicectl"), "topic", *args,
           "--bootstrap-server", broker.bootstrap]
    return run(cmd, timeout=30, check=check)


def test_topic_lifecycle(broker, request):
    topic = unique_topic(request)
    p = ctl(broker, "create", topic, "--partitions", "3", "--config", "retention.ms=60000")
    assert p.returncode == 0, p.stderr
    listed = json.loads(ctl(broker, "list", "--json", check=True).stdout)
    assert {"name": topic, "partitions": 3, "replication_factor": 1} in listed
    assert topic in ctl(broker, "list", check=True).stdout.decode()

    desc = json.loads(ctl(broker, "describe", topic, "--json", check=True).stdout)
    assert [p["partition"] for p in desc["partitions"]] == [0, 1, 2]
    assert all(p["leader"] == 1 and p["isr"] == [1] for p in desc["partitions"])
    assert desc["configs"]["retention.ms"] == {"value": "60000", "source": "TOPIC"}
    assert desc["configs"]["segment.bytes"]["source"] == "DEFAULT"

    assert ctl(broker, "alter-config", topic, "--config", "segment.bytes=1000000",
               "--delete-config", "retention.ms").returncode == 0
    desc = json.loads(ctl(broker, "describe", topic, "--json", check=True).stdout)
    assert desc["configs"]["segment.bytes"] == {"value": "1000000", "source": "TOPIC"}
    assert desc["configs"]["retention.ms"]["source"] == "DEFAULT"

    assert ctl(broker, "delete", topic).returncode == 0
    listed = json.loads(ctl(broker, "list", "--json", check=True).stdout)
    assert topic not in [t["name"] for t in listed]


def test_failures_and_exit_codes(broker, request):
    topic = unique_topic(request)
    assert ctl(broker, "create", topic).returncode == 0
    again = ctl(broker, "create", topic)
    assert again.returncode == 1 and b"TOPIC_ALREADY_EXISTS" in again.stderr
    assert ctl(broker, "create", topic, "--if-not-exists").returncode == 0
    bad = ctl(broker, "create", "no/slashes")
    assert bad.returncode == 1 and b"INVALID_TOPIC_EXCEPTION" in bad.stderr
    rf = ctl(broker, "create", topic + "-rf", "--replication-factor", "3")
    assert rf.returncode == 1 and b"INVALID_REPLICATION_FACTOR" in rf.stderr
    cfg = ctl(broker, "alter-config", topic, "--config", "retention.ms=soon")
    assert cfg.returncode == 1 and b"INVALID_CONFIG" in cfg.stderr
    missing = ctl(broker, "delete", topic + "-missing")
    assert missing.returncode == 1 and b"UNKNOWN_TOPIC_OR_PARTITION" in missing.stderr
    assert ctl(broker, "describe", topic + "-missing").returncode == 1
    assert ctl(broker, "frobnicate", topic).returncode == 2
    assert ctl(broker, "create", topic, "--partitions", "zero").returncode == 2
    nobody = run([binary("tools", "sluicectl", "sluicectl"), "topic", "list",
                  "--bootstrap-server", f"127.0.0.1:{free_port()}"], timeout=30, check=False)
    assert nobody.returncode == 3
