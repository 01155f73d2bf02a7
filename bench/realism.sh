#!/usr/bin/env bash
# strata (and Terraform beside it) on the producer-consumer stack through scripts/aws-proxy
# in realism mode with a fixed latency per call, against a round-trip floor.
#
# Part 1, the per-resource costs (through a plain counting proxy: no latency, no realism).
#   The stack's resources are put in a dependency order taken from `strata graph`; for
#   k = 0..N the stack made of the first k resources (P_k, dependency-closed) is applied
#   from nothing, planned and destroyed on an emptied emulator, and the proxy's call counts
#   are kept. calls(P_k) - calls(P_k-1) is what resource k costs in AWS calls for create,
#   read (no-op plan) and delete; calls(P_0) is the fixed overhead (the empty stack).
# Part 2, the floor. A resource's calls are counted as sequential round trips (an upper
#   bound on the depth it needs: some of its calls could overlap). The apply floor is the
#   overhead plus the longest path of the dependency graph, each resource weighing its
#   create calls x latency, plus the waits no tool can avoid: realism's propagation
#   windows (a function waits for its role to be 8 s old, the bucket notification for the
#   queue policy to be 5 s old, the trail for the bucket policy to be 5 s old; the calls of
#   the policy resource made after the policy was set count against the window) and the
#   emulator's Lambda activation (create to Active, measured with boto3). The destroy floor
#   is the same on the reversed graph with delete calls. The no-op plan's floor is 1 round
#   trip (every read can go at once); its depth is measured: the same plan through a plain
#   proxy (3 times, the minimum is the tool's own time) and through a proxy adding 400 ms
#   per call, depth = (wall at 400 ms - own time) / 400 ms.
# Part 3, the measurement. A fresh proxy with --latency-ms and --realism (all kinds, time
#   scale BENCH_TIME_SCALE, default 1: AWS's own windows) in front of an emptied emulator,
#   for each tool: apply from nothing, no-op plan, destroy; wall time, AWS calls, realism
#   and throttling answers (the proxy's "faults" and by_status), ratio to the floor.
#
# usage: bench/realism.sh
# env:
#   STRATA             strata binary (default target/release/strata)
#   BENCH_LATENCY_MS   latency per AWS call (default 40)
#   BENCH_TIME_SCALE   realism time scale (default 1)
#   TERRAFORM          terraform binary (default: terraform on PATH)
#   TF_PROVIDER_MIRROR filesystem mirror holding hashicorp/aws 5.100.0 (default /opt/tf-plugins)
#   BENCH_SKIP_TF      set to 1 to measure strata only
#   BENCH_KEEP         set to 1 to keep the work directory (logs, stats JSON)
set -euo pipefail

BENCH=realism
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STRATA="${STRATA:-$ROOT/target/release/strata}"
LATENCY_MS="${BENCH_LATENCY_MS:-40}"
SCALE="${BENCH_TIME_SCALE:-1}"
TERRAFORM="${TERRAFORM:-terraform}"
MIRROR="${TF_PROVIDER_MIRROR:-/opt/tf-plugins}"
STACK="$ROOT/stacks/producer-consumer.toml"

[ -x "$STRATA" ] || die "no strata binary at $STRATA: build it with cargo build --release --locked (or set STRATA)"
[[ "$LATENCY_MS" =~ ^[0-9]+$ ]] && [ "$LATENCY_MS" -gt 0 ] || die "BENCH_LATENCY_MS must be a positive integer"

RUN_TF=1
if [ "${BENCH_SKIP_TF:-0}" = 1 ]; then
    RUN_TF=0; TF_SKIP_REASON="BENCH_SKIP_TF=1"
elif ! command -v "$TERRAFORM" >/dev/null 2>&1; then
    RUN_TF=0; TF_SKIP_REASON="terraform is not installed (not on PATH)"
elif [ ! -d "$MIRROR/registry.terraform.io/hashicorp/aws/5.100.0" ]; then
    RUN_TF=0; TF_SKIP_REASON="no hashicorp/aws 5.100.0 in the provider mirror $MIRROR"
fi
[ "$RUN_TF" = 1 ] || echo "*** Skipping Terraform: $TF_SKIP_REASON. Only strata is measured. ***"

bench_isolate_aws
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
unset STRATA_STATE_DIR TF_PLUGIN_CACHE_DIR TF_DATA_DIR TF_WORKSPACE

WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-bench-realism.XXXXXX")"
bench_traps

RESULTS="$WORK/results.tsv"   # tool step seconds rc stats.json
: >"$RESULTS"
# timed TOOL STEP LOG CMD...: one step through the current proxy; exit 0 and 2 (changes
# present) are recorded, anything else too (the table says so) but the log is shown.
timed() {
    local tool="$1" step="$2" log="$3" rc=0 t0 t1; shift 3
    stats_reset
    t0="$(now)"
    "$@" >"$log" 2>&1 || rc=$?
    t1="$(now)"
    stats_save "$log.stats.json"
    printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$step" "$(elapsed "$t0" "$t1")" "$rc" "$log.stats.json" >>"$RESULTS"
    say "  $tool $step: $(elapsed "$t0" "$t1") s, exit $rc"
    if [ "$rc" != 0 ] && [ "$rc" != 2 ]; then tail -n 20 "$log" >&2; fi
    return 0
}

# --- setup (not timed) -----------------------------------------------------------------------
emulator_start

# --- part 1: per-resource call counts from prefix stacks ---------------------------------------
"$STRATA" graph "$STACK" >"$WORK/graph.dot"
mkdir -p "$WORK/prefix"
python3 - "$STACK" "$WORK/graph.dot" "$WORK/prefix" <<'EOF'
import json, os, re, sys, tomllib
stack_path, dot_path, out = sys.argv[1:]

def load(path):
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    base = doc.pop("extends", None)
    if base:
        parent = load(os.path.join(os.path.dirname(path), base))
        for key, value in doc.items():
            if isinstance(value, dict) and isinstance(parent.get(key), dict):
                parent[key] = {**parent[key], **value}
            else:
                parent[key] = value
        doc = parent
    return doc

doc = load(stack_path)
here = os.path.dirname(os.path.abspath(stack_path))
dot = open(dot_path).read()
nodes = re.findall(r'^\s*"([^"]+)"\s*\[label = "([^"]+)"', dot, re.M)
deps = {n: [] for n, _ in nodes}
for a, b in re.findall(r'^\s*"([^"]+)"\s*->\s*"([^"]+)"', dot, re.M):
    deps[a].append(b)
order, seen = [], set()
def visit(n):
    if n in seen:
        return
    seen.add(n)
    for d in deps[n]:
        visit(d)
    order.append(n)
for n, _ in nodes:
    visit(n)

BARE = re.compile(r"^[A-Za-z0-9_-]+$")
def key(k):
    return k if BARE.match(k) else json.dumps(k)
def value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))

for k in range(len(order) + 1):
    lines = ["[stack]"] + [f"{key(a)} = {value(b)}" for a, b in doc["stack"].items()]
    for name, body in (doc.get("variables") or {}).items():
        lines.append(f"[variables.{key(name)}]")
        lines += [f"{key(a)} = {value(b)}" for a, b in body.items()]
    for name in order[:k]:
        body = dict(doc["resources"][name])
        if body.get("type") == "lambda.function" and not os.path.isabs(body["code"]):
            body["code"] = os.path.join(here, body["code"])
        lines.append(f"[resources.{key(name)}]")
        lines += [f"{key(a)} = {value(b)}" for a, b in body.items()]
    with open(f"{out}/p{k:02d}.toml", "w") as f:
        f.write("\n".join(lines) + "\n")
json.dump({"order": order, "deps": deps, "types": dict(nodes)}, open(f"{out}/graph.json", "w"))
EOF

say "part 1: per-resource calls, prefix stacks through a plain counting proxy"
start_proxy plain
for p in "$WORK"/prefix/p*.toml; do
    k="$(basename "$p" .toml)"
    state="$WORK/prefix-state-$k"
    common=(--endpoint-url "$PROXY" --state-dir "$state" --no-color)
    timed "$k" apply "$WORK/prefix-$k-apply.log" "$STRATA" apply "$p" "${common[@]}" --auto-approve
    timed "$k" plan "$WORK/prefix-$k-plan.log" "$STRATA" plan "$p" "${common[@]}" --detailed-exitcode
    timed "$k" destroy "$WORK/prefix-$k-destroy.log" "$STRATA" destroy "$p" "${common[@]}" --auto-approve
    scripts/local-aws reset --port "$PORT"
done
stop_proxy

# The emulator keeps a new function Pending for a while before it is Active (as AWS does).
PENDING_MS="$("${STRATA_LOCAL_DIR:-$ROOT/.local}/aws-venv/bin/python" - "$UPSTREAM" "$ROOT/stacks/functions/presign/index.py" <<'EOF'
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
scripts/local-aws reset --port "$PORT"
REALISM_ARGS=(--latency-ms "$LATENCY_MS" --realism --time-scale "$SCALE")

# --- part 3: each tool through realism ----------------------------------------------------------
# One tool's run: apply, no-op plan, destroy through a fresh realism proxy. Between the plan
# and the destroy (not in the timed steps), the depth of the no-op plan: the same plan 3
# times through a plain proxy (the minimum is the tool's own time, without round trips) and
# once through a proxy adding DEPTH_MS per call and nothing else; depth = (wall at DEPTH_MS
# - own time) / DEPTH_MS. A large latency makes the tool's own jitter small against it.
DEPTH_MS=400
strata_cmd() {
    local step="$1"
    local common=(--endpoint-url "$PROXY" --state-dir "$WORK/strata-state" --no-color)
    case "$step" in
        apply) "$STRATA" apply "$STACK" "${common[@]}" --auto-approve ;;
        plan) "$STRATA" plan "$STACK" "${common[@]}" --detailed-exitcode ;;
        destroy) "$STRATA" destroy "$STACK" "${common[@]}" --auto-approve ;;
    esac
}
terraform_cmd() {
    local step="$1"
    local tf=("$TERRAFORM" -chdir="$TF_DIR") vars=(-var "endpoint=$PROXY" -var "lambda_zip=$LAMBDA_ZIP")
    case "$step" in
        apply) "${tf[@]}" apply -auto-approve -input=false -no-color "${vars[@]}" ;;
        plan) "${tf[@]}" plan -detailed-exitcode -input=false -no-color "${vars[@]}" ;;
        destroy) "${tf[@]}" destroy -auto-approve -input=false -no-color "${vars[@]}" ;;
    esac
}
measure() {
    local tool="$1" realism_url
    say "$tool through scripts/aws-proxy ${REALISM_ARGS[*]}"
    start_proxy "$tool" "${REALISM_ARGS[@]}"
    timed "$tool" apply "$WORK/$tool-apply.log" "${tool}_cmd" apply
    timed "$tool" plan "$WORK/$tool-plan.log" "${tool}_cmd" plan
    KEPT_PID="$PROXY_PID" realism_url="$PROXY"
    PROXY_PID=""   # the realism proxy keeps running (its clocks) for the destroy
    start_proxy "$tool-plain"
    for i in 1 2 3; do timed "$tool-base" plan "$WORK/$tool-base-$i.log" "${tool}_cmd" plan; done
    start_proxy "$tool-deep" --latency-ms "$DEPTH_MS"
    timed "$tool-deep" plan "$WORK/$tool-deep.log" "${tool}_cmd" plan
    stop_proxy
    PROXY_PID="$KEPT_PID" PROXY="$realism_url" KEPT_PID=""
    timed "$tool" destroy "$WORK/$tool-destroy.log" "${tool}_cmd" destroy
    stop_proxy
    scripts/local-aws reset --port "$PORT"
}
measure strata

# --- Terraform beside it, through a fresh proxy with the same settings ---------------------------
if [ "$RUN_TF" = 1 ]; then
    TF_DIR="$WORK/terraform"
    mkdir -p "$TF_DIR"
    cp "$ROOT"/bench/terraform/*.tf "$TF_DIR/"
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
    LAMBDA_ZIP="$WORK/presign.zip"   # zipped as strata zips it (see bench/compare.sh)
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
    say "terraform init (not timed)"
    "$TERRAFORM" -chdir="$TF_DIR" init -input=false -no-color >"$WORK/terraform-init.log" 2>&1 \
        || { cat "$WORK/terraform-init.log" >&2; die "terraform init failed"; }
    TF_VERSION="$("$TERRAFORM" version | head -n 1)"
    measure terraform
fi

# --- report --------------------------------------------------------------------------------------
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "== realism benchmark: producer-consumer, scripts/aws-proxy ${REALISM_ARGS[*]}, one round =="
echo "strata:    $STRATA ($("$STRATA" --version)), commit $commit"
if [ "$RUN_TF" = 1 ]; then echo "terraform: $TF_VERSION, hashicorp/aws 5.100.0 from $MIRROR"; else echo "terraform: skipped ($TF_SKIP_REASON)"; fi
echo "machine:   $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -m | awk '/^Mem:/ {print $2}') MB RAM; $(uname -sr)"
python3 - "$RESULTS" "$WORK/prefix/graph.json" "$LATENCY_MS" "$SCALE" "$PENDING_MS" "$DEPTH_MS" <<'EOF'
import collections, functools, glob, json, sys, tomllib
results, graph_path = sys.argv[1], sys.argv[2]
L, scale, pending = float(sys.argv[3]) / 1000, float(sys.argv[4]), float(sys.argv[5]) / 1000
D = float(sys.argv[6]) / 1000
g = json.load(open(graph_path))
order, deps, types = g["order"], g["deps"], g["types"]
rows = collections.defaultdict(list)
for line in open(results):
    tool, step, secs, rc, path = line.rstrip("\n").split("\t")
    rows[tool, step].append((float(secs), int(rc), json.load(open(path))))
one = lambda tool, step: rows[tool, step][0]
own = {}

# Per-resource calls: differences between consecutive prefix stacks.
cost = {"apply": {}, "plan": {}, "destroy": {}}
overhead = {}
POLL = "lambda:GET /2015-03-31/functions/{id}/configuration"
polls = {}
for step in cost:
    prev = one("p00", step)[2]
    overhead[step] = prev["total"]
    for k, name in enumerate(order, 1):
        cur = one(f"p{k:02d}", step)[2]
        cost[step][name] = cur["total"] - prev["total"]
        if step == "apply" and types[name].startswith("lambda.function."):
            polls[name] = cur["by_operation"].get(POLL, 0) - prev["by_operation"].get(POLL, 0)
        prev = cur
# The function's repeated configuration reads are its activation wait, counted as time
# (the emulator's create-to-Active, below), not as round trips.
for name, n in polls.items():
    cost["apply"][name] -= max(0, n - 1)
print()
print("per-resource AWS calls (differences of prefix stacks, plain proxy); create without the")
print("function's activation polls:")
print(f"  {'resource':<48} {'create':>6} {'read':>5} {'delete':>6}")
print(f"  {'(fixed overhead: the empty stack)':<48} {overhead['apply']:>6} {overhead['plan']:>5} {overhead['destroy']:>6}")
for name in order:
    print(f"  {types[name]:<48} {cost['apply'][name]:>6} {cost['plan'][name]:>5} {cost['destroy'][name]:>6}")

# Propagation windows of the realism proxy (AWS's own, x scale) a resource waits for after
# a dependency of the given type was created or set its policy.
WINDOWS = {("lambda.function", "iam.role"): 8.0,
           ("s3.bucket_notification", "sqs.queue_policy"): 5.0,
           ("cloudtrail.trail", "s3.bucket_policy"): 5.0}
kind = lambda n: types[n].rsplit(".", 1)[0]

def longest(step, edges, waits, weight):
    @functools.lru_cache(maxsize=None)
    def finish(n):
        start = 0.0
        for d in edges[n]:
            wait = 0.0
            w = WINDOWS.get((kind(n), kind(d))) if waits else None
            if w is not None:   # less the dependency's calls after the one that opened the window
                wait = max(0.0, w * scale - (weight(step, d) - 1) * L)
            start = max(start, finish(d) + wait)
        own = weight(step, n) * L
        if waits and step == "apply" and kind(n) == "lambda.function":
            own += max(0.0, pending - L)   # activation, beyond the create's own round trip
        if waits and step == "destroy" and n in emptied:
            own += LATE_OBJECT * L         # the object realism drops in before DeleteBucket
        return start + own
    end = max(edges, key=finish)
    chain = [end]
    while edges[chain[-1]]:
        chain.append(max(edges[chain[-1]], key=finish))
    return finish(end), list(reversed(chain))

fwd = {n: tuple(deps[n]) for n in order}
rev = {n: tuple(m for m in order if n in deps[m]) for n in order}
calls_w = lambda step, n: cost[step][n]
one_w = lambda step, n: 1
floors, strict = {}, {}
text = {}
# realism's late-object: an object lands in each emptied (force_destroy) bucket after its
# last listing, so any tool's DeleteBucket is answered BucketNotEmpty once and the bucket
# must be listed, emptied and listed again: 4 more round trips on that bucket.
LATE_OBJECT = 4
emptied = set()
for path in glob.glob("stacks/*.toml"):
    with open(path, "rb") as f:
        emptied |= {n for n, r in tomllib.load(f).get("resources", {}).items()
                    if r.get("type") == "s3.bucket" and r.get("force_destroy") is True}
for step, edges, waits in (("apply", fwd, True), ("destroy", rev, True)):
    t, chain = longest(step, edges, waits, calls_w)
    floors[step] = overhead[step] * L + t
    t1, _ = longest(step, edges, waits, one_w)
    strict[step] = (1 if overhead[step] else 0) * L + t1
    depth = overhead[step] + sum(cost[step][n] for n in chain)
    text[step] = (f"{step} floor {floors[step]:.2f} s = {depth} round trips x {L * 1000:.0f} ms"
                  + (" + windows and activation" if step == "apply" else f" + the late object ({LATE_OBJECT} round trips per emptied bucket)")
                  + f": overhead {overhead[step]}, then " + " -> ".join(f"{n} {cost[step][n]}" for n in chain)
                  + f"; strict (1 round trip per resource) {strict[step]:.2f} s")
floors["plan"] = strict["plan"] = L
print()
print(text["apply"])
print(f"  windows at time scale {scale:g}: role 8 s before CreateFunction, queue policy 5 s before the")
print(f"  bucket notification, bucket policy 5 s before CreateTrail; Lambda activation {pending:.2f} s (boto3)")
print(text["destroy"])
print(f"no-op plan floor: 1 round trip ({L * 1000:.0f} ms); target at most 2 deep")

def answers(stats):
    faults = stats.get("faults_by_kind", {})
    bad = {s: n for s, n in stats.get("by_status", {}).items() if not s.startswith("2")}
    out = ", ".join(f"{k} {n}" for k, n in sorted(faults.items())) or "none"
    if bad:
        out += "; non-2xx " + ", ".join(f"{s}: {n}" for s, n in sorted(bad.items()))
    return out

print()
print(f"{'tool':<10} {'step':<10} {'wall s':>7} {'exit':>4} {'calls':>5} {'floor s':>7} {'x floor':>7} {'x strict':>8} {'depth':>6}  realism/throttling answers")
for tool in ("strata", "terraform"):
    for step in ("apply", "plan", "destroy"):
        if (tool, step) not in rows:
            continue
        secs, rc, stats = one(tool, step)
        depth = ""
        if step == "plan" and rows[tool + "-base", "plan"] and rows[tool + "-deep", "plan"]:
            base = min(r[0] for r in rows[tool + "-base", "plan"])
            deep = one(tool + "-deep", "plan")[0]
            depth = f"{(deep - base) / D:.1f}"
            own[tool] = (base, deep, (secs - base) / L)
        print(f"{tool:<10} {('no-op plan' if step == 'plan' else step):<10} {secs:>7.2f} {rc:>4} "
              f"{stats['total']:>5} {floors[step]:>7.2f} {secs / floors[step]:>7.2f} {secs / strict[step]:>8.2f} {depth:>6}  {answers(stats)}")
    if (tool, "apply") in rows:
        print()
print("exit 2 on a no-op plan means it reported changes (after a realism apply, e.g. stale reads).")
for tool, (base, deep, at40) in own.items():
    print(f"{tool} no-op plan depth: own time (plain proxy, min of 3) {base:.2f} s, at {D * 1000:.0f} ms/call "
          f"{deep:.2f} s -> depth {(deep - base) / D:.1f}; from the realism run itself {at40:.1f}")
print()
print("realism answers by operation:")
for (tool, step), runs in rows.items():
    if tool in ("strata", "terraform"):
        stats = runs[0][2]
        ops = ", ".join(f"{k} {n}" for k, n in sorted(stats.get("faults_by_operation", {}).items()))
        print(f"  {tool} {step}: {stats['total']} calls; answered by the proxy: {ops or 'none'}")
EOF
