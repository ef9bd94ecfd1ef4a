"""Nodes in network namespaces, so a test can cut one off the network while
its process keeps running (a real partition, not SIGSTOP).

Layout (needs root and iproute2): a "switch" namespace holding a bridge;
per node a namespace with loopback up and one veth end 10.X.Y.<i>/24 whose
other end is a bridge port; one more veth joins the test's own namespace
(10.X.Y.254) to the bridge, so the test reaches every node. The bridge lives
in a namespace of its own because the host's firewall may drop bridged
traffic (Docker sets the FORWARD policy to DROP and br_netfilter passes
bridged frames through it); a fresh namespace has no rules.

`cut(i)` takes node i's bridge port down: packets to and from it are
dropped silently, as on a failed link, while processes inside its
namespace (a client run with `ip netns exec`) still reach it. `heal(i)`
brings the port back.
"""

import itertools
import os
import subprocess

import pytest


def _ip(*args, check=True):
    p = subprocess.run(["ip", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if check and p.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {p.stderr.decode().strip()}")
    return p


_networks = itertools.count()


class Network:
    """n namespaces on one bridge; names carry this process's pid so runs in
    parallel (other worktrees) do not collide, and a per-process count, since
    the kernel frees a deleted namespace's veths later (a second Network in
    the same run would find them). Interface names stay under Linux's 15
    characters."""

    def __init__(self, n):
        k = next(_networks)
        tag = f"{os.getpid() % 100000:05d}{k % 100:02d}"
        subnet = (os.getpid() + k) % 250 + 1
        self.switch = f"sluice-{tag}-sw"
        self.namespaces = [f"sluice-{tag}-{i + 1}" for i in range(n)]
        self.ports = [f"slp{tag}{i + 1}" for i in range(n)]
        self.hosts = [f"10.213.{subnet}.{i + 1}" for i in range(n)]
        self._tag = tag
        self._gateway = f"10.213.{subnet}.254/24"

    def setup(self):
        probe = _ip("netns", "add", self.switch, check=False)
        if probe.returncode != 0:
            pytest.skip(f"network namespaces unavailable (root and iproute2 needed): "
                        f"{probe.stderr.decode().strip()}")
        sw = ("-n", self.switch)
        try:
            _ip(*sw, "link", "add", "br0", "type", "bridge")
            _ip(*sw, "link", "set", "br0", "up")
            # The test's own way in: slh<tag> here, its peer a bridge port.
            host_end = f"slh{self._tag}"
            _ip("link", "add", host_end, "type", "veth", "peer", "name", "slup",
                "netns", self.switch)
            _ip("addr", "add", self._gateway, "dev", host_end)
            _ip("link", "set", host_end, "up")
            _ip(*sw, "link", "set", "slup", "master", "br0")
            _ip(*sw, "link", "set", "slup", "up")
            for i, ns in enumerate(self.namespaces):
                _ip("netns", "add", ns)
                _ip(*sw, "link", "add", self.ports[i], "type", "veth", "peer", "name", "eth0",
                    "netns", ns)
                _ip(*sw, "link", "set", self.ports[i], "master", "br0")
                _ip(*sw, "link", "set", self.ports[i], "up")
                _ip("-n", ns, "addr", "add", f"{self.hosts[i]}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except AssertionError:
            self.teardown()
            raise
        return self

    def cut(self, i):
        _ip("-n", self.switch, "link", "set", self.ports[i], "down")

    def heal(self, i):
        _ip("-n", self.switch, "link", "set", self.ports[i], "up")

    def exec_prefix(self, i):
        """Command prefix that runs a program inside node i's namespace."""
        return ["ip", "netns", "exec", self.namespaces[i]]

    def teardown(self):
        # Deleting a namespace deletes the veth pairs with an end in it.
        for ns in self.namespaces + [self.switch]:
            _ip("netns", "del", ns, check=False)


@pytest.fixture
def network():
    """Three namespaces on a bridge, for a test module that imports this
    fixture; requested before `clusters`, so it is torn down only after the
    nodes have stopped."""
    net = Network(3).setup()
    yield net
    net.teardown()
