#!/usr/bin/env bash
# Benchmarks flowget's encrypted body path (JMH DecryptBenchmark, one thread) against OpenSSL's AES-256-GCM
# decryption on one core (`openssl speed -decrypt -evp aes-256-gcm`, 16 KiB blocks) in one run, and prints MB/s
# (10^6 plaintext bytes per second) with the flowget/openssl ratio. `openssl enc` cannot decrypt GCM (it refuses
# AEAD ciphers), so `openssl speed` is the reference: raw cipher speed, no file, no decompression, no digest.
#
#   bench/jmh/run-decrypt-compare.sh            # short JMH settings (about 3 minutes on 2 cores)
#   JMH_OPTS="-f 1 -wi 5 -i 15 -r 1s" bench/jmh/run-decrypt-compare.sh
#
# openssl runs 5 times before and 5 times after JMH (1 s each); the table shows best and median of its 10 runs
# and of the JMH measurement iterations, and the ratio of the bests (each side's undisturbed speed), because the
# machine is shared with other builds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
JMH_OPTS=${JMH_OPTS:-"-f 1 -wi 3 -w 1s -i 8 -r 1s"}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/flowget-decrypt-compare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

for tool in openssl jq; do
  command -v "$tool" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
  }
done

JAR="$ROOT/bench/jmh/target/benchmarks.jar"
if [[ -z "${SKIP_BUILD:-}" || ! -f "$JAR" ]]; then
  echo "building the benchmark jar" >&2
  (cd "$ROOT" && mvn -q -Pjmh -pl bench/jmh -am -DskipTests package) >&2
fi

openssl_runs() { # appends 5 one-second runs of openssl speed, in MB/s, to $WORK/openssl.txt
  for _ in 1 2 3 4 5; do
    openssl speed -seconds 1 -bytes 16384 -decrypt -evp aes-256-gcm 2>/dev/null |
      awk '/^AES-256-GCM/ { sub(/k$/, "", $2); printf "%.0f\n", $2 / 1000 }' >>"$WORK/openssl.txt"
  done
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
openssl_runs
echo "running JMH ($JMH_OPTS)" >&2
# shellcheck disable=SC2086
java -jar "$JAR" DecryptBenchmark $JMH_OPTS -rf json -rff "$WORK/jmh.json" >"$WORK/jmh.log" 2>&1 || {
  tail -40 "$WORK/jmh.log" >&2
  exit 1
}
openssl_runs

# JMH iterations are MiB/s (one op = 1 MiB of plaintext); prints "best median" in MB/s.
jmh_mbps() {
  jq -r --arg name "io.flowget.bench.DecryptBenchmark.$1" '
    .[] | select(.benchmark == $name) | [.primaryMetric.rawData[][] * 1.048576] | sort
    | "\(.[-1] | round) \(.[(length / 2) | floor] | round)"' "$WORK/jmh.json"
}
OSSL=$(sort -n "$WORK/openssl.txt" | awk '{ v[NR] = $1 } END { printf "%d %d", v[NR], v[int((NR + 1) / 2)] }')
read -r ob om <<<"$OSSL"

row() { # label, "best median"
  local fb fm
  read -r fb fm <<<"$2"
  printf "| %-40s | %6s | %6s | %6s |\n" "$1" "$fb" "$fm" "$(awk -v a="$fb" -v b="$ob" 'BEGIN { printf "%.3f", a / b }')"
}

echo
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(java -version 2>&1 | head -1); $(openssl version)"
echo "load average: $LOAD_START before, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other processes share these cores)"
echo "openssl speed -decrypt -evp aes-256-gcm (16 KiB blocks, one core): best $ob, median $om MB/s"
echo
echo "MB/s = 10^6 plaintext bytes per second; best and median of the JMH iterations; ratio = flowget best / openssl best"
echo
printf "| %-40s | %6s | %6s | %6s |\n" "flowget (JMH, 1 thread, 64 MiB)" "best" "median" "ratio"
printf "|%s|%s|%s|%s|\n" "------------------------------------------" "--------" "--------" "--------"
row "AES-256-GCM decrypt (CTR + tag)" "$(jmh_mbps gcmDecrypt)"
row "Tink 1 MiB segments decrypt" "$(jmh_mbps tink1mDecrypt)"
row "Tink 4 KiB segments decrypt" "$(jmh_mbps tink4kDecrypt)"
row "Range-chunk path, Tink 1 MiB segments" "$(jmh_mbps tink1mSegments)"
row "Range-chunk path, Tink 4 KiB segments" "$(jmh_mbps tink4kSegments)"
row "pipeline AES-256-GCM + SHA-256" "$(jmh_mbps gcmPipeline)"
row "pipeline AES-256-GCM + zstd + SHA-256" "$(jmh_mbps gcmZstdPipeline)"
row "pipeline Tink 1 MiB + SHA-256" "$(jmh_mbps tink1mPipeline)"
row "pipeline Tink 1 MiB + zstd + SHA-256" "$(jmh_mbps tink1mZstdPipeline)"
