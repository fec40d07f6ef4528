#!/usr/bin/env python3
"""Ratios of the queue benchmarks from one pktkernel-bench JSON run (medians if repeated).

  build/perf/pktkernel-bench --benchmark_filter=queue_ --benchmark_repetitions=5 \
      --benchmark_enable_random_interleaving=true --benchmark_min_time=0.2 \
      --benchmark_out=queue.json --benchmark_out_format=json
  python3 perf/queue/ratios.py queue.json
"""
import json
import statistics
import sys
from collections import defaultdict

TARGETS = [  # (ours, reference, target ratio)
    ("queue_spsc/pktkernel", "queue_spsc/rte_ring", 1.0),
    ("queue_mpsc/pktkernel", "queue_mpsc/rte_ring", 1.0),
    ("queue_mpsc/pktkernel_cas", "queue_mpsc/rte_ring", None),
    ("queue_broadcast4/pktkernel", "queue_broadcast4/rte_ring_clone", 2.0),
]


def main(path):
    runs = defaultdict(list)
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        runs[b.get("run_name", b["name"])].append(b["items_per_second"])
    med = {k: statistics.median(v) for k, v in runs.items()}
    ok = True
    for ours, ref, target in TARGETS:
        if ours not in med or ref not in med:
            continue
        r = med[ours] / med[ref]
        verdict = "" if target is None else ("  PASS" if r >= target else "  MISS")
        if target is not None and r < target:
            ok = False
        print(f"{ours:32s} {med[ours]/1e6:10.1f} M/s  vs {ref:34s} {med[ref]/1e6:10.1f} M/s"
              f"  ratio {r:6.2f}x" + (f" (target >= {target}x){verdict}" if target else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "queue.json"))
