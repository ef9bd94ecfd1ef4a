"""A failed log directory goes offline and the cluster moves leadership away
(issue 11; Kafka's LogDirFailureChannel and KIP-112), with real processes,
a real full disk and a real client (confluent-kafka, acks=all).

Node 3 has two log directories: a small tmpfs and an ordinary one. Once
writers are running, the tmpfs is filled up so the next write there fails
with ENOSPC. Then:
- node 3 takes that directory offline (logged with the directory and the
  cause, and in /metrics as sluice_log_dir_offline{dir,error}), closes its
  partitions there and reports them to the controller in its heartbeats;
- the controller takes node 3 out of those partitions' ISR and leadership,
  so the writers (RF=3, min.insync.replicas=2, acks=all) carry on against the
  other replicas, and every acknowledged record is read back at its offset;
- the partitions in node 3's other directory keep it in their ISR;
- DescribeLogDirs (franz-go's kadm, tests/go/logdirs_test.go) shows the
  offline directory with KAFKA_STORAGE_ERROR and the other one's partitions
  and free space, and so does `sluicectl log-dirs`.

Needs root (mount); skipped otherwise.
"""

import json
import os
import subprocess

import pytest

from clustertest import partitions_of, wait_until
from conftest import GO_DIR
from logdirtest import (TOPIC, Writers, assert_node3_in_isr, clean_up, create_spread_topic,
                        two_dir_cluster, wait_node3_left,
                        writers_carry_on_and_nothing_acked_is_lost)
from metricstest import scrape
from sluicetest import binary, free_port, run


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {p.stderr.strip()}")


def fill(path, leave):
    """Write a file into `path` until only about `leave` bytes are free."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    # Unbuffered: the broker writes to the same filesystem meanwhile, so
    # the last write may find it full; a buffered close would raise then.
    with open(os.path.join(path, "filler"), "wb", buffering=0) as f:
        chunk = b"\0" * (1 << 20)
        todo = max(0, free - leave)
        while todo > 0:
            try:
                f.write(chunk[:min(len(chunk), todo)])
            except OSError:
                break
            todo -= min(len(chunk), todo)


def test_full_log_dir_goes_offline_and_leadership_moves(clusters, tmp_path, franz_test_binary):
    small = str(tmp_path / "small")
    good = str(tmp_path / "good")
    mount_tmpfs(small, "32m")
    http_port = free_port()
    c, n3 = two_dir_cluster(clusters, small, good,
                            **{"metrics.listener": f"127.0.0.1:{http_port}"})
    n3.http_port = http_port
    writers = None
    try:
        c.start()
        # Every node holds every partition and leads two; node 3's two
        # directories take its partitions in turn.
        s, on_small, on_good = create_spread_topic(c, small, good)
        led_by_3 = {i for i, p in partitions_of(s, TOPIC).items() if p["leader"] == 3}
        assert led_by_3 & on_small, f"node 3 leads {led_by_3}, small dir holds {on_small}"

        writers = Writers(c)
        writers.thread.start()
        wait_until(lambda: writers.acked_count() >= 200, 60, "200 acknowledged writes")

        fill(small, 64 * 1024)
        wait_until(lambda: f"log directory offline dir={small} error=ENOSPC" in n3.log_text(),
                   60, "node 3 to take the full directory offline")
        # The controller moves node 3 out of the failed directory's
        # partitions; the other directory's partitions keep it in sync.
        wait_node3_left(c, on_small)
        assert_node3_in_isr(c, on_good)
        # Writers carry on, and nothing acknowledged is lost.
        writers_carry_on_and_nothing_acked_is_lost(c, writers)

        # Node 3 still serves its other directory's partitions, and says
        # which directory failed and why.
        assert_node3_in_isr(c, on_good)
        m = scrape(n3.http_port)
        offline = {dict(labels).get("dir"): (dict(labels).get("error"), v)
                   for (name, labels), v in m.items() if name == "sluice_log_dir_offline"}
        assert offline[good] == ("", 0), offline
        assert offline[small][1] == 1 and "No space left on device" in offline[small][0], offline
        assert "reports offline replicas broker.id=3" in "".join(b.log_text() for b in c)

        # DescribeLogDirs (franz-go's kadm) tells an operator the same.
        env = dict(os.environ, SLUICE_BOOTSTRAP=n3.bootstrap, SLUICE_LOGDIRS_BROKER="3",
                   SLUICE_LOGDIR_OFFLINE=small, SLUICE_LOGDIR_ONLINE=good,
                   SLUICE_LOGDIRS_TOPIC=TOPIC,
                   SLUICE_LOGDIR_ONLINE_PARTITIONS=",".join(str(i) for i in sorted(on_good)))
        p = subprocess.run([franz_test_binary, "-test.v", "-test.count=1", "-test.timeout=120s",
                            "-test.run", "^TestDescribeLogDirs$"], cwd=GO_DIR, env=env,
                           capture_output=True, text=True, timeout=180)
        assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
        assert "--- PASS: TestDescribeLogDirs" in p.stdout, p.stdout[-2000:]
        # And so does sluicectl log-dirs.
        p = run([binary("tools", "sluicectl", "sluicectl"), "log-dirs", "--bootstrap-server",
                 n3.bootstrap, "--json"], timeout=30)
        dirs = {d["dir"]: d for d in json.loads(p.stdout)["log_dirs"]}
        assert dirs[small]["status"] == "offline", dirs
        assert dirs[small]["error"] == "KAFKA_STORAGE_ERROR", dirs
        assert dirs[small]["partitions"] == [], dirs
        assert dirs[good]["status"] == "online" and dirs[good]["usable_bytes"] > 0, dirs
        assert {x["partition"] for x in dirs[good]["partitions"] if x["topic"] == TOPIC} == \
            on_good, dirs
        assert n3.stop() == 0
    finally:
        clean_up(c, writers, small)
