"""The per-test time limit (watchdog.py) on a file of stand-in tests run by
a pytest of their own, as the cluster tier runs (two xdist workers, files
kept together)."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

HANGING = '''
import os, subprocess, time

def test_hangs():
    child = subprocess.Popen(["sleep", "600"])
    with open(os.environ["CHILD_PID_FILE"], "w") as f:
        f.write(str(child.pid))
    time.sleep(600)

def test_after_the_hang():
    pass
'''


def run_pytest(tmp_path, *args):
    (tmp_path / "test_stand_in.py").write_text(HANGING)
    env = dict(os.environ, SLUICE_TEST_TIMEOUT_S="3", CHILD_PID_FILE=str(tmp_path / "child.pid"),
               PYTHONPATH=os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "watchdog", "--basetemp", str(tmp_path / "base"), *args,
                           str(tmp_path / "test_stand_in.py")],
                          cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=120)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_hung_test_fails_with_its_stacks_and_the_rest_runs(tmp_path):
    p = run_pytest(tmp_path, "-n", "2", "--dist", "loadfile")
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 1, out
    assert "test_hangs ran over 3 s (SLUICE_TEST_TIMEOUT_S)" in out, out
    assert 'line 8 in test_hangs' in out, out  # the hung thread's stack
    assert "worker 'gw" in out and "crashed while running 'test_stand_in.py::test_hangs'" in out, out
    # Once, not again on every new worker; the rest of the file ran.
    assert out.count("ran over 3 s") == 1, out
    assert "1 failed, 1 passed" in out, out
    pid = int((tmp_path / "child.pid").read_text())
    assert not alive(pid), "the hung test's child process was left running"


def test_no_limit_when_zero(tmp_path):
    (tmp_path / "test_stand_in.py").write_text("import time\n\ndef test_slow():\n"
                                                "    time.sleep(4)\n")
    env = dict(os.environ, SLUICE_TEST_TIMEOUT_S="0", PYTHONPATH=HERE)
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                        "watchdog", str(tmp_path / "test_stand_in.py")], cwd=tmp_path, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert p.returncode == 0 and "1 passed" in p.stdout.decode(), p.stdout.decode()
