# Removes everything a local cluster (this run's or a crashed earlier one's) left on the machine:
# processes, containers, cgroups, mounts, network namespaces, links, iptables rules and state files.
# The per-node image stores in $CONTAINERD_CACHE are kept. (Sourced by up.sh and down.sh.)
# shellcheck shell=bash

cleanup_cluster() {
  local node pid c name
  for node in "${NODES[@]}"; do node_kill "$node"; done
  for name in provisioner coredns kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$name" KILL; done
  # Strays whose PID files were lost: anything started with our directories on its command line.
  pkill -KILL -f -- "$CLUSTER_DIR/" 2>/dev/null || true
  pkill -KILL -f -- "$RUN_DIR/" 2>/dev/null || true
  for node in "${NODES[@]}"; do
    for pid in $(pids_in_cgroup "$(node_cgroup "$node")"); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  sleep 0.2
  for node in "${NODES[@]}"; do
    for c in $(cgroup_mounts); do
      [ -d "$c/$(node_cgroup "$node")" ] && find "$c/$(node_cgroup "$node")" -depth -type d -exec rmdir {} + 2>/dev/null
    done
  done
  # Mounts: kubelet volumes, container root filesystems, sandbox shm, pod network namespaces.
  findmnt -rn -o TARGET | grep -E "^($CLUSTER_DIR|$RUN_DIR|$CONTAINERD_CACHE|/run/netns/cni-)" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -f /run/netns/cni-* 2>/dev/null || true
  for node in "${NODES[@]}"; do
    ip netns del "$(node_netns "$node")" 2>/dev/null || true
    ip link del "$(node_veth "$node")" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  while iptables -D FORWARD -j PGO-LOCAL 2>/dev/null; do :; done
  iptables -F PGO-LOCAL 2>/dev/null && iptables -X PGO-LOCAL 2>/dev/null || true
  rm -rf "$CLUSTER_DIR" "$RUN_DIR"
}
