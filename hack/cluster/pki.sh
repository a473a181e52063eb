# Certificates and kubeconfigs of the local cluster, made with openssl (sourced by up.sh).
# shellcheck shell=bash

# cert NAME SUBJECT USAGE [SAN]: a P-256 key and certificate signed by the cluster CA.
cert() {
  local name=$1 subject=$2 usage=$3 san=${4:-} pki=$CLUSTER_DIR/pki
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$pki/$name.ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/$name.key" -out "$pki/$name.csr" -subj "$subject" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 365 \
    -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

# kubeconfig NAME FILE: a kubeconfig for client certificate NAME.
kubeconfig() {
  local name=$1 file=$2 pki=$CLUSTER_DIR/pki
  cat > "$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: pgo-local
  cluster:
    server: https://$HOST_IP:$API_PORT
    certificate-authority-data: $(base64 -w0 < "$pki/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 < "$pki/$name.crt")
    client-key-data: $(base64 -w0 < "$pki/$name.key")
contexts:
- name: pgo-local
  context:
    cluster: pgo-local
    user: $name
current-context: pgo-local
KC
  chmod 600 "$file"
}

make_pki() {
  local pki=$CLUSTER_DIR/pki node
  mkdir -p "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" \
    -days 365 -subj /CN=pgo-local-ca 2>/dev/null
  cert apiserver /CN=kube-apiserver serverAuth \
    "IP:$HOST_IP,IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client clientAuth
  cert admin /O=system:masters/CN=admin clientAuth
  cert kube-controller-manager /CN=system:kube-controller-manager clientAuth
  cert kube-scheduler /CN=system:kube-scheduler clientAuth
  cert kube-proxy /CN=system:kube-proxy clientAuth
  cert coredns /CN=system:coredns clientAuth
  for node in "${NODES[@]}"; do
    cert "$node" "/O=system:nodes/CN=system:node:$node" clientAuth
    cert "$node-serving" "/CN=$node" serverAuth "IP:$(node_ip "$node"),DNS:$node"
  done
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  for name in admin kube-controller-manager kube-scheduler kube-proxy coredns "${NODES[@]}"; do
    kubeconfig "$name" "$CLUSTER_DIR/$name.kubeconfig"
  done
}
