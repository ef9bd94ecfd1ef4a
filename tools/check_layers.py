#!/usr/bin/env python3
"""Fail when an #include crosses a layer the wrong way (issue 7).

    tools/check_layers.py [repo root]

The layers, lowest first: common/ and proto/; metadata/; broker/ and
controller/ side by side (neither includes the other); sluiced/ (the process)
on top. broker/log/ is the bottom of the broker; sluicectl uses only
common/, proto/ and metadata/. Only quoted includes that
name a top-level folder are checked; system headers and generated headers
found on the include path ("kafka_messages.h") are not. Prints each offending
include as file:line and exits 1; exits 0 silently when the graph is clean.
Run by `tools/dev` in the format tier.
"""
import os
import re
import subprocess
import sys

TOP = ("common/", "proto/", "metadata/", "broker/", "controller/", "sluiced/", "tools/", "tests/")

# Longest matching prefix of the including file decides. "allow": the only
# folders it may include; "deny": folders it may not include.
RULES = [
    ("common/", {"allow": ("common/", "proto/")}),
    ("metadata/", {"allow": ("metadata/", "common/", "proto/")}),
    ("broker/log/", {"allow": ("broker/log/", "common/", "proto/")}),
    ("broker/", {"deny": ("controller/", "sluiced/", "tools/", "tests/")}),
    ("controller/", {"deny": ("broker/", "sluiced/", "tools/", "tests/")}),
    ("tools/", {"deny": ("controller/", "sluiced/", "tests/")}),
    # sluicectl speaks the Kafka protocol (proto/kafka) and the controller
    # RPC (proto/, metadata/); benchmarks under tools/bench may use broker/log.
    ("tools/sluicectl/", {"allow": ("tools/sluicectl/", "metadata/", "common/", "proto/")}),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def rule_for(path):
    best = None
    for prefix, rule in RULES:
        if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, rule)
    return best


def violation(prefix, rule, target):
    if not target.startswith(TOP):
        return None
    if "allow" in rule and not target.startswith(rule["allow"]):
        return "%s may include only %s" % (prefix, ", ".join(rule["allow"]))
    if "deny" in rule and target.startswith(rule["deny"]):
        return "%s may not include %s" % (prefix, ", ".join(rule["deny"]))
    return None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    files = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others",
                            "--exclude-standard", "*.c", "*.h"], check=True,
                           capture_output=True, text=True).stdout.split()
    bad = 0
    for path in files:
        found = rule_for(path)
        if found is None:
            continue
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                why = m and violation(found[0], found[1], m.group(1))
                if why:
                    print('%s:%d: #include "%s": %s' % (path, lineno, m.group(1), why))
                    bad += 1
    if bad:
        print("check_layers: %d include(s) cross a layer the wrong way" % bad, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
