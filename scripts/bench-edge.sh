#!/usr/bin/env bash
# Edge load benchmark (docs/PERFORMANCE.md), against `wrangler dev` on 127.0.0.1 only, bounded
# in time: wrk -t2 -c16 for 10 s per scenario, in one run:
#   (a) issuance with the origin down (nothing listens on its port; the breaker opens);
#   (b) issuance with the real origin up;
#   (c) the storage floor route (built with the `bench` feature);
# then the drain: N invoices pending while the origin is down, all final after it is back.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen" WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt" ESBUILD_BIN="$root/node_modules/.bin/esbuild"
DURATION=${BENCH_DURATION:-10s}
DRAIN=${BENCH_DRAIN:-10000}
work=target/bench-edge
rm -rf "$work" && mkdir -p "$work"

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build -q -p invoice-edge-cli -p invoice-edge-origin
# The same profile as the deployed worker (scripts/build-worker.sh), plus the floor route.
WORKER_BUILD_OUT=build-bench scripts/build-worker.sh --features bench >/dev/null 2>&1
# The deployable worker's size, built exactly as `wrangler deploy` builds it.
WORKER_BUILD_OUT=build-size scripts/build-worker.sh >/dev/null 2>&1
echo "deployable worker: $(stat -c %s build-size/index_bg.wasm) bytes wasm, $(gzip -9c build-size/index_bg.wasm | wc -c) gzip; index.js $(gzip -9c build-size/index.js | wc -c) gzip"

cli=target/debug/invoice-edge
$cli keygen >"$work/edge.jwk"
$cli keygen >"$work/origin.jwk"
$cli merchant create --id bench --name "Bench Shop" --country CN --tax-id 91110000600037341L \
  --tax S:13 --tax S:9 --tax S:6 --tax Z:0 --tax "E:0:免税" >"$work/merchant.json"
$cli jwks --key "$work/edge.jwk" >"$work/trust.jwks"
api_key=$(node -e "process.stdout.write(JSON.parse(require('fs').readFileSync('$work/merchant.json','utf8')).api_key)")
edge_key=$(node -e "process.stdout.write(JSON.stringify(JSON.parse(require('fs').readFileSync('$work/edge.jwk','utf8'))))")
sed 's/"id": "demo"/"id": "bench"/' crates/core/benches/fixtures/ten_lines.json >"$work/body.json"

pids=()
# Each service runs in its own process group (setsid), so stopping it stops wrangler's workerd too.
cleanup() { for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

origin_up=8798 origin_down=8799
# The edge's bearer token at the origin; the origin keeps its SHA-256 (docs/ORIGIN.md).
origin_token=bench-origin-token
printf '%s' "$origin_token" | sha256sum | cut -d' ' -f1 >"$work/edge-tokens"
origin_cmd=(target/debug/invoice-origin serve --trust "$work/trust.jwks" --key "$work/origin.jwk" --merchants "$work/merchant.json" --edge-tokens "$work/edge-tokens")
setsid "${origin_cmd[@]}" --db "$work/up.sqlite" --listen 127.0.0.1:$origin_up >/dev/null 2>&1 &
pids+=($!)

start_edge() { # name port origin_port
  local dir="$work/$1"
  mkdir -p "$dir"
  # The bench's own worker build, no build step, and rate limits out of the way of the load.
  sed -e "s|^main = .*|main = \"$root/build-bench/index.js\"|" -e '/^\[build\]/,/^command/d' \
    -e 's/simple = { limit = [0-9]*, period = \([0-9]*\) }/simple = { limit = 100000000, period = \1 }/' \
    -e "s|^directory = \"www\"|directory = \"$root/www\"|" \
    wrangler.toml >"$dir/wrangler.toml"
  printf "EDGE_SIGNING_KEY='%s'\nORIGIN_URL=http://127.0.0.1:%s\nORIGIN_TOKEN=%s\n" "$edge_key" "$3" "$origin_token" >"$dir/.dev.vars"
  scripts/load-merchant.sh "$work/merchant.json" --local --persist-to "$dir/state" --config "$dir/wrangler.toml" >/dev/null
  setsid bash -c "cd '$dir' && exec npx wrangler dev --config wrangler.toml --ip 127.0.0.1 --port '$2' --persist-to state \
    --test-scheduled --show-interactive-dev-session=false" >"$dir/wrangler.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$2/v1/health" >/dev/null 2>&1 && return; sleep 0.2; done
  echo "edge $1 did not start"; cat "$dir/wrangler.log"; exit 1
}
start_edge down 8796 $origin_down
start_edge up 8797 $origin_up

run() { # label url path
  echo "== $1"
  BENCH_API_KEY=$api_key BENCH_PATH=$3 BENCH_BODY="$work/body.json" wrk -t2 -c16 -d"$DURATION" --latency -s benches/issue.lua "$2" \
    | grep -E 'Requests/sec|p50|Non-2xx|Socket'
}
# Warm both isolates, then measure (a), (c), (b), and (a) again to see the drift.
BENCH_API_KEY=$api_key BENCH_BODY="$work/body.json" wrk -t1 -c2 -d2s -s benches/issue.lua http://127.0.0.1:8796 >/dev/null
BENCH_API_KEY=$api_key BENCH_BODY="$work/body.json" wrk -t1 -c2 -d2s -s benches/issue.lua http://127.0.0.1:8797 >/dev/null
run "(a) issuance, origin down" http://127.0.0.1:8796 /v1/invoices
run "(c) storage floor + one signature" http://127.0.0.1:8796 /v1/bench/floor
run "(b) issuance, origin up" http://127.0.0.1:8797 /v1/invoices
run "(a) again, origin down" http://127.0.0.1:8796 /v1/invoices
# Latency without queueing: one connection, so (b) - (a) is the origin call plus the final: write.
latency() { # label url
  echo "== $1 (1 connection)"
  BENCH_API_KEY=$api_key BENCH_BODY="$work/body.json" wrk -t1 -c1 -d"$DURATION" --latency -s benches/issue.lua "$2" | grep -E 'p50'
}
latency "(a) issuance, origin down" http://127.0.0.1:8796
latency "(b) issuance, origin up" http://127.0.0.1:8797

[ "$DRAIN" -gt 0 ] || exit 0
echo "== drain: $DRAIN invoices pending, then the origin comes back"
node benches/drain.mjs http://127.0.0.1:8796 "$api_key" "$DRAIN" "${origin_cmd[@]}" --db "$work/down.sqlite" --listen 127.0.0.1:$origin_down
