#!/usr/bin/env bash
# The CPU kernels in a real wasm engine (part of the test command): builds
# tests/wasm_kernels for wasm32 twice, simd128 (the page's plain builds) and
# simd128 + relaxed-simd (its relaxed build), and runs each module's checks
# in headless Chromium and Firefox (browsers from scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"
modules=()
for variant in simd128 relaxed; do
  features="+simd128"
  [ "$variant" = relaxed ] && features="+simd128,+relaxed-simd"
  target="$root/target/wasm-kernels-$variant"
  RUSTFLAGS="-C target-feature=$features" cargo build --quiet --release \
    --target wasm32-unknown-unknown --target-dir "$target"
  modules+=("$target/wasm32-unknown-unknown/release/persona_wasm_kernels.wasm")
done
node run.mjs "${modules[@]}"
