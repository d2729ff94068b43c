#!/usr/bin/env bash
# A written-down fuzz campaign (issue 15): runs every cargo-fuzz target (or the ones named) for
# SECONDS each on a scratch corpus outside the repository, minimises what the fuzzer found
# (`cargo fuzz cmin`), copies inputs that are new by content into fuzz/corpus/<target>/ (as
# <sha1>, ready to commit), and prints executions per target.
#
#   scripts/fuzz-campaign.sh [SECONDS] [TARGET...]        # SECONDS defaults to 60
#
# Environment: FUZZ_SCRATCH (scratch directory; default a fresh /tmp/fleetbench-fuzz.XXXXXX),
# FUZZ_TARGET_DIR (build directory; default fuzz/target), FUZZ_RSS_MB (libFuzzer -rss_limit_mb,
# default 2048). Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); nightly features are
# enabled with RUSTC_BOOTSTRAP=1 on the stable toolchain. Bounded: every target runs at most
# SECONDS (libFuzzer -max_total_time) plus build and minimisation time. A crash stops that
# target only; its reproducer is kept under the scratch directory and reported, and the
# script exits 1 at the end.
set -euo pipefail

seconds=${1:-60}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=${FUZZ_SCRATCH:-$(mktemp -d /tmp/fleetbench-fuzz.XXXXXX)}
target_dir=${FUZZ_TARGET_DIR:-$root/fuzz/target}
rss_mb=${FUZZ_RSS_MB:-2048}
export RUSTC_BOOTSTRAP=1
case "$seconds" in '' | *[!0-9]*) echo "SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac

cd "$root/fuzz"
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
echo "fuzz campaign: ${#targets[@]} targets x ${seconds}s, scratch $scratch" >&2
if [ "$#" -gt 0 ]; then
    for target in "${targets[@]}"; do
        cargo fuzz build --target-dir "$target_dir" "$target" >&2
    done
else
    cargo fuzz build --target-dir "$target_dir" >&2
fi

status=0
rows=()
for target in "${targets[@]}"; do
    work=$scratch/$target
    mkdir -p "$work/corpus" "$work/artifacts" "$root/fuzz/corpus/$target"
    log=$work/run.log
    # New inputs go to the scratch corpus (first directory); the seeds are only read.
    if cargo fuzz run --target-dir "$target_dir" "$target" "$work/corpus" \
        "$root/fuzz/corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb="$rss_mb" \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" >"$log" 2>&1; then
        crash=-
    else
        crash=$(find "$work/artifacts" -type f | head -n 1)
        crash=${crash:-"exit code, see $log"}
        status=1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    execs=${execs:-0}
    # Minimise the scratch corpus in place, then keep what the seeds lack (by content).
    added=0
    if [ -n "$(ls -A "$work/corpus")" ]; then
        cargo fuzz cmin --target-dir "$target_dir" "$target" "$work/corpus" \
            -- -rss_limit_mb="$rss_mb" >"$work/cmin.log" 2>&1 || true
        known=$(cd "$root/fuzz/corpus/$target" && find . -type f -exec sha1sum {} + | cut -d' ' -f1 | sort -u)
        while IFS= read -r file; do
            sum=$(sha1sum "$file" | cut -d' ' -f1)
            if ! grep -qx "$sum" <<<"$known"; then
                cp "$file" "$root/fuzz/corpus/$target/$sum"
                known+=$'\n'$sum
                added=$((added + 1))
            fi
        done < <(find "$work/corpus" -type f)
    fi
    rows+=("$(printf '%-20s %14s %8s %10s %6s  %s' "$target" "$execs" "$seconds" \
        "$((execs / (seconds > 0 ? seconds : 1)))" "$added" "$crash")")
done

printf '%-20s %14s %8s %10s %6s  %s\n' target executions seconds exec/s added crash
printf '%s\n' "${rows[@]}"
exit "$status"
