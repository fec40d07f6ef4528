#!/bin/sh
# `make run`'s program for 3 seconds: a live status line each second, exit 0, and the
# --stats-json totals close: received = transmitted + queued + dropped.
set -eu
bin=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" --duration 3 --stats-json "$out/stats.json" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
lines=$(grep -c 'Mpps' "$out/log" || true)
[ "$lines" -ge 2 ] || { echo "expected >= 2 status lines, got $lines"; cat "$out/log"; exit 1; }
python3 - "$out/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["totals"]
assert t["received"] > 0, t
assert t["received"] == t["transmitted"] + t["queued"] + t["dropped"], t
print("accounting ok:", t)
PY
