"""Real clients across a kill -9 of the partition leader (issue 8, "Must
show"): confluent-kafka (librdkafka), kafka-python and franz-go each produce
(acks=all, retries on) to and consume from one partition of an RF=3 topic
with min.insync.replicas=2, all at once, while its leader is killed, the
survivors take over, and the victim comes back.

Each client runs as its own process (tests/clients/failover_client.py for
the Python clients, TestFailoverClient in tests/go for franz-go) and writes
what its application saw: every acknowledged value with its offset, every
consumed offset, every error the library handed to the application. Checked:
- every client kept acknowledging after the kill, with the victim down;
- no delivery failed: with retries on, a leader kill is invisible to the
  producer (it retries NOT_LEADER_OR_FOLLOWER, timeouts and disconnects);
- the only errors that reach a consumer are the documented retriable ones,
  in CONSUMER_ERRORS_ALLOWED below (librdkafka reports a lost connection as
  an informational error event and reconnects by itself);
- every acknowledged value is consumed, at its acknowledged offset, by its
  own client's consumer; and no offset holds two values across the three
  consumers.
"""

import json
import os
import subprocess
import sys

from clustertest import admin_for, create, wait_until
from sluicetest import ROOT
from test_replication import leader_of, wait_isr

CLIENTS = ["confluent", "kafka-python", "franz-go"]

# Errors a consumer may see: librdkafka's consumer hands out connection
# loss as an error event (RD_KAFKA_RESP_ERR__TRANSPORT, and __ALL_BROKERS_DOWN
# should every connection be down at once); both are documented as
# informational, the client reconnects by itself (librdkafka
# INTRODUCTION.md, "Error handling": "non-fatal ... the client will
# automatically try to recover"). franz-go and kafka-python retry leadership
# and connection errors inside the client and surface none.
CONSUMER_ERRORS_ALLOWED = {
    "confluent": {"_TRANSPORT", "_ALL_BROKERS_DOWN"},
    "kafka-python": set(),
    "franz-go": set(),
}
# The idempotent runs of the same clients share their allowances.

PROGRESS_TIMEOUT = 90


class ClientRun:
    """One client process producing PREFIX:i and consuming partition 0."""

    def __init__(self, kind, bootstrap, topic, tmp_path, franz_binary):
        self.kind = kind
        self.stop_file = str(tmp_path / f"{kind}.stop")
        self.out = str(tmp_path / f"{kind}.json")
        self.log = str(tmp_path / f"{kind}.log")
        env = dict(os.environ)
        if kind.startswith("franz-go"):
            env["SLUICE_FAILOVER_IDEMPOTENT"] = "1" if kind == "franz-go-idempotent" else "0"
            cmd = [franz_binary, "-test.v", "-test.count=1", "-test.timeout=600s",
                   "-test.run", "^TestFailoverClient$"]
            env.update(SLUICE_BOOTSTRAP=bootstrap, SLUICE_FAILOVER_TOPIC=topic,
                       SLUICE_FAILOVER_PREFIX=kind, SLUICE_FAILOVER_STOP=self.stop_file,
                       SLUICE_FAILOVER_OUT=self.out)
        else:
            cmd = [sys.executable, os.path.join(ROOT, "tests", "clients", "failover_client.py"),
                   kind, bootstrap, topic, kind, self.stop_file, self.out]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         cwd=os.path.join(ROOT, "tests", "go"))

    def acked(self):
        """The latest "acked N consumed M" progress line's N."""
        with open(self.log, "rb") as f:
            lines = [x for x in f.read().decode(errors="replace").splitlines()
                     if x.startswith("acked ")]
        assert self.proc.poll() is None, f"{self.kind} exited early:\n{self.tail()}"
        return int(lines[-1].split()[1]) if lines else 0

    def tail(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def finish(self, timeout=240):
        open(self.stop_file, "w").close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.kind} did not finish:\n{self.tail()}")
        assert os.path.exists(self.out), f"{self.kind} wrote no outcome:\n{self.tail()}"
        with open(self.out) as f:
            return json.load(f)


def wait_progress(runs, at_least, what):
    """Every client has acknowledged more than at_least[kind] records."""
    wait_until(lambda: all(r.acked() > at_least[r.kind] for r in runs), PROGRESS_TIMEOUT,
               f"every client acknowledging {what}", interval=0.5)
    return {r.kind: r.acked() for r in runs}


def run_across_a_leader_kill(clusters, franz_test_binary, tmp_path, clients):
    """Run `clients` across a kill -9 of the leader and its return; checks
    what every run must show and returns the outcomes by kind."""
    cluster = clusters(overrides={"replica.lag.time.max.ms": "5000"})
    topic = "client-failover"
    assert create(admin_for(cluster), topic, 1, 3, {"min.insync.replicas": "2"}) is None
    wait_isr(cluster, topic, [1, 2, 3])
    runs = [ClientRun(kind, cluster.bootstrap, topic, tmp_path, franz_test_binary)
            for kind in clients]
    try:
        before = wait_progress(runs, {k: 200 for k in clients}, "before the kill")
        victim = leader_of(cluster, topic)
        victim.kill()
        leader_of(cluster, topic, exclude=(victim.node_id,))
        # Writes go on with the victim down (ISR of two, min.insync.replicas=2).
        during = wait_progress(runs, {k: before[k] + 200 for k in clients}, "with the leader dead")
        victim.start()
        cluster.wait_healthy()
        wait_isr(cluster, topic, [1, 2, 3])
        wait_progress(runs, {k: during[k] + 100 for k in clients}, "after the victim returned")
        outcomes = {r.kind: r.finish() for r in runs}
    finally:
        for r in runs:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()

    report = {k: {"sent": o["sent"], "acked": len(o["acked"]), "consumed": len(o["consumed"]),
                  "produce_errors": sorted(set(o["produce_errors"])),
                  "consume_errors": sorted(set(o["consume_errors"]))}
              for k, o in outcomes.items()}
    shown = json.dumps(report, indent=1)
    for kind, o in outcomes.items():
        assert o["produce_errors"] == [], f"{kind}: delivery failed\n{shown}"
        assert len(o["acked"]) == o["sent"], f"{kind}: not every record acknowledged\n{shown}"
        unexpected = set(o["consume_errors"]) - CONSUMER_ERRORS_ALLOWED[kind.split("-idem")[0]]
        assert not unexpected, f"{kind}: consumer saw {sorted(unexpected)}\n{shown}"
        for value, offset in o["acked"].items():
            got = o["consumed"].get(str(offset))
            assert got == value, f"{kind}: {value} acknowledged at {offset}, consumed {got}"
    # All three consumers read the same partition: one value per offset.
    seen = {}
    for kind, o in outcomes.items():
        for offset, value in o["consumed"].items():
            assert seen.setdefault(offset, value) == value, \
                f"offset {offset}: {seen[offset]} and {value} ({kind})"
    print(shown)
    return outcomes


def test_clients_keep_going_across_a_leader_kill(clusters, franz_test_binary, tmp_path):
    run_across_a_leader_kill(clusters, franz_test_binary, tmp_path, CLIENTS)


def test_idempotent_producers_no_duplicate_no_gap_across_a_leader_kill(clusters,
                                                                        franz_test_binary,
                                                                        tmp_path):
    """Issue 10: idempotent producers (librdkafka enable.idempotence=true with
    five requests in flight; franz-go's defaults) across a leader kill -9.
    Checked on the history each consumer read: per producer, the values in
    offset order are PREFIX:0, PREFIX:1, ... with no value twice and none
    missing, and every one was acknowledged at the offset it was read at.
    (kafka-python 2.0.2, Debian's, has no idempotent producer.)"""
    outcomes = run_across_a_leader_kill(clusters, franz_test_binary, tmp_path,
                                        ["confluent-idempotent", "franz-go-idempotent"])
    for kind, o in outcomes.items():
        mine = [v for _, v in sorted((int(off), v) for off, v in o["consumed"].items())
                if v.startswith(kind + ":")]
        assert len(mine) == len(set(mine)), f"{kind}: a value was written twice"
        assert mine == [f"{kind}:{i}" for i in range(o["sent"])], \
            f"{kind}: per-producer order has a gap or a duplicate ({len(mine)} of {o['sent']})"
