#!/usr/bin/env bash
# flowget benchmark: flowget against aria2c, curl and wget2, and the machine's own ceilings,
# all on loopback, in one command.
#
#   bench/run.sh [--quick] [--only WORKLOAD...] [--tools TOOL...]
#       WORKLOAD: ceilings small medium large      (default: all)
#       TOOL:     flowget flowget-daemon aria2c curl wget2   (default: all but flowget-daemon)
#
# This wrapper only makes a fresh Debian 12 machine ready (missing packages, quietly and
# idempotently) and clears proxy settings; bench/harness.py does the work: data, origin,
# alternated runs, checks and the table. Knobs (environment) are listed in bench/README.md.
# flowget's jar is fixed at the start: built when stale, then a read-only copy is measured, so
# an edit in the working tree during the pass changes nothing (bench/README.md, "Which build").
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)

# Loopback only: a proxy setting must never route a benchmark request elsewhere.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY ftp_proxy FTP_PROXY
export no_proxy='*' NO_PROXY='*'

# command -> Debian package; nginx-light is enough (static files + stub_status).
need_pkgs() {
  local cmd pkg missing=()
  while read -r cmd pkg; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done <<'EOF'
nginx nginx-light
aria2c aria2
wget2 wget2
wrk wrk
curl curl
/usr/bin/time time
timeout coreutils
openssl openssl
python3 python3
findmnt util-linux
EOF
  echo "${missing[@]:-}"
}

install_missing() {
  local missing
  missing=$(need_pkgs)
  [[ -z "${missing// /}" ]] && return 0
  if [[ $(id -u) != 0 ]]; then
    echo "missing packages: $missing (run as root, or install them: apt-get install $missing)" >&2
    exit 1
  fi
  echo "installing: $missing" >&2
  # Debian starts a package's service on install (nginx would listen on *:80); a policy-rc.d
  # that says 101 forbids that. Put one in place only for the install, if there is none.
  local own_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get -qq update &&
      # shellcheck disable=SC2086  # word splitting of the package list is intended
      DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends $missing
  } > /var/tmp/flowget-bench-apt.log 2>&1 || rc=$?
  [[ $own_policy == 1 ]] && rm -f /usr/sbin/policy-rc.d
  if [[ $rc != 0 ]]; then
    echo "package install failed (log: /var/tmp/flowget-bench-apt.log)" >&2
    tail -n 20 /var/tmp/flowget-bench-apt.log >&2
    exit 1
  fi
  missing=$(need_pkgs)
  [[ -z "${missing// /}" ]] || { echo "still missing after install: $missing" >&2; exit 1; }
}

install_missing

# Prefer the system interpreter: the harness uses only the standard library.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

# The harness owns the origin (nginx) and stops it itself; this trap is the safety net for
# the case where the harness dies without running its own clean-up (e.g. SIGKILL).
WORK=${BENCH_WORK:-/var/tmp/flowget-bench/work}
cleanup() {
  local pidf="$WORK/origin/nginx.pid" pid
  if [[ -f $pidf ]]; then
    pid=$(cat "$pidf" 2>/dev/null || true)
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && kill -QUIT "$pid" 2>/dev/null || true
  fi
  local goal="$WORK/inode-goal.restore"
  if [[ -f $goal ]]; then
    # "<knob path> <original value>", written by the harness while it moved the knob
    read -r knob value < "$goal" || true
    [[ -n ${knob:-} && -w $knob ]] && echo "${value:-0}" > "$knob" 2>/dev/null || true
    rm -f "$goal"
  fi
}
trap cleanup EXIT

# The harness runs in the background so that a signal to this script is handled at once (bash
# defers traps while a foreground child runs): it is passed on to the harness, which stops its
# current command, the origin and the inode-goal rotation itself, then this script exits.
"$PY" "$HERE/harness.py" "$@" &
HARNESS=$!
stop_harness() { kill -TERM "$HARNESS" 2>/dev/null || true; wait "$HARNESS" 2>/dev/null || true; exit "$1"; }
trap 'stop_harness 130' INT
trap 'stop_harness 143' TERM
trap 'stop_harness 129' HUP
rc=0
wait "$HARNESS" || rc=$?
exit "$rc"
