#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl from Debian's
# `kubernetes` source package into $1 (the cache dir), once. Shell because it is a straight line of
# apt + make; `fmesh-e2e up` calls it only when the binaries are missing.
set -euo pipefail
out=${1:?usage: build-kubernetes.sh CACHE_DIR}
bins="kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl"
missing=0
for b in $bins; do [ -x "$out/bin/$b" ] || missing=1; done
[ "$missing" = 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
if ! command -v go >/dev/null || ! command -v rsync >/dev/null || [ ! -d "$reflect2" ]; then
  apt-get update -qq
  apt-get install -y -qq golang-go rsync golang-github-modern-go-reflect2-dev >/dev/null
fi
if [ ! -f /etc/apt/sources.list.d/fmesh-deb-src.sources ]; then
  cat > /etc/apt/sources.list.d/fmesh-deb-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
fi
work="$out/src"
mkdir -p "$work"
cd "$work"
if [ ! -d kubernetes ]; then
  apt-get source --download-only kubernetes >/dev/null
  tar=$(ls kubernetes_*.orig.tar.gz | head -n1)
  mkdir -p kubernetes
  tar -xzf "$tar" -C kubernetes --strip-components=1
  rm -f kubernetes_*
fi
cd kubernetes
# Kubernetes 1.20 vendors modern-go/reflect2 1.0.1, whose map iteration crashes under Go >= 1.18
# (the apiserver segfaults in mapiternext when it encodes a mutating webhook's patch). 1.0.2 is
# the upstream fix and a drop-in replacement: use Debian's copy of it.
v=vendor/github.com/modern-go/reflect2
rm -f "$v"/*.go "$v"/*.s && cp "$reflect2"/*.go "$reflect2"/*.s "$v"/
gohome=$(mktemp -d)
env HOME="$gohome" GOPATH="$PWD/.go" GOCACHE="$out/gocache" CGO_ENABLED=0 \
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kubectl" >/dev/null
mkdir -p "$out/bin"
for b in $bins; do install -m 0755 "_output/bin/$b" "$out/bin/$b"; done
rm -rf "$gohome"
# The tree and the Go cache are only needed for a rebuild; the binaries are the cache.
cd "$out" && rm -rf src gocache
echo "built: $bins -> $out/bin"
