"""The Debian package (deploy/debian) installed with apt in a clean Debian:
that is how deploy/docker/Dockerfile makes the image, so the image is the
clean container the package is tested in. Checked here: the binaries run,
the unit and the example configuration are where systemd and an operator
look, the sluice system user owns /var/lib/sluice, and the image holds the
package, the libraries its binaries link and nothing else, runs as that user
and has a HEALTHCHECK. The image's size is printed."""
import json
import re

from conftest import ROOT, docker

BINARIES = ("/usr/bin/sluiced", "/usr/bin/sluicectl", "/usr/bin/sluice-drill")


def sh(image, script, user="root"):
    run = docker("run", "--rm", "--user", user, "--entrypoint", "sh", image, "-c", script,
                 check=False, timeout=120)
    assert run.returncode == 0, f"{script}\n{run.stdout}\n{run.stderr}"
    return run.stdout


def project_version():
    with open(f"{ROOT}/meson.build") as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def packages(image):
    """{package: (depends, installed size KiB)} of every installed package."""
    out = sh(image, "dpkg-query -W -f '${db:Status-Abbrev}\\t${Package}\\t${Pre-Depends}, "
                    "${Depends}\\t${Installed-Size}\\n'")
    pkgs = {}
    for line in out.splitlines():
        status, name, deps, size = line.split("\t")
        if status.startswith("ii"):
            pkgs[name] = (deps, int(size or 0))
    return pkgs


def dependency_names(field, installed):
    """The installed package each dependency in a Depends field resolves to."""
    names = set()
    for dep in field.split(","):
        for alt in dep.split("|"):
            name = alt.strip().split(" ")[0].split(":")[0]
            if name in installed:
                names.add(name)
                break
    return names


def test_package_installs_binaries_unit_config_and_user(sluice_image):
    out = sh(sluice_image, "dpkg-query -W -f '${Version}\\n' sluice")
    assert out.strip() == project_version()
    files = set(sh(sluice_image, "dpkg -L sluice").split())
    for path in BINARIES + ("/etc/sluice/server.properties", "/usr/share/doc/sluice/HOSTS.md",
                            "/usr/share/doc/sluice/examples/host1.properties",
                            "/usr/share/doc/sluice/examples/broker4.properties"):
        assert path in files, f"{path} not in the package: {sorted(files)}"
    units = [f for f in files if f.endswith("/systemd/system/sluiced.service")]
    assert units, f"no sluiced.service in the package: {sorted(files)}"
    conffiles = sh(sluice_image, "dpkg-query -W -f '${Conffiles}\\n' sluice")
    assert "/etc/sluice/server.properties" in conffiles

    # The binaries run as the service user, every library they link is present.
    sh(sluice_image, "sluiced --version && sluicectl --version", user="sluice")
    assert "usage: sluice-drill" in sh(sluice_image, "sluice-drill --help 2>&1 || true",
                                       user="sluice")
    ldd = sh(sluice_image, " && ".join(f"ldd {b}" for b in BINARIES))
    assert "not found" not in ldd, ldd

    # The unit runs the installed binary as the sluice user on /var/lib/sluice,
    # and is not enabled: the example configuration is a single-node cluster.
    unit = sh(sluice_image, f"cat {units[0]}")
    assert "ExecStart=/usr/bin/sluiced /etc/sluice/server.properties" in unit
    assert "User=sluice" in unit and "ReadWritePaths=/var/lib/sluice" in unit
    assert "Type=notify" in unit and "Restart=on-failure" in unit
    enabled = sh(sluice_image, "ls /etc/systemd/system/*.wants/ 2>/dev/null || true")
    assert "sluiced.service" not in enabled

    # A system user without a login, owning the data directory; the
    # configuration is readable by the service and root only.
    user = sh(sluice_image, "getent passwd sluice").strip().split(":")
    assert 0 < int(user[2]) < 1000, user
    assert user[5] == "/var/lib/sluice" and user[6] == "/usr/sbin/nologin", user
    assert sh(sluice_image, "stat -c '%U:%G %a' /var/lib/sluice").strip() == "sluice:sluice 750"
    assert sh(sluice_image, "stat -c '%U:%G %a' /etc/sluice/server.properties").strip() == \
        "root:sluice 640"
    assert "log.dirs=/var/lib/sluice/data" in sh(sluice_image, "cat /etc/sluice/server.properties",
                                                 user="sluice")


def test_image_holds_only_what_the_binaries_link(sluice_image, base_image, capsys):
    base = packages(base_image)
    image = packages(sluice_image)
    added = set(image) - set(base)
    assert "sluice" in added

    # The packages owning the libraries the binaries load, and what they need.
    libs = set(re.findall(r"=> (/\S+)", sh(sluice_image, " ; ".join(f"ldd {b}"
                                                                       for b in BINARIES))))
    owners = sh(sluice_image, "for l in " + " ".join(sorted(libs)) +
                "; do dpkg -S \"$(readlink -f $l)\" 2>/dev/null || dpkg -S $l; done")
    linked = {line.split(":")[0] for line in owners.splitlines()}
    needed, todo = set(), set(linked)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        todo |= dependency_names(image[name][0], image) - needed

    extra = added - needed - {"sluice"}
    assert not extra, f"installed beyond what the binaries link: {sorted(extra)}"
    direct = dependency_names(image["sluice"][0], image) - {"libc6", "passwd"}
    assert direct <= linked, f"sluice depends on unlinked {sorted(direct - linked)}"
    manual = set(sh(sluice_image, "apt-mark showmanual").split()) - \
        set(sh(base_image, "apt-mark showmanual").split())
    assert manual == {"sluice"}, manual

    config = json.loads(docker("image", "inspect", sluice_image).stdout)[0]
    assert config["Config"]["User"] == "sluice"
    run = docker("run", "--rm", "--entrypoint", "id", sluice_image, "-u")
    assert run.stdout.strip() != "0"
    health = config["Config"]["Healthcheck"]["Test"]
    assert "sluicectl" in health and "status" in health, health

    size = config["Size"]
    base_size = json.loads(docker("image", "inspect", base_image).stdout)[0]["Size"]
    report = [f"image {sluice_image}: {size / 1e6:.1f} MB; base {base_image} "
              f"{base_size / 1e6:.1f} MB; added {(size - base_size) / 1e6:.1f} MB in "
              f"{len(added)} packages:"]
    report += [f"  {image[n][1]:>7} KiB  {n}" for n in sorted(added, key=lambda n: -image[n][1])]
    with capsys.disabled():  # the size is part of every run's output
        print("\n" + "\n".join(report))
