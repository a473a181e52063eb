#!/usr/bin/env bash
# The whole test suite: installs what is missing, then runs every tier and prints `N passed, N failed`.
#   unit       nothing external
#   pg         real PostgreSQL 15 processes (Debian) started per suite
#   apiserver  real etcd + kube-apiserver started per suite
#   cluster    the local three-node cluster of hack/cluster, brought up first and torn down at the end
# PGO_TEST_TIERS="unit apiserver" chooses tiers; PGO_KEEP_CLUSTER=1 leaves the cluster running.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash hack/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

results=$(mktemp)
export PGO_TEST_RESULTS=$results
status=0
for tier in ${PGO_TEST_TIERS:-unit pg apiserver cluster}; do
  echo "== $tier tests"
  if [ "$tier" = cluster ]; then
    bash hack/cluster/up.sh --fresh || { echo "0 1" >> "$results"; status=1; continue; }
  fi
  npx --no-install tsx tests/run.ts "tests/$tier" || status=1
  [ "$tier" = cluster ] && [ -z "${PGO_KEEP_CLUSTER:-}" ] && bash hack/cluster/down.sh
done
read -r passed failed < <(awk '{ p += $1; f += $2 } END { print p + 0, f + 0 }' "$results")
rm -f "$results"
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1   # a tier that crashed before counting
echo "$passed passed, $failed failed"
exit "$status"
