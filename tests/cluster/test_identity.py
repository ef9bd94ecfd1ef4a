"""Cluster identity (issue 13): each log dir's meta.properties records the
cluster id the controller quorum gave it, and a process whose data belongs
to another cluster stops with a clear error instead of serving or deleting
that data."""
import base64
import os
import shutil

from clustertest import wait_until
from sluicetest import binary, run

METADATA_SUBDIR = "__cluster_metadata-0"


def meta_properties(node):
    with open(os.path.join(node.data_dir, "meta.properties")) as f:
        return dict(line.strip().split("=", 1) for line in f
                    if "=" in line and not line.startswith("#"))


def test_data_from_another_cluster_stops_the_process(clusters):
    c = clusters(1)
    node = c[0]
    cluster_id = c.status()["cluster_id"]
    assert cluster_id
    meta = wait_until(lambda: (lambda m: m if "cluster.id" in m else None)(meta_properties(node)),
                      10, "cluster.id in meta.properties")
    assert meta["cluster.id"] == cluster_id
    assert meta["node.id"] == "1"

    # Same data, same quorum: a restart keeps the identity.
    assert node.stop() == 0
    c.start()
    assert c.status()["cluster_id"] == cluster_id

    # A fresh quorum (its raft log gone) is a new cluster with a new id;
    # the broker's partition data still belongs to the old one.
    assert node.stop() == 0
    shutil.rmtree(os.path.join(node.data_dir, METADATA_SUBDIR))
    node.spawn()
    try:
        rc = node.proc.wait(timeout=60)
    finally:
        node._log.close()
    assert rc == 1, node.log_text()
    log = node.log_text()
    assert f"belongs to cluster.id={cluster_id}" in log, log
    assert "from another cluster" in log
    assert meta_properties(node)["cluster.id"] == cluster_id  # left as it was


def test_random_uuid_names_a_new_cluster(clusters):
    """`sluicectl storage random-uuid` (kafka-storage.sh random-uuid): 16
    random bytes in base64url without padding, never starting with '-', and
    a node configured with it reports it as the cluster id."""
    ids = set()
    for _ in range(20):
        p = run([binary("tools", "sluicectl", "sluicectl"), "storage", "random-uuid"], timeout=30)
        text = p.stdout.decode().strip()
        assert len(text) == 22 and not text.startswith("-"), text
        assert len(base64.urlsafe_b64decode(text + "==")) == 16
        assert base64.urlsafe_b64encode(base64.urlsafe_b64decode(text + "==")).decode() \
            .rstrip("=") == text
        ids.add(text)
    assert len(ids) == 20
    cluster_id = sorted(ids)[0]
    c = clusters(1, overrides={"cluster.id": cluster_id})
    assert c.status()["cluster_id"] == cluster_id
    usage = run([binary("tools", "sluicectl", "sluicectl"), "storage"], timeout=30, check=False)
    assert usage.returncode == 2 and b"random-uuid" in usage.stderr
    helped = run([binary("tools", "sluicectl", "sluicectl"), "storage", "--help"], timeout=30)
    assert helped.returncode == 0 and b"random-uuid" in helped.stdout
