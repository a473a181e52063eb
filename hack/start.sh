#!/usr/bin/env bash
# `npm start`: uses the configured cluster (KUBECONFIG, or ~/.kube/config when it is not the local one),
# or else brings up the local three-node cluster of hack/cluster; installs the CRDs; runs the operator.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash hack/deps.sh
if [ -z "${KUBECONFIG:-}" ] && { [ ! -f "$HOME/.kube/config" ] || grep -q 'name: pgo-local' "$HOME/.kube/config"; }; then
  bash hack/cluster/up.sh
  export KUBECONFIG=${PGO_CLUSTER_DIR:-/var/lib/pgo-local}/admin.kubeconfig
fi
npx --no-install tsx hack/install-crds.ts
# The operator runs as compiled JavaScript (npm run build), as in its image.
node hack/build.mjs
exec node dist/operator.mjs
