"""Go clients (Go modules, tests/go): franz-go (produce with the client's
defaults, consume, admin) and sarama (metadata, admin create/delete, produce
and consume with every codec it offers). The Go test binary is built once per
session; each Go test runs as its own pytest test against a fresh broker. A
missing or too old `go` fails, never skips."""

import glob
import os
import re

import pytest

from conftest import GO_DIR, run_go_test

GO_TESTS = ["TestAdminCreateDeleteTopic", "TestProduceConsumeWithDefaults",
            "TestOffsetForLeaderEpoch", "TestFetchDivergingEpoch", "TestSaramaMetadata",
            "TestSaramaAdminCreateDeleteTopic", "TestSaramaProduceConsumeCodecs",
            "TestConsumerGroupResumes", "TestSaramaConsumerGroupResumes",
            "TestKafkaGoConsumerGroupResumes", "TestSaramaIdempotentProducer",
            "TestElectPreferredLeaders"]


# Go tests another cluster test runs (against a cluster it controls).
GO_TESTS_RUN_ELSEWHERE = {"TestFailoverClient": "test_client_failover.py",
                          "TestFranzSecure": "test_security_go.py",
                          "TestSaramaSecure": "test_security_go.py",
                          "TestIncrementalFetchManyPartitions": "test_fetch_sessions.py",
                          "TestDescribeLogDirs": "test_log_dir_failure.py",
                          "TestListReassignmentsInProgress": "test_partition_moves.py",
                          "TestFranzTransactions": "test_transactions_e2e.py",
                          "TestSaramaTransactions": "test_transactions_e2e.py",
                          "TestFranzGroupTransactSession": "test_transactions_e2e.py",
                          "TestAclMatrix": "test_acl_matrix.py",
                          "TestAclFetchSessionReauthorized": "test_acl_matrix.py",
                          "TestFranzReauthenticates": "test_reauth.py",
                          "TestDeleteRecordsLowWatermark": "test_delete_records_replicas.py"}


def test_every_go_test_is_run():
    """A Go test added to tests/go but neither to GO_TESTS nor run by
    another cluster test would never run."""
    found = set()
    for path in glob.glob(os.path.join(GO_DIR, "*_test.go")):
        with open(path) as f:
            found.update(re.findall(r"^func (Test\w+)\(t \*testing\.T\)", f.read(), re.M))
    listed = set(GO_TESTS) | set(GO_TESTS_RUN_ELSEWHERE)
    assert found == listed, f"tests/go has {sorted(found)}, GO_TESTS runs {GO_TESTS}"
    for name, test_file in GO_TESTS_RUN_ELSEWHERE.items():
        with open(os.path.join(os.path.dirname(__file__), test_file)) as f:
            assert name in f.read(), f"{test_file} does not run {name}"


@pytest.mark.parametrize("name", GO_TESTS)
def test_franz_go(broker, franz_test_binary, name):
    env = dict(os.environ, SLUICE_BOOTSTRAP=broker.bootstrap)
    run_go_test(franz_test_binary, name, env)
