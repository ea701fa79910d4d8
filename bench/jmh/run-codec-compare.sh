#!/usr/bin/env bash
# Benchmarks flowget's body path (JMH) and the reference CLIs on the very same 64 MiB data set in one run, and
# prints MB/s (10^6 bytes of decoded output per second) with the flowget/CLI ratio.
#
#   bench/jmh/run-codec-compare.sh            # short JMH settings (about 4 minutes on 2 cores)
#   JMH_OPTS="-f 1 -wi 5 -i 15 -r 1s" bench/jmh/run-codec-compare.sh
#
# The data lives in a temporary directory outside the repository and is removed at the end. Missing tools
# (gzip zstd brotli openssl b3sum jq; Debian package names equal the command names) are installed with apt-get.
# This machine is shared with other builds, so means are noisy: the table shows the best and the median of the
# JMH measurement iterations (1 s each) and of 5 wall-clock CLI runs (page cache to /dev/null), and the ratio
# of the bests, i.e. of each side's undisturbed speed. b3sum is pinned to one thread, as JMH runs one thread.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JMH_OPTS=${JMH_OPTS:-"-f 1 -wi 3 -w 1s -i 8 -r 1s"}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/flowget-codec-compare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

missing=()
for tool in gzip zstd brotli openssl b3sum jq; do
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
java -jar "$JAR" CodecBenchmark -p dataDir="$WORK" $JMH_OPTS -rf json -rff "$WORK/jmh.json" >"$WORK/jmh.log" 2>&1 || {
  tail -40 "$WORK/jmh.log" >&2
  exit 1
}

# JMH iterations are MiB/s (one op = 1 MiB of decoded output); prints "best median" in MB/s.
jmh_mbps() {
  jq -r --arg name "io.flowget.bench.CodecBenchmark.$1" '
    .[] | select(.benchmark == $name) | [.primaryMetric.rawData[][] * 1.048576] | sort
    | "\(.[-1] | round) \(.[(length / 2) | floor] | round)"' "$WORK/jmh.json"
}

# Wall-clock MB/s of a command over the plain size, 5 runs; prints "best median".
cli_mbps() {
  local start end runs=()
  for _ in 1 2 3 4 5; do
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    runs+=($((end - start)))
  done
  printf '%s\n' "${runs[@]}" | sort -n |
    awk -v b="$PLAIN_BYTES" '{ ns[NR] = $1 } END { printf "%.0f %.0f", b * 1000 / ns[1], b * 1000 / ns[3] }'
}

row() { # label, "flowget best median", cli label, "cli best median"
  local fb fm cb="-" cm="-" ratio="-"
  read -r fb fm <<<"$2"
  if [[ "$4" != "-" ]]; then
    read -r cb cm <<<"$4"
    ratio=$(awk -v a="$fb" -v b="$cb" 'BEGIN { printf "%.2f", a / b }')
  fi
  printf "| %-36s | %6s | %6s | %-22s | %6s | %6s | %6s |\n" "$1" "$fb" "$fm" "$3" "$cb" "$cm" "$ratio"
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
echo "MB/s = 10^6 decoded bytes per second; best and median of the iterations / runs; ratio = flowget best / CLI best"
echo
printf "| %-36s | %6s | %6s | %-22s | %6s | %6s | %6s |\n" "flowget (JMH, 1 thread)" "best" "median" "CLI" "best" "median" "ratio"
printf "|%s|%s|%s|%s|%s|%s|%s|\n" "--------------------------------------" "--------" "--------" \
  "------------------------" "--------" "--------" "--------"
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
