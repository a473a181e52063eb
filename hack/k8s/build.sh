#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl and etcd
# from the Go modules pinned in hack/k8s/go.mod, and CoreDNS from hack/coredns/go.mod, version-stamped, into a cache outside the repository.
# Idempotent: skipped when the cache already holds this version. Prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/env.sh"

version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit } $2 == "k8s.io/kubernetes" { print $3; exit }' "$here/go.mod")
bin="$PGO_CACHE/k8s-$version/bin"
tools=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd coredns)
mods=("$here/go.mod" "$here/go.sum" "$here/../coredns/go.mod" "$here/../coredns/go.sum")

have_all() { for t in "${tools[@]}"; do [ -x "$bin/$t" ] || return 1; done; }
if have_all && [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$(cat "${mods[@]}" | sha256sum)" ]; then
  echo "$bin"; exit 0
fi

command -v go >/dev/null || { echo "go is not installed: install Go >= 1.24 (the machine image has /usr/local/go)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
tmp="$bin.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"; trap 'rm -rf "$tmp"' EXIT
minor=${version#v1.}; minor=${minor%%.*}
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  stamp+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
start=$SECONDS
(cd "$here" && go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "-s -w$stamp" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy \
  k8s.io/kubernetes/cmd/kubectl)
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
(cd "$here/../coredns" && go build -trimpath -ldflags "-s -w" -o "$tmp/coredns" github.com/coredns/coredns)
cat "${mods[@]}" | sha256sum > "$tmp/.stamp"
rm -rf "$bin"; mv "$tmp" "$bin"; trap - EXIT
echo "built Kubernetes $version binaries in $((SECONDS - start))s" >&2
echo "$bin"
