#!/bin/sh
# Runs one libFuzzer target for PK_FUZZ_SECONDS (default 60) from its corpus. New inputs
# go to a scratch directory in the build tree, never into the source tree; a finding is
# written there as crash-*/leak-*/timeout-* and the run fails: fix it, then copy that
# input into tests/fuzz/corpus/<target>/ so the unit suite replays it for ever.
# (Exit 1 on a finding: libFuzzer's own 77 would read as "skipped" to meson.)
# usage: run_fuzz.sh <fuzzer> <corpus-dir> <work-dir> <max-len> [dictionary]
set -e
fuzzer=$1; corpus=$2; work=$3; max_len=$4; dict=$5
secs=${PK_FUZZ_SECONDS:-60}
mkdir -p "$work"
set -- -max_total_time="$secs" -seed=1 -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/" -print_final_stats=1 -error_exitcode=1 -timeout_exitcode=1
[ -n "$dict" ] && set -- "$@" -dict="$dict"
exec "$fuzzer" "$@" "$work" "$corpus"
