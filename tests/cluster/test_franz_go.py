"""Go clients (Go modules, tests/go): franz-go (produce with the client's
defaults, consume, admin) and sarama (metadata, admin create/delete, produce
and consume with every codec it offers). The Go test binary is built once per
session; each Go test runs as its own pytest test against a fresh broker. A
missing or too old `go` fails, never skips."""

import glob
import os
import re
import shutil
import subprocess

import pytest

from sluicetest import ROOT

GO_DIR = os.path.join(ROOT, "tests", "go")


def _version(text):
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def go_binary():
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(go):
        pytest.fail("go not found (PATH or /usr/local/go/bin/go): the Go tier cannot run")
    with open(os.path.join(GO_DIR, "go.mod")) as f:
        want = re.search(r"^go (\S+)", f.read(), re.M).group(1)
    have = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    if _version(have) < _version(want):
        pytest.fail(f"{go} is {have}; tests/go/go.mod needs Go >= {want}")
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


GO_TESTS = ["TestAdminCreateDeleteTopic", "TestProduceConsumeWithDefaults",
            "TestOffsetForLeaderEpoch", "TestSaramaMetadata", "TestSaramaAdminCreateDeleteTopic",
            "TestSaramaProduceConsumeCodecs"]


def test_every_go_test_is_run():
    """A Go test added to tests/go but not to GO_TESTS would never run."""
    found = set()
    for path in glob.glob(os.path.join(GO_DIR, "*_test.go")):
        with open(path) as f:
            found.update(re.findall(r"^func (Test\w+)\(t \*testing\.T\)", f.read(), re.M))
    assert found == set(GO_TESTS), f"tests/go has {sorted(found)}, GO_TESTS runs {GO_TESTS}"


@pytest.mark.parametrize("name", GO_TESTS)
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
