#!/usr/bin/env bash
# The whole test suite: installs what is missing, then runs every tier (unit, apiserver) and prints
# `N passed, N failed`. Tiers: PGO_TEST_TIERS="unit apiserver" to choose.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash hack/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

results=$(mktemp)
export PGO_TEST_RESULTS=$results
status=0
for tier in ${PGO_TEST_TIERS:-unit apiserver}; do
  echo "== $tier tests"
  npx --no-install tsx tests/run.ts "tests/$tier" || status=1
done
read -r passed failed < <(awk '{ p += $1; f += $2 } END { print p + 0, f + 0 }' "$results")
rm -f "$results"
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1   # a tier that crashed before counting
echo "$passed passed, $failed failed"
exit "$status"
