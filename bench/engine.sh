#!/usr/bin/env bash
# strata's engine on the local emulator: wall time and AWS calls of apply (from nothing), a
# no-op plan and destroy, for stacks/producer-consumer.toml and tests/stacks/storage.toml.
#
# One fresh emulator on a free port, with scripts/aws-proxy in front of it counting the
# calls (its counters are reset before each step). The emulator is emptied
# (POST /_ministack/reset, not timed) after each destroy, so every apply starts from
# scratch. Times include the proxy's own overhead (one Python hop per call).
#
# usage: bench/engine.sh
# env:
#   BENCH_ROUNDS       rounds (default 3)
#   STRATA_SKIP_BUILD  set to 1 to use the existing binary instead of cargo build --locked
#   STRATA             strata binary (default target/debug/strata)
#   BENCH_KEEP         set to 1 to keep the work directory (logs, raw timings)
set -euo pipefail

BENCH=engine
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS="${BENCH_ROUNDS:-3}"
STRATA="${STRATA:-$ROOT/target/debug/strata}"
STACKS=(stacks/producer-consumer.toml tests/stacks/storage.toml)

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer (got '$ROUNDS')"

bench_isolate_aws
unset STRATA_STATE_DIR

WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-bench-engine.XXXXXX")"
bench_traps

# --- setup (not timed) -------------------------------------------------------------------
scripts/local-aws install
if [ "${STRATA_SKIP_BUILD:-0}" = 1 ]; then
    [ -x "$STRATA" ] || die "STRATA_SKIP_BUILD=1 but there is no binary at $STRATA"
else
    cargo build --locked
fi

emulator_start
start_proxy engine

# run STACK STEP ROUND: times one strata command through the proxy and records
# "stack step round seconds calls" in results.tsv; the stats JSON is kept per step.
run_step() {
    local stack="$1" step="$2" round="$3" state="$4" rc=0 t0 t1 name
    name="$(basename "$stack" .toml)"
    local log="$WORK/$name-$step-$round.log" stats="$WORK/$name-$step-$round.json"
    local args=("$stack" --endpoint-url "$PROXY" --state-dir "$state" --no-color)
    case "$step" in
        apply) args=(apply "${args[@]}" --auto-approve) ;;
        plan) args=(plan "${args[@]}" --detailed-exitcode) ;;
        destroy) args=(destroy "${args[@]}" --auto-approve) ;;
    esac
    stats_reset
    t0="$(now)"
    "$STRATA" "${args[@]}" >"$log" 2>&1 || rc=$?
    t1="$(now)"
    stats_save "$stats"
    if [ "$rc" != 0 ]; then
        tail -n 40 "$log" >&2
        if [ "$step" = plan ] && [ "$rc" = 2 ]; then
            die "round $round: the plan right after applying $stack is not empty (exit 2, above); log: $log"
        fi
        die "round $round: strata ${args[*]} failed (exit $rc); log: $log"
    fi
    local calls
    calls="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["total"])' "$stats")"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$step" "$round" "$(elapsed "$t0" "$t1")" "$calls" >>"$WORK/results.tsv"
    printf '  %-18s %-8s %7ss %5s calls\n' "$name" "$step" "$(elapsed "$t0" "$t1")" "$calls" >&2
}

: >"$WORK/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
    say "round $round of $ROUNDS"
    for stack in "${STACKS[@]}"; do
        state="$WORK/state-$round-$(basename "$stack" .toml)"
        run_step "$stack" apply "$round" "$state"
        run_step "$stack" plan "$round" "$state"
        run_step "$stack" destroy "$round" "$state"
        left="$(python3 -c 'import glob, json, sys
n = sum(len(json.load(open(f))["resources"]) for f in glob.glob(sys.argv[1] + "/*.state.json"))
print(n)' "$state")"
        [ "$left" = 0 ] || die "round $round: $left resources of $stack still in state after destroy"
        scripts/local-aws reset --port "$PORT"
    done
done

# --- report ------------------------------------------------------------------------------
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit (+ uncommitted changes)"
fi
cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
echo
echo "strata engine benchmark: $ROUNDS round(s), emulator ministack on 127.0.0.1:$PORT behind scripts/aws-proxy"
echo "machine: $(nproc) CPU(s), ${cpu:-unknown CPU model}; $(uname -sr)"
echo "strata:  commit $commit; binary $(basename "$(dirname "$STRATA")")/$(basename "$STRATA"), built $(date -r "$STRATA" '+%Y-%m-%d %H:%M:%S')"
echo
python3 - "$WORK" "$WORK/results.tsv" <<'EOF'
import json, statistics, sys
from collections import defaultdict

work, path = sys.argv[1], sys.argv[2]
rows = defaultdict(lambda: ([], []))
order = []
for line in open(path):
    stack, step, rnd, secs, calls = line.rstrip("\n").split("\t")
    key = (stack, step)
    if key not in rows:
        order.append(key)
    rows[key][0].append(float(secs))
    rows[key][1].append(int(calls))

def calls_text(calls):
    lo, hi = min(calls), max(calls)
    return str(lo) if lo == hi else f"{lo}-{hi}"

print(f"{'stack':<18} {'step':<8} {'median s':>9} {'min s':>7} {'max s':>7} {'AWS calls':>10}")
print("-" * 64)
for key in order:
    secs, calls = rows[key]
    print(f"{key[0]:<18} {key[1]:<8} {statistics.median(secs):>9.3f} {min(secs):>7.3f} "
          f"{max(secs):>7.3f} {calls_text(calls):>10}")

# Calls by service and the non-2xx answers, from the first round.
print()
print("calls by service (round 1), and answers that were not 2xx:")
for key in order:
    stats = json.load(open(f"{work}/{key[0]}-{key[1]}-1.json"))
    services = ", ".join(f"{s} {n}" for s, n in sorted(stats["by_service"].items(), key=lambda kv: -kv[1]))
    errors = {s: n for s, n in stats.get("by_status", {}).items() if not s.startswith("2")}
    extra = f"; status {', '.join(f'{s}: {n}' for s, n in sorted(errors.items()))}" if errors else ""
    print(f"  {key[0]} {key[1]}: {services}{extra}")
EOF
