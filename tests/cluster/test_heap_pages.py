"""The heap on transparent huge pages, when the operator asks (issue 14; sluiced.c
heap_on_huge_pages), with real processes.

GLIBC_TUNABLES=glibc.malloc.hugetlb=1 makes glibc's malloc madvise the heap MADV_HUGEPAGE: at
5,000 partitions three nodes had sluice-probe's p99 roughly halved and took 2-45x fewer faults
at full speed (tools/bench/README.md). sluiced then stops its periodic heap trim: malloc_trim would split the
huge pages to give back the free 4 KiB pages inside them, and khugepaged fills them back, so
an idle node trimmed again and again. Without the tunable (or with it at 0, whatever else the
variable names, or at 2, glibc's hugetlbfs for large chunks, which leaves the heap on 4 KiB
pages) the trim runs as before (test_memory.py).
"""

import time

from confluent_kafka import Producer

from clustertest import wait_until
from sluicetest import binary, free_port, run, unique_topic
from test_memory import heap_smaps, trims

HUGE_LOG = "heap on transparent huge pages"
TRIM_INTERVAL_S = 10


def thp_mode():
    """The system's transparent huge page mode: always, madvise or never."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            text = f.read()
    except OSError:
        return "never"
    return text[text.index("[") + 1:text.index("]")]


def heap_thp_eligible(pid):
    """Whether any of the process's [heap] mappings may hold transparent huge pages (the
    kernel's THPeligible in smaps: madvised, or the system's mode is always)."""
    return 1 in heap_smaps(pid, "THPeligible:")


def start(brokers, tunables):
    b = brokers(start=False)
    b.http_port = free_port()
    b.overrides["metrics.listener"] = f"127.0.0.1:{b.http_port}"
    b.extra_env["GLIBC_TUNABLES"] = tunables
    b.start()
    return b


def grow_the_heap(b, request):
    """A topic of 500 partitions and a burst of records: several MiB of heap, so that an
    aligned 2 MiB of it can be a huge page."""
    topic = unique_topic(request)
    run([binary("tools", "sluicectl", "sluicectl"), "topic", "create", topic, "--partitions",
         "500", "--bootstrap-server", b.bootstrap])
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(5000):
        p.produce(topic, b"v" * 512, partition=i % 500)
        p.poll(0)
    assert p.flush(60) == 0, "records still unacknowledged"


def test_the_heap_on_huge_pages_is_not_trimmed(brokers, request):
    asked = {
        "glibc.malloc.hugetlb=1": True,
        "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1": True,
        "glibc.malloc.hugetlb=0x1": True,  # glibc reads 0x as hex, as strtoull does
        "glibc.malloc.hugetlb=0": False,
        "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0": False,
        # hugetlbfs for mmapped chunks only: the brk heap stays on 4 KiB pages
        "glibc.malloc.hugetlb=2": False,
    }
    started = {}
    nodes = {}
    for t in asked:
        nodes[t] = start(brokers, t)
        started[t] = time.monotonic()
    for b in nodes.values():
        grow_the_heap(b, request)
    mode = thp_mode()
    # Asked for, and where the kernel has transparent huge pages to give.
    huge_nodes = {t: asked[t] and mode in ("madvise", "always") for t in asked}
    for tunables, huge in huge_nodes.items():
        b = nodes[tunables]
        assert (HUGE_LOG in b.log_text()) == huge, tunables
        if not huge:
            # A tick after an interval without the burst trims (nothing was trimmed before):
            # up to three intervals after the burst, with the confirmations.
            wait_until(lambda: trims(b)[0] >= 1, 6 * TRIM_INTERVAL_S, f"{tunables}: a trim")
    # Every node has run for two ticks and a confirmation, which without the tunable always
    # count (trimmed or skipped); with it, no tick runs at all.
    time.sleep(max(0.0, max(started.values()) + 2 * TRIM_INTERVAL_S + 2 - time.monotonic()))
    for tunables, huge in huge_nodes.items():
        b = nodes[tunables]
        if huge:
            counts = trims(b)
            assert counts == (0, 0, 0), f"{tunables}: {counts}"
        # The madvise is the kernel's to see: where the mode is madvise, only the nodes that
        # asked have an eligible heap (glibc agrees with how sluiced read the variable).
        if mode == "madvise":
            assert heap_thp_eligible(b.proc.pid) == huge, tunables
