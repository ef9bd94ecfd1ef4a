"""librdkafka 2.0.2 through tests/clients/rdkafka_roundtrip.c: 100,000 messages
to a 6-partition topic with delivery reports, all consumed back and compared."""

import pytest

from sluicetest import binary, run, unique_topic


def roundtrip(broker, topic, *args, timeout=120):
    p = run([binary("tests", "clients", "rdkafka_roundtrip"), "--bootstrap-server",
             broker.bootstrap, "--topic", topic, *args], timeout=timeout, check=False)
    assert p.returncode == 0, f"rdkafka_roundtrip exit {p.returncode}:\n" \
                              f"{p.stderr.decode(errors='replace')[-4000:]}"
    assert p.stdout.startswith(b"ok: ")
    return p


def test_100k_messages_6_partitions(broker, request):
    roundtrip(broker, unique_topic(request), "--messages", "100000", "--partitions", "6")


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_roundtrip(broker, request, codec):
    roundtrip(broker, unique_topic(request), "--messages", "10000", "--partitions", "3",
              "--codec", codec)
