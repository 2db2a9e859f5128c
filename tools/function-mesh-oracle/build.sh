#!/usr/bin/env bash
# Builds the Function Mesh oracle once per source state and prints the binary's path.
# Cache: ${FMESH_CACHE:-~/.cache/fmesh}/function-mesh-oracle/<version>/<hash of the sources>/
# A warm run builds nothing; a cold one downloads the Go modules and compiles (minutes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="v0.27.2"
command -v go >/dev/null || {
  echo "function-mesh-oracle: Go is required (go 1.25 or newer on PATH)" >&2
  exit 1
}
hash="$(cd "$here" && find main.go go.mod go.sum third_party -type f -print0 | sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-12)"
dir="${FMESH_CACHE:-$HOME/.cache/fmesh}/function-mesh-oracle/$version/$hash"
bin="$dir/function-mesh-oracle"
if [[ ! -x "$bin" ]]; then
  mkdir -p "$dir"
  (cd "$here" && GOFLAGS=-mod=readonly go build -trimpath -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
