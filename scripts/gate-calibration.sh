#!/usr/bin/env bash
# Calibrates the interleaved CI gate on this machine: N A/A gate runs (the same scenario
# against itself: any `regression` verdict is a false positive) and N A/B gate runs (B's
# devices answer 4 ms later, about +25 % of the loaded p50 latency: any verdict other than
# `regression` is a miss), alternating so that both see the same machine load. Bounded: each
# gate run is killed after 10 minutes; round directories are deleted after each gate run.
#
#   scripts/gate-calibration.sh BIN [N] [OUT]
#
# BIN is a fleetbench binary (it is copied, so rebuilding does not disturb the runs);
# results go to OUT/results.csv (kind,index,exit code,p50 change,p90 change,verdict) and
# one OUT/<kind>-<i>.txt per gate run.
set -uo pipefail
cd "$(dirname "$0")/.."
bin="${1:?usage: scripts/gate-calibration.sh BIN [N] [OUT]}"
n="${2:-20}"
out="${3:-/tmp/fleetbench-gate-calibration}"
mkdir -p "$out"
cp "$bin" "$out/fleetbench"
sed 's/value = "5ms"/value = "9ms"/' scenarios/ci-gate-short.toml > "$out/ci-gate-short-slow.toml"
grep -q 'value = "9ms"' "$out/ci-gate-short-slow.toml" || { echo "no device delay to change" >&2; exit 2; }
echo "kind,index,exit,p50_change,p90_change,verdict" > "$out/results.csv"
for i in $(seq 1 "$n"); do
  for kind in aa ab; do
    args=(compare --interleave scenarios/ci-gate-short.toml --max-regression 10%
          --percentiles p50,p90 --rounds-dir "$out/$kind-$i-rounds")
    [ "$kind" = ab ] && args+=(--scenario-b "$out/ci-gate-short-slow.toml")
    timeout 600 "$out/fleetbench" "${args[@]}" > "$out/$kind-$i.txt" 2>&1
    code=$?
    p50=$(awk '$1 == "p50" {print $4}' "$out/$kind-$i.txt")
    p90=$(awk '$1 == "p90" {print $4}' "$out/$kind-$i.txt")
    verdict=$(awk '/^verdict:/ {print $2}' "$out/$kind-$i.txt")
    echo "$kind,$i,$code,$p50,$p90,$verdict" >> "$out/results.csv"
    rm -rf "$out/$kind-$i-rounds"
  done
done
echo "done" >> "$out/results.csv"
