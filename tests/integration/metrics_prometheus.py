#!/usr/bin/env python3
"""A real Prometheus server scrapes our exporter on loopback.

usage: metrics_prometheus.py METRICS_SERVE [PROMETHEUS]

Starts METRICS_SERVE (the exporter test binary in serve mode) on 127.0.0.1:0, then
`prometheus` (default /usr/bin/prometheus) on a free 127.0.0.1 port with a 1 s scrape
interval, and polls Prometheus's HTTP API (bounded, 30 s) until:
  - up{job="pktkernel"} == 1 and the target reports no scrape error,
  - our counter, a label value with `"`, `\\` and newline (must round-trip exactly),
    and our histogram (_bucket/_sum/_count, le="+Inf") are queryable,
  - the counter increased between scrapes (Prometheus really scrapes repeatedly).
Exit 77 (skipped) when Prometheus is not installed. Everything stops at the end.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

DEADLINE_S = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base, path, **params):
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=2) as r:
        doc = json.load(r)
    assert doc["status"] == "success", doc
    return doc["data"]


def query(base, q):
    return api(base, "/api/v1/query", query=q)["result"]


def stop(p, name):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"{name} ignored SIGTERM")


def main():
    serve = sys.argv[1]
    prom_bin = sys.argv[2] if len(sys.argv) > 2 else (shutil.which("prometheus") or
                                                       "/usr/bin/prometheus")
    if not os.access(prom_bin, os.X_OK):
        print("prometheus not installed (Debian package 'prometheus'): skipped")
        return 77

    with tempfile.TemporaryDirectory(prefix="pk-prom-") as d:
        exp = subprocess.Popen([serve, "127.0.0.1:0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        prom = None
        prom_log = os.path.join(d, "prometheus.log")
        try:
            line = exp.stdout.readline()
            assert line.startswith("listening on 127.0.0.1:"), (line, exp.stderr.read())
            target = line.split()[-1]

            port = free_port()
            cfg = os.path.join(d, "prometheus.yml")
            with open(cfg, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        "  evaluation_interval: 1s\n"
                        "scrape_configs:\n  - job_name: pktkernel\n"
                        f"    static_configs:\n      - targets: ['{target}']\n")
            with open(prom_log, "w") as log:
                prom = subprocess.Popen(
                    [prom_bin, f"--config.file={cfg}", f"--storage.tsdb.path={d}/data",
                     f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                    stdout=log, stderr=subprocess.STDOUT)
            base = f"http://127.0.0.1:{port}"

            deadline = time.monotonic() + DEADLINE_S
            seen = {}
            first_count = None
            while time.monotonic() < deadline:
                assert prom.poll() is None, "prometheus exited:\n" + open(prom_log).read()
                assert exp.poll() is None, "exporter exited: " + exp.stderr.read()
                try:
                    up = query(base, 'up{job="pktkernel"}')
                    if up and up[0]["value"][1] == "1":
                        seen["up"] = True
                        c = query(base, "pktkernel_test_collects_total")
                        if c:
                            assert c[0]["metric"]["port"] == "0", c
                            v = float(c[0]["value"][1])
                            if first_count is None:
                                first_count = v
                            elif v > first_count:
                                seen["counter_grows"] = True
                        esc = query(base, "pktkernel_test_label_escape")
                        if esc:
                            assert esc[0]["metric"]["reason"] == 'a"b\\c\nd', esc
                            seen["escape"] = True
                        h = query(base, 'pktkernel_test_latency_seconds_bucket{le="+Inf"}')
                        hs = query(base, "pktkernel_test_latency_seconds_sum")
                        if h and hs:
                            assert h[0]["value"][1] == "6" and hs[0]["value"][1] == "0.5", (h, hs)
                            seen["histogram"] = True
                        own = query(base, "pktkernel_scrapes_total")
                        dur = query(base, "pktkernel_scrape_duration_seconds_count")
                        if own and dur:
                            seen["self"] = True
                        if len(seen) == 5:
                            break
                except (OSError, ValueError):
                    pass  # Prometheus still starting (connection refused, 503)
                time.sleep(0.25)
            else:
                raise AssertionError(f"within {DEADLINE_S} s saw only {sorted(seen)}\n"
                                     + open(prom_log).read())

            targets = api(base, "/api/v1/targets")["activeTargets"]
            assert len(targets) == 1 and targets[0]["health"] == "up", targets
            assert targets[0]["lastError"] == "", targets
            print(f"prometheus scraped {target}: up=1, our series present, counter "
                  f"{first_count:g} -> grows, label escapes round-trip, histogram ok")
        finally:
            if prom:
                stop(prom, "prometheus")
            stop(exp, "metrics_serve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
