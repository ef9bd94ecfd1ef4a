"""pytest fixtures for the real-process tier (see sluicetest.py for the helpers).

`brokers` is a factory for fresh brokers; `broker` is one running broker. Every
broker still running at the end of a test is stopped with SIGTERM and must
exit 0. When a test fails, the tail of each broker log it used is attached to
the report ("broker logs" section).
"""

import pytest

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
