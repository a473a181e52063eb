#!/usr/bin/env bash
# Builds kwok (the node and pod simulator of bench/scale) from the Go module pinned in hack/kwok/go.mod
# into a cache outside the repository. Only bench/scale needs it; the test suite does not.
# Beside the binary, stages.yaml: kwok's own "fast" stages (nodes Ready at once, kept alive by their Lease, pods
# Running and Ready at once, deleted at once) from the same module.
# Idempotent: skipped when the cache already holds this version. Prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/env.sh"

version=$(awk '$1 == "sigs.k8s.io/kwok" { print $2; exit } $2 == "sigs.k8s.io/kwok" { print $3; exit }' "$here/go.mod")
bin="$PGO_CACHE/kwok-$version/bin"
mods=("$here/go.mod" "$here/go.sum")

if [ -x "$bin/kwok" ] && [ -f "$bin/stages.yaml" ] && [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$(cat "${mods[@]}" | sha256sum)" ]; then
  echo "$bin"; exit 0
fi

command -v go >/dev/null || { echo "go is not installed: install Go >= 1.26 (the machine image has /usr/local/go)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
tmp="$bin.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"; trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok)
stages=$(cd "$here" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
for f in "$stages"/node/fast/node-initialize.yaml "$stages"/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml "$stages"/pod/fast/pod-*.yaml; do
  echo "---"; cat "$f"
done > "$tmp/stages.yaml"
cat "${mods[@]}" | sha256sum > "$tmp/.stamp"
rm -rf "$bin"; mv "$tmp" "$bin"; trap - EXIT
echo "built kwok $version in $((SECONDS - start))s" >&2
echo "$bin"
