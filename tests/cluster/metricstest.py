"""Scraping a node's HTTP endpoints (metrics.listener): a strict reader of
the Prometheus text exposition format (0.0.4) and small HTTP helpers, for
test_metrics.py."""

import json
import re
import urllib.error
import urllib.request

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(r"^(" + NAME + r")(\{(.*)\})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
SUFFIXES = ("_bucket", "_sum", "_count")


def get(port, path, method="GET"):
    """(status, body text) of one request to 127.0.0.1:port."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None, ""


def parse(text):
    """{(name, frozenset(labels.items())): value}. Fails on anything the
    format does not allow: a sample before its # TYPE, a family declared
    twice or split, a malformed line, a duplicate series, a histogram whose
    buckets are not cumulative or whose +Inf bucket differs from _count."""
    types, samples, family_order, current = {}, {}, [], None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, f"family {name} declared twice"
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = kind
            family_order.append(name)
            current = name
            continue
        assert line and not line.startswith("#"), f"unexpected line {line!r}"
        m = SAMPLE_RE.match(line)
        assert m, f"malformed sample {line!r}"
        name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
        family = name
        if types.get(current) == "histogram" and name.startswith(current) and \
                name[len(current):] in SUFFIXES:
            family = current
        assert family == current, f"sample {name} outside its family block ({current})"
        labels = {}
        pos = 0
        while pos < len(labels_text):
            lm = LABEL_RE.match(labels_text, pos)
            assert lm, f"malformed labels in {line!r}"
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        key = (name, frozenset(labels.items()))
        assert key not in samples, f"duplicate series {line!r}"
        samples[key] = float(value)
    for name, kind in types.items():
        if kind == "histogram":
            check_histogram(name, samples)
    return samples


def check_histogram(name, samples):
    series = {}
    for (n, labels), v in samples.items():
        if n == name + "_bucket":
            rest = frozenset((k, x) for k, x in labels if k != "le")
            le = dict(labels)["le"]
            series.setdefault(rest, []).append((float("inf") if le == "+Inf" else float(le), v))
    for rest, buckets in series.items():
        buckets.sort()
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), f"{name}{dict(rest)} buckets not cumulative"
        assert buckets[-1][0] == float("inf"), f"{name}{dict(rest)} has no +Inf bucket"
        assert samples[(name + "_count", rest)] == counts[-1], f"{name} count != +Inf bucket"


def scrape(port):
    status, body = get(port, "/metrics")
    assert status == 200, f"/metrics answered {status}: {body[:200]}"
    return parse(body)


def value(samples, name, **labels):
    """The sample's value, or None when absent."""
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())))


def summed(nodes, *series):
    """Each series summed over the nodes' /metrics (node.http_port), in order.
    A series is a name, or (name, {label: value}); every node must export it."""
    total = [0.0] * len(series)
    for b in nodes:
        m = scrape(b.http_port)
        for k, s in enumerate(series):
            name, labels = (s, {}) if isinstance(s, str) else s
            v = value(m, name, **labels)
            assert v is not None, f"node {b.node_id} exports no {name}{labels or ''}"
            total[k] += v
    return total


def status_json(port):
    status, body = get(port, "/status")
    assert status == 200, body
    return json.loads(body)
