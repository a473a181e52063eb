#!/usr/bin/env bash
# Tears the local cluster down and leaves nothing behind but the image caches.
set -euo pipefail
. "$(dirname "$0")/config.sh"
. "$(dirname "$0")/node.sh"
. "$(dirname "$0")/cleanup.sh"
cleanup_cluster
if [ -f "$KUBECONFIG_OUT" ] && grep -q 'name: pgo-local' "$KUBECONFIG_OUT"; then rm -f "$KUBECONFIG_OUT"; fi
echo "local cluster removed"
