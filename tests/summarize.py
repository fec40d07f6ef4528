#!/usr/bin/env python3
"""Totals over a meson test run: one line `tests: N passed, M failed[, K skipped]`.

gtest binaries contribute their individual test cases (from the JUnit XML each wrote
to <build>/test-results/); any other registered test (scripts, a gtest binary that
crashed before writing XML) counts as one. Exit status 1 when anything failed.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET


def gtest_counts(path):
    root = ET.parse(path).getroot()
    tests = failures = errors = skipped = 0
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            tests += 1
            if case.find("failure") is not None or case.find("error") is not None:
                failures += 1
            elif case.get("result") == "skipped" or case.find("skipped") is not None or case.get("status") == "notrun":
                skipped += 1
    return tests - failures - skipped, failures, skipped


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    log = os.path.join(build, "meson-logs", "testlog.json")
    passed = failed = skipped = 0
    failed_names = []
    if not os.path.exists(log):
        print("summarize: no test log at %s (did the build fail?)" % log, file=sys.stderr)
        print("tests: 0 passed, 1 failed")
        return 1
    with open(log) as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            name, result = t["name"], t["result"]
            xml = None
            for k, v in (t.get("env") or {}).items():
                if k == "GTEST_OUTPUT" and v.startswith("xml:"):
                    xml = v[4:]
            if xml and os.path.exists(xml) and result in ("OK", "FAIL", "EXPECTEDFAIL"):
                p, fl, sk = gtest_counts(xml)
                if result == "FAIL" and fl == 0:
                    fl = 1  # crashed or leaked after the cases passed (sanitizer, exit code)
                passed, failed, skipped = passed + p, failed + fl, skipped + sk
                if fl:
                    failed_names.append(name)
            elif result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
                failed_names.append("%s (%s)" % (name, result))
    if failed_names:
        print("failed: " + ", ".join(failed_names))
    line = "tests: %d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
