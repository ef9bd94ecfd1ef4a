"""sluice-cold-touch (tools/bench/cold_touch.c), the control load of partition_scale
--cold-memory-control: it holds the memory it is asked for, resident, keeps writing pages of
it at the asked rate until told to stop, and refuses arguments that are not a size and a
rate."""

import re
import signal
import subprocess
import time

import pytest

from sluicetest import binary, run


def resident_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


def test_holds_its_memory_and_writes_at_its_rate():
    mib, rate = 32, 20000
    p = subprocess.Popen([binary("tools", "bench", "sluice-cold-touch"), str(mib), str(rate)],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == f"touching {mib * 256} pages"
        assert resident_kib(p.pid) >= mib * 1024  # every page written before it says so
        start = time.monotonic()
        time.sleep(1.0)
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    elapsed = time.monotonic() - start
    assert p.returncode == 0
    touched = int(re.fullmatch(r"touched (\d+) pages\n", out).group(1))
    # paced by absolute deadlines: never ahead of the rate (a late wake-up only lags it)
    assert 0 < touched <= rate * (elapsed + 0.1)


@pytest.mark.parametrize("args", [[], ["16"], ["0", "100"], ["16", "0"], ["-1", "100"],
                                  ["16", "abc"], ["16", "100x"], ["65537", "100"],
                                  ["16", "10000001"], ["16", "100", "7"]])
def test_refuses_what_is_not_a_size_and_a_rate(args):
    p = run([binary("tools", "bench", "sluice-cold-touch")] + args, timeout=30, check=False)
    assert p.returncode == 2
    assert b"usage: sluice-cold-touch MIB PAGES_PER_S" in p.stderr
    assert p.stdout == b""
