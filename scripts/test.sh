#!/usr/bin/env bash
# Every test, from a fresh machine: installs what is missing (idempotent),
# then formatting, lints, native tests against the reference fixtures, the
# wasm build, and the end-to-end test in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"

scripts/setup.sh model wasm browser firefox

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy (native, warnings denied)"
cargo clippy --release --all-targets -- -D warnings
echo "== cargo clippy (wasm32, warnings denied)"
CARGO_TARGET_DIR="$PWD/target/wasm" cargo clippy --release --target wasm32-unknown-unknown --lib --bins -- -D warnings
echo "== cargo clippy (wasm32 threaded worker: atomics, std rebuilt on nightly; warnings denied)"
web/threaded_worker.sh --clippy
echo "== cargo test (unit, fixtures, CLI)"
cargo test --release
echo "== wasm kernels against the scalar reference, bit for bit, in headless Chromium and Firefox"
tests/wasm_kernels/run.sh
echo "== wasm build (trunk)"
tests/e2e/build.sh
echo "== browser end-to-end (headless Chromium)"
node tests/e2e/chat.test.mjs
echo "== browser end-to-end: steering methods (headless Chromium)"
node tests/e2e/methods.test.mjs
echo "== browser end-to-end: playground tools (headless Chromium)"
node tests/e2e/playground.test.mjs
echo "== browser end-to-end: threads in the page, and the single-threaded fallback (headless Chromium)"
node tests/e2e/threads.test.mjs
echo "== browser end-to-end: WebGPU (SwiftShader) vs CPU backend (headless Chromium)"
node tests/e2e/webgpu.test.mjs
echo "== browser end-to-end: hostile input (headless Chromium)"
node tests/e2e/hostile.test.mjs
echo "== browser end-to-end: the CPU path in Firefox (firefox-esr over WebDriver BiDi)"
node tests/e2e/firefox.test.mjs
