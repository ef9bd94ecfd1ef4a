"""Storage faults beyond a full disk (issue 11): a log directory whose
filesystem goes read-only under the writers, and one whose every write and
fsync fails with EIO. Each is a real ext4 filesystem on a loop device,
broken by the kernel itself while the broker writes to it:

- read-only: mounted with errors=remount-ro, then an ext4 error is raised
  through /sys/fs/ext4/<dev>/trigger_fs_error, so the kernel remounts it
  read-only (what a disk error does in production) and writes fail with
  EROFS. A plain `mount -o remount,ro` is refused (EBUSY) while the broker
  holds segments open for writing, so it cannot stand in for this;
- EIO: the filesystem is shut down (FS_IOC_SHUTDOWN without a log flush,
  as xfstests' godown does), after which writes and fsync fail with EIO.
  (device-mapper's error target would do the same below the filesystem;
  test kernels without CONFIG_BLK_DEV_DM, like this project's, have none.)

As in test_log_dir_failure.py (RF=3, min.insync.replicas=2, acks=all): node
3 takes the directory offline and reports its partitions, leadership and
ISR move away from it, the writers carry on, every acknowledged record is
read back at its offset, and node 3 keeps serving its other directory.

Needs root (mount, loop devices); skipped otherwise.
"""

import fcntl
import os
import struct
import subprocess

import pytest

from clustertest import admin_for, partitions_of, wait_until
from confluent_kafka.admin import NewTopic
from logdirtest import (Writers, assert_node3_in_isr, clean_up, create_spread_topic,
                        two_dir_cluster, wait_node3_left,
                        writers_carry_on_and_nothing_acked_is_lost)
from test_replication import AckedProducer, read_all

FS_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
FS_GOING_FLAGS_NOLOGFLUSH = 2


def mount_ext4(image, path):
    """A 96 MiB ext4 on a loop device at `path`; its device name (loopN)."""
    os.makedirs(path, exist_ok=True)
    with open(image, "wb") as f:
        f.truncate(96 << 20)
    p = subprocess.run(["mkfs.ext4", "-q", "-F", image], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {p.stderr.strip()}")
    p = subprocess.run(["mount", "-o", "loop,errors=remount-ro", image, path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a loop device (needs root): {p.stderr.strip()}")
    source = subprocess.run(["findmnt", "-n", "-o", "SOURCE", path], capture_output=True,
                            text=True, check=True).stdout.strip()
    return os.path.basename(source)


def make_read_only(path, dev):
    with open(f"/sys/fs/ext4/{dev}/trigger_fs_error", "w") as f:
        f.write("sluice test: storage fault\n")
    opts = subprocess.run(["findmnt", "-n", "-o", "OPTIONS", path], capture_output=True,
                          text=True, check=True).stdout
    assert "emergency_ro" in opts or opts.startswith("ro"), opts


def shut_down(path, dev):
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, FS_IOC_SHUTDOWN, struct.pack("I", FS_GOING_FLAGS_NOLOGFLUSH))
    finally:
        os.close(fd)


# The errors the broker may report the directory with. Read-only: ext4
# aborts its journal on the error it raises, then remounts read-only, so a
# write fails with EROFS while an fsync in flight fails with EIO; which one
# the broker meets first is the kernel's timing (CI of 3c71c1a met the fsync).
FAULTS = {"read-only": (make_read_only, ("EROFS", "EIO")), "eio": (shut_down, ("EIO",))}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_failing_filesystem_goes_offline_and_nothing_acked_is_lost(clusters, tmp_path, fault):
    inject, errno_names = FAULTS[fault]
    bad = str(tmp_path / "bad")
    good = str(tmp_path / "good")
    dev = mount_ext4(str(tmp_path / "bad.img"), bad)
    c, n3 = two_dir_cluster(clusters, bad, good)
    writers = None
    try:
        c.start()
        s, on_bad, on_good = create_spread_topic(c, bad, good)
        writers = Writers(c)
        writers.thread.start()
        wait_until(lambda: writers.acked_count() >= 200, 60, "200 acknowledged writes")

        inject(bad, dev)
        wait_until(lambda: any(f"log directory offline dir={bad} error={e}" in n3.log_text()
                               for e in errno_names),
                   60, f"node 3 to take the {fault} directory offline")
        wait_node3_left(c, on_bad)
        writers_carry_on_and_nothing_acked_is_lost(c, writers)
        assert_node3_in_isr(c, on_good)
        assert n3.running()
        assert n3.stop() == 0
    finally:
        clean_up(c, writers, bad)


def test_partition_that_cannot_be_opened_at_startup_goes_offline_alone(clusters):
    """Node 3 restarts with one partition's segment unreadable (the .log file
    replaced by a directory, so opening it fails with EISDIR: neither a
    device error nor something recovery may truncate away). That partition
    alone goes offline on node 3 and is reported to the controller, which
    keeps node 3 out of its ISR and leadership; the log directory stays
    online, node 3's other partitions return to their ISR, and every
    partition keeps taking acks=all writes and serving reads."""
    c = clusters(3)
    topic = "unopenable"
    admin = admin_for(c)
    fut = admin.create_topics([NewTopic(topic, 3, 3, config={"min.insync.replicas": "2"})],
                              operation_timeout=10, request_timeout=15)[topic]
    fut.result(timeout=30)
    c.wait_status(lambda s: partitions_of(s, topic) and all(
        len(p["isr"]) == 3 and p["leader"] > 0 for p in partitions_of(s, topic).values()),
        60, "every partition led with a full ISR")
    producer = AckedProducer(c, topic)
    for i in range(60):
        producer.send(f"before-{i}", partition=i % 3)
    producer.flush(60)
    assert not producer.failed and len(producer.acked) == 60, producer.failed[:3]

    n3 = c.node(3)
    assert n3.stop() == 0
    broken = 1
    seg_dir = os.path.join(n3.data_dir, f"{topic}-{broken}")
    segment = sorted(n for n in os.listdir(seg_dir) if n.endswith(".log"))[0]
    os.rename(os.path.join(seg_dir, segment), os.path.join(seg_dir, segment + ".moved"))
    os.mkdir(os.path.join(seg_dir, segment))
    n3.start()

    wait_until(lambda: f"cannot open partition topic={topic} partition={broken}"
               in n3.log_text(), 60, "node 3 to log the partition it cannot open")
    s = c.wait_status(lambda s: all(
        (3 not in p["isr"] and p["leader"] not in (3, -1)) if i == broken else
        (3 in p["isr"] and p["leader"] > 0)
        for i, p in partitions_of(s, topic).items()),
        60, "node 3 out of the broken partition only, back in the others' ISR")
    assert "reporting offline replicas to the controller partitions=1 " in n3.log_text()
    assert "log directory offline" not in n3.log_text()

    for i in range(60):
        producer.send(f"after-{i}", partition=i % 3)
    producer.flush(60)
    assert not producer.failed and len(producer.acked) == 120, producer.failed[:3]
    for part in range(3):
        mine = {v: off for v, (p, off) in producer.acked.items() if p == part}
        got = read_all(c, topic, part, max(mine.values()) + 1)
        missing = [(v, off) for v, off in mine.items() if got.get(off) != v]
        assert not missing, f"partition {part}: {missing[:5]}"
    assert n3.running()
