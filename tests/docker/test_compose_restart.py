"""docker-compose.yml brought down (keeping the volumes) and up again on a
different network: the same cluster id, every topic and record, and writes
resume.

`down` deletes the compose network; before `up`, a squatter network takes its
old subnet, so every container comes back on a new address (as happened to a
user whose network moved from 172.20.x to 172.21.x). The raft log still holds
whatever addresses the voters were bootstrapped with; the controllers must
find each other by the names in controller.quorum.voters.

The topic has one replica per partition: follower replication is not on main
yet, so a record lives only on its leader's volume. That is still what a
restart must keep."""
import json
import os
import subprocess
import time

from confluent_kafka.admin import AdminClient, NewTopic

from conftest import ROOT, docker
from test_compose import kcat, project  # noqa: F401 (the fixture)

TOPIC = "restart"
PARTITIONS = 3
RECORDS = 1000


def container_ip(proj, node):
    cid = proj.compose("ps", "-q", f"node{node}").stdout.strip()
    out = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", cid)
    return out.stdout.split()[0]


def network_subnet(proj):
    out = docker("network", "inspect", f"{proj.name}_default", "-f",
                 "{{range .IPAM.Config}}{{.Subnet}} {{end}}")
    return out.stdout.split()[0]


def read_all(proj, partition):
    return kcat("-C", "-q", "-e", "-b", proj.bootstrap(), "-t", TOPIC, "-p", str(partition),
                "-o", "beginning", "-f", "%s\n", timeout=120).splitlines()


def wait_serving(proj, timeout=90):
    """Every broker accepts Kafka clients and names a leader for each
    partition. deploy/docker/up returns once the image shows three alive
    brokers, which after a restart can still be the previous sessions: the
    new processes open their Kafka listeners only once caught up."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok = True
        for n in (1, 2, 3):
            p = subprocess.run(["kcat", "-m", "5", "-L", "-J", "-t", TOPIC, "-b",
                                proj.bootstrap((n,))], capture_output=True, timeout=30)
            if p.returncode != 0:
                ok, last = False, p.stderr[-500:]
                break
            md = json.loads(p.stdout)
            parts = md["topics"][0]["partitions"] if md["topics"] else []
            if len(parts) != PARTITIONS or any(x["leader"] < 0 for x in parts):
                ok, last = False, md
                break
        if ok:
            return
        time.sleep(1)
    raise AssertionError(f"the brokers did not serve {TOPIC} within {timeout}s: {last}")


def test_compose_down_and_up_keeps_the_cluster(project):  # noqa: F811
    admin = AdminClient({"bootstrap.servers": project.bootstrap()})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)], request_timeout=30)[TOPIC].result(40)
    status = project.wait_status(1, lambda s: any(t["name"] == TOPIC for t in s["topics"]), 30,
                                 "the topic in the image")
    cluster_id = status["cluster_id"]
    assert cluster_id
    written = {p: [] for p in range(PARTITIONS)}
    for p in range(PARTITIONS):
        values = [f"r-{p}-{i}".encode() for i in range(RECORDS // PARTITIONS + 1)]
        kcat("-P", "-b", project.bootstrap(), "-X", "acks=all", "-t", TOPIC, "-p", str(p),
             input=b"\n".join(values) + b"\n")
        written[p] += values
    old_ip = container_ip(project, 1)
    subnet = network_subnet(project)

    project.compose("down", "-t", "20", timeout=180)
    squat = f"{project.name}_squat"
    docker("network", "create", "--subnet", subnet, squat)
    try:
        up = subprocess.run([os.path.join(ROOT, "deploy/docker/up"), "-p", project.name],
                            env=project.env, cwd=ROOT, text=True, capture_output=True,
                            timeout=600)
        assert up.returncode == 0, up.stderr[-6000:]
        assert container_ip(project, 1) != old_ip, "the test needs the nodes on new addresses"

        wait_serving(project)
        after = project.wait_status(1, lambda s: any(t["name"] == TOPIC for t in s["topics"]),
                                    60, "the topic after the restart")
        assert after["cluster_id"] == cluster_id
        for p in range(PARTITIONS):
            got = read_all(project, p)
            assert got == written[p], f"partition {p}"
        for p in range(PARTITIONS):  # writes resume
            kcat("-P", "-b", project.bootstrap(), "-X", "acks=all", "-t", TOPIC, "-p", str(p),
                 input=b"resumed\n")
            assert read_all(project, p) == written[p] + [b"resumed"]
        md = json.loads(kcat("-L", "-J", "-b", project.bootstrap((3,))))
        assert len(md["brokers"]) == 3
    finally:
        # Shown by pytest only when the test fails; the fixture's own `down -v`
        # then finds nothing left.
        print(project.compose("logs", "--no-color", "--tail", "80", check=False).stdout)
        project.compose("down", "-v", "--remove-orphans", "-t", "10", check=False)
        docker("network", "rm", squat, check=False)
