#!/usr/bin/env bash
# strata against Terraform on the producer-consumer stack, on one fresh local emulator.
#
# Each round runs, for each tool: apply from nothing, a no-op plan, destroy. The tools
# alternate (which goes first alternates too, so neither always meets a warmer emulator).
# Prints per step the median/min/max wall time of each tool, the strata/terraform ratio
# (the median of the per-round ratios), the changes each no-op plan reported, and strata's
# apply time as a multiple of a critical-path floor.
#
# usage: bench/compare.sh
# env:
#   BENCH_ROUNDS      rounds (default 3)
#   STRATA            strata binary (default target/release/strata)
#   TERRAFORM         terraform binary (default: terraform on PATH)
#   TF_PROVIDER_MIRROR  filesystem mirror holding hashicorp/aws 5.100.0 (default /opt/tf-plugins)
#   BENCH_KEEP        set to 1 to keep the work directory (logs, raw timings)
set -euo pipefail

BENCH=compare
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS="${BENCH_ROUNDS:-3}"
STRATA="${STRATA:-$ROOT/target/release/strata}"
TERRAFORM="${TERRAFORM:-terraform}"
MIRROR="${TF_PROVIDER_MIRROR:-/opt/tf-plugins}"
STACK="$ROOT/stacks/producer-consumer.toml"

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer (got '$ROUNDS')"
[ -x "$STRATA" ] || die "no strata binary at $STRATA: build it with cargo build --release --locked (or set STRATA)"

# --- is Terraform available? --------------------------------------------------------------
RUN_TF=1
if ! command -v "$TERRAFORM" >/dev/null 2>&1; then
    RUN_TF=0; TF_SKIP_REASON="terraform is not installed (not on PATH)"
elif [ ! -d "$MIRROR/registry.terraform.io/hashicorp/aws/5.100.0" ]; then
    RUN_TF=0; TF_SKIP_REASON="no hashicorp/aws 5.100.0 in the provider mirror $MIRROR"
fi
if [ "$RUN_TF" = 0 ]; then
    echo "*** Skipping Terraform: $TF_SKIP_REASON. Only strata is measured. ***"
fi

# --- environment: the emulator's dummy credentials, never the user's own -------------------
bench_isolate_aws
# Terraform: no update check over the network, no interactive prompts.
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
unset TF_PLUGIN_CACHE_DIR TF_DATA_DIR TF_WORKSPACE

WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-bench.XXXXXX")"
bench_traps

mkdir -p "$WORK/logs" "$WORK/strata-state"
RESULTS="$WORK/results.tsv"   # tool  step  round  seconds  changes
: >"$RESULTS"

# --- one fresh emulator on a free port ------------------------------------------------------
emulator_start
ENDPOINT="$UPSTREAM"

# --- Terraform working directory (init once, outside the timing) ----------------------------
if [ "$RUN_TF" = 1 ]; then
    TF_DIR="$WORK/terraform"
    mkdir -p "$TF_DIR"
    cp "$ROOT"/bench/terraform/*.tf "$TF_DIR/"   # a copy: init writes its lock file and .terraform there
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
    # The archive provider is not in the mirror: zip the function the way strata does
    # (entries sorted, 1980-01-01 timestamps, 0644/0755), so the code is byte for byte the
    # same package.
    LAMBDA_ZIP="$WORK/presign.zip"
    python3 - "$ROOT/stacks/functions/presign" "$LAMBDA_ZIP" <<'EOF'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
files = []
for root, dirs, names in os.walk(src):
    dirs[:] = [d for d in dirs if d not in ("__pycache__", ".pytest_cache")]
    files += [os.path.relpath(os.path.join(root, n), src) for n in names
              if not n.endswith(".pyc") and n != ".DS_Store"]
with zipfile.ZipFile(out, "w") as z:
    for rel in sorted(files):
        path = os.path.join(src, rel)
        info = zipfile.ZipInfo(rel.replace(os.sep, "/"), (1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (0o100755 if os.access(path, os.X_OK) else 0o100644) << 16
        with open(path, "rb") as f:
            z.writestr(info, f.read())
EOF
    TF_VARS=(-var "endpoint=$ENDPOINT" -var "lambda_zip=$LAMBDA_ZIP")
    say "terraform init (not timed)"
    if ! "$TERRAFORM" -chdir="$TF_DIR" init -input=false -no-color >"$WORK/logs/terraform-init.log" 2>&1; then
        cat "$WORK/logs/terraform-init.log" >&2
        die "terraform init failed"
    fi
    TF_VERSION="$("$TERRAFORM" version | head -n 1)"
fi

# run LOG CMD...: run a command with its stdout in LOG and its stderr in LOG.err; on failure
# show both and stop. Accepted exit codes: 0, and 2 for `terraform plan -detailed-exitcode`
# (changes present).
LAST_RC=0
run() {
    local log="$1"; shift
    set +e
    "$@" >"$log" 2>"$log.err"
    LAST_RC=$?
    set -e
    if [ "$LAST_RC" != 0 ] && [ "$LAST_RC" != 2 ]; then
        tail -n 30 "$log" "$log.err" >&2
        die "failed (exit $LAST_RC): $* (log: $log)"
    fi
}

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$RESULTS"; }

# Nothing may survive a destroy: a leftover would make the next apply cheaper or fail.
check_empty() {
    python3 - "$PORT" "$1" <<'EOF'
import http.client, json, sys
port, who = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("POST", "/", b"{}", {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"})
queues = json.loads(c.getresponse().read()).get("QueueUrls", [])
c.request("GET", "/")
buckets = c.getresponse().read().decode().count("<Name>")
c.request("GET", "/2015-03-31/functions/")
functions = len(json.loads(c.getresponse().read()).get("Functions", []))
if queues or buckets or functions:
    sys.exit(f"compare: after {who} destroy the emulator still has {len(queues)} queue(s), "
             f"{buckets} bucket(s), {functions} function(s)")
EOF
}

strata_round() {
    local r="$1" t0 t1 changes common
    common=(--endpoint-url "$ENDPOINT" --state-dir "$WORK/strata-state" --no-color)

    t0="$(now)"; run "$WORK/logs/strata-apply-$r.log" "$STRATA" apply "$STACK" "${common[@]}" --auto-approve; t1="$(now)"
    record strata apply "$r" "$(elapsed "$t0" "$t1")" -

    t0="$(now)"; run "$WORK/logs/strata-plan-$r.json" "$STRATA" plan "$STACK" "${common[@]}" --json; t1="$(now)"
    changes="$(python3 -c 'import json, sys; print(sum(r["action"] != "no_op" for r in json.load(open(sys.argv[1]))["resources"]))' \
        "$WORK/logs/strata-plan-$r.json")"
    record strata plan "$r" "$(elapsed "$t0" "$t1")" "$changes"

    t0="$(now)"; run "$WORK/logs/strata-destroy-$r.log" "$STRATA" destroy "$STACK" "${common[@]}" --auto-approve; t1="$(now)"
    record strata destroy "$r" "$(elapsed "$t0" "$t1")" -
    check_empty strata
}

terraform_round() {
    local r="$1" t0 t1 changes log tf
    tf=("$TERRAFORM" -chdir="$TF_DIR")

    t0="$(now)"; run "$WORK/logs/terraform-apply-$r.log" "${tf[@]}" apply -auto-approve -input=false -no-color "${TF_VARS[@]}"; t1="$(now)"
    record terraform apply "$r" "$(elapsed "$t0" "$t1")" -

    log="$WORK/logs/terraform-plan-$r.log"
    t0="$(now)"; run "$log" "${tf[@]}" plan -detailed-exitcode -input=false -no-color "${TF_VARS[@]}"; t1="$(now)"
    # "Plan: A to add, C to change, D to destroy." -> A + C + D (a replacement counts twice,
    # as Terraform counts it); "No changes." -> 0.
    changes="$(python3 - "$log" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy", text)
print(sum(map(int, m.groups())) if m else 0)
EOF
)"
    if [ "$changes" = 0 ] && [ "$LAST_RC" = 2 ]; then
        die "terraform plan exited 2 (changes) but no Plan: line was found (log: $log)"
    fi
    record terraform plan "$r" "$(elapsed "$t0" "$t1")" "$changes"

    t0="$(now)"; run "$WORK/logs/terraform-destroy-$r.log" "${tf[@]}" destroy -auto-approve -input=false -no-color "${TF_VARS[@]}"; t1="$(now)"
    record terraform destroy "$r" "$(elapsed "$t0" "$t1")" -
    check_empty terraform
}

for r in $(seq 1 "$ROUNDS"); do
    if [ "$RUN_TF" = 1 ] && [ $((r % 2)) = 0 ]; then order=(terraform strata); else order=(strata terraform); fi
    for tool in "${order[@]}"; do
        [ "$tool" = terraform ] && [ "$RUN_TF" = 0 ] && continue
        say "round $r/$ROUNDS: $tool apply, no-op plan, destroy"
        "${tool}_round" "$r"
    done
done

# --- the floor: critical path of strata's graph x one API call ------------------------------
# Longest dependency chain, counted in resources, from the DOT graph (edges "a" -> "b" mean
# a depends on b). Every resource on it needs at least one API call, one after the other.
"$STRATA" graph "$STACK" >"$WORK/graph.dot"
CRITICAL="$(python3 - "$WORK/graph.dot" <<'EOF'
import functools, re, sys
dot = open(sys.argv[1]).read()
nodes = set(re.findall(r'^\s*"([^"]+)"\s*\[label', dot, re.M))
deps = {n: set() for n in nodes}
for a, b in re.findall(r'^\s*"([^"]+)"\s*->\s*"([^"]+)"', dot, re.M):
    deps.setdefault(a, set()).add(b)
    deps.setdefault(b, set())
@functools.lru_cache(maxsize=None)
def depth(n):
    return 1 + max((depth(d) for d in deps[n]), default=0)
end = max(deps, key=depth)
chain = [end]
while deps[chain[-1]]:
    chain.append(max(deps[chain[-1]], key=depth))
print(depth(end), " <- ".join(chain))
EOF
)"
CRITICAL_LEN="${CRITICAL%% *}"
CRITICAL_CHAIN="${CRITICAL#* }"

# Median latency of one cheap call: 50 sequential SQS ListQueues on one keep-alive
# connection (as the SDK's pooled connections are). ministack answers unsigned requests.
CALL_MS="$(python3 - "$PORT" <<'EOF'
import http.client, statistics, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"}
samples = []
for i in range(55):
    t = time.perf_counter()
    c.request("POST", "/", b"{}", headers)
    c.getresponse().read()
    if i >= 5:                       # the first few warm the connection up
        samples.append(time.perf_counter() - t)
print(f"{statistics.median(samples) * 1000:.3f}")
EOF
)"

# The emulator itself keeps a new Lambda function Pending for a fixed while before it is
# Active (as AWS does); strata must wait for that on the critical path. Measured here with
# boto3 from the emulator's venv (median of 3 throwaway functions), to show the floor with
# that wait added.
PENDING_MS="$("${STRATA_LOCAL_DIR:-$ROOT/.local}/aws-venv/bin/python" - "$ENDPOINT" "$ROOT/stacks/functions/presign/index.py" <<'EOF'
import io, statistics, sys, time, zipfile
import boto3
endpoint, source = sys.argv[1], sys.argv[2]
iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
lam = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.write(source, "index.py")
role = iam.create_role(RoleName="bench-pending-probe", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
samples = []
for i in range(3):
    name = f"bench-pending-probe-{i}"
    t = time.perf_counter()
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="index.handler",
                        Role=role, Code={"ZipFile": buf.getvalue()})
    while lam.get_function_configuration(FunctionName=name).get("State") != "Active":
        time.sleep(0.005)
    samples.append(time.perf_counter() - t)
    lam.delete_function(FunctionName=name)
iam.delete_role(RoleName="bench-pending-probe")
print(f"{statistics.median(samples) * 1000:.0f}")
EOF
)"

# --- report ----------------------------------------------------------------------------------
echo
echo "== strata vs Terraform: producer-consumer stack, $ROUNDS round(s), one ministack emulator =="
echo "strata:    $STRATA ($("$STRATA" --version))"
if [ "$RUN_TF" = 1 ]; then echo "terraform: $TF_VERSION, hashicorp/aws 5.100.0 from $MIRROR"; else echo "terraform: skipped ($TF_SKIP_REASON)"; fi
echo "machine:   $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -m | awk '/^Mem:/ {print $2}') MB RAM"
python3 - "$RESULTS" "$CRITICAL_LEN" "$CRITICAL_CHAIN" "$CALL_MS" "$PENDING_MS" <<'EOF'
import collections, statistics, sys
path, crit_len, chain = sys.argv[1], int(sys.argv[2]), sys.argv[3]
call_ms, pending_ms = float(sys.argv[4]), float(sys.argv[5])
secs = collections.defaultdict(dict)      # (tool, step) -> {round: seconds}
changes = collections.defaultdict(dict)   # tool -> {round: changes}
for line in open(path):
    tool, step, rnd, s, ch = line.rstrip("\n").split("\t")
    secs[tool, step][int(rnd)] = float(s)
    if step == "plan":
        changes[tool][int(rnd)] = int(ch)
have_tf = any(t == "terraform" for t, _ in secs)

def stats(d):
    v = list(d.values())
    return f"{statistics.median(v):8.3f} {min(v):8.3f} {max(v):8.3f}"

print()
hdr = f"{'step':<9} {'strata median/min/max (s)':>27}"
if have_tf:
    hdr += f"   {'terraform median/min/max (s)':>30}   {'strata/terraform':>16}   {'speed-up':>8}"
print(hdr)
for step in ("apply", "plan", "destroy"):
    label = "no-op plan" if step == "plan" else step
    row = f"{label:<10} {stats(secs['strata', step]):>26}"
    if have_tf:
        s, t = secs["strata", step], secs["terraform", step]
        # Pair by round: both ran back to back on the same emulator.
        ratio = statistics.median(s[r] / t[r] for r in s if r in t)
        row += f"   {stats(t):>30}   {ratio:>16.4f}   {1 / ratio:>7.1f}x"
    print(row)

print()
print("changes reported by the no-op plan (per round; anything above 0 is spurious):")
for tool in sorted(changes):
    print(f"  {tool:<10} {' '.join(str(changes[tool][r]) for r in sorted(changes[tool]))}")

floor_s = crit_len * call_ms / 1000
apply_s = statistics.median(secs["strata", "apply"].values())
print()
print(f"floor: critical path {crit_len} resources ({chain})")
print(f"       x median API call {call_ms:.3f} ms (50 sequential SQS ListQueues) = {floor_s * 1000:.1f} ms")
print(f"strata apply median {apply_s:.3f} s = {apply_s / floor_s:.0f}x the floor")
# The function is on the critical path; its activation replaces one call of the chain.
adjusted_s = floor_s + (pending_ms - call_ms) / 1000
print(f"with the emulator's Lambda activation ({pending_ms:.0f} ms, create to Active, boto3):"
      f" floor {adjusted_s * 1000:.0f} ms, strata apply = {apply_s / adjusted_s:.2f}x")
EOF
