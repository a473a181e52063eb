#!/usr/bin/env bash
# Fault controls for tests on the local cluster:
#   fault.sh node-stop NODE          power-cut a node: kubelet, kube-proxy, containerd and its containers die
#   fault.sh node-start NODE         start a stopped node again
#   fault.sh net-cut NODE            cut the node off the network (host, apiserver and other nodes)
#   fault.sh net-restore NODE        reconnect it
#   fault.sh kill NS/POD [CONTAINER] SIGKILL a container's main process
#   fault.sh freeze NS/POD [CONTAINER]  freeze every process of a container (cgroup freezer)
#   fault.sh thaw NS/POD [CONTAINER]    thaw it
#   fault.sh freezer NS/POD [CONTAINER] print the container's freezer.state file (to freeze and thaw it on time)
#   fault.sh pid NS/POD [CONTAINER]  print the host PID of a container's main process
#   fault.sh refuse-new NS/POD PORT  drop new TCP connections to PORT in the pod (open ones keep working)
#   fault.sh accept-new NS/POD PORT  undo refuse-new
#   fault.sh control-cut NODE        cut the node off the control plane (API server, operator: the host) only;
#                                    its pods still reach, and are reached by, the other nodes' pods
#   fault.sh control-restore NODE    undo control-cut
#   fault.sh apiserver-restart [S]   kill the kube-apiserver and start it again S seconds later (default 5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
. "$here/node.sh"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# container_id NS/POD [CONTAINER] -> "NODE ID"
container_of() {
  local ns=${1%%/*} pod=${1#*/} container=${2:-} node id
  [ "$ns" != "$1" ] || { echo "expected NAMESPACE/POD, got '$1'" >&2; exit 2; }
  node=$(kubectl get pod -n "$ns" "$pod" -o jsonpath='{.spec.nodeName}')
  if [ -n "$container" ]; then
    id=$(kubectl get pod -n "$ns" "$pod" -o jsonpath="{.status.containerStatuses[?(@.name==\"$container\")].containerID}")
  else
    id=$(kubectl get pod -n "$ns" "$pod" -o jsonpath='{.status.containerStatuses[0].containerID}')
  fi
  [ -n "$id" ] || { echo "pod $1 has no running container ${container:-}" >&2; exit 1; }
  echo "$node ${id#containerd://}"
}

main_pid() { ctr -a "$(node_sock "$1")" -n k8s.io tasks ls | awk -v id="$2" '$1 == id { print $2 }'; }

freezer_of() {
  local path
  path=$(ctr -a "$(node_sock "$1")" -n k8s.io containers info "$2" | sed -n 's/.*"cgroupsPath": "\(.*\)".*/\1/p' | head -n1)
  echo "/sys/fs/cgroup/freezer$path/freezer.state"
}

cmd=${1:-}; [ -n "$cmd" ] || usage; shift
case "$cmd" in
  node-stop) node_kill "$1" ;;
  node-start) running "$1-kubelet" || node_start "$1" ;;
  net-cut) ip link set "$(node_veth "$1")" down ;;
  control-cut | control-restore)
    op=-I; [ "$cmd" = control-cut ] || op=-D
    # Traffic from the host's own address: the API server, the kubelet's API calls' answers, the operator.
    # Pod traffic between nodes is routed through the host but keeps the pods' addresses.
    for chain in INPUT FORWARD; do ip netns exec "$(node_netns "$1")" iptables "$op" "$chain" -s "$HOST_IP" -j DROP; done ;;
  apiserver-restart)
    pid=$(cat "$(pidfile kube-apiserver)")
    mapfile -d '' cmdline < "/proc/$pid/cmdline"
    kill -KILL "$pid"
    while alive "$pid"; do sleep 0.1; done
    sleep "${1:-5}"
    start kube-apiserver "${cmdline[@]}"
    for _ in $(seq 1 600); do
      curl -sf --cacert "$CLUSTER_DIR/pki/ca.crt" "https://$HOST_IP:$API_PORT/readyz" >/dev/null && exit 0
      sleep 0.1
    done
    echo "kube-apiserver did not come back within 60 s" >&2; exit 1 ;;
  net-restore) ip link set "$(node_veth "$1")" up ;;
  refuse-new | accept-new)
    read -r node id < <(container_of "$1")
    op=-I; [ "$cmd" = refuse-new ] || op=-D
    pid=$(main_pid "$node" "$id")
    # A pod stopped meanwhile (fenced) took its filter with it: nothing to undo.
    [ -n "$pid" ] || { [ "$cmd" = accept-new ] && exit 0; echo "no running container in $1" >&2; exit 1; }
    nsenter -t "$pid" -n iptables "$op" INPUT -p tcp --dport "$2" --syn -j DROP ;;
  kill | freeze | thaw | pid | freezer)
    read -r node id < <(container_of "$@")
    case "$cmd" in
      kill) kill -KILL "$(main_pid "$node" "$id")" ;;
      pid) main_pid "$node" "$id" ;;
      freeze) echo FROZEN > "$(freezer_of "$node" "$id")" ;;
      thaw) echo THAWED > "$(freezer_of "$node" "$id")" ;;
      freezer) freezer_of "$node" "$id" ;;
    esac ;;
  *) usage ;;
esac
