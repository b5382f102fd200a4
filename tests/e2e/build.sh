#!/usr/bin/env bash
# Builds dist/ (page + model worker + model file) with Trunk in release mode.
# Uses its own cargo target dir (target/wasm) so it never waits on a native
# build's lock. Tools come from scripts/setup.sh wasm.
# Usage: tests/e2e/build.sh [extra trunk args]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"
export CARGO_TARGET_DIR="$PWD/target/wasm"
for tool in trunk wasm-bindgen wasm-opt; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found; run scripts/setup.sh wasm" >&2; exit 1; }
done
[ -f assets/models/SmolLM2-135M-Instruct.Q4_1.gguf ] || {
  echo "build.sh: the model is missing; run scripts/setup.sh model" >&2; exit 1; }
trunk build --release "$@"
ls -l dist/*.wasm | awk '{printf "%10d  %s\n", $5, $9}'
