#!/usr/bin/env bash
# Fuzzes fmesh's input paths with cargo fuzz (libFuzzer; nightly toolchain), growing the
# checked-in corpus under fuzz/corpus, then minimises it (only inputs that add coverage stay).
#   bash fuzz/run.sh [seconds per target, default 60] [target ...]
# A crash stops the run: libFuzzer prints the input's path (fuzz/libfuzzer/artifacts/<target>/);
# copy it into fuzz/corpus/<target>/ so `cargo test -p fmesh-fuzz` keeps it as a regression test.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame_decoder segment_file cursor_file exec_frame)
export CARGO_TARGET_DIR=${FMESH_FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fmesh/fuzz-target}
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
fuzz=(cargo +nightly fuzz)
for t in "${targets[@]}"; do
  "${fuzz[@]}" run --fuzz-dir libfuzzer "$t" "$PWD/corpus/$t" -- -max_total_time="$secs" -max_len=65536
  "${fuzz[@]}" cmin --fuzz-dir libfuzzer "$t" "$PWD/corpus/$t"
done
