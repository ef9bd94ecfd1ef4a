#!/usr/bin/env python3
"""Count individual test cases from the runners' own reports, for tools/dev's closing line.

  test_summary.py meson BUILD_DIR   -> Check cases from meson's testlog.json
  test_summary.py junit FILE.xml    -> pytest cases from a JUnit report
Prints "PASSED FAILED SKIPPED".
"""
import json
import re
import sys
import xml.etree.ElementTree as ET


def meson_counts(build_dir):
    passed = failed = 0
    check_line = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
    with open(f"{build_dir}/meson-logs/testlog.json") as log:
        for line in log:
            test = json.loads(line)
            found = check_line.search(test.get("stdout") or "")
            if found:
                checks, failures, errors = map(int, found.groups())
                passed += checks - failures - errors
                failed += failures + errors
            elif test.get("result") == "OK":
                passed += 1
            if test.get("result") not in ("OK", "SKIP") and not (found and int(found.group(2)) + int(found.group(3))):
                failed += 1  # crashed or timed out before Check could report
    return passed, failed, 0


def junit_counts(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return total - failed - skipped, failed, skipped


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    try:
        counts = meson_counts(path) if kind == "meson" else junit_counts(path)
    except (OSError, ValueError, ET.ParseError):
        counts = (0, 1, 0)  # a runner that left no report counts as a failure
    print(*counts)
