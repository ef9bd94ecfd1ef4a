"""Docker tier: builds the Sluice image as a user would and runs it.

Skipped, with the reason printed, only when no Docker engine answers; under
CI=true tools/dev counts any skip as a failure, so CI cannot pass without it."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = os.environ.get("SLUICE_TEST_IMAGE", "sluice:test")


def docker(*args, check=True, timeout=120, **kw):
    return subprocess.run(["docker", *args], check=check, timeout=timeout, text=True,
                          capture_output=True, **kw)


def engine_problem():
    try:
        info = docker("info", check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"docker unavailable: {e}"
    if info.returncode != 0:
        return "no Docker engine answers: " + (info.stderr.strip().splitlines() or ["?"])[-1]
    return None


def pytest_collection_modifyitems(config, items):
    problem = engine_problem()
    if problem:
        marker = pytest.mark.skip(reason=problem)
        for item in items:
            item.add_marker(marker)


@pytest.fixture(scope="session")
def base_image():
    """Debian bookworm: the official image, or one made locally with debootstrap
    when no registry answers (deploy/docker/base-image)."""
    return subprocess.run([os.path.join(ROOT, "deploy/docker/base-image")], check=True,
                          text=True, capture_output=True, timeout=900).stdout.strip()


@pytest.fixture(scope="session")
def sluice_image(base_image):
    """The image built from this checkout: the Debian package (deploy/debian)
    built in one stage and installed with apt in a clean base_image."""
    base = base_image
    build = subprocess.run(["docker", "build", "-q", "-f", "deploy/docker/Dockerfile",
                            "--build-arg", f"BASE_IMAGE={base}", "-t", IMAGE, "."], cwd=ROOT,
                           text=True, capture_output=True, timeout=1800)
    assert build.returncode == 0, build.stderr[-4000:]
    return IMAGE
