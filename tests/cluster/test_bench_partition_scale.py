"""tools/bench/partition_scale's arguments: a --broker-env that would be
silently ignored (its label names no --build) is refused before any cluster
starts, as is a malformed one."""

import os
import subprocess

from sluicetest import ROOT

SCRIPT = os.path.join(ROOT, "tools", "bench", "partition_scale")


def run_script(*args):
    return subprocess.run(["/usr/bin/python3", SCRIPT, *args], capture_output=True, text=True,
                          timeout=60)


def test_broker_env_for_an_unknown_build_is_refused():
    p = run_script("--build", "4k=build", "--broker-env", "huge=GLIBC_TUNABLES=x")
    assert p.returncode == 2, p
    assert "--broker-env for huge: no --build has that label (builds: 4k)" in p.stderr
    assert p.stdout == ""  # no table begun


def test_malformed_broker_env_is_refused():
    p = run_script("--build", "4k=build", "--broker-env", "4k=NOVALUE")
    assert p.returncode == 2, p
    assert "expected LABEL=KEY=VALUE" in p.stderr
