"""A follower fetcher's steady rounds cost what changed, not what it follows
(issue 14; broker/replica/fetcher.c), with real processes.

Three nodes, a topic of 300 RF=3 partitions (each fetcher follows ~100 of
them from one leader), then acks=all records produced one at a time to ONE
partition: every record wakes its followers' parked fetches, so their
fetchers go round once or more per record. Over that window the nodes'
sluice_replica_fetcher_partitions_walked_total per round
(sluice_replica_fetcher_rounds_total, both kinds) must stay far below the
~100 partitions a fetcher follows: a steady round names and visits only the
partition its last answer appended to, and only the safety-net full rounds
(one every 5 s per fetcher) and kicks walk a fetcher's whole set. Every
acknowledged record is then read back at its offset, and every replica holds
the same batches below the high watermark.

Counts, never times: how many full rounds the safety net adds depends on
how long the window lasts, so the bound leaves room for a slow machine.
"""

from clustertest import wait_until
from metricstest import summed
from test_replica_fetch_sessions import AckedProducer, all_in_sync, create_rf3, metered_cluster
from test_replication import assert_replicas_identical, high_watermark, read_all, \
    segment_batches

PARTITIONS = 300
RECORDS = 1000
HOT = 7  # the one partition written


def fetcher_counters(c):
    """(full rounds, incremental rounds, partitions walked), summed over the
    nodes."""
    return summed(c, ("sluice_replica_fetcher_rounds_total", {"kind": "full"}),
                  ("sluice_replica_fetcher_rounds_total", {"kind": "incremental"}),
                  "sluice_replica_fetcher_partitions_walked_total")


def test_steady_rounds_walk_only_what_changed(clusters):
    c = metered_cluster(clusters)
    topic = "fetcher-rounds"
    create_rf3(c, topic, PARTITIONS)
    wait_until(lambda: all_in_sync(c, topic, PARTITIONS), 120, "every replica in the ISR")
    p = AckedProducer(c.bootstrap, topic)
    p.send("warm-up", HOT)
    p.flush()
    before = fetcher_counters(c)
    for i in range(RECORDS):
        p.send(str(i), HOT)
        p.flush()  # one at a time: each record is its own fetch round or more
    after = fetcher_counters(c)
    full, incremental, walked = [a - b for a, b in zip(after, before)]
    rounds = full + incremental
    per_fetcher = PARTITIONS // 3  # each fetcher follows one leader's share
    print(f"{full} full rounds, {incremental} incremental, {walked} partitions walked")
    # Each acknowledged record needed at least one follower's round.
    assert rounds >= RECORDS, f"{rounds} rounds for {RECORDS} acks=all records"
    assert walked * 4 <= rounds * per_fetcher, \
        f"{walked} partitions walked in {rounds} rounds ({full} full): " \
        f"{walked / rounds:.1f} a round, a fetcher follows ~{per_fetcher}"
    assert incremental > full, f"{full} full rounds, {incremental} incremental"
    # Every acknowledged record, at its offset, on every replica.
    assert len(p.acked) == RECORDS + 1, (len(p.acked), RECORDS + 1)
    hw = high_watermark(c, topic, HOT)
    got = read_all(c, topic, HOT, hw)
    for v, (part, off) in p.acked.items():
        assert part == HOT and got.get(off) == v, f"{v} acknowledged at {part}/{off}, " \
            f"read {got.get(off)}"
    wait_until(lambda: all(any(x[1] == hw - 1 for x in segment_batches(b, topic, HOT))
                           for b in c), 60, "every replica at the high watermark")
    assert_replicas_identical(c, topic, HOT, hw)
