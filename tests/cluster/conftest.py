"""pytest fixtures for the real-process tier (see sluicetest.py for the helpers).

`brokers` is a factory for fresh brokers; `broker` is one running broker;
`clusters` and `cluster` are multi-node clusters (clustertest.py);
`franz_test_binary` is the Go client tests (tests/go) built once per session. Every
broker still running at the end of a test is stopped with SIGTERM and must
exit 0. When a test fails, the tail of each broker log it used is attached to
the report ("broker logs" section).
"""

import os
import re
import shutil
import subprocess

import pytest

from clustertest import Cluster
from sluicetest import ROOT, BrokerFactory

GO_DIR = os.path.join(ROOT, "tests", "go")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    factory = getattr(item, "_sluice_brokers", None)
    if factory is not None and report.failed:
        report.sections.append(("broker logs", factory.log_report()))


@pytest.fixture
def brokers(request, tmp_path):
    """Factory: brokers() starts a new broker (see Broker for the options)."""
    factory = BrokerFactory(tmp_path)
    request.node._sluice_brokers = factory
    yield factory
    problems = factory.shutdown()
    assert not problems, "; ".join(problems)


@pytest.fixture
def broker(brokers):
    """One running broker that answers the Kafka protocol."""
    return brokers()


@pytest.fixture
def clusters(brokers):
    """Factory: clusters(n=3, start=True, **Cluster options) builds n nodes
    with both roles (clustertest.Cluster) and, with start, waits until a raft
    leader exists and every broker is registered and unfenced. Nodes are
    brokers of the `brokers` factory: stopped at the end (exit 0 required),
    logs attached to a failing test's report."""
    def make(n=3, start=True, **kwargs):
        if brokers.external:
            pytest.skip("needs sluiced processes it controls")
        c = Cluster(brokers, n=n, **kwargs)
        if start:
            c.start()
        return c
    return make


@pytest.fixture
def cluster(clusters):
    """Three running nodes with both roles, healthy (see `clusters`)."""
    return clusters(3)


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
    """tests/go built with `go test -c` (franz-go and sarama tests): a missing
    or too old `go`, or a failed build, fails the tests that use it."""
    out = str(tmp_path_factory.mktemp("go") / "franz.test")
    env = dict(os.environ, GOFLAGS="-mod=readonly")
    try:
        p = subprocess.run([go_binary(), "test", "-c", "-o", out, "."], cwd=GO_DIR, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=540)
    except subprocess.TimeoutExpired:
        pytest.fail("building the Go tests took longer than 540s")
    assert p.returncode == 0, f"go test -c failed:\n{p.stdout.decode(errors='replace')}"
    return out
