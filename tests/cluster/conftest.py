"""pytest fixtures for the real-process tier (see sluicetest.py for the helpers).

`brokers` is a factory for fresh brokers; `broker` is one running broker;
`clusters` and `cluster` are multi-node clusters (clustertest.py);
`franz_test_binary` is the Go client tests (tests/go) built once per session. Every
broker still running at the end of a test is stopped with SIGTERM and must
exit 0. When a test fails, the tail of each broker log it used is attached to
the report ("broker logs" section). Every test runs under a time limit
(watchdog.py, SLUICE_TEST_TIMEOUT_S).
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from clustertest import Cluster
from sluicetest import ROOT, BrokerFactory

GO_DIR = os.path.join(ROOT, "tests", "go")

pytest_plugins = ("watchdog",)  # the per-test time limit


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


def go_problem():
    """Why the Go tier cannot run here (no go, or too old), or None."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not os.path.exists(go):
        return None, "go not found (PATH or /usr/local/go/bin/go): the Go tier cannot run"
    with open(os.path.join(GO_DIR, "go.mod")) as f:
        want = re.search(r"^go (\S+)", f.read(), re.M).group(1)
    have = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    if _version(have) < _version(want):
        return None, f"{go} is {have}; tests/go/go.mod needs Go >= {want}"
    return go, None


def go_binary():
    go, problem = go_problem()
    if problem:
        pytest.fail(problem)
    return go


GO_BUILD_TIMEOUT = 540


class GoBuild:
    """`go test -c` of tests/go, started in the background as soon as the
    session knows a test needs it: on a cold cache it takes minutes, which
    the brokers' tests before the first Go test no longer wait out. It runs
    at a lower priority than the tests (nice), so they keep the CPU."""

    def __init__(self, go):
        self.dir = tempfile.mkdtemp(prefix="sluice-go-")
        self.out = os.path.join(self.dir, "franz.test")
        self.log = open(os.path.join(self.dir, "build.log"), "w+b")
        env = dict(os.environ, GOFLAGS="-mod=readonly")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(["nice", "-n", "10", go, "test", "-c", "-o", self.out, "."],
                                     cwd=GO_DIR, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def result(self):
        """The binary's path; fails the calling test if the build failed."""
        left = GO_BUILD_TIMEOUT - (time.monotonic() - self.started)
        try:
            rc = self.proc.wait(timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"building the Go tests took longer than {GO_BUILD_TIMEOUT}s")
        self.log.seek(0)
        output = self.log.read().decode(errors="replace")
        assert rc == 0, f"go test -c failed:\n{output}"
        return self.out

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_go_build = None


def pytest_collection_modifyitems(session, config, items):
    """Modules with Go client tests run last (in their own order): the Go
    build (GoBuild, minutes on a cold cache) then runs behind the other tests
    instead of the first Go test waiting it out."""
    go_modules = {item.module for item in items
                  if "franz_test_binary" in getattr(item, "fixturenames", ())}
    items.sort(key=lambda item: item.module in go_modules)  # stable


def pytest_collection_finish(session):
    global _go_build
    if session.config.option.collectonly:
        return
    if any("franz_test_binary" in getattr(item, "fixturenames", ()) for item in session.items):
        go, problem = go_problem()
        if problem is None:  # else the fixture fails each Go test, naming the problem
            _go_build = GoBuild(go)


def pytest_sessionfinish(session):
    if _go_build is not None:
        _go_build.close()


def run_go_test(binary, name, env, timeout_s=60, tail=6000):
    """Run one test of the tests/go binary (`franz_test_binary`) with `env`;
    fails the calling test unless it passed. Returns its verbose output."""
    try:
        p = subprocess.run([binary, "-test.v", "-test.count=1", f"-test.timeout={timeout_s}s",
                            "-test.run", f"^{name}$"], cwd=GO_DIR, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout_s + 60)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{name} timed out:\n{(e.stdout or b'').decode(errors='replace')}")
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0 and f"--- PASS: {name}" in out, out[-tail:]
    return out


@pytest.fixture(scope="session")
def franz_test_binary():
    """tests/go built with `go test -c` (franz-go and sarama tests; started
    in the background when the session began, see GoBuild): a missing or too
    old `go`, or a failed build, fails the tests that use it."""
    global _go_build
    go = go_binary()
    if _go_build is None:
        _go_build = GoBuild(go)
    return _go_build.result()
