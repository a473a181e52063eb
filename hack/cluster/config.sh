# Settings of the local three-node Kubernetes cluster (sourced by the hack/cluster scripts).
# shellcheck shell=bash
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$root/hack/lib/env.sh"

CLUSTER_DIR=${PGO_CLUSTER_DIR:-/var/lib/pgo-local}   # certificates, etcd, kubelets, logs: wiped on bring-up
RUN_DIR=/run/pgo-local                               # sockets and containerd state
CONTAINERD_CACHE=$PGO_CACHE/containerd               # per-node image stores, kept between runs
BIN=$("$root/hack/k8s/build.sh")
IMAGES=$PGO_CACHE/images                             # built by hack/images/build.sh

BRIDGE=pgo-br0
HOST_IP=10.200.0.1                                   # the host on the node network: apiserver, CoreDNS
NODES=(node1 node2 node3)
ZONES=(zone-a zone-b zone-c)
SERVICE_CIDR=10.96.0.0/16
CLUSTER_CIDR=10.244.0.0/16
API_PORT=6443
ETCD_PORT=23790
KUBECONFIG_OUT=${PGO_KUBECONFIG:-$HOME/.kube/config}  # where kubectl and the operator look

node_index() { local i; for i in "${!NODES[@]}"; do [ "${NODES[$i]}" = "$1" ] && { echo $((i + 1)); return; }; done; echo "unknown node '$1' (nodes: ${NODES[*]})" >&2; return 1; }
node_ip() { echo "10.200.0.1$(node_index "$1")"; }
node_pod_cidr() { echo "10.244.$(node_index "$1").0/24"; }
node_netns() { echo "pgo-$1"; }
node_veth() { echo "pgo-v$(node_index "$1")"; }
node_dir() { echo "$CLUSTER_DIR/$1"; }
node_sock() { echo "$RUN_DIR/$1/containerd.sock"; }
node_cgroup() { echo "pgo-$1"; }

pidfile() { echo "$CLUSTER_DIR/pids/$1.pid"; }
# alive PID: the process exists and is not a zombie (orphans here may stay unreaped for a while).
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${s:0:1}" != Z ]; }
running() { local f; f=$(pidfile "$1"); [ -f "$f" ] && alive "$(cat "$f")"; }

# start NAME CMD...: runs CMD detached, logging to $CLUSTER_DIR/logs/NAME.log.
start() {
  local name=$1; shift
  mkdir -p "$CLUSTER_DIR/logs" "$CLUSTER_DIR/pids"
  setsid "$@" >>"$CLUSTER_DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile "$name")"
}

# stop NAME [SIGNAL]: stops a started process by PID, waiting up to 10 s before SIGKILL.
stop() {
  local f pid i; f=$(pidfile "$1"); [ -f "$f" ] || return 0
  pid=$(cat "$f"); rm -f "$f"
  kill -"${2:-TERM}" "$pid" 2>/dev/null || return 0
  for i in $(seq 100); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

kubectl() { "$BIN/kubectl" --kubeconfig "$CLUSTER_DIR/admin.kubeconfig" "$@"; }

# wait_for WHAT SECONDS CMD...: retries CMD every 0.5 s.
wait_for() {
  local what=$1 secs=$2 i; shift 2
  for i in $(seq $((secs * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "timed out after ${secs}s waiting for $what" >&2; return 1
}
