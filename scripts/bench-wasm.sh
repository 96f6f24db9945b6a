#!/bin/sh
# Builds the issue-path benchmark crate (benches/wasm) for wasm32 twice, at the release profile
# (opt-level 3) and at the deploy profile the worker ships with (scripts/build-worker.sh), runs
# wasm-bindgen and wasm-opt -O3 as a deploy build does, copies the JS peer's micro benchmark
# when ../shared/peers is there, then times all of them in one Node 24 run
# (benches/wasm-issue.mjs). Figures go to docs/PERFORMANCE.md.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$HOME/.cargo/bin:$PATH"
out=target/bench-wasm
for profile in release deploy; do
  cargo build --profile "$profile" --target wasm32-unknown-unknown -p invoice-edge-bench-wasm
  wasm-bindgen --target nodejs --out-dir "$out/$profile" "target/wasm32-unknown-unknown/$profile/invoice_edge_bench_wasm.wasm"
  # The repo root is "type": "module"; wasm-bindgen's nodejs target is CommonJS.
  echo '{"type": "commonjs"}' > "$out/$profile/package.json"
  node_modules/.bin/wasm-opt -O3 "$out/$profile/invoice_edge_bench_wasm_bg.wasm" -o "$out/$profile/invoice_edge_bench_wasm_bg.wasm"
done
# The JS peer (a read-only folder: copied, then its one runtime dependency installed).
peers=$root/../shared/peers
if [ -f "$peers/js-edge/micro.mjs" ]; then
  rm -rf "$out/peers" && mkdir -p "$out/peers/js-edge"
  cp "$peers/bench-invoice-10.json" "$out/peers/"
  cp -r "$peers/js-edge/src" "$peers/js-edge/micro.mjs" "$peers/js-edge/package.json" "$peers/js-edge/package-lock.json" "$out/peers/js-edge/"
  (cd "$out/peers/js-edge" && npm ci --omit=dev --no-audit --no-fund >npm.log 2>&1) || { tail -20 "$out/peers/js-edge/npm.log"; exit 1; }
else
  echo "no ../shared/peers/js-edge/micro.mjs: the comparison with the JS peer is skipped"
fi
node benches/wasm-issue.mjs
