#!/usr/bin/env bash
# `npm run pack:cli`: the pgo CLI as an npm tarball, dist/pg-operator-<version>.tgz, for
# `npm install -g ./dist/pg-operator-*.tgz` on any machine with Node >= 20. It holds the bundle of
# `npm run build` (every dependency inside) and a package.json without dependencies: installing it
# downloads nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
node hack/build.mjs
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
cp dist/pgo.mjs "$stage/"
node -e '
const p = require("./package.json");
const pkg = { name: p.name, version: p.version, description: "pgo, the command line of pg-operator", license: p.license, type: "module", engines: p.engines, bin: { pgo: "./pgo.mjs" } };
require("fs").writeFileSync(process.argv[1] + "/package.json", JSON.stringify(pkg, null, 2) + "\n");
' "$stage"
tarball=$(npm pack --silent --pack-destination "$root/dist" "$stage")
echo "$root/dist/$tarball"
