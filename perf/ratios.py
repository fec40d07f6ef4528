#!/usr/bin/env python3
"""Ratios of pktkernel against DPDK's own primitives from one pktkernel-bench JSON run.

  build/perf/pktkernel-bench --benchmark_repetitions=5 \
      --benchmark_enable_random_interleaving=true --benchmark_min_time=0.2 \
      --benchmark_out=bench.json --benchmark_out_format=json
  python3 perf/ratios.py bench.json [--markdown]

Both sides of a ratio come from the same process and run (interleaved repetitions),
which is what to compare on a shared, noisy machine. The machines we measure on have
long fast and slow phases (2-4x for tens of seconds), so a ratio of two medians can
compare one side's fast phase with the other's slow one. Every repetition records when
it ran (counter `at_s`); each repetition is paired with the other side's repetition
nearest in time, and the ratio printed is the median of those paired ratios (both
directions). The values printed are plain medians. Without `at_s` (older files) the
ratio is the ratio of the medians. A JSON written with
--benchmark_report_aggregates_only has no per-repetition rows: its `median` rows are
used then. Prints PASS/MISS per target and exits 1 when a target is missed or a
benchmark it names is missing.
"""
import json
import re
import statistics
import sys
from collections import defaultdict

SPSC = [f"burst:{b}/size:{s}" for s in (256, 4096) for b in (1, 8, 32)]
PENDING = (1024, 65536, 1048576)

# Throughput pairs: (ours, reference, minimum ratio of items_per_second or None).
RATIOS = (
    [(f"queue_spsc/pktkernel/{a}", f"queue_spsc/rte_ring/{a}", 1.0) for a in SPSC]
    + [
        ("queue_mpsc/pktkernel", "queue_mpsc/rte_ring_lanes", 1.0),
        ("queue_mpsc/pktkernel_cas", "queue_mpsc/rte_ring", 1.0),
        ("queue_mpsc/pktkernel_cas", "queue_mpsc/rte_ring_rts", 1.0),
        ("queue_broadcast4/pktkernel", "queue_broadcast4/clone", 2.0),
        ("queue_broadcast4/pktkernel", "queue_broadcast4/refcnt", 1.3),
        ("lb_dispatch/pktkernel", "lb_dispatch/dsw", 1.5),
        ("lb_dispatch/pktkernel", "lb_dispatch/distributor", 3.0),
    ]
    + [(f"timer_{op}/pktkernel/pending:{n}", f"timer_{op}/rte_timer/pending:{n}",
        5.0 if n >= 65536 else None)
       for op in ("schedule", "cancel", "expire") for n in PENDING]
)
# Cost pairs (lower is better): (ours, reference, counter, maximum ratio or None,
# absolute bound or None, unit).
COSTS = [
    ("reactor_message_rtt/pktkernel", "reactor_message_rtt/rte_ring", "rtt_ns", 1.15, 1000, "ns"),
    ("reactor_idle_round/pktkernel", "reactor_idle_round/dpdk_loop", "cycles", None, 150, "cycles"),
    ("reactor_empty_round/pktkernel", None, "cycles", None, None, "cycles"),
    ("reactor_spawn/pktkernel", None, "cycles", None, None, "cycles"),
    ("graph_chain4/pktkernel/burst:32", "graph_chain4/rte_graph/burst:32", "cycles", 1.0, None,
     "cycles/pkt"),
    ("graph_chain4/pktkernel/burst:256", "graph_chain4/rte_graph/burst:256", "cycles", 1.0, None,
     "cycles/pkt"),
    ("timer_schedule/pktkernel/pending:1048576", None, "bytes_per_timer", None, 32, "bytes"),
    # A load shift (the popular flows change) to a 1 ms window balanced within 1.10.
    ("lb_migrate/pktkernel", None, "converge_ms", None, 100, "ms"),
] + [
    # One packet at a time between two reactors: the consumer sleeps when idle and the
    # push wakes it (wake: the producer polls; adaptive: it sleeps too). Next to the
    # busy-poll figure (no ratio target: busy is the floor).
    (f"pipeline_hop_latency/{e}/{idle}", f"pipeline_hop_latency/{e}/busy", "p99_us", None,
     50, "us") for e in ("link", "sub", "pub") for idle in ("wake", "adaptive")
]


def load(path):
    """{run name: [rows]}: the repetitions, or the median aggregate when that is all."""
    reps, medians = defaultdict(list), defaultdict(list)
    for b in json.load(open(path))["benchmarks"]:
        # Benchmarks with a fixed iteration count and wall-clock timing carry those in
        # their names: compare on the name alone.
        name = re.sub(r"(/iterations:\d+)?(/real_time)?$", "", b.get("run_name", b["name"]))
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[name].append(b)
        elif not b.get("error_occurred"):
            reps[name].append(b)
    for name, rows in medians.items():
        reps.setdefault(name, rows)
    return reps


def med(runs, name, key):
    vals = [b[key] for b in runs.get(name, []) if key in b]
    return statistics.median(vals) if vals else None


def paired(runs, ours, ref, key):
    """Median of ours/ref over repetitions paired with the other side's nearest in time,
    or None when the repetitions carry no `at_s`."""
    a = [(b["at_s"], b[key]) for b in runs.get(ours, []) if key in b and "at_s" in b]
    r = [(b["at_s"], b[key]) for b in runs.get(ref, []) if key in b and "at_s" in b]
    if not a or not r:
        return None
    ratios = []
    for t, v in a:
        w = min(r, key=lambda x: abs(x[0] - t))[1]
        if w:
            ratios.append(v / w)
    for t, w in r:
        v = min(a, key=lambda x: abs(x[0] - t))[1]
        if w:
            ratios.append(v / w)
    return statistics.median(ratios) if ratios else None


def main(argv):
    path = argv[1] if len(argv) > 1 and not argv[1].startswith("--") else "bench.json"
    md = "--markdown" in argv
    runs = load(path)
    ok = True
    rows = []
    for ours, ref, target in RATIOS:
        a, b = med(runs, ours, "items_per_second"), med(runs, ref, "items_per_second")
        if a is None or b is None:
            ok &= target is None
            rows.append((ours, "missing" if a is None else f"{a / 1e6:.2f} M/s", ref,
                         "missing" if b is None else f"{b / 1e6:.2f} M/s", "-",
                         f">= {target}x" if target else "-", "MISS" if target else ""))
            continue
        if b == 0:  # the reference moved nothing: no ratio, and not a pass
            ok &= target is None
            rows.append((ours, f"{a / 1e6:.2f} M/s", ref, "0 M/s", "-",
                         f">= {target}x" if target else "-", "MISS" if target else ""))
            continue
        r = paired(runs, ours, ref, "items_per_second") or a / b
        verdict = "" if target is None else ("PASS" if r >= target else "MISS")
        ok &= target is None or r >= target
        rows.append((ours, f"{a / 1e6:.2f} M/s", ref, f"{b / 1e6:.2f} M/s", f"{r:.2f}x",
                     f">= {target}x" if target else "-", verdict))
    for name, ref, counter, max_ratio, bound, unit in COSTS:
        v = med(runs, name, counter)
        rv = med(runs, ref, counter) if ref else None
        checked = max_ratio is not None or bound is not None
        if v is None or (max_ratio is not None and rv is None):
            ok &= not checked
            rows.append((name, "missing" if v is None else f"{v:.1f} {unit}", ref or "-",
                         "missing", "-", "-", "MISS" if checked else ""))
            continue
        ratio = (paired(runs, name, ref, counter) or v / rv) if rv else None
        good = (max_ratio is None or ratio <= max_ratio) and (bound is None or v <= bound)
        ok &= good
        want = " and ".join(x for x in (f"<= {max_ratio}x" if max_ratio is not None else "",
                                         f"<= {bound} {unit}" if bound is not None else "") if x)
        rows.append((name, f"{v:.1f} {unit}", ref or "-",
                     f"{rv:.1f} {unit}" if rv is not None else "-",
                     f"{ratio:.2f}x" if ratio is not None else "-", want or "-",
                     ("PASS" if good else "MISS") if checked else ""))
    if md:
        print("| benchmark | pktkernel | reference | reference value | ratio | target | |")
        print("|---|---:|---|---:|---:|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        for r in rows:
            print(f"{r[0]:42s} {r[1]:>16s}  vs {r[2]:42s} {r[3]:>16s}  {r[4]:>8s}  "
                  f"{r[5]:>20s} {r[6]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
