#!/usr/bin/env bash
# Installs the Debian packages fmesh's builds and tests need, once; a no-op when all are there.
set -euo pipefail
packages="protobuf-compiler gcc g++ libc6-dev containerd runc
  containernetworking-plugins busybox-static iproute2 iptables conntrack jq python3 python3-venv
  postgresql lua5.1 lua5.4 openjdk-17-jdk-headless openjdk-17-jre-headless maven"
missing=$(for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
done)
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages: $missing (run as root to install them)" >&2
    exit 1
  fi
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  # Debian starts a system containerd; the local cluster runs its own.
  systemctl disable --now containerd >/dev/null 2>&1 || true
  # Nor is Debian's own Postgres cluster needed: tests start theirs (scripts/postgres-test.sh).
  systemctl disable --now postgresql >/dev/null 2>&1 || true
fi

# cargo fuzz (fuzz/run.sh) builds with the nightly toolchain.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
