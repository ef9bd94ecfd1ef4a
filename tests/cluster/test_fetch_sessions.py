"""Incremental fetch sessions (KIP-227) with the clients that use them.

franz-go (tests/go TestIncrementalFetchManyPartitions) opens a session on its
first Fetch and then sends only what changed; the broker answers a session's
fetches with only the partitions that have records or changed offsets. The
Go test checks every record arrives once and in order across 300 partitions
fed a few at a time; this test also checks, in the broker's debug log, that
the fetches went through a session and that incremental answers left the
unchanged partitions out."""

import os
import re

from conftest import run_go_test

ANSWER = re.compile(r"fetch session answer session_id=(\d+) incremental=(\d) partitions=(\d+)")


def test_franz_go_incremental_fetch_over_many_partitions(brokers, franz_test_binary):
    broker = brokers(overrides={"log.level": "debug"})
    env = dict(os.environ, SLUICE_BOOTSTRAP=broker.bootstrap)
    name = "TestIncrementalFetchManyPartitions"
    run_go_test(franz_test_binary, name, env, timeout_s=120)

    answers = [(int(s), int(i), int(n)) for s, i, n in ANSWER.findall(broker.log_text())]
    full = [a for a in answers if a[1] == 0]
    incremental = [a for a in answers if a[1] == 1]
    assert full, "franz-go never opened a fetch session"
    assert incremental, "no fetch continued a session"
    # Most answers carry a handful of the 300 partitions (partitions the
    # client adds, and errors, e.g. after a leadership change on a loaded
    # machine, go out in full).
    sizes = sorted(n for _, _, n in incremental)
    assert sizes[len(sizes) // 2] <= 5, sizes
