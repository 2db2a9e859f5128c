#!/usr/bin/env bash
# Fuzzes the broker's frame decoder and on-disk readers with cargo fuzz (libFuzzer, nightly
# toolchain), then merges what was found into the checked-in corpus, which `cargo test -p
# fmesh-broker --test fuzz_corpus` replays on every CI run.
#   bash broker/fuzz/run.sh [seconds per target, default 60] [target ...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame_decoder segment_file cursor_file)
export CARGO_TARGET_DIR=${FMESH_FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fmesh/fuzz-target}
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
for t in "${targets[@]}"; do
  mkdir -p "artifacts/$t"
  new=$(mktemp -d)
  cargo +nightly fuzz run "$t" "$new" "corpus/$t" -- -max_total_time="$secs" -max_len=65536
  # Keep the corpus small: only inputs that add coverage.
  cargo +nightly fuzz cmin "$t" "corpus/$t"
  rm -rf "$new"
done
