#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (the S3 server of the tests) from the Go module pinned in hack/s3/go.mod,
# version-stamped, into a cache outside the repository.
# Idempotent: skipped when the cache already holds this version. Prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/env.sh"

version=$(awk '$1 == "github.com/seaweedfs/seaweedfs" { print $2; exit } $2 == "github.com/seaweedfs/seaweedfs" { print $3; exit }' "$here/go.mod")
bin="$PGO_CACHE/seaweedfs-$version/bin"
mods=("$here/go.mod" "$here/go.sum")

if [ -x "$bin/weed" ] && [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$(cat "${mods[@]}" | sha256sum)" ]; then
  echo "$bin"; exit 0
fi

command -v go >/dev/null || { echo "go is not installed: install Go >= 1.26 (the machine image has /usr/local/go)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
tmp="$bin.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"; trap 'rm -rf "$tmp"' EXIT
# The pseudo-version ends in the upstream commit; `weed version` shows it.
stamp=" -X github.com/seaweedfs/seaweedfs/weed/util/version.COMMIT=${version##*-}"
start=$SECONDS
(cd "$here" && go build -trimpath -ldflags "-s -w$stamp" -o "$tmp/weed" github.com/seaweedfs/seaweedfs/weed)
cat "${mods[@]}" | sha256sum > "$tmp/.stamp"
rm -rf "$bin"; mv "$tmp" "$bin"; trap - EXIT
echo "built SeaweedFS $version (weed) in $((SECONDS - start))s" >&2
echo "$bin"
