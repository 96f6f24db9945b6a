#!/bin/sh
# Builds the worker (root crate) for workerd into build/, using only local tools:
# worker-build would otherwise try to download wasm-bindgen, wasm-opt and esbuild and fail
# on this network (../shared/TOOLCHAIN.md). WORKER_BUILD_OPT=0 skips wasm-opt (dev and tests);
# the default runs it, which is what `wrangler deploy` ships.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$root/.tools/bin:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
export WRANGLER_SEND_METRICS=false
cd "$root"
if [ "${WORKER_BUILD_OPT:-1}" = 0 ]; then
  worker-build --release --no-opt "$@"
else
  worker-build --release "$@"
fi
# make's freshness check: the wasm is the target, so touch it even when nothing changed.
touch build/index_bg.wasm
