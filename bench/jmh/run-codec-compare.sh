#!/usr/bin/env bash
# Benchmarks flowget's body path (JMH) and the reference CLIs on the very same 64 MiB data set in one run, and
# prints MB/s (10^6 bytes of decoded output per second) with the flowget/CLI ratio.
#
#   bench/jmh/run-codec-compare.sh            # short JMH settings (about 4 minutes on 2 cores)
#   JMH_OPTS="-wi 3 -i 5" bench/jmh/run-codec-compare.sh
#
# The data lives in a temporary directory outside the repository and is removed at the end. Missing CLIs
# (gzip zstd brotli openssl b3sum; Debian package names equal the command names) are installed with apt-get.
# CLI figures are the best of 3 wall-clock runs reading from the page cache and writing to /dev/null; b3sum
# is pinned to one thread to compare single-core speed, as JMH runs one thread.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JMH_OPTS=${JMH_OPTS:-"-f 1 -wi 2 -w 2s -i 3 -r 3s"}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/flowget-codec-compare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

missing=()
for tool in gzip zstd brotli openssl b3sum; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "installing ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "building the benchmark jar" >&2
(cd "$ROOT" && mvn -q -Pjmh -pl bench/jmh -am -DskipTests package) >&2
JAR="$ROOT/bench/jmh/target/benchmarks.jar"

java -cp "$JAR" io.flowget.bench.BenchData "$WORK" >&2
PLAIN_BYTES=$(stat -c %s "$WORK/plain.log")

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "running JMH ($JMH_OPTS)" >&2
# shellcheck disable=SC2086
java -jar "$JAR" CodecBenchmark -p dataDir="$WORK" $JMH_OPTS -rf csv -rff "$WORK/jmh.csv" >"$WORK/jmh.log" 2>&1 || {
  tail -40 "$WORK/jmh.log" >&2
  exit 1
}

# JMH score is MiB/s (one op = 1 MiB of decoded output); print MB/s with JMH's 99.9% error.
jmh_mbps() {
  awk -F, -v name="\"io.flowget.bench.CodecBenchmark.$1\"" \
    '$1 == name { printf "%.0f ±%.0f", $5 * 1.048576, $6 * 1.048576 }' "$WORK/jmh.csv"
}

# Best-of-3 wall-clock MB/s of a command over the plain size.
cli_mbps() {
  local best="" start end elapsed
  for _ in 1 2 3; do
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    elapsed=$((end - start))
    if [[ -z "$best" || "$elapsed" -lt "$best" ]]; then best=$elapsed; fi
  done
  awk -v b="$PLAIN_BYTES" -v ns="$best" 'BEGIN { printf "%.0f", b * 1000 / ns }'
}

row() { # label, flowget MB/s, cli label, cli MB/s
  local ratio="-"
  if [[ -n "$4" && "$4" != "-" ]]; then ratio=$(awk -v a="${2%% *}" -v b="$4" 'BEGIN { printf "%.2f", a / b }'); fi
  printf "| %-36s | %11s | %-28s | %9s | %6s |\n" "$1" "$2" "$3" "$4" "$ratio"
}

GZ_CLI=$(cli_mbps gzip -dc "$WORK/plain.log.gz")
ZST_CLI=$(cli_mbps zstd -qdc "$WORK/plain.log.zst")
BR_CLI=$(cli_mbps brotli -dc "$WORK/plain.log.br")
SHA_CLI=$(cli_mbps openssl dgst -sha256 "$WORK/plain.log")
B3_CLI=$(cli_mbps b3sum --num-threads 1 "$WORK/plain.log")

echo
echo "data: $PLAIN_BYTES bytes of log-like text; gzip $(stat -c %s "$WORK/plain.log.gz"), zstd $(stat -c %s "$WORK/plain.log.zst"), br $(stat -c %s "$WORK/plain.log.br") bytes"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(java -version 2>&1 | head -1)"
echo "load average: $LOAD_START before JMH, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other processes share these cores)"
echo
printf "| %-36s | %11s | %-28s | %9s | %6s |\n" "flowget (JMH, 1 thread)" "MB/s" "CLI" "MB/s" "ratio"
printf "|%s|%s|%s|%s|%s|\n" "--------------------------------------" "-------------" "------------------------------" "-----------" "--------"
row "gzip decode" "$(jmh_mbps gzipDecode)" "gzip -dc" "$GZ_CLI"
row "zstd decode" "$(jmh_mbps zstdDecode)" "zstd -dc" "$ZST_CLI"
row "br decode" "$(jmh_mbps brDecode)" "brotli -dc" "$BR_CLI"
row "SHA-256" "$(jmh_mbps sha256)" "openssl dgst -sha256" "$SHA_CLI"
row "BLAKE3" "$(jmh_mbps blake3)" "b3sum --num-threads 1" "$B3_CLI"
row "pipeline gzip + SHA-256" "$(jmh_mbps gzipPipeline)" "-" "-"
row "pipeline zstd + SHA-256" "$(jmh_mbps zstdPipeline)" "-" "-"
row "pipeline br + SHA-256" "$(jmh_mbps brPipeline)" "-" "-"
row "pipeline identity + SHA-256" "$(jmh_mbps identityPipeline)" "-" "-"
row "pipeline identity + SHA-256 + BLAKE3" "$(jmh_mbps identityPipelineBlake3)" "-" "-"
