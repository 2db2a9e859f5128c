#!/usr/bin/env bash
# Builds the local cluster's Kubernetes binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy, kubectl) and etcd from the k8s.io/kubernetes Go module,
# once, into $1/bin. The module is built as a dependency of a small module of our own that pins
# every staging module k8s.io/kubernetes replaces to the matching v0.x release, as its own go.mod
# does with local paths. etcd is the server version that release's go.mod requires.
# Shell because it is a straight line of `go` commands; `fmesh-e2e up` calls it only when a
# binary is missing.
set -euo pipefail
out=${1:?usage: build-kubernetes.sh CACHE_DIR VERSION}
version=${2:?usage: build-kubernetes.sh CACHE_DIR VERSION}
bins="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd"
missing=0
for b in $bins; do [ -x "$out/bin/$b" ] || missing=1; done
[ "$missing" = 0 ] && exit 0

command -v go >/dev/null || { echo "build-kubernetes: go is not on PATH" >&2; exit 1; }
work="$out/src"
mkdir -p "$work" "$out/bin"
cd "$work"
minor=${version#1.}
minor=${minor%%.*}
staging_version="v0.${version#1.}"

# The release's own go.mod names its staging modules (replaced by ./staging paths there).
GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$version" >download.json
moddir=$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' download.json)
[ -f "$moddir/go.mod" ] || { echo "build-kubernetes: no go.mod for k8s.io/kubernetes@v$version" >&2; exit 1; }
{
  echo "module fmesh.local/kubernetes-build"
  echo
  grep -m1 '^go ' "$moddir/go.mod"
  echo
  echo "require k8s.io/kubernetes v$version"
  echo
  echo "replace ("
  sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' "$moddir/go.mod"
  echo ")"
} >go.mod
mkdir -p etcd
cat >etcd/main.go <<'GO'
// etcd, as the Kubernetes release's go.mod requires it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
# kube's go.mod pins etcd's server module; make it a direct requirement at that version.
etcd_version=$(sed -n 's#^\tgo.etcd.io/etcd/server/v3 \(v[^ ]*\).*#\1#p' "$moddir/go.mod")
go mod edit -require="go.etcd.io/etcd/server/v3@$etcd_version"
GOFLAGS=-mod=mod go mod tidy

commit=$(printf '%040d' 0)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=v$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags="$ldflags -X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean"
  ldflags="$ldflags -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
export CGO_ENABLED=0
for b in $bins; do
  [ -x "$out/bin/$b" ] && continue
  start=$(date +%s)
  if [ "$b" = etcd ]; then
    go build -trimpath -ldflags "-s -w" -o "$out/bin/$b.tmp" ./etcd
  else
    go build -trimpath -ldflags "$ldflags" -o "$out/bin/$b.tmp" "k8s.io/kubernetes/cmd/$b"
  fi
  mv "$out/bin/$b.tmp" "$out/bin/$b"
  echo "built $b in $(( $(date +%s) - start ))s"
done
