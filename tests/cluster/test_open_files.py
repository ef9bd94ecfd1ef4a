"""Segment descriptors are bounded (log.max.open.files, Sluice's own setting:
Kafka keeps every segment open): with thousands of partitions the broker's
open descriptors (/proc/PID/fd) stay within the bound plus what the process
holds besides segments, while produce and fetch to random partitions work:
segments closed by the cache reopen on use, and reads of them return what
was written."""

import os
import random
import resource
import time

import pytest
from confluent_kafka import Producer

from clustertest import read_back
from sluicetest import binary, run, unique_topic

LIMIT = 300
PARTITIONS = 2000
# Connections, the raft log, listeners, the loop's own: what a broker holds
# besides partition segments, generously.
SLACK = 150


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def check_fds(pid):
    n = open_fds(pid)
    if n > LIMIT + SLACK:
        targets = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
        segs = sum(t.endswith((".log", ".index", ".timeindex", ".txnindex")) for t in targets)
        raise AssertionError(f"{n} descriptors open, {segs} of segments: {sorted(targets)[:40]}")


def test_descriptors_stay_bounded_with_thousands_of_partitions(brokers, request):
    # Creating 2,000 partitions takes the loop many seconds on a slow shared
    # disk (each log's files are made and synced): a session that outlives it.
    b = brokers(overrides={"log.max.open.files": str(LIMIT),
                           "broker.session.timeout.ms": "120000"})
    pid = b.proc.pid
    topic = unique_topic(request)
    run([binary("tools", "sluicectl", "sluicectl"), "topic", "create", topic,
         "--bootstrap-server", b.bootstrap, "--partitions", str(PARTITIONS),
         "--timeout-ms", "60000"], timeout=120)
    # Every partition's log is open (3 files each without the bound).
    check_fds(pid)

    rng = random.Random(14)
    written = {}
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5,
                  "message.timeout.ms": 60000})
    for rnd in range(3):
        for part in rng.sample(range(PARTITIONS), 400):
            value = f"{part}-{rnd}".encode()
            p.produce(topic, value=value, partition=part)
            written.setdefault(part, []).append(value)
        assert p.flush(60) == 0, "records not acknowledged"
        check_fds(pid)
    assert "opened partition log" in b.log_text()

    # Read back a random half of the written partitions from the start:
    # most of their segments were closed by now and reopen on the fetch.
    parts = rng.sample(sorted(written), len(written) // 2)
    read_back(b.bootstrap, topic, {part: written[part] for part in parts}, "open-files")
    # Responses still being sent hold their own (dup'd) descriptors: poll
    # until the broker has let go of them.
    deadline = time.monotonic() + 30
    while open_fds(pid) > LIMIT + SLACK and time.monotonic() < deadline:
        time.sleep(0.1)
    check_fds(pid)
    # Closing 2,050 logs (a final fsync each) takes a while on a shared disk.
    assert b.stop(timeout=120) == 0


def nofile_limits(pid):
    """(soft, hard) "Max open files" of a process."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no Max open files line")


def test_soft_open_file_limit_is_raised_to_the_hard_one(brokers):
    """A shell's soft limit (often 1,024) would cap the segment cache, the
    connection quota and the partitions placed on the broker far below what
    the hard limit allows; sluiced raises it at start, as the JVM does for
    Kafka."""
    low, hard = 1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    hard = 20000 if hard == resource.RLIM_INFINITY else min(hard, 20000)
    if hard <= low:
        pytest.skip(f"hard RLIMIT_NOFILE {hard} leaves nothing to raise")
    b = brokers(start=False)
    b.nofile = (low, hard)
    b.start()
    assert nofile_limits(b.proc.pid) == (hard, hard)
    assert f"raised the open-file limit (RLIMIT_NOFILE) from={low}" in b.log_text()
