#!/usr/bin/python3
"""The perf harness runs end to end (functional only, never a timed assertion):
`perf/run --quick` completes, both DUTs move packets in every run, and results.json has
every field the report promises. Skipped (77) when dpdk-testpmd is not installed."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

root, binary = sys.argv[1], sys.argv[2]
if not shutil.which("dpdk-testpmd"):
    print("dpdk-testpmd not installed")
    sys.exit(77)
with tempfile.TemporaryDirectory() as out:
    p = subprocess.run([os.path.join(root, "perf", "run"), "--quick", "--out", out,
                        "--pktkernel", binary], capture_output=True, text=True, timeout=600)
    print(p.stdout[-2000:], p.stderr[-4000:])
    assert p.returncode == 0, p.returncode
    doc = json.load(open(os.path.join(out, "results.json")))
    for k in ("date", "command", "machine", "versions", "placement", "method", "scenarios"):
        assert k in doc, k
    assert doc["placement"]["generator_cpu"] != doc["placement"]["dut_cpu"], doc["placement"]
    names = sorted({s["scenario"] for s in doc["scenarios"]})
    assert names == ["forward", "load-balance"], names
    for s in doc["scenarios"]:
        assert s["ratio_vs_reference"] is not None and s["ratio_vs_reference"] > 0, s
        for dut in ("pktkernel", "reference"):
            assert len(s["runs"][dut]) >= 3, (dut, s["runs"][dut])
            for r in s["runs"][dut]:
                assert r["rx_packets"] > 0 and r["mpps"] > 0, (dut, r)
                assert 0 <= r["loss_pct"] <= 100, r
            for k in ("mpps_median", "mpps_min", "mpps_max", "gbps_median", "loss_pct_median"):
                assert s[dut][k] is not None, (dut, k)
        p = s["pktkernel"]
        for k in ("cycles_per_packet_median", "busy_ratio_median", "latency_p50_ns_median",
                  "latency_p99_ns_median", "latency_p999_ns_median"):
            assert p.get(k) is not None and p[k] > 0, (k, p)
        assert all(r["accounted"] is not False for r in s["runs"]["pktkernel"]), "mismatch"
    for f in ("report.md", "throughput.png", "latency.png"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    # compare: a result against itself changes nothing (exit 0)
    c = subprocess.run([os.path.join(root, "perf", "compare"), out, out], capture_output=True,
                       text=True, timeout=60)
    assert c.returncode == 0 and "forward" in c.stdout, c.stdout + c.stderr
# Bad input: an unknown scenario is a usage error, and nothing is left running.
b = subprocess.run([os.path.join(root, "perf", "run"), "--scenarios", "nope"],
                   capture_output=True, text=True, timeout=60)
assert b.returncode == 2 and "unknown scenario 'nope'" in b.stderr, b.stderr
left = subprocess.run(["pgrep", "-f", "pkperf-"], capture_output=True, text=True).stdout
assert not left.strip(), "processes left running: " + left
print("perf harness quick run ok")
