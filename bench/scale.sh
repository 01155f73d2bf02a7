#!/usr/bin/env bash
# How strata's cost grows with the size of a stack: generated stacks of 50, 200 and 500
# resources are applied once on a fresh local emulator; then the no-op plan is timed
# (median of 3) with its peak memory (maximum resident set size), and the stack destroyed.
# Each step's CPU time (user + system, strata's own; the emulator is another process) is
# shown beside its wall time: on a shared machine it is the steadier measure.
#
# A generated stack is made of groups of four resources, the shape of the content side of
# the producer-consumer stack: a bucket, a queue, the queue's policy (allowing that bucket),
# and the bucket's notification to the queue. A size that is not a multiple of four is
# filled with queue + queue policy pairs. bench/generate-scale-stack.py writes it.
#
# Beside them: `validate` of the stack, and `state pull` / `state push` of its state (each a
# whole strata run: the state's load and its save).
#
# With SCALE_PROXY=1 the no-op plans go through scripts/aws-proxy with SCALE_PROXY_ARGS
# (default: 40 ms per call and a request-rate quota per service, answered with each
# service's own throttling error), and each plan also reports the calls it made, the
# throttling answers it got and its floor: for each service, its calls divided by its
# allowed rate; the floor is the slowest service's (plus one round trip).
#
# usage: bench/scale.sh [SIZE...]        (default sizes: 50 200 500)
# env:
#   STRATA             strata binary (default target/release/strata)
#   SCALE_RUNS         timed no-op plans per size (default 3)
#   SCALE_PROXY        set to 1 to plan through the quota proxy (above)
#   SCALE_PROXY_ARGS   its arguments (default: --latency-ms 40 --realism rates --rate s3=200 --rate sqs=100)
#   SCALE_PARALLELISM  --parallelism of the plans (default: strata's own)
#   BENCH_KEEP         set to 1 to keep the work directory (stacks, logs); then
#                      `bench/plot-scale.py WORK_DIR docs/scale.svg` draws it
set -euo pipefail

BENCH=scale
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STRATA="${STRATA:-$ROOT/target/release/strata}"
RUNS="${SCALE_RUNS:-3}"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(50 200 500)


[ -x "$STRATA" ] || die "no strata binary at $STRATA: build it with cargo build --release --locked (or set STRATA)"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "SCALE_RUNS must be a positive integer (got '$RUNS')"
PROXY_ARGS=(${SCALE_PROXY_ARGS:---latency-ms 40 --realism rates --rate s3=200 --rate sqs=100})
PLAN_ARGS=()
[ -z "${SCALE_PARALLELISM:-}" ] || PLAN_ARGS=(--parallelism "$SCALE_PARALLELISM")
for n in "${SIZES[@]}"; do
    { [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 2 ] && [ $((n % 2)) = 0 ]; } \
        || die "a size must be an even number of resources, at least 2 (got '$n')"
done

# measure FILE CMD...: writes "peak-RSS-KiB user+system-CPU-seconds" to FILE. GNU time when
# it is there; otherwise a Python wrapper that reads the child's rusage after it exits.
if [ -x /usr/bin/time ] && /usr/bin/time -f '%M %U %S' true >/dev/null 2>&1; then
    measure() {
        /usr/bin/time -o "$1.raw" -f '%M %U %S' "${@:2}"; local rc=$?
        tail -n 1 "$1.raw" | awk '{printf "%d %.2f\n", $1, $2 + $3}' >"$1"
        return $rc
    }
else
    measure() {
        python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
u = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{u.ru_maxrss} {u.ru_utime + u.ru_stime:.2f}\n")
sys.exit(rc)' "$@"
    }
fi

bench_isolate_aws

WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-scale.XXXXXX")"
printf '%s\n' "${PROXY_ARGS[*]}" >"$WORK/proxy-args"   # for bench/plot-scale.py
bench_traps
emulator_start
ENDPOINT="$UPSTREAM"

# generate N FILE: write a stack of N resources (bench/generate-scale-stack.py).
generate() { python3 "$ROOT/bench/generate-scale-stack.py" "$1" "$2"; }

# run LOG CMD...: stdout to LOG, stderr to LOG.err; on failure show both and stop.
run() {
    local log="$1"; shift
    if ! "$@" >"$log" 2>"$log.err"; then
        tail -n 30 "$log" "$log.err" >&2
        die "failed: $* (log: $log)"
    fi
}

RESULTS="$WORK/results.tsv"   # size  apply_s  plan_s(run 1..RUNS, comma-separated)  rss_kib(...)  changes  destroy_s  apply_cpu  plan_cpu(...)  destroy_cpu
: >"$RESULTS"
for n in "${SIZES[@]}"; do
    stack="$WORK/scale-$n.toml"
    generate "$n" "$stack"
    common=(--endpoint-url "$ENDPOINT" --state-dir "$WORK/state" --no-color)
    declared="$("$STRATA" graph "$stack" | grep -c '\[label')"
    [ "$declared" = "$n" ] || die "generated $declared resources for size $n"

    say "$n resources: apply"
    t0="$(now)"; run "$WORK/apply-$n.log" measure "$WORK/cpu-apply-$n" "$STRATA" apply "$stack" "${common[@]}" --auto-approve; t1="$(now)"
    apply_s="$(elapsed "$t0" "$t1")"
    apply_cpu="$(cut -d' ' -f2 "$WORK/cpu-apply-$n")"

    say "$n resources: validate, state pull, state push"
    t0="$(now)"; run "$WORK/validate-$n.log" "$STRATA" validate "$stack"; t1="$(now)"
    validate_s="$(elapsed "$t0" "$t1")"
    t0="$(now)"; run "$WORK/state-$n.json" "$STRATA" state pull "$stack" "${common[@]}"; t1="$(now)"
    pull_s="$(elapsed "$t0" "$t1")"
    t0="$(now)"; run "$WORK/push-$n.log" "$STRATA" state push "$stack" "$WORK/state-$n.json" "${common[@]}"; t1="$(now)"
    push_s="$(elapsed "$t0" "$t1")"
    printf '%s\t%s\t%s\t%s\n' "$n" "$validate_s" "$pull_s" "$push_s" >>"$WORK/local.tsv"

    plan_s=(); rss=(); plan_cpu=(); changes=0
    for r in $(seq 1 "$RUNS"); do
        say "$n resources: no-op plan $r/$RUNS"
        plan_common=("${common[@]}")
        if [ "${SCALE_PROXY:-0}" = 1 ]; then
            start_proxy "proxy-$n-$r" "${PROXY_ARGS[@]}"
            plan_common=(--endpoint-url "$PROXY" --state-dir "$WORK/state" --no-color)
        fi
        t0="$(now)"; run "$WORK/plan-$n-$r.json" measure "$WORK/rss-$n-$r" "$STRATA" plan "$stack" "${plan_common[@]}" "${PLAN_ARGS[@]}" --json; t1="$(now)"
        if [ "${SCALE_PROXY:-0}" = 1 ]; then
            curl -sf "$PROXY/_proxy/stats" >"$WORK/stats-$n-$r.json" || die "cannot read the proxy's counters"
            stop_proxy
            printf '%s\t%s\t%s\t%s\n' "$n" "$r" "$(elapsed "$t0" "$t1")" "$WORK/stats-$n-$r.json" >>"$WORK/proxied.tsv"
        fi
        plan_s+=("$(elapsed "$t0" "$t1")")
        rss+=("$(cut -d' ' -f1 "$WORK/rss-$n-$r")")
        plan_cpu+=("$(cut -d' ' -f2 "$WORK/rss-$n-$r")")
        c="$(python3 -c 'import json, sys; print(sum(r["action"] != "no_op" for r in json.load(open(sys.argv[1]))["resources"]))' "$WORK/plan-$n-$r.json")"
        changes=$((changes > c ? changes : c))
    done

    say "$n resources: destroy"
    t0="$(now)"; run "$WORK/destroy-$n.log" measure "$WORK/cpu-destroy-$n" "$STRATA" destroy "$stack" "${common[@]}" --auto-approve; t1="$(now)"
    destroy_s="$(elapsed "$t0" "$t1")"
    destroy_cpu="$(cut -d' ' -f2 "$WORK/cpu-destroy-$n")"

    (IFS=,; printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$apply_s" "${plan_s[*]}" "${rss[*]}" "$changes" "$destroy_s" "$apply_cpu" "${plan_cpu[*]}" "$destroy_cpu") >>"$RESULTS"
done

echo
echo "== strata at scale: generated stacks on one ministack emulator; no-op plan median of $RUNS =="
echo "strata:  $STRATA ($("$STRATA" --version))"
echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -m | awk '/^Mem:/ {print $2}') MB RAM"
echo
python3 - "$RESULTS" <<'EOF'
import statistics, sys
print(f"{'resources':>9}  {'apply (s)':>9}  {'no-op plan median/min/max (s)':>30}  {'per resource (ms)':>17}  {'peak RSS max (MB)':>17}  {'changes':>7}  {'destroy (s)':>11}  {'CPU s apply/plan/destroy':>24}")
for line in open(sys.argv[1]):
    n, apply_s, plans, rss, changes, destroy_s, apply_cpu, plan_cpu, destroy_cpu = line.rstrip("\n").split("\t")
    plan_cpu = statistics.median(float(x) for x in plan_cpu.split(","))
    cpu = f"{float(apply_cpu):.1f}/{plan_cpu:.1f}/{float(destroy_cpu):.1f}"
    n = int(n)
    p = [float(x) for x in plans.split(",")]
    mb = max(int(x) for x in rss.split(",")) / 1024
    med = statistics.median(p)
    print(f"{n:>9}  {float(apply_s):>9.2f}  {med:>12.3f} {min(p):>8.3f} {max(p):>8.3f}  {med / n * 1000:>17.2f}  {mb:>17.1f}  {changes:>7}  {float(destroy_s):>11.2f}  {cpu:>24}")
EOF

echo
echo "validate, and the state's load (state pull) and save (state push), each a whole strata run:"
python3 - "$WORK/local.tsv" <<'EOF'
import sys
print(f"{'resources':>9}  {'validate (s)':>12}  {'state pull (s)':>14}  {'state push (s)':>14}")
for line in open(sys.argv[1]):
    n, v, pull, push = line.split()
    print(f"{int(n):>9}  {float(v):>12.3f}  {float(pull):>14.3f}  {float(push):>14.3f}")
EOF

if [ "${SCALE_PROXY:-0}" = 1 ]; then
    echo
    echo "no-op plans through scripts/aws-proxy ${PROXY_ARGS[*]} ${PLAN_ARGS[*]}:"
    python3 - "$WORK/proxied.tsv" "${PROXY_ARGS[@]}" <<'EOF'
import json, sys
rates, latency, args = {}, 0.0, sys.argv[2:]
for i, a in enumerate(args):
    if a == "--rate":
        key, _, value = args[i + 1].partition("=")
        rates[key] = float(value.partition(":")[0])
    if a == "--latency-ms":
        latency = float(args[i + 1]) / 1000
print(f"{'resources':>9}  {'run':>3}  {'wall (s)':>8}  {'calls':>6}  {'throttled':>9}  {'floor (s)':>9}  {'x floor':>7}  calls by service")
for line in open(sys.argv[1]):
    n, run, wall, path = line.split("\t")
    stats = json.load(open(path.strip()))
    by_service = stats["by_service"]
    throttled = sum(stats.get("faults_by_operation", {}).values())
    floor = max([calls / rates[s] for s, calls in by_service.items() if s in rates] or [0]) + latency
    wall = float(wall)
    services = ", ".join(f"{s} {c}" for s, c in sorted(by_service.items()))
    print(f"{int(n):>9}  {run:>3}  {wall:>8.2f}  {stats['total']:>6}  {throttled:>9}  {floor:>9.2f}  {wall / floor:>7.2f}  {services}")
EOF
fi
