#!/usr/bin/env bash
# The main job: a local Kubernetes with fmesh installed through its kustomize bundle
# (manifests/overlays/local: operator, admission webhook, embedded broker), the example mesh
# (examples/mesh.yaml: datagen → WASM enrichment → log) running, its messages shown flowing,
# and what `kubectl apply` of a broken mesh answers. Re-runnable; prints how to stop it.
set -euo pipefail
cd "$(dirname "$0")"
export FMESH_CACHE=${FMESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fmesh}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FMESH_CACHE/target}
start=$SECONDS
stage=$SECONDS
timing=()
step() { # step "what just finished"
  timing+=("$(printf '%5ss  %s' $((SECONDS - stage)) "$1")")
  stage=$SECONDS
}

bash scripts/install-deps.sh
cargo build -q -p fmesh-cli -p fmesh-e2e
bin=$CARGO_TARGET_DIR/debug
e2e=("$bin/fmesh-e2e")
step "dependencies and build of fmesh, fmesh-e2e"

echo "== validating the examples"
"$bin/fmesh" validate examples/*.yaml
echo "== the example mesh (Mermaid)"
"$bin/fmesh" graph --format mermaid examples/mesh.yaml

echo "== the local cluster"
kubeconfig=$("${e2e[@]}" up | tail -n 1)
export "${kubeconfig?}"
kubectl=("${e2e[@]}" kubectl)
step "cluster up"

echo "== images (fmesh.local/{runner,operator,webhook,broker}:dev)"
"${e2e[@]}" images --no-runners
step "images built and imported"

echo "== installing fmesh: kubectl apply -k manifests/overlays/local"
"${kubectl[@]}" apply -k manifests/overlays/local
for d in fmesh-broker fmesh-webhook fmesh-operator; do
  "${kubectl[@]}" -n fmesh-system rollout status "deployment/$d" --timeout=180s
done
# The webhook injects its CA bundle into both configurations before it serves.
for c in validatingwebhookconfiguration/fmesh-validating mutatingwebhookconfiguration/fmesh-mutating; do
  for _ in $(seq 120); do
    [ -n "$("${kubectl[@]}" get "$c" -o 'jsonpath={.webhooks[*].clientConfig.caBundle}')" ] && break
    sleep 0.5
  done
done
step "install: apply -k until operator, webhook, broker ready"

echo "== the example mesh: kubectl apply -f examples/mesh.yaml"
applied_at=$(date +%s.%N)
"${kubectl[@]}" apply -f examples/mesh.yaml
pods=(orders-generator-source-0 orders-enrich-function-0 orders-log-sink-0)
members=(generator enrich log)
for p in "${pods[@]}"; do
  for _ in $(seq 240); do
    "${kubectl[@]}" get pod "$p" >/dev/null 2>&1 && break
    sleep 0.5
  done
  "${kubectl[@]}" wait --for=condition=Ready "pod/$p" --timeout=180s
done
pod_ip() { "${kubectl[@]}" get pod "$1" -o 'jsonpath={.status.podIP}'; }
step "mesh: apply until its three pods are ready"
first=$(python3 e2e/scripts/mesh-flow.py first --sink "$(pod_ip orders-log-sink-0)" --since "$applied_at")
"${kubectl[@]}" get functionmeshes,functions,sources,sinks,pods -o wide

echo "== messages flowing (runner metrics, 5 s)"
args=()
for i in "${!pods[@]}"; do args+=("${members[$i]}=$(pod_ip "${pods[$i]}")"); done
python3 e2e/scripts/mesh-flow.py rates "${args[@]}" --seconds 5
echo "== a sample of persistent://public/default/orders-enriched (official Pulsar client)"
venv_python=$(bash broker/tests/py/setup-venv.sh)
# From the host: the broker's node port, with lookups answering the `external` listener.
"$venv_python" e2e/scripts/mesh-flow.py sample --broker pulsar://10.244.0.1:30650 \
  --listener external --topic persistent://public/default/orders-enriched -n 3
step "flow shown"

echo "== what kubectl apply of examples/invalid/broken-mesh.yaml answers (fmesh's webhook)"
if "${kubectl[@]}" apply -f examples/invalid/broken-mesh.yaml; then
  echo "run.sh: the broken mesh was admitted; the webhook is not working" >&2
  exit 1
fi
echo "== what kubectl apply of examples/invalid/misspelt-field.yaml answers (the apiserver)"
if "${kubectl[@]}" apply -f examples/invalid/misspelt-field.yaml; then
  echo "run.sh: the misspelt mesh was admitted" >&2
  exit 1
fi

echo
echo "== timings"
printf '%s\n' "${timing[@]}"
printf '%5ss  %s\n' "$first" "mesh: apply to first message out of the sink (if it was already running: 0)"
printf '%5ss  %s\n' $((SECONDS - start)) "total"
echo
echo "$kubeconfig"
echo "Use it:     export $kubeconfig; $bin/fmesh-e2e kubectl get fm,pods"
echo "Uninstall:  $bin/fmesh-e2e uninstall   (the meshes, then kubectl delete -k manifests/overlays/local)"
echo "Stop it:    $bin/fmesh-e2e down   (add --purge to remove its state)"
