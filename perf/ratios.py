#!/usr/bin/env python3
"""Ratios of pktkernel against DPDK's own primitives from one pktkernel-bench JSON run.

  build/perf/pktkernel-bench --benchmark_repetitions=3 \
      --benchmark_enable_random_interleaving=true --benchmark_min_time=0.2 \
      --benchmark_out=bench.json --benchmark_out_format=json
  python3 perf/ratios.py bench.json [--markdown]

Both sides of a ratio come from the same process and run (medians over repetitions),
which is what to compare on a shared, noisy machine. Prints PASS/MISS per target and
exits 1 when a target is missed.
"""
import json
import statistics
import sys
from collections import defaultdict

# (ours, reference, target ratio of items_per_second, or None: reported only)
RATIOS = [
    ("queue_spsc/pktkernel", "queue_spsc/rte_ring", 1.0),
    ("queue_mpsc/pktkernel", "queue_mpsc/rte_ring", 1.0),
    ("queue_mpsc/pktkernel_cas", "queue_mpsc/rte_ring", None),
    ("queue_broadcast4/pktkernel", "queue_broadcast4/rte_ring_clone", 2.0),
    ("timer_schedule_cancel/pktkernel", "timer_schedule_cancel/rte_timer", 5.0),
    ("timer_expire/pktkernel", "timer_expire/rte_timer", 3.0),
]
# (benchmark, counter, upper bound, unit, reference benchmark for context)
BOUNDS = [
    ("reactor_empty_round/pktkernel", "cycles", 100, "cycles", "reactor_empty_round/dpdk_loop"),
    ("reactor_message_rtt/pktkernel", "rtt_ns", 1000, "ns", "reactor_message_rtt/rte_ring"),
    ("reactor_spawn/pktkernel", "cycles", None, "cycles", None),
    ("timer_schedule_cancel/pktkernel", "bytes_per_timer", 32, "bytes", None),
]


def load(path):
    runs = defaultdict(list)
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        runs[b.get("run_name", b["name"])].append(b)
    return runs


def med(runs, name, key):
    vals = [b[key] for b in runs.get(name, []) if key in b]
    return statistics.median(vals) if vals else None


def main(argv):
    path = argv[1] if len(argv) > 1 and not argv[1].startswith("--") else "bench.json"
    md = "--markdown" in argv
    runs = load(path)
    ok = True
    rows = []
    for ours, ref, target in RATIOS:
        a, b = med(runs, ours, "items_per_second"), med(runs, ref, "items_per_second")
        if a is None or b is None:
            continue
        r = a / b
        verdict = "" if target is None else ("PASS" if r >= target else "MISS")
        ok &= target is None or r >= target
        rows.append((ours, f"{a / 1e6:.2f} M/s", ref, f"{b / 1e6:.2f} M/s", f"{r:.2f}x",
                     f">= {target}x" if target else "-", verdict))
    for name, counter, bound, unit, ref in BOUNDS:
        v = med(runs, name, counter)
        if v is None:
            continue
        rv = med(runs, ref, counter) if ref else None
        verdict = "" if bound is None else ("PASS" if v <= bound else "MISS")
        ok &= bound is None or v <= bound
        rows.append((name, f"{v:.1f} {unit}", ref or "-", f"{rv:.1f} {unit}" if rv is not None else "-",
                     f"{v / rv:.2f}x" if rv else "-", f"<= {bound} {unit}" if bound else "-", verdict))
    if md:
        print("| benchmark | pktkernel | reference | reference value | ratio | target | |")
        print("|---|---:|---|---:|---:|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        for r in rows:
            print(f"{r[0]:34s} {r[1]:>14s}  vs {r[2]:34s} {r[3]:>14s}  {r[4]:>8s}  {r[5]:>12s} {r[6]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
