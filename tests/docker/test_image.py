"""The Sluice image starts, reports ready, honours SLUICE_* settings and stops cleanly."""
import time
import uuid

from conftest import docker


def wait_for_log(container, text, timeout=30):
    deadline = time.time() + timeout
    logs = ""
    while time.time() < deadline:
        logs = docker("logs", container, check=False).stderr
        if text in logs:
            return logs
        time.sleep(0.3)
    raise AssertionError(f"{text!r} not in logs of {container}:\n{logs}")


def test_container_starts_and_stops_cleanly(sluice_image):
    name = f"sluice-test-{uuid.uuid4().hex[:8]}"
    # A single node is a one-voter quorum: the voter is this node.
    docker("run", "-d", "--name", name, "-e", "SLUICE_NODE_ID=5", "-e",
           "SLUICE_CONTROLLER_QUORUM_VOTERS=5@127.0.0.1:9093", sluice_image)
    try:
        logs = wait_for_log(name, "ready")
        assert "node.id=5" in logs
        docker("stop", "-t", "20", name)
        state = docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        assert state == "0", docker("logs", name, check=False).stderr
        assert "stopped" in docker("logs", name, check=False).stderr
    finally:
        docker("rm", "-f", name, check=False)


def test_bad_setting_is_refused_with_its_name(sluice_image):
    run = docker("run", "--rm", "-e", "SLUICE_NUM_PARTITIONS=0", sluice_image, check=False)
    assert run.returncode != 0
    assert "num.partitions" in run.stderr and "'0'" in run.stderr, run.stderr
