#!/usr/bin/env bash
# Sets up what is missing (idempotent), builds the playground with the
# bundled model and serves it on http://127.0.0.1:8080 (PORT to change).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/.tools/node_modules/.bin:$PATH"
scripts/setup.sh model wasm
export CARGO_TARGET_DIR="$PWD/target/wasm"
exec trunk serve --release --address 127.0.0.1 --port "${PORT:-8080}"
