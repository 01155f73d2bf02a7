#!/usr/bin/env bash
# Regenerates the expected diagnostics of the bad-stack corpus:
#   tests/corpus/bad/<case>.toml        -> tests/corpus/bad/<case>.stderr
#   tests/corpus/bad/<case>/main.toml   -> tests/corpus/bad/<case>/main.stderr
# Each file is validated from the repository root with its relative path (the path is part
# of the output). A case must exit with status 1 and print nothing on stdout; otherwise the
# script reports it and exits non-zero after going through every case.
#
# A new case also needs its entry (with where its errors are) in CORPUS in
# tests/it/validate.rs; the corpus test fails until the two agree.
#
# Usage: tests/corpus/bless.sh [path/to/strata]   (default: target/debug/strata)
set -u

# Never in CI: the corpus test compares strata's output with these files, and rewriting
# them there would make it compare the output with itself.
case "${CI:-}" in
    "" | 0 | false) ;;
    *)
        echo "bless.sh: refusing to run in CI (CI=$CI): bless on a workstation and commit the result" >&2
        exit 2
        ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 2
strata="${1:-target/debug/strata}"
if [ ! -x "$strata" ]; then
    echo "bless.sh: $strata not found; build it first (cargo build)" >&2
    exit 2
fi

failed=0
count=0
stdout_file="$(mktemp)"
trap 'rm -f "$stdout_file"' EXIT

for case in tests/corpus/bad/*; do
    if [ -d "$case" ]; then
        input="$case/main.toml"
        expected="$case/main.stderr"
    else
        case "$case" in *.toml) ;; *) continue ;; esac
        input="$case"
        expected="${case%.toml}.stderr"
    fi
    if [ ! -f "$input" ]; then
        echo "bless.sh: $case has no main.toml" >&2
        failed=1
        continue
    fi
    "$strata" validate "$input" >"$stdout_file" 2>"$expected"
    status=$?
    count=$((count + 1))
    if [ "$status" -ne 1 ]; then
        echo "bless.sh: $input exited with $status, expected 1" >&2
        failed=1
    fi
    if [ -s "$stdout_file" ]; then
        echo "bless.sh: $input printed on stdout:" >&2
        sed 's/^/    /' "$stdout_file" >&2
        failed=1
    fi
done

echo "bless.sh: wrote $count .stderr files"
exit "$failed"
