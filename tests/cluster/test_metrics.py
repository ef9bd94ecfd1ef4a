"""The HTTP endpoints of sluiced (metrics.listener): /metrics in the
Prometheus text format, /livez, /readyz and the JSON /status, on real
processes with a real client (confluent-kafka).

- the page parses strictly (metricstest.parse) and its counters move by
  exactly what was done: N records produced -> records_in +N and the
  partition's log end +N; a consumer reading them moves bytes_out by the
  bytes produced; Produce requests are counted;
- /readyz is 503 with the reason while a node's controller has no quorum
  (one node of three up) and 200 once the others are back, and again 503
  when the quorum is lost; the active controller counts a killed broker as
  fenced and its partitions as under-replicated until it is back;
- unknown paths answer 404, other methods 405, and `sluicectl node status
  --http` prints the JSON status;
- scrapes in flight at once, more than the renders the node hands to its
  thread pool (sluiced/node_http.c: MAX_METRICS_RENDERS, the rest render
  inline), each get a complete, well-formed page holding every partition's
  series of a node with thousands of partitions.
"""

import json
import socket

from confluent_kafka import Consumer, Producer

from clustertest import admin_for, create, wait_until
from metricstest import get, parse, scrape, status_json, value
from sluicetest import binary, free_port, run, unique_topic


def with_metrics(b):
    b.http_port = free_port()
    b.overrides["metrics.listener"] = f"127.0.0.1:{b.http_port}"
    return b


def produce(bootstrap, topic, n, size=100):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    errors = []
    for i in range(n):
        p.produce(topic, value=b"%0*d" % (size, i),
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert p.flush(30) == 0
    assert not errors, errors


def consume_all(bootstrap, topic, n):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "metrics-test",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = 0
    try:
        def poll():
            nonlocal got
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got += 1
            return got >= n
        wait_until(poll, 60, f"{n} records consumed", interval=0)
    finally:
        c.close()
    return got


def test_counters_move_by_what_was_done(brokers, request):
    b = brokers(start=False)
    with_metrics(b).start()
    topic = unique_topic(request)
    assert get(b.http_port, "/livez")[0] == 200
    wait_until(lambda: get(b.http_port, "/readyz")[0] == 200, 30, "/readyz 200")

    assert create(admin_for_single(b), topic, 1, 1) is None
    produce(b.bootstrap, topic, 10)
    before = scrape(b.http_port)
    n = 250
    produce(b.bootstrap, topic, n)
    after = scrape(b.http_port)

    rin = "sluice_topic_records_in_total"
    assert value(after, rin, topic=topic) - value(before, rin, topic=topic) == n
    end = "sluice_partition_log_end_offset"
    assert value(after, end, topic=topic, partition=0) == 10 + n
    assert value(after, "sluice_partition_high_watermark", topic=topic, partition=0) == 10 + n
    assert value(after, "sluice_partition_log_size_bytes", topic=topic, partition=0) > 0
    assert value(after, "sluice_partition_log_segments", topic=topic, partition=0) >= 1
    reqs = "sluice_kafka_requests_total"
    assert value(after, reqs, api="Produce") > value(before, reqs, api="Produce")
    assert value(after, "sluice_kafka_request_duration_seconds_count", api="Produce") == \
        value(after, reqs, api="Produce")
    assert value(after, "sluice_broker_leader_partitions") >= 1
    # The topic's one log was opened before it took the records above.
    assert value(after, "sluice_broker_partitions_opening") == 0
    assert value(after, "sluice_log_deletions_pending") == 0
    assert value(after, "sluice_controller_active") == 1
    assert value(after, "sluice_node_ready") == 1

    bytes_in = value(after, "sluice_topic_bytes_in_total", topic=topic)
    assert consume_all(b.bootstrap, topic, 10 + n) == 10 + n
    final = scrape(b.http_port)
    # The consumer read every batch at least once (a re-fetch may add more).
    assert value(final, "sluice_topic_bytes_out_total", topic=topic) >= bytes_in
    assert value(final, "sluice_kafka_connections") >= 0
    assert value(final, "sluice_kafka_request_budget_limit_bytes") > 0

    assert get(b.http_port, "/nope")[0] == 404
    assert get(b.http_port, "/metrics", method="POST")[0] == 405
    st = status_json(b.http_port)
    assert st["ready"] is True and st["node_id"] == b.node_id
    assert st["broker"]["partitions"] >= 1 and st["controller"]["active"] is True
    assert st["broker"]["partitions_opening"] == 0

    out = run([binary("tools", "sluicectl", "sluicectl"), "node", "status", "--http",
               f"127.0.0.1:{b.http_port}"], timeout=30)
    printed = json.loads(out.stdout)
    assert printed["ready"] is True and printed["node_id"] == b.node_id


def admin_for_single(b):
    class One:
        bootstrap = b.bootstrap
    return admin_for(One)


def test_readyz_follows_quorum_and_fencing(clusters, request):
    c = clusters(3, start=False)
    for b in c:
        with_metrics(b)
    n1, n2, n3 = c.nodes
    # One voter of three: no quorum, so no leader, so not ready.
    n1.spawn()
    n1.wait_ready(wait_kafka=False)
    code, why = wait_until(lambda: (lambda r: r if r[0] is not None else None)(
        get(n1.http_port, "/readyz")), 30, "an answer from /readyz")
    assert code == 503, why
    assert "controller" in why
    assert get(n1.http_port, "/livez")[0] == 200

    c.start()
    for b in c:
        wait_until(lambda b=b: get(b.http_port, "/readyz")[0] == 200, 60,
                   f"{b.name} /readyz 200")

    topic = unique_topic(request)
    assert create(admin_for(c), topic, 3, 3) is None
    produce(c.bootstrap, topic, 30)

    # A killed broker: fenced by the active controller, its partitions
    # under-replicated, until it is back.
    leader = c.leader()
    victim = next(b for b in c if b is not leader)
    victim.kill()

    def fenced():
        s = scrape(leader.http_port)
        return s if value(s, "sluice_controller_fenced_brokers") == 1 and \
            value(s, "sluice_cluster_under_replicated_partitions") >= 3 else None
    s = wait_until(fenced, 60, "the killed broker fenced and its partitions under-replicated")
    assert value(s, "sluice_controller_active") == 1
    assert value(s, "sluice_raft_term") >= 1
    assert value(s, "sluice_raft_applied_index") >= 1
    victim.start()
    wait_until(lambda: get(victim.http_port, "/readyz")[0] == 200, 60, "restarted node ready")
    wait_until(lambda: value(scrape(leader.http_port), "sluice_controller_fenced_brokers") == 0,
               60, "no fenced broker")
    wait_until(lambda: value(scrape(leader.http_port),
                             "sluice_cluster_under_replicated_partitions") == 0,
               60, "ISRs full again")

    # Quorum lost: the survivor's controller has no leader, /readyz says so.
    survivor = leader
    others = [b for b in c if b is not survivor]
    for b in others:
        b.kill()
    wait_until(lambda: get(survivor.http_port, "/readyz")[0] == 503, 60,
               "/readyz 503 without a quorum")
    for b in others:
        b.start(wait_kafka=False)
    wait_until(lambda: all(get(b.http_port, "/readyz")[0] == 200 for b in c), 90,
               "every node ready again")


def raw_get_all(port, path, n, timeout=60):
    """Send `n` GETs of `path` on `n` connections, every request written
    before any answer is read; return each answer's (status, headers, body
    bytes), read to the end (every answer closes its connection)."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=timeout) for _ in range(n)]
    try:
        for s in socks:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        answers = []
        for i, s in enumerate(socks):
            data = bytearray()
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
            head, sep, body = bytes(data).partition(b"\r\n\r\n")
            assert sep, f"answer {i} has no end of headers: {bytes(data[:200])!r}"
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:])}
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body = dechunk(body, i)
            else:
                assert "content-length" in headers, f"answer {i}: no length ({headers})"
                assert int(headers["content-length"]) == len(body), \
                    f"answer {i}: content-length {headers['content-length']}, " \
                    f"{len(body)} bytes came"
            answers.append((status, headers, body))
        return answers
    finally:
        for s in socks:
            s.close()


def dechunk(body, i):
    out, pos = bytearray(), 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2:end + 2 + size]
        assert body[end + 2 + size:end + 4 + size] == b"\r\n", f"answer {i}: bad chunk"
        pos = end + 4 + size


SCRAPE_TOPICS = 3
SCRAPE_PARTITIONS = 1000  # per topic
SCRAPES = 8               # at once, against MAX_METRICS_RENDERS (2) renders off the loop


def test_concurrent_scrapes_are_complete(brokers, request):
    b = brokers(start=False)
    with_metrics(b).start()
    admin = admin_for_single(b)
    topics = [f"{unique_topic(request)}-{t}" for t in range(SCRAPE_TOPICS)]
    for t in topics:
        assert create(admin, t, SCRAPE_PARTITIONS, 1, timeout=120) is None
    # One record in every partition: each partition's log end is then 1.
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 20,
                  "message.timeout.ms": 120000})
    errors = []
    for t in topics:
        for part in range(SCRAPE_PARTITIONS):
            p.produce(t, value=b"x", partition=part,
                      on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert p.flush(150) == 0
    assert not errors, errors[:5]
    end = "sluice_partition_log_end_offset"
    for rnd in range(3):
        answers = raw_get_all(b.http_port, "/metrics", SCRAPES)
        assert len(answers) == SCRAPES
        for i, (status, headers, body) in enumerate(answers):
            text = body.decode()
            assert status == 200, f"round {rnd} scrape {i}: {status} {text[:200]}"
            assert headers.get("content-type", "").startswith("text/plain; version=0.0.4"), \
                f"round {rnd} scrape {i}: {headers}"
            samples = parse(text)
            missing = [(t, part) for t in topics for part in range(SCRAPE_PARTITIONS)
                       if value(samples, end, topic=t, partition=part) != 1]
            assert not missing, f"round {rnd} scrape {i}: {len(missing)} partitions without " \
                f"{end} 1, e.g. {missing[:3]}"
            assert value(samples, "sluice_node_ready") == 1, f"round {rnd} scrape {i}"
            assert value(samples, "sluice_broker_leader_partitions") >= \
                SCRAPE_TOPICS * SCRAPE_PARTITIONS, f"round {rnd} scrape {i}"
    # Flushing thousands of logs on a shared machine outlasts the default.
    assert b.stop(timeout=120) == 0
