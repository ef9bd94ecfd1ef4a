"""franz-go (Go modules, tests/go): produce with the client's defaults, consume,
admin. The Go test binary is built once per session; each Go test runs as its
own pytest test against a fresh broker. A missing `go` fails, never skips."""

import os
import shutil
import subprocess

import pytest

from sluicetest import ROOT

GO_DIR = os.path.join(ROOT, "tests", "go")


def go_binary():
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(go):
        pytest.fail("go not found (PATH or /usr/local/go/bin/go): the Go tier cannot run")
    return go


@pytest.fixture(scope="session")
def franz_test_binary(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("go") / "franz.test")
    env = dict(os.environ, GOFLAGS="-mod=readonly")
    try:
        p = subprocess.run([go_binary(), "test", "-c", "-o", out, "."], cwd=GO_DIR, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=540)
    except subprocess.TimeoutExpired:
        pytest.fail("building the Go tests took longer than 540s")
    assert p.returncode == 0, f"go test -c failed:\n{p.stdout.decode(errors='replace')}"
    return out


@pytest.mark.parametrize("name", ["TestAdminCreateDeleteTopic", "TestProduceConsumeWithDefaults",
                                  "TestOffsetForLeaderEpoch", "TestConsumerGroupResumes"])
def test_franz_go(broker, franz_test_binary, name):
    env = dict(os.environ, SLUICE_BOOTSTRAP=broker.bootstrap)
    try:
        p = subprocess.run([franz_test_binary, "-test.v", "-test.count=1", "-test.timeout=60s",
                            "-test.run", f"^{name}$"], cwd=GO_DIR, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=90)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{name} timed out:\n{(e.stdout or b'').decode(errors='replace')}")
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and f"--- PASS: {name}" in out, out[-6000:]
