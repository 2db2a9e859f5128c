#!/usr/bin/env bash
# Builds CoreDNS from its Go module into $1/bin/coredns, once, with only the plugins the local
# cluster's Corefile uses (a CoreDNS build with every plugin pulls in three clouds' SDKs).
# The plugin chain keeps CoreDNS's own order (core/dnsserver's directive list), filtered.
set -euo pipefail
out=${1:?usage: build-coredns.sh CACHE_DIR VERSION}
version=${2:?usage: build-coredns.sh CACHE_DIR VERSION}
[ -x "$out/bin/coredns" ] && exit 0
command -v go >/dev/null || { echo "build-coredns: go is not on PATH" >&2; exit 1; }
work="$out/src"
mkdir -p "$work" "$out/bin"
cd "$work"
cat >go.mod <<MOD
module fmesh.local/coredns-build

go 1.26.0

require github.com/coredns/coredns v$version
MOD
cat >main.go <<'GO'
// CoreDNS with the plugins a Kubernetes cluster's Corefile uses.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

var wanted = map[string]bool{
	"bind": true, "cache": true, "errors": true, "forward": true, "health": true,
	"kubernetes": true, "loadbalance": true, "log": true, "loop": true, "ready": true, "reload": true,
}

func init() {
	kept := dnsserver.Directives[:0]
	for _, d := range dnsserver.Directives {
		if wanted[d] {
			kept = append(kept, d)
		}
	}
	dnsserver.Directives = kept
}

func main() { coremain.Run() }
GO
GOFLAGS=-mod=mod go mod tidy
start=$(date +%s)
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/bin/coredns.tmp" .
mv "$out/bin/coredns.tmp" "$out/bin/coredns"
echo "built coredns in $(( $(date +%s) - start ))s"
