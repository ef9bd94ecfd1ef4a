"""sluice-drill (tools/drill) against local three-node clusters.

The drill runs its workload (acks=all producers, consumers), applies faults
to the nodes itself (--node ID:PIDFILE:START_CMD: kill(2) and a restart
command), reads everything back and checks the history. Nodes it restarts
are not this test's children: their pids are in the pid files, and the
`drilled` fixture stops them at the end.

Rounds are few by default so the tier stays short; SLUICE_DRILL_ROUNDS=N
runs N rounds of each fault for a long drill.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from sluicetest import binary, run, unique_topic

ROUNDS = int(os.environ.get("SLUICE_DRILL_ROUNDS", "2"))
INTERVAL_MS = 3000


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Drilled:
    """A cluster prepared for the drill: a pid file and a start command per
    node (the node's own command line, logging to a file of its own)."""

    def __init__(self, cluster, tmp_path):
        self.cluster = cluster
        self.pidfiles = {}
        self.args = []
        for b in cluster:
            pidfile = tmp_path / f"{b.name}.pid"
            pidfile.write_text(f"{b.proc.pid}\n")
            self.pidfiles[b.node_id] = pidfile
            log = os.path.join(b.workdir, f"{b.name}.drill.log")
            open(log, "ab").close()
            b.log_paths.append(log)  # shown in a failing test's report
            cmd = "exec " + " ".join(shlex.quote(c) for c in b.command())
            cmd += f" >>{shlex.quote(log)} 2>&1"
            self.args += ["--node", f"{b.node_id}:{pidfile}:{cmd}"]

    def data_dirs(self):
        return [a for b in self.cluster for a in ("--data-dir", f"{b.node_id}:{b.data_dir}")]

    def run(self, *args, timeout=600, extra_env=None):
        """Run the drill with --json; returns (exit code, report or None, stderr)."""
        cmd = [binary("tools", "drill", "sluice-drill"), "--bootstrap-server",
               self.cluster.bootstrap, "--json", *self.args, *args]
        # Like Broker.spawn: SLUICE_<KEY> variables would override the nodes' config.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        env.update(extra_env or {})
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           env=env)
        out = p.stdout.decode()
        report = json.loads(out) if out.strip() else None
        return p.returncode, report, p.stderr.decode()

    def stop_restarted(self):
        """SIGTERM the nodes the drill restarted (not children of this test)."""
        own = {b.proc.pid for b in self.cluster}
        pids = []
        for pidfile in self.pidfiles.values():
            pid = int(pidfile.read_text().split()[0])
            if pid not in own and _alive(pid):
                os.kill(pid, signal.SIGTERM)
                pids.append(pid)
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in pids if _alive(p)]
        for p in left:
            os.kill(p, signal.SIGKILL)
        assert not left, f"restarted nodes ignored SIGTERM: {left}"


@pytest.fixture
def drilled(cluster, tmp_path):
    d = Drilled(cluster, tmp_path)
    yield d
    d.stop_restarted()


def summary(report, stderr):
    return (f"report: {json.dumps(report, indent=1)[:6000]}\n"
            f"drill stderr (tail): {stderr[-6000:]}")


def test_drill_passes_clean_follower_restarts(drilled, request):
    """RF=3, acks=all with min.insync.replicas=1 and clean SIGTERM restarts
    of a node that does not lead the partition: the leader keeps serving, so
    nothing acknowledged may be lost, duplicated or reordered."""
    rc, report, err = drilled.run(
        "--topic", unique_topic(request), "--partitions", "1", "--replication-factor", "3",
        "--min-insync-replicas", "1", "--fault", "restart-follower", "--rounds", str(ROUNDS),
        "--fault-interval-ms", str(INTERVAL_MS), "--warmup-ms", "1000")
    assert report is not None, err
    # A stopping follower may hold the high watermark until it leaves the
    # ISR, so a request can wait past the client's timeout and be retried:
    # without idempotence that may append a value twice, which the drill
    # counts ("duplicated") but does not hold against the promise.
    assert_passed(rc, report, err)
    assert len(report["rounds"]) == ROUNDS and all(r["applied"] for r in report["rounds"])
    # without --data-dir the replica logs are not compared, and the report says so
    assert report["replica_note"]


def assert_passed(rc, report, err, idempotent=False):
    """The drill's own verdict: exit 0, PASS, no violation of any kind, and
    something was acknowledged. Unless `idempotent`, its producers are not
    idempotent, so duplicates from retries are counted but are not
    violations (see tools/drill/README.md); with it a duplicate is one."""
    assert rc == 0 and report["verdict"] == "PASS", summary(report, err)
    assert report["violations"] == 0 and report["violation_list"] == [], summary(report, err)
    assert report["idempotent"] is idempotent and report["duplicated"] >= 0
    if idempotent:
        assert report["duplicated"] == 0, summary(report, err)
    assert report["duplicated_violations"] == 0
    assert report["acknowledged"] > 0, summary(report, err)


def assert_round_figures(report, err):
    """Each round's times and unavailability (tools/drill/README.md): the
    times in order, each round's interval ending where the next one starts,
    each figure the part within the interval of a stretch without an
    acknowledgement, and the run's longest stretch one that a round names
    unless it lies wholly between the rounds' intervals (before a fault was
    applied). Times are whole ms, truncated: 1 ms of slack."""
    rounds, longest = report["rounds"], report["longest_unavailable_ms"]
    for r, nxt in zip(rounds, rounds[1:] + [None]):
        assert 0 <= r["start_ms"] <= r["applied_ms"] <= r["healed_ms"] <= r["end_ms"], r
        assert nxt is None or r["end_ms"] == nxt["start_ms"], (r, nxt)
        began, ended = r["unavailable_from_ms"], r["unavailable_to_ms"]
        assert began <= r["end_ms"] and ended >= r["applied_ms"], r
        assert 0 < r["unavailable_ms"] <= min(longest, ended - began + 1), summary(report, err)
    between = [rounds[0]["applied_ms"]] + [r["applied_ms"] - r["start_ms"] for r in rounds]
    named = max(r["unavailable_to_ms"] - r["unavailable_from_ms"] for r in rounds)
    assert abs(named - longest) <= 1 or longest <= max(between) + 1, summary(report, err)


def test_drill_reports_unavailability_per_round(drilled, request):
    """The report says which round's fault made the unavailability: a round
    without a fault and one that kills the leader of the only partition, in
    that order; the kill's round holds the run's longest stretch without an
    acknowledgement (no write is acknowledged until another node leads), the
    quiet round a shorter one."""
    rc, report, err = drilled.run(
        "--topic", unique_topic(request), "--partitions", "1", "--replication-factor", "3",
        "--min-insync-replicas", "2", "--fault", "none,kill-leader", "--rounds", "2",
        "--fault-interval-ms", str(INTERVAL_MS), "--warmup-ms", "1000")
    assert report is not None, err
    assert_passed(rc, report, err)
    rounds = report["rounds"]
    assert [(r["round"], r["fault"], len(r["nodes"])) for r in rounds] == [
        (1, "none", 0), (2, "kill-leader", 1)], summary(report, err)
    assert all(r["healed_ms"] - r["applied_ms"] >= INTERVAL_MS for r in rounds), rounds
    assert_round_figures(report, err)
    quiet, kill = rounds
    stretch = kill["unavailable_to_ms"] - kill["unavailable_from_ms"]
    assert abs(stretch - report["longest_unavailable_ms"]) <= 1, summary(report, err)
    assert quiet["unavailable_ms"] < kill["unavailable_ms"], summary(report, err)


def test_drill_leader_kills_lose_nothing(drilled, request):
    """RF=3, min.insync.replicas=2, acks=all, kill -9 of the partition leader
    every round: followers replicate, so no acknowledged record is lost, no
    offset holds two values, and the replica logs are identical (compared
    from the data directories)."""
    rc, report, err = drilled.run(
        "--topic", unique_topic(request), "--partitions", "2", "--replication-factor", "3",
        "--min-insync-replicas", "2", "--fault", "kill-leader", "--rounds", str(ROUNDS),
        "--fault-interval-ms", str(INTERVAL_MS), "--warmup-ms", "1000", *drilled.data_dirs())
    assert report is not None, err
    assert_passed(rc, report, err)
    assert report["replicas_compared"] == 2, summary(report, err)


def test_drill_idempotent_producers_across_leader_kills(drilled, request):
    """Issue 10: idempotent librdkafka producers (five requests in flight),
    RF=3, min.insync.replicas=2, kill -9 of the partition leader every round:
    nothing acknowledged is lost, no value is written twice, and per-producer
    order holds (the new leader dedupes retries sent to the old one)."""
    rc, report, err = drilled.run(
        "--topic", unique_topic(request), "--partitions", "2", "--replication-factor", "3",
        "--min-insync-replicas", "2", "--fault", "kill-leader", "--rounds", str(ROUNDS),
        "--fault-interval-ms", str(INTERVAL_MS), "--warmup-ms", "1000", "--idempotent",
        *drilled.data_dirs())
    assert report is not None, err
    assert_passed(rc, report, err, idempotent=True)
    assert report["replicas_compared"] == 2, summary(report, err)


def test_drill_usage_errors_exit_2():
    drill = binary("tools", "drill", "sluice-drill")
    for args in ([], ["--bootstrap-server", "127.0.0.1:1", "--fault", "kill-everything"],
                 ["--bootstrap-server", "127.0.0.1:1", "--fault", "kill-leader"],
                 ["--bootstrap-server", "127.0.0.1:1", "--rounds", "-1"]):
        p = run([drill, *args], check=False, timeout=30)
        assert p.returncode == 2, (args, p.stderr)
        assert b"usage:" in p.stderr


def test_drill_help_exits_0_with_usage_on_stdout():
    drill = binary("tools", "drill", "sluice-drill")
    for flag in ("--help", "-h"):
        p = run([drill, flag], check=False, timeout=30)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(b"usage: sluice-drill") and b"--bootstrap-server" in p.stdout
        assert p.stderr == b""
    # A flag missing its value is still a usage error, on stderr.
    p = run([drill, "--bootstrap-server", "127.0.0.1:1", "--topic"], check=False, timeout=30)
    assert p.returncode == 2 and b"--topic needs a value" in p.stderr


def test_drill_applies_and_heals_every_builtin_fault(drilled, cluster, request):
    """Each built-in fault is applied to the right node and healed, the drill
    reads everything back at the end, and with min.insync.replicas=2 the
    drill's verdict is a pass through all of them."""
    faults = ["pause-leader", "restart-leader", "kill-controller", "kill-majority"]
    session_ms = cluster.session_ms
    rc, report, err = drilled.run(
        "--topic", unique_topic(request), "--partitions", "2", "--replication-factor", "3",
        "--min-insync-replicas", "2", "--fault", ",".join(faults), *drilled.data_dirs(),
        "--rounds", str(len(faults) * max(1, ROUNDS // 2)),
        "--fault-interval-ms", str(INTERVAL_MS), "--pause-ms", str(session_ms + 1500),
        "--warmup-ms", "1000", "--controllers", ",".join(b.controller for b in cluster),
        "--sluicectl", binary("tools", "sluicectl", "sluicectl"))
    assert report is not None, err
    assert_passed(rc, report, err)
    assert report["healed"] and report["final_read_complete"], summary(report, err)
    rounds = report["rounds"]
    assert [r["fault"] for r in rounds[:len(faults)]] == faults
    assert all(r["applied"] for r in rounds), summary(report, err)
    assert all(len(r["nodes"]) == (2 if r["fault"] == "kill-majority" else 1) for r in rounds)
    assert_round_figures(report, err)
    # every node runs again after the last heal
    for pidfile in drilled.pidfiles.values():
        assert _alive(int(pidfile.read_text().split()[0])), pidfile


def test_drill_fault_command_gets_the_leader(drilled, cluster, request, tmp_path):
    """--fault-command and --heal-command run once per round with the round
    and the partition leader (id and host:port, from Metadata) in the
    environment; nothing is broken, so the verdict is a pass."""
    out = tmp_path / "commands.txt"
    rc, report, err = drilled.run(
        "--topic", unique_topic(request), "--partitions", "1", "--replication-factor", "1",
        "--fault-command", f"env | grep ^SLUICE_DRILL_ | sort >> {out}",
        "--heal-command", f"echo healed $SLUICE_DRILL_ROUND >> {out}",
        "--rounds", "2", "--fault-interval-ms", "500", "--warmup-ms", "500")
    assert report is not None, err
    assert_passed(rc, report, err)
    text = out.read_text()
    assert "SLUICE_DRILL_ROUND=1" in text and "SLUICE_DRILL_ROUND=2" in text
    assert "healed 1" in text and "healed 2" in text
    leader_ids = {int(line.split("=", 1)[1]) for line in text.splitlines()
                  if line.startswith("SLUICE_DRILL_LEADER_ID=")}
    assert leader_ids and leader_ids <= {b.node_id for b in cluster}, text
    ports = {b.bootstrap for b in cluster}
    assert any(line.split("=", 1)[1] in ports for line in text.splitlines()
               if line.startswith("SLUICE_DRILL_LEADER=")), text


# rd_kafka_destroy as librdkafka 2.0.2 sometimes runs it (issue #3608): abort().
ABORTING_DESTROY = """
#include <stdlib.h>
struct rd_kafka_s;
void rd_kafka_destroy(struct rd_kafka_s *rk) { (void)rk; abort(); }
"""


def test_drill_verdict_survives_an_abort_in_client_teardown(drilled, request, tmp_path):
    """librdkafka 2.0.2 can abort inside rd_kafka_destroy when a broker
    connection fails while the client terminates. The drill destroys no client
    before its report is out, and an abort in the teardown after it exits with
    the verdict's code: here every rd_kafka_destroy aborts (LD_PRELOAD), and
    the report and the pass must still come out."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler to build the aborting rd_kafka_destroy")
    src = tmp_path / "abort_destroy.c"
    src.write_text(ABORTING_DESTROY)
    lib = tmp_path / "abort_destroy.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    rc, report, err = drilled.run(
        "--topic", unique_topic(request), "--partitions", "1", "--replication-factor", "1",
        "--fault-command", "true", "--heal-command", "true",
        "--rounds", "1", "--fault-interval-ms", "500", "--warmup-ms", "500",
        extra_env={"LD_PRELOAD": str(lib)})
    assert report is not None, err
    assert_passed(rc, report, err)
    assert "librdkafka aborted while destroying its clients" in err, err
