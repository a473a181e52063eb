#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian bookworm machine, reusing what is already there:
# Debian packages, npm packages (npm ci) and the Kubernetes binaries built from Go modules.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/hack/lib/env.sh"

packages=(
  openssl ca-certificates curl iproute2 procps psmisc util-linux  # PKI, health checks, process control, nsenter
  containerd runc containernetworking-plugins iptables conntrack socat ethtool  # local Kubernetes nodes
  buildah debootstrap busybox-static                       # images without a registry
  postgresql-15 pgbackrest                                 # pg tier and the postgres image
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: reinstall when package-lock.json changed since the last install.
lock_sum=$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$root/node_modules/.lock-sum" ] || [ "$(cat "$root/node_modules/.lock-sum")" != "$lock_sum" ]; then
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$root/node_modules/.lock-sum"
fi

"$root/hack/k8s/build.sh" >/dev/null
"$root/hack/s3/build.sh" >/dev/null
