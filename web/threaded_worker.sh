#!/usr/bin/env bash
# Trunk post-build hook: the model worker's threaded build (issue 13,
# "threads in the page"). The same `worker` binary compiled with wasm atomics
# and shared memory (the standard library rebuilt so: nightly's rust-src,
# `-Z build-std`), bound with wasm-bindgen (no-modules, like Trunk's worker),
# optimised with threads enabled, and written next to the page as
# worker_mt.js, worker_mt_bg.wasm, worker_mt_loader.js and pool_thread.js.
# The page loads it only when it is cross-origin isolated
# (src/page_data/thread_plan.rs). Tools come from scripts/setup.sh wasm.
# `web/threaded_worker.sh --clippy` lints this build instead (the test
# command), with the same flags so the two share their compiled crates.
set -euo pipefail
root="${TRUNK_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
target="$root/target/wasm-mt"
cd "$root"
# RUSTFLAGS replaces .cargo/config.toml's, so simd128 is named again. The
# memory is imported and shared, and the thread-local storage symbols that
# wasm-bindgen's thread start-up needs are exported.
link="--shared-memory --import-memory --max-memory=4294967296"
link="$link --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base"
export RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 $(printf -- ' -C link-arg=%s' $link)"
export CARGO_TARGET_DIR="$target"
threaded=(--release --target wasm32-unknown-unknown -Z build-std=std,panic_abort)
if [ "${1:-}" = "--clippy" ]; then
  exec cargo +nightly clippy "${threaded[@]}" --lib --bins -- -D warnings
fi
out="${TRUNK_STAGING_DIR:?run by trunk}"
cargo +nightly build --quiet "${threaded[@]}" --bin worker
wasm-bindgen --target no-modules --no-typescript --out-dir "$target/bindgen" --out-name worker_mt \
  "$target/wasm32-unknown-unknown/release/worker.wasm"
wasm-opt -O3 --enable-threads --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types \
  "$target/bindgen/worker_mt_bg.wasm" -o "$out/worker_mt_bg.wasm"
cp "$target/bindgen/worker_mt.js" "$out/worker_mt.js"
printf 'importScripts("./worker_mt.js");wasm_bindgen({ module_or_path: "./worker_mt_bg.wasm" });' > "$out/worker_mt_loader.js"
cp web/pool_thread.js "$out/pool_thread.js"
