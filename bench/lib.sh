# Shared by the bench scripts (sourced, not run): messages, the emulator's dummy
# credentials, timing, and starting and stopping the emulator and scripts/aws-proxy.
#
# The script sets BENCH (its name, for messages) before sourcing, and WORK (its work
# directory) before it starts a proxy. After sourcing, the working directory is the
# repository's root (ROOT).
#
#   bench_isolate_aws        the emulator's static dummy credentials, never the user's own
#   emulator_start           a private emulator on a free port; sets PORT, UPSTREAM
#   emulator_stop            stops it (bench_cleanup does)
#   start_proxy NAME ARGS... a fresh proxy in front of UPSTREAM (files WORK/NAME.proxy.*);
#                            sets PROXY (its URL) and PROXY_PID
#   stop_proxy               stops it: SIGTERM, then SIGKILL after 2.5 s
#   stats_reset / stats_save FILE   the proxy's counters
#   now / elapsed T0 T1      wall clock, and seconds between two readings (3 decimals)
#   bench_cleanup            the EXIT trap: proxy, emulator, WORK unless BENCH_KEEP=1;
#                            a script with more to clean defines bench_cleanup_more

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

die() { echo "${BENCH:-bench}: $*" >&2; exit 1; }
say() { echo "${BENCH:-bench}: $*" >&2; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

bench_isolate_aws() {
    local name
    while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^AWS_' || true)
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
        AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        AWS_EC2_METADATA_DISABLED=true
    export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

PORT=""
UPSTREAM=""
STARTED=0
PROXY=""
PROXY_PID=""
KEPT_PID=""   # a proxy kept running while another one is in front

emulator_start() {
    "$ROOT/scripts/local-aws" install
    PORT="$(free_port)"
    STARTED=1
    UPSTREAM="$("$ROOT/scripts/local-aws" start --port "$PORT")"
    say "emulator on $UPSTREAM"
}

emulator_stop() {
    if [ "$STARTED" = 1 ]; then
        "$ROOT/scripts/local-aws" stop --port "$PORT" >/dev/null 2>&1 \
            || say "could not stop the emulator; run: scripts/local-aws stop --port $PORT"
        STARTED=0
    fi
}

stop_proxy() {
    if [ -n "$PROXY_PID" ] && kill -0 "$PROXY_PID" 2>/dev/null; then
        kill -TERM "$PROXY_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$PROXY_PID" 2>/dev/null || true
    fi
    PROXY_PID=""
}

start_proxy() {
    local name="$1"; shift
    stop_proxy
    rm -f "$WORK/$name.proxy.out" "$WORK/$name.proxy.pid"
    "$ROOT/scripts/aws-proxy" --upstream "$UPSTREAM" --pid-file "$WORK/$name.proxy.pid" "$@" \
        >"$WORK/$name.proxy.out" 2>"$WORK/$name.proxy.err" &
    PROXY_PID=$!
    for _ in $(seq 1 200); do
        if [ -s "$WORK/$name.proxy.out" ] && [ -s "$WORK/$name.proxy.pid" ]; then break; fi
        kill -0 "$PROXY_PID" 2>/dev/null || { cat "$WORK/$name.proxy.err" >&2; die "the proxy did not start"; }
        sleep 0.05
    done
    [ -s "$WORK/$name.proxy.out" ] || die "the proxy did not print its URL within 10 s"
    PROXY_PID="$(cat "$WORK/$name.proxy.pid")"
    PROXY="$(head -n 1 "$WORK/$name.proxy.out")"
}

stats_reset() { curl -sf -o /dev/null -X POST "$PROXY/_proxy/reset" || die "cannot reset the proxy's counters"; }
stats_save() { curl -sf "$PROXY/_proxy/stats" >"$1" || die "cannot read the proxy's counters"; }

bench_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if declare -F bench_cleanup_more >/dev/null; then bench_cleanup_more || true; fi
    stop_proxy
    PROXY_PID="$KEPT_PID"; stop_proxy
    emulator_stop
    if [ -n "${WORK:-}" ]; then
        if [ "${BENCH_KEEP:-0}" = 1 ]; then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
    fi
    exit "$rc"
}

bench_traps() {
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
