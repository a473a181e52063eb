#!/usr/bin/env bash
# Reports the local cluster: each process and the nodes. Exit status 0 when everything runs and all nodes are Ready.
# --quiet prints nothing.
set -uo pipefail
. "$(dirname "$0")/config.sh"
quiet=${1:-}
say() { [ "$quiet" = --quiet ] || echo "$@"; }
ok=0
for name in etcd kube-apiserver kube-controller-manager kube-scheduler coredns provisioner \
  $(for n in "${NODES[@]}"; do echo "$n-containerd $n-kubelet $n-kube-proxy"; done); do
  if running "$name"; then say "running  $name (pid $(cat "$(pidfile "$name")"))"; else say "stopped  $name"; ok=1; fi
done
if [ -f "$CLUSTER_DIR/admin.kubeconfig" ] && nodes=$(kubectl get nodes -o wide --request-timeout=5s 2>&1); then
  say "$nodes"
  [ "$(echo "$nodes" | awk 'NR > 1 && $2 == "Ready"' | wc -l)" -eq "${#NODES[@]}" ] || ok=1
else
  say "API server unreachable"; ok=1
fi
exit $ok
