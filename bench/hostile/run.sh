#!/usr/bin/env bash
# Issue 13's hostile list: 119 URLs on three loopback hosts (127.0.0.61-63, port 18613) — 94 healthy 100 KiB
# files, 4 trickling at 1 byte/s, 4 head-then-silence, 4 accepted-never-answered, 6 that stall after 10 KiB,
# 4 permanent 500, 2 x 503 with Retry-After 1-3 s then 200, one 64 MiB file — downloaded by `flowget run` with
# default settings. Prints the summary lines, the progress lines (stdout is a file, so they are logged on stderr
# every 10 s) and the wall time. Expect 97 OK, 22 FAILED (exit 2), every bad URL FAILED about 60 s after its
# first request. Usage: bench/hostile/run.sh [WORKDIR]   (default: a new temp dir, kept for inspection)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:-$(mktemp -d /tmp/flowget-hostile-XXXX)}"
mkdir -p "$work"
python3 "$here/origin.py" 18613 > "$work/origin.log" 2>&1 &
origin=$!
trap 'kill "$origin" 2>/dev/null || true' EXIT
sleep 1
start=$(date +%s%N)
status=0
"$here/../../flowget" run --urls "$here/urls.txt" --out "$work/out" --results "$work/results.jsonl" \
  --state-dir "$work/state" > "$work/run.out" 2> "$work/run.err" || status=$?
end=$(date +%s%N)
cat "$work/run.out"
grep "progress:" "$work/run.err" || true
echo "exit $status, wall $(( (end - start) / 1000000 )) ms, files in $work"
