"""The event loop's busy time per iteration (issue 14; common/loop_busy.h)
on a real sluiced with a real client (confluent-kafka).

Every request a node serves waits behind a callback that blocks its one
event loop, so /metrics has sluice_event_loop_busy_seconds (a histogram of
the time each iteration ran callbacks between two waits for I/O) and
sluice_event_loop_busy_max_seconds, and /status the iteration count and the
maximum. Checked here: the histogram is well formed (the fixed bounds,
cumulative buckets, +Inf equal to _count), the maximum lies within the sum,
the count and sum grow as the node serves a produce, and /status agrees.
"""

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from clustertest import create, wait_until
from metricstest import get, scrape, status_json, value
from sluicetest import free_port, unique_topic

NAME = "sluice_event_loop_busy_seconds"
BOUNDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]


def histogram(m):
    """([(le, cumulative count)] in order of le, _count, _sum)."""
    buckets = sorted((float(dict(labels)["le"]), v) for (name, labels), v in m.items()
                     if name == NAME + "_bucket")
    return buckets, value(m, NAME + "_count"), value(m, NAME + "_sum")


def check_well_formed(m):
    buckets, count, total = histogram(m)
    assert [le for le, _ in buckets] == BOUNDS + [float("inf")], buckets
    counts = [n for _, n in buckets]
    assert counts == sorted(counts), f"buckets not cumulative: {buckets}"
    assert counts[-1] == count, (buckets, count)
    assert count > 0 and total > 0, (count, total)
    top = value(m, "sluice_event_loop_busy_max_seconds")
    assert top is not None and 0 < top <= total, (top, total)
    # The longest iteration lies in the first bucket that holds every one.
    first_full = next(le for le, n in buckets if n == count)
    assert top <= first_full, (top, buckets)
    return count, total, top


def produce(bootstrap, topic, n):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    errors = []
    for i in range(n):
        p.produce(topic, value=b"%06d" % i,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        p.poll(0)
    assert p.flush(30) == 0
    assert not errors, errors


def test_busy_histogram_is_well_formed_and_grows(brokers, request):
    b = brokers(start=False)
    b.http_port = free_port()
    b.overrides["metrics.listener"] = f"127.0.0.1:{b.http_port}"
    b.start()
    wait_until(lambda: get(b.http_port, "/readyz")[0] == 200, 30, "/readyz 200")
    topic = unique_topic(request)
    assert create(AdminClient({"bootstrap.servers": b.bootstrap}), topic, 1, 1) is None

    count0, sum0, max0 = check_well_formed(scrape(b.http_port))
    produce(b.bootstrap, topic, 200)
    after = scrape(b.http_port)
    count1, sum1, max1 = check_well_formed(after)
    assert count1 > count0 and sum1 > sum0 and max1 >= max0, \
        ((count0, sum0, max0), (count1, sum1, max1))
    assert value(after, "sluice_topic_records_in_total", topic=topic) == 200

    loop = status_json(b.http_port)["event_loop"]
    assert loop["iterations"] >= count1, (loop, count1)
    assert loop["busy_max_seconds"] >= round(max1, 6) - 1e-6, (loop, max1)
