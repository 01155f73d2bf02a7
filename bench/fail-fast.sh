#!/usr/bin/env bash
# How long strata takes to refuse what it cannot work with. The tests assert what these runs
# print and that they send nothing (tests/it/bad_input.rs, credentials.rs, resource_fixes.rs);
# their timings are measured here instead, where a slow machine is a number, not a failure.
#
# Each case runs `strata plan` on a one-queue stack, BENCH_ROUNDS times; the median and the
# slowest wall time are printed:
#   malformed-endpoint   --endpoint-url ftp://127.0.0.1:4566, refused before any call
#   unreachable          --endpoint-url http://127.0.0.1:1 (nothing listens there)
#   sso-no-login         an SSO profile never logged in (no cached token)
#   credential-process   a credential_process that exits 3
#   throttled            every call answered with throttling by scripts/aws-proxy: the
#                        SDK's whole retry budget (8 attempts) on GetCallerIdentity
# No emulator is needed: nothing ever gets an answer from AWS.
#
# usage: bench/fail-fast.sh
# env:
#   BENCH_ROUNDS       rounds per case (default 5)
#   STRATA             strata binary (default target/debug/strata)
#   BENCH_KEEP         set to 1 to keep the work directory
set -euo pipefail

BENCH=fail-fast
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS="${BENCH_ROUNDS:-5}"
STRATA="${STRATA:-$ROOT/target/debug/strata}"

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer (got '$ROUNDS')"
[ -x "$STRATA" ] || die "no strata binary at $STRATA (cargo build, or set STRATA)"

# Nothing of the caller's own AWS or strata settings.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(AWS_|STRATA_)' || true)
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true NO_COLOR=1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-bench-fail-fast.XXXXXX")"
bench_traps

cd "$WORK"
printf '[stack]\nname = "bench"\n\n[resources.jobs]\ntype = "sqs.queue"\nname = "bench-jobs"\n' >stack.toml
mkdir -p home/.aws
cat >home/.aws/config <<'EOF'
[profile sso-dev]
sso_session = corp
sso_account_id = 111111111111
sso_role_name = Deployer
region = us-east-1

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1

[profile vault]
credential_process = /bin/sh -c 'echo locked >&2; exit 3'
EOF
: >home/.aws/credentials

# A proxy that throttles every call and forwards none.
UPSTREAM=http://127.0.0.1:1
start_proxy throttling --fault-rate 1 --seed 1 --fault-kinds throttle
THROTTLING="$PROXY"

keys() { env AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$@"; }
profile() {
    local name="$1"; shift
    env HOME="$WORK/home" AWS_CONFIG_FILE="$WORK/home/.aws/config" \
        AWS_SHARED_CREDENTIALS_FILE="$WORK/home/.aws/credentials" AWS_PROFILE="$name" "$@"
}

# Runs one case ROUNDS times (each must exit 1) and prints its median and slowest time.
measure() {
    local case="$1"; shift
    local times=() start end
    for _ in $(seq 1 "$ROUNDS"); do
        start=$(date +%s%N)
        if "$@" >/dev/null 2>"$WORK/$case.err"; then
            die "$case: strata succeeded; expected a refusal"
        fi
        end=$(date +%s%N)
        times+=("$(( (end - start) / 1000000 ))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v c="$case" '
        { t[NR] = $1 / 1000 } END { printf "%-20s median %6.3f s   slowest %6.3f s\n", c, t[int((NR + 1) / 2)], t[NR] }'
}

echo "strata refusing bad input, $ROUNDS rounds each ($STRATA)"
measure malformed-endpoint keys "$STRATA" plan stack.toml --endpoint-url ftp://127.0.0.1:4566
measure unreachable keys "$STRATA" plan stack.toml --endpoint-url http://127.0.0.1:1
measure sso-no-login profile sso-dev "$STRATA" plan stack.toml --endpoint-url http://127.0.0.1:1
measure credential-process profile vault "$STRATA" plan stack.toml --endpoint-url http://127.0.0.1:1
measure throttled keys "$STRATA" plan stack.toml --endpoint-url "$THROTTLING"
