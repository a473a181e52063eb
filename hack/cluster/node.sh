# One worker node: a network namespace on the node bridge, its own containerd, a kubelet and kube-proxy
# (sourced by up.sh and fault.sh). Processes enter only the node's network namespace (nsenter --net),
# so kubelet, containerd and the pods share the host's mount namespace and volumes stay visible to all three.
# shellcheck shell=bash

# cgroup_mounts: the mount points of every cgroup v1 hierarchy (named ones such as name=systemd included).
cgroup_mounts() { findmnt -rn -t cgroup -o TARGET; }

# node_network NODE: the namespace, a veth to the bridge, the pod CIDR route.
node_network() {
  local node=$1 ns veth ip
  ns=$(node_netns "$node"); veth=$(node_veth "$node"); ip=$(node_ip "$node")
  ip netns add "$ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$HOST_IP"
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  ip route add "$(node_pod_cidr "$node")" via "$ip"
}

# node_config NODE: containerd, CNI, kubelet and kube-proxy configuration files.
node_config() {
  local node=$1 dir sock cg
  dir=$(node_dir "$node"); sock=$(node_sock "$node"); cg=$(node_cgroup "$node")
  mkdir -p "$dir/cni" "$dir/kubelet" "$dir/pod-logs" "$RUN_DIR/$node" "$CONTAINERD_CACHE/$node"
  cat > "$dir/containerd.toml" <<TOML
version = 2
root = "$CONTAINERD_CACHE/$node"
state = "$RUN_DIR/$node/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.opt"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pg-operator/pause:3.10"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
TOML
  cat > "$dir/cni/10-pgo.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "pgo-$node",
  "plugins": [
    { "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$dir/cni-ipam", "ranges": [[{ "subnet": "$(node_pod_cidr "$node")" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "loopback" }
  ]
}
JSON
  printf 'nameserver %s\nsearch cluster.local\n' "$HOST_IP" > "$dir/resolv.conf"
  cat > "$dir/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $(node_ip "$node")
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
cgroupRoot: /$cg
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
oomScoreAdj: 0
podLogsDir: $dir/pod-logs
clusterDNS: [$HOST_IP]
clusterDomain: cluster.local
resolvConf: $dir/resolv.conf
tlsCertFile: $CLUSTER_DIR/pki/$node-serving.crt
tlsPrivateKeyFile: $CLUSTER_DIR/pki/$node-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: $CLUSTER_DIR/pki/ca.crt }
authorization:
  mode: AlwaysAllow
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
nodeStatusUpdateFrequency: 4s
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
maxPods: 110
YAML
  cat > "$dir/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $node
bindAddress: $(node_ip "$node")
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clientConnection: { kubeconfig: $CLUSTER_DIR/kube-proxy.kubeconfig }
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
YAML
}

# import_images NODE: imports each pod image the node's containerd lacks (keyed by the image's input sum).
import_images() {
  local node=$1 sock name
  sock=$(node_sock "$node")
  for name in pause postgres postgres-next operator patroni; do
    [ -f "$IMAGES/$name.sum" ] || continue
    [ "$(cat "$CONTAINERD_CACHE/$node/imported-$name" 2>/dev/null)" = "$(cat "$IMAGES/$name.sum")" ] && continue
    ctr -a "$sock" -n k8s.io images import "$IMAGES/$name.tar" >/dev/null
    cp "$IMAGES/$name.sum" "$CONTAINERD_CACHE/$node/imported-$name"
  done
}

# node_start NODE: containerd, then kubelet and kube-proxy, all in the node's network namespace.
node_start() {
  local node=$1 dir net c
  dir=$(node_dir "$node"); net=/run/netns/$(node_netns "$node")
  for c in $(cgroup_mounts); do mkdir -p "$c/$(node_cgroup "$node")"; done
  start "$node-containerd" nsenter --net="$net" containerd --config "$dir/containerd.toml"
  wait_for "containerd on $node" 30 ctr -a "$(node_sock "$node")" version
  # Containers recorded by an earlier run are dead; forget them so the kubelet starts clean.
  ctr -a "$(node_sock "$node")" -n k8s.io containers ls -q | xargs -r ctr -a "$(node_sock "$node")" -n k8s.io containers rm >/dev/null 2>&1 || true
  import_images "$node"
  start "$node-kubelet" nsenter --net="$net" "$BIN/kubelet" --config="$dir/kubelet.yaml" \
    --kubeconfig="$CLUSTER_DIR/$node.kubeconfig" --root-dir="$dir/kubelet" --cert-dir="$dir/kubelet/pki" \
    --hostname-override="$node" --node-ip="$(node_ip "$node")" \
    --node-labels="topology.kubernetes.io/zone=${ZONES[$(($(node_index "$node") - 1))]},pg-operator.dev/node=$node" -v=1
  start "$node-kube-proxy" nsenter --net="$net" "$BIN/kube-proxy" --config="$dir/kube-proxy.yaml"
}

# pids_in_cgroup CGROUP: every process under CGROUP in any v1 hierarchy.
pids_in_cgroup() {
  local c; for c in $(cgroup_mounts); do
    [ -d "$c/$1" ] && find "$c/$1" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -un
}

# node_kill NODE: stops the node as a power cut would: kubelet, kube-proxy, containerd, shims and containers.
node_kill() {
  local node=$1 pid
  stop "$node-kubelet" KILL; stop "$node-kube-proxy" KILL; stop "$node-containerd" KILL
  pkill -KILL -f -- "-address $(node_sock "$node")" 2>/dev/null || true   # runc shims
  for pid in $(pids_in_cgroup "$(node_cgroup "$node")"); do kill -KILL "$pid" 2>/dev/null || true; done
}
