"""Helpers for the real-process tier: real `sluiced` processes on loopback.

Every broker gets its own temporary data directory and a free loopback port
(below the ephemeral range, checked by binding), logs to a file, and is
stopped at the end of the test (see conftest.py). Every wait and every
client run here has a timeout.

Binaries come from $SLUICE_BUILD_DIR (set by tools/dev), default <repo>/build.
"""

import os
import resource
import random
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("SLUICE_BUILD_DIR", os.path.join(ROOT, "build")))

# Upper bounds: the tier must finish in minutes on a 2-core machine.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0

# The daemon logs "... INFO  [sluiced] ready ..." once it serves requests.
READY_RE = re.compile(r"\[sluiced\] ready\b")


def binary(*parts):
    """Path of a built artefact, e.g. binary("sluiced", "sluiced"); fails if absent."""
    path = os.path.join(BUILD_DIR, *parts)
    if not os.path.exists(path):
        pytest.fail(f"{path} not built (run ninja -C {BUILD_DIR})")
    return path


def _listen_port_range():
    """Ports for test listeners: below the kernel's ephemeral range, so no
    outgoing connection holds one when a node restarts on it (a client that
    keeps reconnecting to a stopped node's ephemeral port can even end up
    connected to itself on that very port)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low > 12000:
        return 10000, low - 2
    return high + 1, 65000


def _worker_slice(low, high):
    """This pytest process's share of [low, high]: with pytest-xdist's workers
    (tools/dev runs the tier with several) each takes its own slice, so two
    workers never hand out the same port; alone, all of it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    try:
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        index = int(worker.lstrip("gw")) if worker else 0
    except ValueError:
        return low, high
    if count <= 1 or not 0 <= index < count:
        return low, high
    width = (high - low + 1) // count
    # The last port of a slice may be the first of a pair (CONTROLLER + 1).
    return low + index * width, low + (index + 1) * width - 2


_RANDOM = random.SystemRandom()
# Ports this test process has handed out: a node binds its ports only when it
# starts, so a later pick (another listener of the same cluster, or raft's
# CONTROLLER + 1) must not land on one that is still free but already taken.
_HANDED_OUT = set()


def free_port(pair=False):
    """A loopback port nobody listens on right now and this process has not
    handed out before, outside the ephemeral range; with pair, its successor
    is free too (raft uses CONTROLLER + 1)."""
    low, high = _worker_slice(*_listen_port_range())
    for _ in range(200):
        port = _RANDOM.randint(low, high)
        wanted = (port, port + 1) if pair else (port,)
        if any(p in _HANDED_OUT for p in wanted):
            continue
        socks = []
        try:
            for p in wanted:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            _HANDED_OUT.update(wanted)
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError(f"no free port in {low}-{high}")


def recv_exact(s, n):
    """Exactly n bytes from socket s; ConnectionError if the peer closes first."""
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def api_versions_ok(host, port, timeout=1.0):
    """True if host:port answers an ApiVersions v0 request with error_code 0.

    Request header v1: api_key=18, api_version=0, correlation_id, client_id.
    Response v0: correlation_id, error_code, [api_key, min, max]."""
    corr = 0x51C3
    client = b"sluice-test"
    body = struct.pack(">hhih", 18, 0, corr, len(client)) + client
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(s, 4)
            (size,) = struct.unpack(">i", head)
            if size < 6 or size > 1 << 20:
                return False
            resp = _recv_exact(s, size)
    except OSError:
        return False
    got_corr, err = struct.unpack(">ih", resp[:6])
    return got_corr == corr and err == 0


def _recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


class Broker:
    """One sluiced process. start(), stop() (SIGTERM), kill() (SIGKILL), restart().

    On its own it is a single node: both roles and a one-voter controller
    quorum (process.roles=broker,controller, as in KRaft), the CONTROLLER
    listener on `controller` ("127.0.0.1:port"; raft uses port + 1). The data
    directory and ports survive restarts, so a restarted broker recovers what
    the previous process wrote (its topics from the quorum's raft log)."""

    def __init__(self, workdir, node_id=1, overrides=None, name="broker", host="127.0.0.1",
                 netns=None):
        self.workdir = workdir
        # The address every listener binds to, and the network namespace
        # (`ip netns`) the process runs in, if any (netns.py).
        self.host = host
        self.netns = netns
        self.name = name
        self.node_id = node_id
        self.port = free_port()
        self.controller_port = free_port(pair=True)
        self.controller = f"{host}:{self.controller_port}"
        self.data_dir = os.path.join(workdir, f"{name}-data")
        self.config_path = os.path.join(workdir, f"{name}.properties")
        self.overrides = dict(overrides or {})
        self.proc = None
        self.log_paths = []
        self.starts = 0
        # Added to the process environment (e.g. LD_PRELOAD for a fault shim).
        self.extra_env = {}
        # Another sluiced binary to run instead of this build's (an earlier
        # version: test_rolling_upgrade.py), or None.
        self.sluiced = None
        # (soft, hard) RLIMIT_NOFILE for the process, or None to inherit ours.
        self.nofile = None
        self._write_config()

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    def _write_config(self):
        listener = f"PLAINTEXT://{self.host}:{self.port}"
        lines = [
            f"node.id={self.node_id}",
            "process.roles=broker,controller",
            f"listeners={listener},CONTROLLER://{self.controller}",
            f"advertised.listeners={listener}",
            "controller.listener.names=CONTROLLER",
            f"controller.quorum.voters={self.node_id}@{self.controller}",
            # After a SIGKILL the restarted broker may register only once the
            # old incarnation's session has lapsed (KIP-631; a clean stop
            # fences it, so no wait): 3 s instead of Kafka's 9 s, as Cluster.
            "broker.heartbeat.interval.ms=500",
            "broker.session.timeout.ms=3000",
            f"log.dirs={self.data_dir}",
            "num.partitions=1",
            "default.replication.factor=1",
        ]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def command(self):
        cmd = [self.sluiced or binary("sluiced", "sluiced"), self.config_path]
        if self.netns is not None:  # ip execs the daemon: its pid stays the broker's
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        for key, value in self.overrides.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    def start(self, wait_kafka=True, timeout=START_TIMEOUT):
        """Start the process and wait until it logs "ready" and, with
        wait_kafka, answers ApiVersions on its listener."""
        self.spawn()
        return self.wait_ready(wait_kafka=wait_kafka, timeout=timeout)

    def spawn(self):
        """Start the process without waiting for it (see wait_ready)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log_path = os.path.join(self.workdir, f"{self.name}.{self.starts}.log")
        self.log_paths.append(log_path)
        self._log = open(log_path, "wb")
        # SLUICE_<KEY> variables would override the config: keep the caller's out.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        env.update(self.extra_env)
        limits = self.nofile

        def set_limits():
            if limits is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, limits)

        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, preexec_fn=set_limits)
        return self

    def wait_ready(self, wait_kafka=True, timeout=START_TIMEOUT):
        """Wait until the process logs "ready" and, with wait_kafka, answers
        ApiVersions on its listener."""
        deadline = time.monotonic() + timeout
        while not READY_RE.search(self.log_text()):
            self._check_alive_before(deadline, "log a ready line")
            time.sleep(0.02)
        while wait_kafka and not api_versions_ok(self.host, self.port):
            self._check_alive_before(deadline, f"answer ApiVersions on {self.bootstrap}")
            time.sleep(0.05)
        return self

    def _check_alive_before(self, deadline, what):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode} before it "
                                 f"would {what}:\n{self.log_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{self.name} did not {what} within the timeout:\n"
                                 f"{self.log_text()}")

    def log_text(self):
        """Everything the current (or last) process wrote."""
        if not self.log_paths:
            return ""
        with open(self.log_paths[-1], "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM; returns the exit status (0 is a clean shutdown)."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self):
        """SIGKILL: no chance to flush or close anything."""
        return self._signal(signal.SIGKILL, STOP_TIMEOUT)

    def _signal(self, sig, timeout):
        assert self.running(), f"{self.name} is not running"
        self.proc.send_signal(sig)
        return self._wait_exit(sig, timeout)

    def _wait_exit(self, sig, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} ignored {sig.name} for {timeout}s:\n"
                                 f"{self.log_text()}")
        finally:
            self._log.close()
        return rc

    def restart(self, **kwargs):
        """Clean stop (asserting exit 0), then start on the same directory."""
        rc = self.stop()
        assert rc == 0, f"unclean shutdown rc={rc}:\n{self.log_text()}"
        return self.start(**kwargs)


class ExternalBroker:
    """A broker someone else runs (SLUICE_TEST_BOOTSTRAP=host:port), used to
    check the client tests themselves against another Kafka implementation.
    Tests that need to control the process or its config are skipped."""

    name = "external"
    log_paths = []

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap

    def running(self):
        return True

    def __getattr__(self, attr):
        pytest.skip(f"needs a sluiced process it controls ({attr})")


class BrokerFactory:
    """Creates brokers for one test and cleans them up afterwards."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.brokers = []
        self.external = os.environ.get("SLUICE_TEST_BOOTSTRAP")

    def __call__(self, start=True, wait_kafka=True, **kwargs):
        if self.external:
            if not start or not wait_kafka or kwargs:
                pytest.skip("needs a sluiced process it controls")
            return ExternalBroker(self.external)
        kwargs.setdefault("name", f"broker{len(self.brokers) + 1}")
        b = Broker(str(self.tmp_path), **kwargs)
        self.brokers.append(b)
        if start:
            b.start(wait_kafka=wait_kafka)
        return b

    def log_report(self, tail=200):
        out = []
        for b in self.brokers:
            for path in b.log_paths:
                with open(path, "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()
                out.append(f"--- {path} (last {tail} lines) ---")
                out.extend(lines[-tail:])
        return "\n".join(out)

    def shutdown(self):
        """Stop whatever still runs, all at once (SIGTERM to each, then wait:
        one signal only, a second one would cut a clean shutdown short); a
        broker that does not exit 0 fails the test."""
        problems = []
        running = [b for b in self.brokers if b.running()]
        for b in running:
            b.proc.send_signal(signal.SIGTERM)
        for b in running:
            try:
                rc = b._wait_exit(signal.SIGTERM, STOP_TIMEOUT)
            except AssertionError as e:
                problems.append(str(e))
                continue
            if rc != 0:
                problems.append(f"{b.name} exited {rc} on SIGTERM")
        return problems


def run(cmd, timeout=60, input=None, check=True):
    """Run a client tool with a bound; its output is shown if it fails."""
    try:
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"timed out after {timeout}s: {cmd}\nstdout: {e.stdout!r}\n"
                             f"stderr: {e.stderr!r}")
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {cmd}\nstdout: {p.stdout[-4000:]!r}\n"
                             f"stderr: {p.stderr[-4000:]!r}")
    return p


def run_refused(cmd, refused, timeout=60):
    """Run a client that should be refused and stop it once refused(stderr)
    holds. kcat retries a refused connection until its own metadata timeout
    (-m) runs out; waiting that out cost 15 s a client. Returns the
    CompletedProcess (returncode -9 when it was stopped); it fails if
    the client exits 0 or nothing shows the refusal within timeout."""
    with tempfile.TemporaryDirectory() as d:
        out_path, err_path = os.path.join(d, "out"), os.path.join(d, "err")

        def stderr():
            with open(err_path, "rb") as f:
                return f.read()

        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None and not refused(stderr()):
                if time.monotonic() > deadline:
                    raise AssertionError(f"not refused within {timeout}s: {cmd}")
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                proc.kill()  # kcat finishes its metadata wait on SIGTERM
            proc.wait()
        with open(out_path, "rb") as f:
            p = subprocess.CompletedProcess(cmd, proc.returncode, f.read(), stderr())
    assert p.returncode != 0, f"{cmd} succeeded:\n{p.stdout[-2000:]!r}"
    assert refused(p.stderr), f"{cmd} was not refused:\n{p.stderr[-4000:]!r}"
    return p


def unique_topic(request, suffix=""):
    """A topic name derived from the test name, legal under Kafka's rules."""
    name = re.sub(r"[^a-zA-Z0-9._-]", "-", request.node.name)
    return (name + suffix)[:200]
