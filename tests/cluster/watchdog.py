"""A time limit per cluster test.

A test that hangs (a client library deadlocked in its own teardown, as
librdkafka 2.0's rd_kafka_destroy can be, librdkafka#3608; a wait with no
bound) would hold the whole run until CI's own limit killed it, with no word
of where. After SLUICE_TEST_TIMEOUT_S seconds (1200 by default, 0: none)
the watchdog prints every thread's stack, kills the processes the test
started (brokers, client programs) and ends this process: a main thread
stuck in C cannot be interrupted any other way. Under pytest-xdist the
worker's end is reported as that test's failure ("worker crashed while
running") and a new worker runs the rest of its file, not the hung test
again (pytest_xdist_make_scheduler).

A pytest plugin: conftest.py loads it (`pytest_plugins`), other runs with
`-p watchdog` and this directory on the path.

The timer is a Python thread, which needs the GIL: the client libraries
release it while they block. In case one does not, faulthandler's own
thread (in C, no GIL needed) dumps the stacks and exits a minute later,
without killing the children.
"""

import faulthandler
import os
import signal
import sys
import threading

import pytest

GRACE_S = 60


def limit_s():
    """The per-test limit in seconds from SLUICE_TEST_TIMEOUT_S; 0 is none."""
    raw = os.environ.get("SLUICE_TEST_TIMEOUT_S", "1200")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"SLUICE_TEST_TIMEOUT_S={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ValueError(f"SLUICE_TEST_TIMEOUT_S={raw!r} is negative")
    return value


def descendants(pid):
    """Every process below `pid`, children first found first."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        # The command name may hold spaces and parentheses: fields follow the last ")".
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        below = [p for p, pp in parents.items() if pp in frontier]
        found += below
        frontier = below
    return found


def expire(nodeid, seconds, capture):
    if capture is not None:
        capture.suspend_global_capture(in_=True)  # else the stacks go to the test's captured output, lost
    sys.stderr.write(f"\n{'+' * 20} {nodeid} ran over {seconds:g} s (SLUICE_TEST_TIMEOUT_S): "
                     f"the stacks of every thread, then this test process ends {'+' * 20}\n")
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    sys.stderr.flush()
    os._exit(1)


class Watchdog:
    """Armed for one test by the conftest's autouse fixture, disarmed at its end."""

    def __init__(self, nodeid, seconds, capture=None):
        """`capture`: pytest's capture manager, suspended before the stacks are written."""
        self.seconds = seconds
        self.timer = threading.Timer(seconds, expire, (nodeid, seconds, capture))
        self.timer.daemon = True

    def __enter__(self):
        if self.seconds > 0:
            self.timer.start()
            faulthandler.dump_traceback_later(self.seconds + GRACE_S, exit=True)
        return self

    def __exit__(self, *exc):
        if self.seconds > 0:
            self.timer.cancel()
            faulthandler.cancel_dump_traceback_later()
        return False


@pytest.fixture(autouse=True)
def time_limit(request):
    """Set up first and torn down last, so the limit covers the test's other
    fixtures too (a broker's shutdown, a client's close)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with Watchdog(request.node.nodeid, limit_s(), capture):
        yield


def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, without running a test that crashed its worker again.

    pytest-xdist 3.1 (Debian bookworm's) puts a crashed worker's whole
    unfinished file back in the queue, the test it was running included: a
    test the watchdog ended would hang again on the next worker, and on the
    next, until --max-worker-restart. This scheduler marks that test done
    first (xdist reports it as failed); the rest of its file still runs."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LoadFileSkippingCrashed(LoadFileScheduling):
        def remove_node(self, node):
            workload = self.assigned_work.pop(node)
            crashed = next((nodeid for unit in workload.values()
                            for nodeid, completed in unit.items() if not completed), None)
            if crashed is None:
                return None
            for unit in workload.values():
                if crashed in unit:
                    unit[crashed] = True
            self.workqueue.update({scope: unit for scope, unit in workload.items()
                                   if not all(unit.values())})
            for other in self.assigned_work:
                self._reschedule(other)
            return crashed

    return LoadFileSkippingCrashed(config, log)
