"""Batched AlterPartition (issue 14; broker/metadata/alter_batcher.h) with
real processes.

A node of three restarts (a clean stop: the controller takes it out of every
ISR) hosting a replica of each of 200 partitions. Once back, its leaders
re-add it to every ISR, and the ISR changes proposed while an AlterPartition
request is in flight go together in the next request: far fewer requests
(sluice_alter_partition_requests_total) than partitions re-added
(sluice_alter_partition_items_total). Before, each partition was one
request and one raft commit. acks=all records written before the restart
read back intact afterwards."""

import random

from confluent_kafka.admin import AdminClient, NewTopic

from clustertest import partitions_of, read_back, wait_until
from metricstest import summed
from sluicetest import free_port, unique_topic
from test_partition_scale import produce_sample

PARTITIONS = 200
REQUESTS = "sluice_alter_partition_requests_total"
ITEMS = "sluice_alter_partition_items_total"
CONTROLLER_REQUESTS = "sluice_controller_alter_partition_requests_total"
CONTROLLER_ITEMS = "sluice_controller_alter_partition_items_total"


def metered_cluster(clusters):
    """Three nodes, each with its own metrics listener (node.http_port)."""
    c = clusters(start=False)
    for b in c:
        b.http_port = free_port()
        b.overrides["metrics.listener"] = f"127.0.0.1:{b.http_port}"
    c.start()
    return c


def isr_members(c, topic):
    """{partition: sorted ISR} from the controllers, or None."""
    s = c.status()
    parts = partitions_of(s, topic) if s else None
    return {p: sorted(m["isr"]) for p, m in parts.items()} if parts else None


def test_restarted_node_rejoins_many_isrs_with_few_requests(clusters, request):
    c = metered_cluster(clusters)
    topic = unique_topic(request)
    admin = AdminClient({"bootstrap.servers": c.bootstrap, "socket.timeout.ms": 120000})
    admin.create_topics([NewTopic(topic, PARTITIONS, 3, config={"min.insync.replicas": "2"})],
                        operation_timeout=90, request_timeout=120)[topic].result(timeout=150)
    wait_until(lambda: (lambda m: m and len(m) == PARTITIONS and
                        all(isr == [1, 2, 3] for isr in m.values()))(isr_members(c, topic)),
               120, "every replica in the ISR")
    parts = sorted(random.Random(14).sample(range(PARTITIONS), 20))
    written = {p: [v] for p, v in produce_sample(c.bootstrap, topic, parts, "a").items()}

    n3 = c.node(3)
    assert n3.stop(timeout=120) == 0
    wait_until(lambda: (lambda m: m and all(3 not in isr for isr in m.values()))(
        isr_members(c, topic)), 60, "node 3 out of every ISR after its controlled shutdown")
    others = [c.node(1), c.node(2)]
    requests_before, items_before = summed(others, REQUESTS, ITEMS)

    n3.start(timeout=180)
    wait_until(lambda: (lambda m: m and all(3 in isr for isr in m.values()))(
        isr_members(c, topic)), 120, "node 3 back in every ISR")
    # Node 3's counters started at 0 with its process; it may lead again
    # (preferred leaders) and propose too.
    requests_after, items_after = summed(c, REQUESTS, ITEMS)
    requests = requests_after - requests_before
    items = items_after - items_before
    assert items >= PARTITIONS, (requests, items)
    # One request per partition before batching; with it a few per leader
    # (the first change alone, the rest together while it is in flight).
    assert requests * 4 <= PARTITIONS, f"{requests} AlterPartition requests for {items} changes"
    # The active controller counts what it served: every node exports it.
    ctl_requests, ctl_items = summed(c, CONTROLLER_REQUESTS, CONTROLLER_ITEMS)
    assert ctl_items >= ctl_requests

    read_back(c.bootstrap, topic, written, "isr-batching")
    c.wait_healthy()
