#!/bin/sh
# Runs the libFuzzer parser target for a fixed number of runs from the seed corpus.
# New inputs go to a scratch directory in the build tree, never into the source tree.
# usage: run_fuzz.sh <fuzzer> <seed-corpus-dir> <work-dir> [runs]
set -e
fuzzer=$1; seeds=$2; work=$3; runs=${4:-200000}
mkdir -p "$work"
exec "$fuzzer" -runs="$runs" -seed=1 -max_len=2048 -timeout=10 "$work" "$seeds"
