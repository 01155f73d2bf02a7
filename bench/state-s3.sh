#!/usr/bin/env bash
# What keeping the state in S3 costs an apply: a generated stack (bench/generate-scale-stack.py,
# 2,000 resources by default) is applied once with `[backend] s3`, every call (the
# resources' and the state's) through scripts/aws-proxy holding each call 40 ms, on a fresh
# local emulator. It reports the apply's wall and CPU time, its peak memory, the calls it
# made (PutObject is the state's lock, whole writes and pending records), and the size of
# the state at the end; then it plans once more to check that nothing was lost.
#
# The state bucket is a plain one (no versioning) unless STATE_VERSIONING=1: the emulator
# keeps every version of an object in memory, and a state rewritten whole after every
# resource would hold gigabytes of them.
#
# usage: bench/state-s3.sh [SIZE]            (default 2000)
# env:
#   STRATA             strata binary (default target/release/strata)
#   STATE_PROXY_ARGS   the proxy's arguments (default: --latency-ms 40)
#   STATE_VERSIONING   set to 1 to bootstrap a versioned state bucket
#   BENCH_KEEP         set to 1 to keep the work directory (stack, logs, proxy counts)
set -euo pipefail

BENCH=state-s3
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STRATA="${STRATA:-$ROOT/target/release/strata}"
SIZE="${1:-2000}"
BUCKET="bench-state"
KEY="stacks/scale.json"

[ -x "$STRATA" ] || die "no strata binary at $STRATA: build it with cargo build --release --locked (or set STRATA)"
{ [[ "$SIZE" =~ ^[0-9]+$ ]] && [ "$SIZE" -ge 2 ] && [ $((SIZE % 2)) = 0 ]; } \
    || die "the size must be an even number of resources, at least 2 (got '$SIZE')"
PROXY_ARGS=(${STATE_PROXY_ARGS:---latency-ms 40})

bench_isolate_aws

WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-state-s3.XXXXXX")"
bench_traps
emulator_start
ENDPOINT="$UPSTREAM"

stack="$WORK/scale-$SIZE.toml"
python3 bench/generate-scale-stack.py "$SIZE" "$stack"
printf '\n[backend]\ns3 = { bucket = "%s", key = "%s" }\n' "$BUCKET" "$KEY" >>"$stack"

if [ "${STATE_VERSIONING:-0}" = 1 ]; then
    "$STRATA" bootstrap "$BUCKET" --endpoint-url "$ENDPOINT" >"$WORK/bootstrap.log" \
        || die "bootstrap failed (log: $WORK/bootstrap.log)"
else
    # PUT /bucket, unsigned: the emulator without AUTH accepts it.
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="PUT")).read()' \
        "$ENDPOINT/$BUCKET" || die "cannot create the bucket $BUCKET"
fi

start_proxy state "${PROXY_ARGS[@]}"

say "$SIZE resources: apply with the state in s3://$BUCKET/$KEY, through the proxy (${PROXY_ARGS[*]})"
# Wall time, CPU time (user + system) and peak memory of the apply, from the child's rusage.
python3 - "$WORK/apply.measure" "$WORK/apply.log" "$STRATA" apply "$stack" --auto-approve \
    --endpoint-url "$PROXY" --no-color <<'EOF' || { tail -n 30 "$WORK/apply.log" >&2; die "the apply failed (log: $WORK/apply.log)"; }
import resource, subprocess, sys, time
start = time.monotonic()
with open(sys.argv[2], "w") as log:
    rc = subprocess.call(sys.argv[3:], stdout=log, stderr=subprocess.STDOUT)
wall = time.monotonic() - start
u = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{wall:.1f} {u.ru_utime + u.ru_stime:.1f} {u.ru_maxrss}\n")
sys.exit(rc)
EOF
stats_save "$WORK/stats.json"

say "$SIZE resources: a plan, which must find nothing to change"
"$STRATA" plan "$stack" --endpoint-url "$ENDPOINT" --detailed-exitcode --no-color >"$WORK/plan.log" 2>&1 \
    || { tail -n 30 "$WORK/plan.log" >&2; die "the plan after the apply is not empty (log: $WORK/plan.log)"; }
"$STRATA" state pull "$stack" --endpoint-url "$ENDPOINT" >"$WORK/state.json"

echo
echo "== apply of $SIZE resources with the state in S3, every call through scripts/aws-proxy ${PROXY_ARGS[*]} =="
echo "strata:  $STRATA ($("$STRATA" --version))"
echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -m | awk '/^Mem:/ {print $2}') MB RAM"
python3 - "$WORK/apply.measure" "$WORK/stats.json" "$WORK/state.json" <<'EOF'
import json, os, sys
wall, cpu, rss = open(sys.argv[1]).read().split()
stats = json.load(open(sys.argv[2]))
ops = stats["by_operation"]
state = json.load(open(sys.argv[3]))
print(f"apply: {float(wall):.1f} s wall, {float(cpu):.1f} s CPU, peak RSS {int(rss) / 1024:.0f} MB")
s3 = ", ".join(f"{k.removeprefix('s3:')} {v}" for k, v in sorted(ops.items()) if k.startswith("s3:"))
print(f"calls: {stats['total']} in all; to S3: {s3}")
print(f"state at the end: serial {state['serial']}, {len(state['resources'])} resources, "
      f"{os.path.getsize(sys.argv[3]) / 1e6:.1f} MB")
EOF
