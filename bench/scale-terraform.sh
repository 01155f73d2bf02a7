#!/usr/bin/env bash
# strata and Terraform on the same generated stack of N resources (default 1,000) through
# the same quota proxy: apply from nothing, a no-op plan, destroy, and the ratio
# Terraform / strata per step.
#
# The stack is bench/generate-scale-stack.py's (as bench/scale.sh): groups of four, a bucket
# (force_destroy, tags), a queue (visibility 60 s, tags), its policy allowing that bucket,
# and the bucket's notification to the queue. bench/terraform-scale/ declares the same
# resources for the hashicorp/aws provider with for_each.
#
# One fresh emulator. For each tool in turn (strata, then Terraform), on the emptied
# emulator and through a fresh scripts/aws-proxy with SCALE_PROXY_ARGS (default: 40 ms per
# call and a request-rate quota per service, answered with each service's own throttling
# error): apply, no-op plan, destroy, each with its wall time, CPU time (user + system of
# the tool and its children: Terraform's provider plugin), AWS calls, throttling answers and
# exit code. Each tool runs with its own defaults (Terraform: -parallelism=10). After each
# step the emulator is counted directly (not through the proxy, not timed): buckets, queues,
# queues with a policy, buckets with a queue notification; after the apply they must be the
# stack's, after the destroy none.
#
# usage: bench/scale-terraform.sh [N]
# env:
#   STRATA               strata binary (default target/release/strata)
#   TERRAFORM            terraform binary (default: terraform on PATH)
#   TF_PROVIDER_MIRROR   filesystem mirror holding hashicorp/aws 5.100.0 (default /opt/tf-plugins)
#   SCALE_PROXY_ARGS     the proxy's arguments (default: --latency-ms 40 --realism rates --rate s3=200 --rate sqs=100)
#   SCALE_PARALLELISM    strata's --parallelism (default: strata's own)
#   SCALE_TF_PARALLELISM Terraform's -parallelism (default: Terraform's own, 10)
#   SCALE_STEP_TIMEOUT   stop a step after this many seconds (SIGINT, then KILL 120 s later;
#                        default 0: no limit); the counts then show how far it got
#   SCALE_SKIP_TF        set to 1 to measure strata only
#   BENCH_KEEP           set to 1 to keep the work directory (stacks, logs, stats JSON)
set -euo pipefail

BENCH=scale-terraform
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STRATA="${STRATA:-$ROOT/target/release/strata}"
TERRAFORM="${TERRAFORM:-terraform}"
MIRROR="${TF_PROVIDER_MIRROR:-/opt/tf-plugins}"
N="${1:-1000}"
STEP_TIMEOUT="${SCALE_STEP_TIMEOUT:-0}"

# Steps run for minutes: messages carry the time.
say() { echo "scale-terraform: $(date -u +%H:%M:%S) $*" >&2; }

[ $# -le 1 ] || die "usage: bench/scale-terraform.sh [N]"
[ -x "$STRATA" ] || die "no strata binary at $STRATA: build it with cargo build --release --locked (or set STRATA)"
{ [[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 2 ] && [ $((N % 2)) = 0 ]; } \
    || die "the size must be an even number of resources, at least 2 (got '$N')"
[[ "$STEP_TIMEOUT" =~ ^[0-9]+$ ]] || die "SCALE_STEP_TIMEOUT must be a number of seconds"
PROXY_ARGS=(${SCALE_PROXY_ARGS:---latency-ms 40 --realism rates --rate s3=200 --rate sqs=100})
STRATA_ARGS=()
[ -z "${SCALE_PARALLELISM:-}" ] || STRATA_ARGS=(--parallelism "$SCALE_PARALLELISM")
TF_ARGS=()
[ -z "${SCALE_TF_PARALLELISM:-}" ] || TF_ARGS=(-parallelism="$SCALE_TF_PARALLELISM")

RUN_TF=1
if [ "${SCALE_SKIP_TF:-0}" = 1 ]; then
    RUN_TF=0; TF_SKIP_REASON="SCALE_SKIP_TF=1"
elif ! command -v "$TERRAFORM" >/dev/null 2>&1; then
    RUN_TF=0; TF_SKIP_REASON="terraform is not installed (not on PATH)"
elif [ ! -d "$MIRROR/registry.terraform.io/hashicorp/aws/5.100.0" ]; then
    RUN_TF=0; TF_SKIP_REASON="no hashicorp/aws 5.100.0 in the provider mirror $MIRROR"
fi
[ "$RUN_TF" = 1 ] || echo "*** Skipping Terraform: $TF_SKIP_REASON. Only strata is measured. ***"

bench_isolate_aws
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
unset STRATA_STATE_DIR TF_PLUGIN_CACHE_DIR TF_DATA_DIR TF_WORKSPACE

WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-scale-tf.XXXXXX")"
bench_traps

# limited CMD...: CMD, stopped after STEP_TIMEOUT seconds (SIGINT lets Terraform write its
# state), when there is a limit.
limited() {
    if [ "$STEP_TIMEOUT" -gt 0 ]; then timeout -s INT -k 120 "$STEP_TIMEOUT" "$@"; else "$@"; fi
}

# count FILE: what the emulator holds, counted directly (not through the proxy): buckets,
# queues, queues with a policy, buckets with a queue notification, as JSON.
VENV_PYTHON="${STRATA_LOCAL_DIR:-$ROOT/.local}/aws-venv/bin/python"
count() {
    "$VENV_PYTHON" - "$UPSTREAM" "$1" <<'EOF'
import json, sys
from concurrent.futures import ThreadPoolExecutor
import boto3
from botocore.config import Config
endpoint, out = sys.argv[1], sys.argv[2]
cfg = Config(max_pool_connections=16, retries={"max_attempts": 10, "mode": "standard"},
             s3={"addressing_style": "path"})
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg)
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", config=cfg)
buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
queues = []
for page in sqs.get_paginator("list_queues").paginate(MaxResults=1000):
    queues += page.get("QueueUrls", [])
def policy(url):
    return "Policy" in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
def notification(name):
    return bool(s3.get_bucket_notification_configuration(Bucket=name).get("QueueConfigurations"))
with ThreadPoolExecutor(8) as pool:
    policies = sum(pool.map(policy, queues))
    notifications = sum(pool.map(notification, buckets))
json.dump({"buckets": len(buckets), "queues": len(queues), "queue_policies": policies,
           "notifications": notifications}, open(out, "w"))
EOF
}

RESULTS="$WORK/results.tsv"   # tool step wall_s rc cpu_s stats.json counts.json
: >"$RESULTS"
# timed TOOL STEP CMD...: one step through the current proxy, then the emulator counted.
timed() {
    local tool="$1" step="$2" rc=0 t0 t1 log="$WORK/$1-$2.log"; shift 2
    say "$tool $step"
    stats_reset
    t0="$(now)"
    limited /usr/bin/time -o "$log.time" -f '%U %S' "$@" >"$log" 2>&1 || rc=$?
    t1="$(now)"
    stats_save "$log.stats.json"
    count "$log.counts.json" || die "cannot count the emulator's buckets and queues"
    local cpu
    cpu="$(tail -n 1 "$log.time" 2>/dev/null | awk 'NF == 2 { printf "%.1f", $1 + $2 }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$step" "$(elapsed "$t0" "$t1")" "$rc" "${cpu:--}" \
        "$log.stats.json" "$log.counts.json" >>"$RESULTS"
    say "  $tool $step: $(elapsed "$t0" "$t1") s, exit $rc, emulator holds $(cat "$log.counts.json")"
    if [ "$rc" != 0 ] && [ "$rc" != 2 ]; then tail -n 20 "$log" >&2; fi
    return 0
}

# --- setup (not timed) -----------------------------------------------------------------------
emulator_start

STACK="$WORK/scale-$N.toml"
python3 "$ROOT/bench/generate-scale-stack.py" "$N" "$STACK"
declared="$("$STRATA" graph "$STACK" | grep -c '\[label')"
[ "$declared" = "$N" ] || die "generated $declared resources for size $N"

# TOOL_cmd STEP: sets CMD to the tool's command line for that step.
strata_cmd() {
    CMD=("$STRATA")
    case "$1" in
        apply) CMD+=(apply "$STACK" --auto-approve) ;;
        plan) CMD+=(plan "$STACK" --detailed-exitcode) ;;
        destroy) CMD+=(destroy "$STACK" --auto-approve) ;;
    esac
    CMD+=(--endpoint-url "$PROXY" --state-dir "$WORK/strata-state" --no-color "${STRATA_ARGS[@]}")
}
terraform_cmd() {
    CMD=("$TERRAFORM" -chdir="$TF_DIR")
    case "$1" in
        apply) CMD+=(apply -auto-approve) ;;
        plan) CMD+=(plan -detailed-exitcode) ;;
        destroy) CMD+=(destroy -auto-approve) ;;
    esac
    CMD+=(-input=false -no-color "${TF_ARGS[@]}" -var "endpoint=$PROXY" -var "size=$N")
}
measure() {
    local tool="$1"
    scripts/local-aws reset --port "$PORT"
    say "$tool: $N resources through scripts/aws-proxy ${PROXY_ARGS[*]}"
    start_proxy "$tool" "${PROXY_ARGS[@]}"
    for step in apply plan destroy; do
        "${tool}_cmd" "$step"
        timed "$tool" "$step" "${CMD[@]}"
    done
    stop_proxy
}

measure strata

if [ "$RUN_TF" = 1 ]; then
    TF_DIR="$WORK/terraform"
    mkdir -p "$TF_DIR"
    cp "$ROOT"/bench/terraform-scale/*.tf "$TF_DIR/"
    export TF_CLI_CONFIG_FILE="$WORK/terraformrc"
    cat >"$TF_CLI_CONFIG_FILE" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
EOF
    say "terraform init (not timed)"
    "$TERRAFORM" -chdir="$TF_DIR" init -input=false -no-color >"$WORK/terraform-init.log" 2>&1 \
        || { cat "$WORK/terraform-init.log" >&2; die "terraform init failed"; }
    TF_VERSION="$("$TERRAFORM" version | head -n 1)"
    measure terraform
fi

# --- report --------------------------------------------------------------------------------------
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "== $N resources, strata and Terraform, each through a fresh scripts/aws-proxy ${PROXY_ARGS[*]} =="
echo "strata:    $STRATA ($("$STRATA" --version)), commit $commit${STRATA_ARGS[*]:+, ${STRATA_ARGS[*]}}"
if [ "$RUN_TF" = 1 ]; then
    echo "terraform: $TF_VERSION, hashicorp/aws 5.100.0 from $MIRROR, -parallelism=${SCALE_TF_PARALLELISM:-10 (its default)}"
else
    echo "terraform: skipped ($TF_SKIP_REASON)"
fi
echo "machine:   $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -m | awk '/^Mem:/ {print $2}') MB RAM; $(uname -sr); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$STEP_TIMEOUT" = 0 ] || echo "step limit: $STEP_TIMEOUT s (SCALE_STEP_TIMEOUT)"
python3 - "$RESULTS" "$N" "${PROXY_ARGS[@]}" <<'EOF'
import collections, json, sys
results, n, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
groups, pairs = n // 4, (n % 4) // 2
want = {"buckets": groups, "queues": groups + pairs, "queue_policies": groups + pairs, "notifications": groups}
rates, latency = {}, 0.0
for i, a in enumerate(args):
    if a == "--rate":
        key, _, value = args[i + 1].partition("=")
        rates[key] = float(value.partition(":")[0])
    if a == "--latency-ms":
        latency = float(args[i + 1]) / 1000
rows = {}
for line in open(results):
    tool, step, wall, rc, cpu, stats, counts = line.rstrip("\n").split("\t")
    rows[tool, step] = (float(wall), int(rc), cpu, json.load(open(stats)), json.load(open(counts)))

def throttled(stats):
    return sum(stats.get("faults_by_operation", {}).values())

def floor(stats):
    # The quota floor: each service's calls at its allowed rate; the slowest service's.
    return max([c / rates[s] for s, c in stats["by_service"].items() if s in rates] or [0]) + latency

def held(step, counts):
    expect = want if step != "destroy" else {k: 0 for k in want}
    total = sum(counts.values())
    ok = counts == expect
    return f"{total:>5}{'' if ok else ' (!)'}"

STEPS = (("apply", "apply"), ("plan", "no-op plan"), ("destroy", "destroy"))
print()
print(f"expected after the apply: {sum(want.values())} = {want['buckets']} buckets + {want['queues']} queues + "
      f"{want['queue_policies']} queue policies + {want['notifications']} notifications; after the destroy: 0")
print()
print(f"{'tool':<10} {'step':<10} {'wall s':>8} {'CPU s':>6} {'exit':>4} {'calls':>6} {'throttled':>9} "
      f"{'quota floor s':>13} {'x floor':>7} {'held':>5}  calls by service")
for tool in ("strata", "terraform"):
    for step, label in STEPS:
        if (tool, step) not in rows:
            continue
        wall, rc, cpu, stats, counts = rows[tool, step]
        f = floor(stats)
        services = ", ".join(f"{s} {c}" for s, c in sorted(stats["by_service"].items()))
        print(f"{tool:<10} {label:<10} {wall:>8.2f} {cpu:>6} {rc:>4} {stats['total']:>6} {throttled(stats):>9} "
              f"{f:>13.2f} {wall / f:>7.2f} {held(step, counts)}  {services}")
print("held: what the emulator holds after the step (buckets + queues + queue policies +")
print("notifications, counted directly); (!) marks a count that is not the expected one.")
print("exit: 0 done; a no-op plan with --detailed-exitcode exits 2 when it finds changes;")
print("124/130/137: stopped by SCALE_STEP_TIMEOUT.")

if ("terraform", "apply") in rows:
    print()
    print(f"{'step':<10} {'strata s':>9} {'terraform s':>11} {'terraform / strata':>18} {'calls ratio':>11}")
    for step, label in STEPS:
        if (("strata", step) in rows) and (("terraform", step) in rows):
            s, t = rows["strata", step], rows["terraform", step]
            print(f"{label:<10} {s[0]:>9.2f} {t[0]:>11.2f} {t[0] / s[0]:>18.2f} {t[3]['total'] / max(1, s[3]['total']):>11.2f}")

print()
print("calls by operation (throttled in brackets):")
for (tool, step), (wall, rc, cpu, stats, counts) in rows.items():
    faults = stats.get("faults_by_operation", {})
    ops = ", ".join(f"{op} {c}" + (f" [{faults[op]}]" if faults.get(op) else "")
                    for op, c in sorted(stats["by_operation"].items(), key=lambda kv: -kv[1]))
    bad = {s: c for s, c in stats.get("by_status", {}).items() if not s.startswith("2")}
    print(f"  {tool} {step}: {ops}" + (f"; non-2xx answers {bad}" if bad else ""))
EOF
