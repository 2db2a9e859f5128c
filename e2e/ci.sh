#!/usr/bin/env bash
# The e2e part of CI, called by .ci/run after the unit tests. On a fresh Debian machine it installs
# what is missing, builds Kubernetes and CoreDNS once from their Go modules (cached in
# ~/.cache/fmesh/{kubernetes,coredns}), brings the local cluster
# up, runs the e2e suites against it, and finally proves `down` leaves nothing behind.
# Needs root (the node mounts, makes network namespaces and runs a kubelet).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "e2e/ci.sh: must run as root (the local Kubernetes node needs it)" >&2
  exit 1
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

bash scripts/install-deps.sh

cargo build -q -p fmesh-e2e --bin fmesh-e2e --tests
t0=$(date +%s)
"$CARGO_TARGET_DIR/debug/fmesh-e2e" up
t1=$(date +%s)
cargo test -q -p fmesh-e2e
t2=$(date +%s)
# Last, and alone: it tears the shared cluster down (and brings it up once more to time it).
cargo test -q -p fmesh-e2e --test down -- --ignored --nocapture
t3=$(date +%s)
echo "e2e: up $((t1 - t0))s, suites $((t2 - t1))s, down/up/down $((t3 - t2))s"

# The install scenarios (e2e/tests/install.rs): fmesh installed through its kustomize bundle
# (manifests/overlays/local), alone on the cluster since an installed operator and webhook
# would act on the other suites' objects; then down again, as the down test left it.
t4=$(date +%s)
"$CARGO_TARGET_DIR/debug/fmesh-e2e" up >/dev/null
"$CARGO_TARGET_DIR/debug/fmesh-e2e" images
# Apache Pulsar (started by .ci/run on loopback) again, advertised on the node IP for pods: the
# install scenario also runs the example mesh with a cluster config naming it.
if [ -n "${FMESH_PULSAR_URL:-}" ]; then
  "$CARGO_TARGET_DIR/debug/fmesh-e2e" pulsar down
  eval "$("$CARGO_TARGET_DIR/debug/fmesh-e2e" pulsar up --advertise 10.244.0.1 | tail -n 2 | sed 's/^/export FMESH_/')"
fi
t5=$(date +%s)
cargo test -q -p fmesh-e2e --test install -- --ignored --nocapture
t6=$(date +%s)
echo "e2e install: up + images $((t5 - t4))s, scenarios $((t6 - t5))s"

# Pulsar's real Java instances (e2e/tests/instances.rs) on Function Mesh's runner images, built
# here (Debian's JRE, Pulsar's instance and connectors from Maven Central, cached in
# ~/.cache/fmesh/java-runner), against the Apache Pulsar above; after the uninstall, since the
# tests run their own operator. They skip, saying so, without FMESH_PULSAR_URL.
"$CARGO_TARGET_DIR/debug/fmesh-e2e" images --runners-only
t7=$(date +%s)
cargo test -q -p fmesh-e2e --test instances -- --ignored --nocapture --test-threads=2
"$CARGO_TARGET_DIR/debug/fmesh-e2e" down
t8=$(date +%s)
echo "e2e instances: runner images $((t7 - t6))s, scenarios + down $((t8 - t7))s"
