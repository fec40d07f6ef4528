#!/usr/bin/env python3
"""Every header under src/ compiles on its own (Seastar's and DPDK's check_headers):
each is the only include of a translation unit, checked with -fsyntax-only.

usage: check_headers.py SRC_DIR CXX [CXX ARGS...] -- [FLAGS...]
Prints one line per header that does not compile, then `headers: N ok, M failed`."""
import concurrent.futures
import os
import subprocess
import sys


def main():
    src = sys.argv[1]
    rest = sys.argv[2:]
    sep = rest.index("--")
    cxx, flags = rest[:sep], rest[sep + 1:]
    headers = sorted(os.path.relpath(os.path.join(d, f), src)
                     for d, _, fs in os.walk(src) for f in fs if f.endswith(".hh"))

    def check(h):
        cmd = cxx + ["-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                     "-Wno-missing-field-initializers", "-I", src] + flags + \
              ["-x", "c++", "-"]
        p = subprocess.run(cmd, input=f'#include "{h}"\n', capture_output=True, text=True)
        return h, p.returncode, p.stderr

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        for h, rc, err in ex.map(check, headers):
            if rc != 0:
                failed += 1
                print(f"{h}: does not compile on its own\n{err}")
    print(f"headers: {len(headers) - failed} ok, {failed} failed")
    return 1 if failed or not headers else 0


if __name__ == "__main__":
    sys.exit(main())
