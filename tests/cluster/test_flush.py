"""The flush guarantee (README, "Status and promises"): on a topic with
flush.messages=1 an acknowledgement waits for the fsync that setting calls
for, and a failed fsync is never acknowledged as a success, nor is anything
after it on that log until the log is reopened.

sluiced runs with tests/clients/fsync_shim.so preloaded: fsyncs of the topic's
partition files can be held (blocked) or made to fail, and each one reports
when it starts and returns (see fsync_shim.c). The checks are about order,
not time: while the fsync is held no acknowledgement arrives; when it arrives
the fsync has returned; a topic without flush.messages is acknowledged while
its neighbour's fsync is held."""

import os

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from sluicetest import binary

FLUSHED = "flushed"  # flush.messages=1: every acknowledgement waits for an fsync
LAZY = "lazy"        # Kafka's defaults: acknowledged from the page cache


def lines(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


@pytest.fixture
def shimmed(brokers, tmp_path):
    """A broker whose fsyncs of the FLUSHED topic's files the test steers;
    both topics created."""
    control = tmp_path / "fsync-control"
    control.mkdir()
    b = brokers(start=False)
    b.extra_env = {"LD_PRELOAD": binary("tests", "clients", "fsync_shim.so"),
                   "FSYNC_SHIM_MATCH": f"/{FLUSHED}-0", "FSYNC_SHIM_DIR": str(control)}
    b.start()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    futures = admin.create_topics([NewTopic(FLUSHED, 1, 1, config={"flush.messages": "1"}),
                                   NewTopic(LAZY, 1, 1)], operation_timeout=30)
    for f in futures.values():
        f.result(timeout=30)
    yield b, control
    # Release any held or failing fsync, so the broker can shut down cleanly.
    for name in ("hold", "fail"):
        if (control / name).exists():
            os.unlink(control / name)


def producer(broker, **extra):
    conf = {"bootstrap.servers": broker.bootstrap, "acks": 1, "linger.ms": 0,
            "enable.idempotence": False}
    conf.update(extra)
    return Producer(conf)


def produce_one(p, topic, value, reports):
    p.produce(topic, value=value, partition=0,
              on_delivery=lambda err, msg: reports.append((err, msg.offset(), topic)))


def wait_for(p, cond, what, timeout=30.0):
    """Serve delivery reports until cond() holds."""
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        p.poll(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_ack_waits_for_the_fsync(shimmed):
    broker, control = shimmed
    p = producer(broker)
    reports = []
    # Warm up: metadata known, a first record acknowledged through a real fsync.
    produce_one(p, FLUSHED, b"first", reports)
    assert p.flush(30) == 0 and reports[0][0] is None, reports
    assert lines(control / "done") >= 1, "the acknowledgement came without any fsync"

    (control / "hold").touch()
    entered = lines(control / "entered")
    produce_one(p, FLUSHED, b"held", reports)
    wait_for(p, lambda: lines(control / "entered") > entered, "the broker to start an fsync")
    done = lines(control / "done")
    # The fsync is blocked: the record is written but must not be acknowledged.
    # A topic without flush.messages on the same broker is, meanwhile (from
    # another connection: a connection's responses keep the requests' order).
    other, lazy = producer(broker), []
    produce_one(other, LAZY, b"lazy", lazy)
    assert other.flush(30) == 0 and lazy == [(None, 0, LAZY)], lazy
    assert not any(r[2] == FLUSHED and r[1] == 1 for r in reports), \
        "acknowledged while its fsync was still held"
    # A further second of serving reports: the held record is still pending.
    assert p.flush(1.0) == 1, reports
    assert not any(r[2] == FLUSHED and r[1] == 1 for r in reports), reports
    assert lines(control / "done") == done, "the held fsync returned while held"

    os.unlink(control / "hold")
    assert p.flush(30) == 0, "no acknowledgement after the fsync was released"
    # The shim appended "done" before the fsync returned to sluiced: an
    # acknowledgement now seen came after it.
    assert lines(control / "done") > done
    flushed = [r for r in reports if r[2] == FLUSHED]
    assert [(r[0], r[1]) for r in flushed] == [(None, 0), (None, 1)], flushed


def test_failed_fsync_is_not_acknowledged(shimmed):
    broker, control = shimmed
    # No retries: the broker's answer reaches the delivery report as it is.
    p = producer(broker, retries=0)
    reports = []
    produce_one(p, FLUSHED, b"first", reports)
    assert p.flush(30) == 0 and reports == [(None, 0, FLUSHED)], reports

    (control / "fail").touch()
    produce_one(p, FLUSHED, b"lost?", reports)
    assert p.flush(30) == 0
    err = reports[1][0]
    assert err is not None and err.code() == KafkaError.KAFKA_STORAGE_ERROR, reports
    assert lines(control / "entered") >= 2

    # The kernel may have dropped the pages that fsync failed to write, so a
    # later fsync's success proves nothing about them: as Kafka does, the log
    # directory goes offline with every partition in it (the LAZY topic's
    # too), and a broker with no log directory left shuts down, cleanly.
    assert broker.proc.wait(timeout=60) == 0, broker.log_text()
    text = broker.log_text()
    assert f"log directory offline dir={broker.data_dir} error=EIO" in text, text
    assert "every log directory is offline: shutting down" in text, text
    # Reopening the log (a restart: recovery re-reads and fsyncs what it
    # keeps) brings it back.
    os.unlink(control / "fail")
    broker.start()
    p = producer(broker, retries=0)
    produce_one(p, FLUSHED, b"after restart", reports)
    assert p.flush(30) == 0 and reports[2][0] is None, reports
