#!/usr/bin/env bash
# Throughput and peak memory of `strata send` / `strata receive` against boto3's transfer
# manager, moving the same files to and from the same local emulator in one run.
#
# One emulator (scripts/local-aws), the producer-consumer stack applied on it. Then:
#   - one file of BENCH_LARGE_MIB (default 1024 MiB) and BENCH_SMALL_COUNT (default 200)
#     files of 1 MiB, random bytes;
#   - strata: `send` of the large file (no AWS credentials: presigned URLs from the deployed
#     function, multipart above 8 MiB), `receive --max 1` of it (presigned ranged GETs), then
#     `send` of the small files in one command and `receive --max N` of them;
#   - boto3 (the emulator's venv): upload_file / download_file with the default
#     TransferConfig (8 MiB threshold and chunks, 10 threads), straight to S3 with
#     credentials, under another prefix (no notifications): the large file, then the small
#     files one after another (a plain loop, what a script would do) and with 10 threads.
# Each command runs under /usr/bin/time -v: wall time, peak RSS. Received files are checked
# (sha256) against the sent ones. Prints a Markdown table.
#
# usage: bench/transfer.sh
# env:
#   STRATA            strata binary (default $CARGO_TARGET_DIR/release/strata, else
#                     target/release/strata)
#   BENCH_LARGE_MIB   size of the large file in MiB (default 1024)
#   BENCH_SMALL_COUNT number of 1 MiB files (default 200)
#   BENCH_KEEP        set to 1 to keep the work directory
set -euo pipefail

BENCH=transfer
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
STRATA="${STRATA:-$TARGET/release/strata}"
LARGE_MIB="${BENCH_LARGE_MIB:-1024}"
SMALL_COUNT="${BENCH_SMALL_COUNT:-200}"
PYTHON="${STRATA_LOCAL_DIR:-$ROOT/.local}/aws-venv/bin/python"

[ -x "$STRATA" ] || die "$STRATA not found (cargo build --release, or set STRATA)"
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is needed for peak memory"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/strata-bench-transfer.XXXXXX")"
bench_traps
bench_isolate_aws
unset STRATA_STATE_DIR
emulator_start
ENDPOINT="$UPSTREAM"
cp -r stacks "$WORK/stacks"
rm -rf "$WORK/stacks/functions/presign/__pycache__"
STACK="$WORK/stacks/producer-consumer.toml"
(cd "$WORK" && "$STRATA" apply "$STACK" --auto-approve --endpoint-url "$ENDPOINT" >/dev/null)
output() { (cd "$WORK" && "$STRATA" output "$STACK" "$1"); }
BUCKET="$(output content_bucket)"

say "writing the files ($LARGE_MIB MiB, $SMALL_COUNT x 1 MiB)"
mkdir -p "$WORK/large" "$WORK/small"
head -c "$((LARGE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/large/large.bin"
for i in $(seq 1 "$SMALL_COUNT"); do
    head -c 1048576 /dev/urandom >"$WORK/small/f$i.bin"
done

ROWS=()
# measure NAME BYTES COMMAND...: runs COMMAND under /usr/bin/time -v (in $WORK), adds a row.
measure() {
    local name="$1" bytes="$2"
    shift 2
    local log="$WORK/time-$(echo "$name" | tr -c 'a-zA-Z0-9' '_').log"
    if ! (cd "$WORK" && /usr/bin/time -v "$@" >"$log.out" 2>"$log"); then
        cat "$log.out" "$log" >&2
        die "$name failed"
    fi
    local wall rss
    wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")"
    rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")"
    local seconds
    seconds="$(echo "$wall" | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')"
    local mbs
    mbs="$(awk -v b="$bytes" -v s="$seconds" 'BEGIN { printf "%.1f", b / 1000000 / s }')"
    ROWS+=("| $name | $seconds s | $mbs MB/s | $((rss / 1024)) MB |")
    say "$name: $seconds s, $mbs MB/s, peak RSS $((rss / 1024)) MB"
}

# The producer runs without credentials: its environment has none.
PRODUCER=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_REGION
    AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent)

LARGE_BYTES=$((LARGE_MIB * 1024 * 1024))
SMALL_BYTES=$((SMALL_COUNT * 1024 * 1024))

measure "strata send, 1 x $LARGE_MIB MiB" "$LARGE_BYTES" \
    "${PRODUCER[@]}" "$STRATA" send --stack "$STACK" "$WORK/large/large.bin" --json
measure "strata receive, 1 x $LARGE_MIB MiB" "$LARGE_BYTES" \
    "$STRATA" receive --stack "$STACK" --endpoint-url "$ENDPOINT" --out "$WORK/got" --max 1 --wait 5 --json
cmp "$WORK/large/large.bin" "$WORK/got/input/large.bin" || die "the received large file differs"
rm -f "$WORK/got/input/large.bin"

measure "strata send, $SMALL_COUNT x 1 MiB" "$SMALL_BYTES" \
    "${PRODUCER[@]}" "$STRATA" send --stack "$STACK" "$WORK"/small/*.bin --json
measure "strata receive, $SMALL_COUNT x 1 MiB" "$SMALL_BYTES" \
    "$STRATA" receive --stack "$STACK" --endpoint-url "$ENDPOINT" --out "$WORK/got" --max "$SMALL_COUNT" --wait 5 --json
for i in $(seq 1 "$SMALL_COUNT"); do
    cmp -s "$WORK/small/f$i.bin" "$WORK/got/input/f$i.bin" || die "received f$i.bin differs"
done
rm -rf "$WORK/got"

cat >"$WORK/boto.py" <<'EOF'
"""boto3's transfer manager with the default TransferConfig: python boto.py MODE ARGS."""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3

s3 = boto3.client("s3", endpoint_url=os.environ["BENCH_ENDPOINT"])
bucket = os.environ["BENCH_BUCKET"]
mode, args = sys.argv[1], sys.argv[2:]
if mode == "up":
    for path in args:
        s3.upload_file(path, bucket, "boto/" + os.path.basename(path))
elif mode == "down":
    out = args.pop(0)
    os.makedirs(out, exist_ok=True)
    for path in args:
        name = os.path.basename(path)
        s3.download_file(bucket, "boto/" + name, os.path.join(out, name))
elif mode == "up10":
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda p: s3.upload_file(p, bucket, "boto10/" + os.path.basename(p)), args))
elif mode == "down10":
    out = args.pop(0)
    os.makedirs(out, exist_ok=True)
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda p: s3.download_file(bucket, "boto10/" + os.path.basename(p),
                                                 os.path.join(out, os.path.basename(p))), args))
EOF
export BENCH_ENDPOINT="$ENDPOINT" BENCH_BUCKET="$BUCKET"
measure "boto3 upload_file, 1 x $LARGE_MIB MiB" "$LARGE_BYTES" \
    "$PYTHON" "$WORK/boto.py" up "$WORK/large/large.bin"
measure "boto3 download_file, 1 x $LARGE_MIB MiB" "$LARGE_BYTES" \
    "$PYTHON" "$WORK/boto.py" down "$WORK/boto-got" "$WORK/large/large.bin"
cmp "$WORK/large/large.bin" "$WORK/boto-got/large.bin" || die "boto3's large file differs"
rm -rf "$WORK/boto-got"
measure "boto3 upload_file loop, $SMALL_COUNT x 1 MiB" "$SMALL_BYTES" \
    "$PYTHON" "$WORK/boto.py" up "$WORK"/small/*.bin
measure "boto3 download_file loop, $SMALL_COUNT x 1 MiB" "$SMALL_BYTES" \
    "$PYTHON" "$WORK/boto.py" down "$WORK/boto-got" "$WORK"/small/*.bin
measure "boto3 upload_file, 10 threads, $SMALL_COUNT x 1 MiB" "$SMALL_BYTES" \
    "$PYTHON" "$WORK/boto.py" up10 "$WORK"/small/*.bin
measure "boto3 download_file, 10 threads, $SMALL_COUNT x 1 MiB" "$SMALL_BYTES" \
    "$PYTHON" "$WORK/boto.py" down10 "$WORK/boto-got10" "$WORK"/small/*.bin

echo
echo "$(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); strata: $STRATA"
echo
echo "| run | wall | throughput | peak RSS |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
