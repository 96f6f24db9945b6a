#!/bin/sh
# Builds the browser module (crates/browser) into www/pkg/: wasm32 build (profile `browser`,
# size first; Cargo.toml), wasm-bindgen
# --target web (an ES module the widget and /v/{id} import), then wasm-opt -Oz for size.
# The pinned wasm-bindgen CLI must equal the library pin in Cargo.toml (docs/DEVELOPERS.md).
# CARGO_TARGET_DIR is honoured, so the build can stay out of the worker's target dir.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$HOME/.cargo/bin:$PATH"
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo build --profile browser --target wasm32-unknown-unknown -p invoice-edge-browser
mkdir -p www/pkg
wasm-bindgen --target web --no-typescript --out-dir www/pkg \
  "$target_dir/wasm32-unknown-unknown/browser/invoice_edge_browser.wasm"
"$root/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  www/pkg/invoice_edge_browser_bg.wasm -o www/pkg/invoice_edge_browser_bg.wasm
# make's freshness check: the wasm is the target.
touch www/pkg/invoice_edge_browser_bg.wasm
echo "browser: www/pkg/invoice_edge_browser_bg.wasm $(wc -c <www/pkg/invoice_edge_browser_bg.wasm) bytes, $(gzip -9c www/pkg/invoice_edge_browser_bg.wasm | wc -c) gzip"
