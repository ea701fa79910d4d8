#!/usr/bin/env bash
# The chaos soak (chaos/README.md, "Local runner"): the long versions of the local experiments, tagged "slow"
# and skipped by `mvn verify`. Prints the figures of this run (job/target/chaos-report.md) at the end.
# Usage: chaos/soak.sh [extra maven args, e.g. -o for offline]
set -euo pipefail
root="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
report=job/target/chaos-report.md
rm -f "$report"
status=0
# The experiments are *ITCase: failsafe runs them, straight after test-compile (no jar packaging).
mvn -q -Pslow -pl job -am test-compile failsafe:integration-test failsafe:verify \
  -Dit.test='Chaos*ITCase#soak*' "$@" || status=$?
echo "== chaos soak figures ($report)"
cat "$report" 2>/dev/null || echo "(no figures: see job/target/failsafe-reports/)"
exit "$status"
