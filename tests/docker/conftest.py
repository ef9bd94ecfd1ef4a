"""Docker tier: builds the Sluice image as a user would and runs it.

Skipped, with the reason printed, only when no Docker engine answers; under
CI=true tools/dev counts any skip as a failure, so CI cannot pass without it."""
import os
import shutil
import signal
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = os.environ.get("SLUICE_TEST_IMAGE", "sluice:test")
BUILD_DIR = os.path.abspath(os.environ.get("SLUICE_BUILD_DIR", os.path.join(ROOT, "build")))
# The image's build context: deploy/docker/Dockerfile, the control files its
# "deb" stage copies and the package built on the host (SLUICE_DEB). What
# docker-compose.yml builds from when these are set, so deploy/docker/up finds
# the image sluice_image built in the layer cache.
CONTEXT = os.path.join(BUILD_DIR, "docker-context")
BUILD_ENV = {"SLUICE_BUILD_CONTEXT": CONTEXT, "SLUICE_DEB": "sluice.deb"}


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
    """Debian bookworm: the official image, or one made locally with mmdebstrap
    when no registry answers (deploy/docker/base-image)."""
    base = subprocess.run([os.path.join(ROOT, "deploy/docker/base-image")], text=True,
                          capture_output=True, timeout=1800)
    assert base.returncode == 0, base.stderr[-4000:]
    return base.stdout.strip()


@pytest.fixture(scope="session")
def sluice_image(request):
    """The image built from this checkout: the Debian package (deploy/debian),
    built on the host by deploy/debian/build-deb while base_image is made,
    installed with apt in a clean base_image by deploy/docker/Dockerfile.
    (`docker build` from the checkout builds the package in the Dockerfile's
    "deb" stage instead: the same dpkg-buildpackage, in a container with the
    build dependencies.)"""
    build_deb = subprocess.Popen([os.path.join(ROOT, "deploy/debian/build-deb"),
                                  os.path.join(BUILD_DIR, "deb")], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True)
    try:
        base = request.getfixturevalue("base_image")
        out, err = build_deb.communicate(timeout=1800)
    finally:
        if build_deb.poll() is None:  # base_image failed: stop dpkg-buildpackage too
            os.killpg(build_deb.pid, signal.SIGKILL)
            build_deb.wait()
    assert build_deb.returncode == 0, err[-4000:]
    shutil.rmtree(CONTEXT, ignore_errors=True)
    for path in ("deploy/docker/Dockerfile", "deploy/debian/control", "deploy/debian/changelog"):
        os.makedirs(os.path.dirname(os.path.join(CONTEXT, path)), exist_ok=True)
        shutil.copy(os.path.join(ROOT, path), os.path.join(CONTEXT, path))
    shutil.copy(out.strip(), os.path.join(CONTEXT, BUILD_ENV["SLUICE_DEB"]))
    build = subprocess.run(["docker", "build", "-q", "-f", "deploy/docker/Dockerfile",
                            "--build-arg", f"BASE_IMAGE={base}",
                            "--build-arg", f"SLUICE_DEB={BUILD_ENV['SLUICE_DEB']}",
                            "-t", IMAGE, "."], cwd=CONTEXT, text=True, capture_output=True,
                           timeout=1800)
    assert build.returncode == 0, build.stderr[-4000:]
    return IMAGE
