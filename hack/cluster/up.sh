#!/usr/bin/env bash
# Brings up the local Kubernetes cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
# CoreDNS on the host, and three worker nodes (kubelet + containerd + kube-proxy, each in its own network
# namespace). Idempotent: a healthy cluster is kept (use --fresh to rebuild); anything else is cleaned first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/config.sh"
. "$here/node.sh"
. "$here/cleanup.sh"
. "$here/pki.sh"
t0=$SECONDS

if [ "${1:-}" != --fresh ] && "$here/status.sh" --quiet; then
  echo "local cluster already up (kubeconfig: $KUBECONFIG_OUT)"; exit 0
fi
"$root/hack/images/build.sh" >/dev/null
cleanup_cluster
mkdir -p "$CLUSTER_DIR" "$RUN_DIR"

# Host network: a bridge for the nodes; the host routes between nodes and to each node's pod CIDR.
sysctl -qw net.ipv4.ip_forward=1
ip link add "$BRIDGE" type bridge
ip addr add "$HOST_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
iptables -N PGO-LOCAL
iptables -A PGO-LOCAL -i "$BRIDGE" -j ACCEPT
iptables -A PGO-LOCAL -o "$BRIDGE" -j ACCEPT
iptables -I FORWARD -j PGO-LOCAL

make_pki
pki=$CLUSTER_DIR/pki

start etcd "$BIN/etcd" --name=pgo-local --data-dir="$CLUSTER_DIR/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls=http://127.0.0.1:$((ETCD_PORT + 1)) --initial-advertise-peer-urls=http://127.0.0.1:$((ETCD_PORT + 1)) \
  --initial-cluster=pgo-local=http://127.0.0.1:$((ETCD_PORT + 1)) --unsafe-no-fsync=true --log-level=warn
wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

start kube-apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=0.0.0.0 --advertise-address="$HOST_IP" --secure-port="$API_PORT" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
  --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=InternalIP \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true
wait_for kube-apiserver 60 curl -sf --cacert "$pki/ca.crt" "https://$HOST_IP:$API_PORT/readyz"

start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$CLUSTER_DIR/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$CLUSTER_DIR/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$CLUSTER_DIR/kube-controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false --use-service-account-credentials \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" --cluster-cidr="$CLUSTER_CIDR" --node-monitor-grace-period=20s
start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$CLUSTER_DIR/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig="$CLUSTER_DIR/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig="$CLUSTER_DIR/kube-scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false

# CoreDNS runs on the host, on the node network; kubelets point pods at it.
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "system:coredns" }
rules:
- { apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch] }
- { apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "system:coredns" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns" }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns" }]
YAML
cat > "$CLUSTER_DIR/Corefile" <<CORE
.:53 {
    bind $HOST_IP
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $CLUSTER_DIR/coredns.kubeconfig pgo-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
CORE
start coredns "$BIN/coredns" -conf "$CLUSTER_DIR/Corefile"

# Volumes: a default StorageClass served by hack/cluster/provisioner.ts (hostPath on the selected node).
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations: { storageclass.kubernetes.io/is-default-class: "true" }
provisioner: pg-operator.dev/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
YAML
KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig PGO_CLUSTER_DIR=$CLUSTER_DIR start provisioner \
  node --import "$root/node_modules/tsx/dist/loader.mjs" "$root/hack/cluster/provisioner.ts" "--cluster-dir=$CLUSTER_DIR/"

for node in "${NODES[@]}"; do node_network "$node"; node_config "$node"; done
for node in "${NODES[@]}"; do node_start "$node"; done

ready_nodes() { [ "$(kubectl get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)" -eq "${#NODES[@]}" ]; }
wait_for "${#NODES[@]} Ready nodes" 120 ready_nodes
wait_for "the default ServiceAccount" 60 kubectl get serviceaccount default

mkdir -p "$(dirname "$KUBECONFIG_OUT")"
if [ ! -f "$KUBECONFIG_OUT" ] || grep -q 'name: pgo-local' "$KUBECONFIG_OUT"; then
  cp "$CLUSTER_DIR/admin.kubeconfig" "$KUBECONFIG_OUT"
else
  echo "note: $KUBECONFIG_OUT belongs to another cluster; use KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig" >&2
fi
echo "local cluster up in $((SECONDS - t0))s: ${NODES[*]} (kubeconfig: $CLUSTER_DIR/admin.kubeconfig)"
