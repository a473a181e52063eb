#!/usr/bin/env bash
# Fault controls for tests on the local cluster:
#   fault.sh node-stop NODE          power-cut a node: kubelet, kube-proxy, containerd and its containers die
#   fault.sh node-start NODE         start a stopped node again
#   fault.sh net-cut NODE            cut the node off the network (host, apiserver and other nodes)
#   fault.sh net-restore NODE        reconnect it
#   fault.sh kill NS/POD [CONTAINER] SIGKILL a container's main process
#   fault.sh freeze NS/POD [CONTAINER]  freeze every process of a container (cgroup freezer)
#   fault.sh thaw NS/POD [CONTAINER]    thaw it
#   fault.sh pid NS/POD [CONTAINER]  print the host PID of a container's main process
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
. "$here/node.sh"

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

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
  net-restore) ip link set "$(node_veth "$1")" up ;;
  kill | freeze | thaw | pid)
    read -r node id < <(container_of "$@")
    case "$cmd" in
      kill) kill -KILL "$(main_pid "$node" "$id")" ;;
      pid) main_pid "$node" "$id" ;;
      freeze) echo FROZEN > "$(freezer_of "$node" "$id")" ;;
      thaw) echo THAWED > "$(freezer_of "$node" "$id")" ;;
    esac ;;
  *) usage ;;
esac
