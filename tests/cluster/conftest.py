"""pytest fixtures for the real-process tier (see sluicetest.py for the helpers).

`brokers` is a factory for fresh brokers; `broker` is one running broker;
`clusters` and `cluster` are multi-node clusters (clustertest.py). Every
broker still running at the end of a test is stopped with SIGTERM and must
exit 0. When a test fails, the tail of each broker log it used is attached to
the report ("broker logs" section).
"""

import pytest

from clustertest import Cluster
from sluicetest import BrokerFactory


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
