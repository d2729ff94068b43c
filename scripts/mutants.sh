#!/usr/bin/env bash
# Mutation testing of the files changed since a base commit (default: origin/main or main),
# with cargo-mutants: each mutant is a small wrong change to the code; a mutant that no test
# catches ("missed") is a test gap. Not part of CI (it builds and tests once per mutant).
#
#   scripts/mutants.sh                 # files changed since main
#   scripts/mutants.sh HEAD~3          # since another base
#   scripts/mutants.sh --all PATH...   # every mutant in the given files (e.g. the core modules)
#
# Installs cargo-mutants if missing. Results go to mutants.out/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-mutants >/dev/null 2>&1; then
    echo "installing cargo-mutants..."
    cargo install --locked cargo-mutants
fi

if [ "${1:-}" = "--all" ]; then
    shift
    files=()
    for f in "$@"; do files+=(--file "$f"); done
    exec cargo mutants --no-shuffle --timeout-multiplier 3 "${files[@]}"
fi

base="${1:-main}"
diff_file="$(mktemp)"
trap 'rm -f "$diff_file"' EXIT
git diff "$base" -- '*.rs' > "$diff_file"
if [ ! -s "$diff_file" ]; then
    echo "no Rust changes since $base"
    exit 0
fi
exec cargo mutants --no-shuffle --timeout-multiplier 3 --in-diff "$diff_file"
