#!/usr/bin/env python3
"""Prints the ninja targets a meson test suite needs: its executables and their depends.

usage: suite_targets.py BUILD_DIR SUITE...
So `make tsan` builds only what ThreadSanitizer runs, not the whole tree."""
import json
import os
import subprocess
import sys


def main():
    build, suites = sys.argv[1], set(sys.argv[2:])
    tests = json.loads(subprocess.check_output(["meson", "introspect", "--tests", build]))
    targets = json.loads(subprocess.check_output(["meson", "introspect", "--targets", build]))
    by_id = {t["id"]: t for t in targets}
    root = os.path.abspath(build)
    out = set()
    for t in tests:
        if not suites & {s.split(":")[-1] for s in t["suite"]}:
            continue
        for dep in t.get("depends", []):
            for f in by_id.get(dep, {}).get("filename", []):
                out.add(os.path.relpath(f, root))
        exe = t["cmd"][0]
        if os.path.abspath(exe).startswith(root + os.sep):
            out.add(os.path.relpath(exe, root))
    if not out:
        sys.exit(f"suite_targets: no test in suite(s) {' '.join(sorted(suites))}")
    print(" ".join(sorted(out)))


if __name__ == "__main__":
    main()
