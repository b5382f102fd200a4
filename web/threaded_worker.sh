#!/usr/bin/env bash
# Trunk post-build hook: the model worker's threaded build (issue 13,
# "threads in the page"). The same `worker` binary compiled with wasm atomics
# and shared memory (the standard library rebuilt so: nightly's rust-src,
# `-Z build-std`), bound with wasm-bindgen (no-modules, like Trunk's worker),
# optimised with threads enabled, and written next to the page as
# worker_mt.js, worker_mt_bg.wasm, worker_mt_loader.js and pool_thread.js;
# then the same with relaxed-simd as worker_mt_relaxed* (Q4_1's byte dots
# in one instruction, src/backend/cpu/kernels/simd128.rs). The page loads
# one of them only when it is cross-origin isolated, the relaxed one where
# the browser validates relaxed-simd (src/page_data/thread_plan.rs). Tools
# come from scripts/setup.sh wasm.
# `web/threaded_worker.sh --clippy` lints this build instead (the test
# command), with the same flags so the two share their compiled crates.
# PERSONA_WASM_NAMES=1 keeps the functions' names (wasm-opt -g; the code is
# the same), for profiles of the page (tests/e2e/profile.mjs).
set -euo pipefail
root="${TRUNK_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"
# RUSTFLAGS replaces .cargo/config.toml's, so simd128 is named again. The
# memory is imported and shared, and the thread-local storage symbols that
# wasm-bindgen's thread start-up needs are exported.
link="--shared-memory --import-memory --max-memory=4294967296"
link="$link --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base"
threaded=(--release --target wasm32-unknown-unknown -Z build-std=std,panic_abort)

# One variant: its name (worker_mt, worker_mt_relaxed), its extra target
# features, its own target folder (a different std), then build or lint.
variant() {
  local name="$1" features="$2" mode="$3"
  export RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128$features $(printf -- ' -C link-arg=%s' $link)"
  export CARGO_TARGET_DIR="$root/target/wasm-${name#worker_}"
  local target="$CARGO_TARGET_DIR"
  if [ "$mode" = clippy ]; then
    cargo +nightly clippy "${threaded[@]}" --lib --bins -- -D warnings
    return
  fi
  local out="${TRUNK_STAGING_DIR:?run by trunk}"
  cargo +nightly build --quiet "${threaded[@]}" --bin worker
  wasm-bindgen --target no-modules --no-typescript --out-dir "$target/bindgen" --out-name "$name" \
    "$target/wasm32-unknown-unknown/release/worker.wasm"
  wasm-opt -O3 --enable-threads --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types \
    $([ -n "$features" ] && echo --enable-relaxed-simd) $([ -n "${PERSONA_WASM_NAMES:-}" ] && echo -g) \
    "$target/bindgen/${name}_bg.wasm" -o "$out/${name}_bg.wasm"
  cp "$target/bindgen/$name.js" "$out/$name.js"
  printf 'importScripts("./%s.js");wasm_bindgen({ module_or_path: "./%s_bg.wasm" });' "$name" "$name" > "$out/${name}_loader.js"
}

mode=build
[ "${1:-}" = "--clippy" ] && mode=clippy
variant worker_mt "" "$mode"
variant worker_mt_relaxed ",+relaxed-simd" "$mode"
[ "$mode" = build ] && cp web/pool_thread.js "$TRUNK_STAGING_DIR/pool_thread.js"
exit 0
