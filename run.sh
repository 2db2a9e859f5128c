#!/usr/bin/env bash
# The main job: a local Kubernetes with fmesh's API, the example mesh validated and drawn.
# (As the operator, webhook, broker and runner land, this installs them and runs the mesh.)
set -euo pipefail
cd "$(dirname "$0")"
export FMESH_CACHE=${FMESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fmesh}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FMESH_CACHE/target}
bash scripts/install-deps.sh
cargo build -q -p fmesh-cli -p fmesh-e2e
bin=$CARGO_TARGET_DIR/debug

echo "== validating the examples"
"$bin/fmesh" validate examples/*.yaml
echo "== the example mesh (Mermaid)"
"$bin/fmesh" graph --format mermaid examples/mesh.yaml
echo "== what a broken mesh gets"
"$bin/fmesh" validate examples/invalid/broken-mesh.yaml || true

echo "== the local cluster"
kubeconfig=$("$bin/fmesh-e2e" up | tail -n 1)
export "${kubeconfig?}"
kubectl=("$bin/fmesh-e2e" kubectl)
"${kubectl[@]}" apply --server-side --force-conflicts -f manifests/crds/ >/dev/null
"${kubectl[@]}" apply -f examples/pulsar-config.yaml -f examples/mesh.yaml
"${kubectl[@]}" get functionmeshes,functions,sources,sinks
echo
echo "$kubeconfig"
echo "Use it:   export $kubeconfig; $bin/fmesh-e2e kubectl get fm"
echo "Stop it:  $bin/fmesh-e2e down   (add --purge to remove its state)"
