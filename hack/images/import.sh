#!/usr/bin/env bash
# Imports the images built by hack/images/build.sh that changed into the containerd of every running node
# of the local cluster (the import step of hack/cluster/up.sh, without touching anything else).
# Usage: hack/images/import.sh [--build]   (--build runs hack/images/build.sh first)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../cluster/config.sh"
. "$here/../cluster/node.sh"
[ "${1:-}" = --build ] && "$here/build.sh" >/dev/null
for node in "${NODES[@]}"; do
  if running "$node-containerd"; then
    import_images "$node"
    echo "imported into $node"
  else
    echo "skipped $node: containerd is not running" >&2
  fi
done
