#!/bin/sh
# Builds the worker (root crate) for workerd into build/, using only local tools:
# worker-build would otherwise try to download wasm-bindgen, wasm-opt and esbuild and fail
# on this network (docs/DEVELOPERS.md). It uses the `deploy` profile of Cargo.toml (size-
# optimized, with signing and hashing at opt-level 3).
#   WORKER_BUILD_OPT=0  skips wasm-opt (dev and tests: about 5 s faster);
#   default             runs wasm-opt and strips the debug name section, as `wrangler deploy` ships.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$root/.tools/bin:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
export WRANGLER_SEND_METRICS=false
cd "$root"
out=${WORKER_BUILD_OUT:-build}
if [ "${WORKER_BUILD_OPT:-1}" = 0 ]; then
  worker-build --profile deploy --no-opt -d "$out" . "$@"
else
  worker-build --profile deploy -d "$out" . "$@"
  # The `name` section only serves debugging; it is about 35 KB of the gzip size.
  "$WASM_OPT_BIN" --strip-debug --strip-producers -O3 --all-features "$out/index_bg.wasm" -o "$out/index_bg.wasm"
fi
# make's freshness check: the wasm is the target, so touch it even when nothing changed.
touch "$out/index_bg.wasm"
