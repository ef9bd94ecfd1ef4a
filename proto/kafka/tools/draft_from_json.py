#!/usr/bin/env python3
"""Draft a proto/kafka/*.kafka description from Kafka's reference JSON.

NOT used by the build. This is an authoring aid: it prints a first draft of our
compact description of one API, restricted to the versions we want codecs for,
which a person then reviews (and may trim or annotate) before committing it.
The committed .kafka file is the source of truth; the build never reads JSON.

usage: draft_from_json.py MESSAGES_DIR ApiName LO-HI > proto/kafka/api_name.kafka
e.g.   draft_from_json.py /work/shared/kafka-protocol/messages Fetch 4-12
"""
import json
import re
import sys


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


def parse_range(text):
    """Kafka version spec -> (lo, hi) or None; hi None means open-ended."""
    text = text.strip()
    if text == "none":
        return None
    if text.endswith("+"):
        return (int(text[:-1]), None)
    if "-" in text:
        lo, hi = text.split("-")
        return (int(lo), int(hi))
    return (int(text), int(text))


def clip(spec, lo, hi):
    """Our rendering of a version spec, or None if it has no version in lo..hi."""
    r = parse_range(spec) if spec else None
    if r is None:
        return None
    a, b = r
    b_eff = hi if b is None else min(b, hi)
    if max(a, lo) > b_eff:
        return None
    return f"{a}+" if b is None or b >= hi else f"{a}-{b}"


def load(path):
    text = open(path).read()
    text = re.sub(r"^\s*//.*$", "", text, flags=re.M)
    return json.loads(text)


def emit_fields(fields, common, lo, hi, indent, out):
    for f in fields:
        versions = clip(f["versions"], lo, hi)
        if versions is None:
            continue
        ftype = f["type"]
        line = f"{'  ' * indent}{snake(f['name'])} {ftype} {versions}"
        nullable = clip(f.get("nullableVersions"), lo, hi)
        if nullable:
            line += f" nullable {nullable}"
        if "tag" in f:
            line += f" tag {f['tag']}"
        if "default" in f:
            d = f["default"]
            line += f" default {d if d != '' else chr(34) * 2}"
        out.append(line)
        sub = f.get("fields")
        base = ftype[2:] if ftype.startswith("[]") else ftype
        if sub is None and base in common:
            sub = common[base]
        if sub is not None:
            emit_fields(sub, common, lo, hi, indent + 1, out)


def main():
    msgdir, api, rng = sys.argv[1], sys.argv[2], sys.argv[3]
    lo, hi = (int(x) for x in rng.split("-"))
    req = load(f"{msgdir}/{api}Request.json")
    resp = load(f"{msgdir}/{api}Response.json")
    flex = req["flexibleVersions"]
    r = parse_range(flex)
    flex_txt = "none" if r is None or r[0] > hi else flex
    out = [f"# {api}: API key {req['apiKey']}. Written from the reference "
           f"{api}Request/Response definitions.",
           f"api {snake(api)} key {req['apiKey']} versions {lo}-{hi} flexible {flex_txt}", ""]
    for kind, msg in (("request", req), ("response", resp)):
        common = {c["name"]: c["fields"] for c in msg.get("commonStructs", [])}
        out.append(kind)
        emit_fields(msg["fields"], common, lo, hi, 1, out)
        out.append("")
    print("\n".join(out).rstrip())


if __name__ == "__main__":
    main()
