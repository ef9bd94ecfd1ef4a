"""Resident memory after a burst (issue 14; sluiced.c trim_heap), with real
processes.

A replicated, unthrottled produce burst leaves each node's heap fragmented:
glibc gives back only a free top of the heap, so without trimming 8-18 MiB
stayed resident per node after the burst was over. sluiced trims the heap
every 10 s: once the cluster is idle again, each node's heap holds about
what it held before the burst.
"""

import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from clustertest import wait_until

SLACK_KIB = 4 * 1024


def heap_kib(broker):
    """Resident KiB of the process's [heap] mapping."""
    kib, in_heap = 0, False
    with open(f"/proc/{broker.proc.pid}/smaps") as f:
        for line in f:
            head = line.split()
            if not head[0].endswith(":"):  # a mapping's first line
                in_heap = line.rstrip().endswith("[heap]")
            elif in_heap and head[0] == "Rss:":
                kib += int(head[1])
    return kib


def produce(bootstrap, topic, n, size):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "queue.buffering.max.messages": 200000})
    value = b"m" * size
    for i in range(n):
        while True:
            try:
                p.produce(topic, value, partition=i % 30)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(120) == 0, "records still unacknowledged"


def test_heap_goes_back_after_a_replicated_burst(clusters):
    c = clusters()
    topic = "burst"
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    admin.create_topics([NewTopic(topic, 30, 3, config={"min.insync.replicas": "2"})],
                        operation_timeout=60)[topic].result(timeout=90)
    produce(c.bootstrap, topic, 2000, 1024)  # every code path warmed up once
    time.sleep(12)  # one trim after the warm-up
    before = {b.node_id: heap_kib(b) for b in c}
    produce(c.bootstrap, topic, 150000, 1024)
    peak = {b.node_id: heap_kib(b) for b in c}

    def settled():
        return all(heap_kib(b) <= before[b.node_id] + SLACK_KIB for b in c)
    try:
        wait_until(settled, 40, "every node's heap back to its size before the burst")
    except AssertionError as e:
        raise AssertionError(f"{e}; heap KiB before/peak/now: " + ", ".join(
            f"node {b.node_id} {before[b.node_id]}/{peak[b.node_id]}/{heap_kib(b)}"
            for b in c)) from None
