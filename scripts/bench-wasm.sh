#!/bin/sh
# Builds the issue-path benchmark crate for wasm32 (release profile: opt-level 3, LTO), runs
# wasm-bindgen and wasm-opt -O3 as a deploy build would, then times it under Node 24.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$HOME/.cargo/bin:$PATH"
cargo build --release --target wasm32-unknown-unknown -p invoice-edge-bench-wasm
wasm-bindgen --target nodejs --out-dir target/bench-wasm target/wasm32-unknown-unknown/release/invoice_edge_bench_wasm.wasm
# The repo root is "type": "module"; wasm-bindgen's nodejs target is CommonJS.
echo '{"type": "commonjs"}' > target/bench-wasm/package.json
node_modules/.bin/wasm-opt -O3 target/bench-wasm/invoice_edge_bench_wasm_bg.wasm -o target/bench-wasm/invoice_edge_bench_wasm_bg.wasm
node benches/wasm-issue.mjs
