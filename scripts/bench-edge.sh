#!/usr/bin/env bash
# Edge benchmark for design version 2 (docs/PERFORMANCE.md, "Version 2"), run by `make bench-edge`
# (never by `make test`). Everything on 127.0.0.1, bounded in count and time, self-stopping.
#
# One run:
#   1. builds our bench worker (`bench` feature: POST /v1/bench/floor), the deployable worker
#      (prints its gzip size; budget 450 KB) and the release origin;
#   2. starts, each under `wrangler dev` on its own port: the JS peer (../shared/peers/js-edge,
#      copied to a temp dir, `npm ci`), our worker with the origin down (ORIGIN_URL at a closed
#      port) and our worker with the real origin up;
#   3. waits (at most BENCH_IDLE_WAIT_S, default 1200) until no `node --test` and no rustc runs
#      on the machine, and again (at most 300 s) before each later round and the drain; each run
#      beside such work is flagged;
#   4. BENCH_ROUNDS rounds (default 3), alternating peer and ours, wrk -t2 -c16 then -t1 -c1 for
#      BENCH_DURATION each (default 10s): peer /v1/invoices, ours origin down, peer
#      /v1/invoices-do, our floor, peer /v1/invoices, ours origin up, and for context a trivial
#      GET of each; after each -c16 run with the origin up, what is not yet final
#      (GET /v1/admin/series);
#   5. medians over the rounds and the target ratios;
#   6. the drain (benches/drain.mjs): BENCH_DRAIN invoices (default 10000) per phase on a fourth
#      instance whose origin is down, then the origin starts: one series (timed from
#      POST /v1/admin/sync), ten series (from the sync), one series without a sync (from the
#      origin's return); then a size probe (one connection, origin up: a 10,000-document series
#      against a 1,000-document one).
# BENCH_ACCEPT_ENCODING=gzip sends that Accept-Encoding on every wrk request, both sides (wrk sends
# none by default; browsers and fetch() do).
# Fair terms: both sides get the peer's 10-line invoice (bench-invoice-10.json) with a unique
# order_id per request (ours with each line's `unit` as a UN/ECE `unit_code`); both await their
# KV put before the 201; our rate limits stay on but far above the load. A non-2xx answer or a
# socket error voids that run (printed, left out of the medians).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen" WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt" ESBUILD_BIN="$root/node_modules/.bin/esbuild"
DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-3}
DRAIN=${BENCH_DRAIN:-10000}
IDLE_WAIT_S=${BENCH_IDLE_WAIT_S:-1200}
SIZE_BUDGET=450000 # bytes of gzip -9 (450 KB)
peers_src=$(cd "$root/../shared/peers" && pwd)
work=$root/target/bench-edge
rm -rf "$work" && mkdir -p "$work"

# Ports: peer, ours origin down, ours origin up, origin up, closed port, drain edge, drain origin.
p_peer=8801 p_down=8796 p_up=8797 p_origin_up=8798 p_closed=8799 p_drain=8795 p_origin_drain=8794
for port in $p_peer $p_down $p_up $p_origin_up $p_closed $p_drain $p_origin_drain; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "port $port is in use on 127.0.0.1; stop what listens there"; exit 1; fi
done

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)' \
  || { echo "Node >= 22.12 must be first on PATH (make setup puts Node 24 in .tools/bin)"; exit 1; }

pids=()
peer=""
# Each service runs in its own process group (setsid), so stopping it stops wrangler's workerd too.
stop_all() { for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done; pids=(); wait 2>/dev/null || true; }
cleanup() { stop_all; [ -z "$peer" ] || rm -rf "$peer"; }
trap cleanup EXIT

echo "== build (BENCH_ROUNDS=$ROUNDS BENCH_DURATION=$DURATION BENCH_DRAIN=$DRAIN BENCH_ACCEPT_ENCODING=${BENCH_ACCEPT_ENCODING:-none})"
# What is measured: the working tree's worker, at this commit (plus any uncommitted change listed).
echo "worker source: commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git status --porcelain -- src crates/core Cargo.toml Cargo.lock 2>/dev/null | sed 's/^/; uncommitted: /' | tr -d '\n')"
cargo build -q -p invoice-edge-cli
# The origin as operators run it (and as `make bench-origin` measures it): the release build.
cargo build -q --release -p invoice-edge-origin --bin invoice-origin
# The same profile as the deployed worker (scripts/build-worker.sh), plus the floor route.
WORKER_BUILD_OUT=build-bench scripts/build-worker.sh --features bench >"$work/build-bench.log" 2>&1 \
  || { tail -30 "$work/build-bench.log"; exit 1; }
# The deployable worker's size, built exactly as `wrangler deploy` builds it.
WORKER_BUILD_OUT=build-size scripts/build-worker.sh >"$work/build-size.log" 2>&1 \
  || { tail -30 "$work/build-size.log"; exit 1; }
size_raw=$(stat -c %s build-size/index_bg.wasm)
size_gz=$(gzip -9c build-size/index_bg.wasm | wc -c)
js_gz=$(gzip -9c build-size/index.js | wc -c)
echo "deployable worker: $size_raw bytes wasm, $size_gz gzip (budget $SIZE_BUDGET: $([ "$size_gz" -le $SIZE_BUDGET ] && echo met || echo OVER)); index.js $js_gz gzip"

echo "== keys, merchants, request bodies"
cli=target/debug/invoice-edge
$cli keygen >"$work/edge.jwk"
$cli keygen >"$work/origin.jwk"
$cli jwks --key "$work/edge.jwk" >"$work/trust.jwks"
$cli jwks --key "$work/origin.jwk" >"$work/origin.jwks"
# The peer's invoice uses S at 13, 9 and 6 and Z at 0: the bench merchants allow exactly those.
merchant() { # id [extra flags...]
  local id=$1; shift
  $cli merchant create --id "$id" --name "Bench Shop $id" --country CN --tax-id 91110000600037341L \
    --tax S:13 --tax S:9 --tax S:6 --tax Z:0 "$@" >"$work/$id.json"
}
merchant bench
merchant drain1
merchant drain10 --series S0 --series S1 --series S2 --series S3 --series S4 --series S5 --series S6 --series S7 --series S8 --series S9
merchant drainb
json() { node -e "process.stdout.write(String((()=>{const d=JSON.parse(require('fs').readFileSync('$1','utf8'));return $2})()))"; }
api_key=$(json "$work/bench.json" d.api_key)
edge_key=$(json "$work/edge.jwk" 'JSON.stringify(d)')
origin_public=$(json "$work/origin.jwks" 'JSON.stringify(d.keys[0])')
# The edge's bearer token at the origin; the origin keeps its SHA-256 (docs/ORIGIN.md).
origin_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$origin_token" | sha256sum | cut -d' ' -f1 >"$work/edge-tokens"
# Copies of the peer and of its invoice: nothing under ../shared is read after this point.
cp "$peers_src/bench-invoice-10.json" "$work/peer-invoice.json"
peer=$(mktemp -d /tmp/bench-edge-peer.XXXXXX)
cp -r "$peers_src/js-edge/." "$peer"
# Both bodies carry the text BENCH_ORDER_ID where benches/issue.lua puts a unique order id.
# Ours: the same content, each line's `unit` renamed `unit_code`, as a UN/ECE Rec. 20 code
# (EA "each" becomes H87 "piece", our default; KGM, MON and HUR are Rec. 20 codes already).
node - "$work" <<'JS'
const fs = require('node:fs');
const work = process.argv[2];
const peer = JSON.parse(fs.readFileSync(`${work}/peer-invoice.json`, 'utf8'));
peer.order_id = 'BENCH_ORDER_ID';
fs.writeFileSync(`${work}/peer-body.json`, JSON.stringify(peer));
const unitCode = { EA: 'H87' };
const ours = structuredClone(peer);
ours.lines = ours.lines.map(({ unit, ...line }) => ({ ...line, unit_code: unitCode[unit] ?? unit }));
fs.writeFileSync(`${work}/ours-body.json`, JSON.stringify(ours));
JS

# A snapshot of www/ for the assets binding: wrangler dev reloads the worker when its assets
# change (a `make browser` elsewhere rewrites www/pkg/), and a reload answers the requests in
# flight with 503 "Your worker restarted mid-request".
cp -r www "$work/www"

origin_cmd=("$root/target/release/invoice-origin" serve --trust "$work/trust.jwks" --key "$work/origin.jwk" --edge-tokens "$work/edge-tokens")

wait_http() { # url log
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return; sleep 0.2; done
  echo "$1 did not answer within 60 s"; tail -30 "$2"; exit 1
}

start_edge() { # name port origin_port merchant...
  local name=$1 port=$2 oport=$3 dir="$work/$1"; shift 3
  mkdir -p "$dir"
  # The bench's own worker build, no build step, and rate limits out of the way of the load.
  sed -e "s|^main = .*|main = \"$root/build-bench/index.js\"|" -e '/^\[build\]/,/^command/d' \
    -e 's/simple = { limit = [0-9]*, period = \([0-9]*\) }/simple = { limit = 100000000, period = \1 }/' \
    -e "s|^directory = \"www\"|directory = \"$work/www\"|" \
    wrangler.toml >"$dir/wrangler.toml"
  grep -q 'limit = 100000000' "$dir/wrangler.toml" || { echo "could not raise the rate limits in $dir/wrangler.toml"; exit 1; }
  printf "EDGE_SIGNING_KEY='%s'\nORIGIN_PUBLIC_JWK='%s'\nORIGIN_URL=http://127.0.0.1:%s\nORIGIN_TOKEN=%s\n" \
    "$edge_key" "$origin_public" "$oport" "$origin_token" >"$dir/.dev.vars"
  for m in "$@"; do
    scripts/load-merchant.sh "$work/$m.json" --local --persist-to "$dir/state" --config "$dir/wrangler.toml" >/dev/null
  done
  setsid bash -c "cd '$dir' && exec npx wrangler dev --config wrangler.toml --ip 127.0.0.1 --port '$port' --persist-to state \
    --test-scheduled --show-interactive-dev-session=false" >"$dir/wrangler.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/v1/health" "$dir/wrangler.log"
}

echo "== start: origin, our worker (origin down / up), the JS peer"
setsid "${origin_cmd[@]}" --db "$work/up.sqlite" --listen 127.0.0.1:$p_origin_up >"$work/origin-up.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$p_origin_up/v1/health" "$work/origin-up.log"
start_edge down $p_down $p_closed bench
start_edge up $p_up $p_origin_up bench
(cd "$peer" && npm ci --no-audit --no-fund >"$work/peer-npm.log" 2>&1) || { tail -20 "$work/peer-npm.log"; exit 1; }
setsid bash -c "cd '$peer' && exec npx wrangler dev --ip 127.0.0.1 --port $p_peer --persist-to '$peer/state' \
  --show-interactive-dev-session=false" >"$work/peer-wrangler.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$p_peer/" "$work/peer-wrangler.log"

# Each target answers the bench body with 201 once, before any load (a 422 here means the
# body does not fit the merchant's tax profile).
check() { # label url path key body
  local status
  status=$(sed "s/BENCH_ORDER_ID/CHECK-$RANDOM$RANDOM/" "$5" | curl -sS -o "$work/check.out" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' ${4:+-H "Authorization: Bearer $4"} --data-binary @- "$2$3")
  [ "$status" = 201 ] || { echo "$1: $status $(head -c 600 "$work/check.out")"; exit 1; }
}
check "peer /v1/invoices" http://127.0.0.1:$p_peer /v1/invoices "" "$work/peer-body.json"
check "peer /v1/invoices-do" http://127.0.0.1:$p_peer /v1/invoices-do "" "$work/peer-body.json"
check "ours, origin down" http://127.0.0.1:$p_down /v1/invoices "$api_key" "$work/ours-body.json"
check "ours, floor" http://127.0.0.1:$p_down /v1/bench/floor "$api_key" "$work/ours-body.json"
check "ours, origin up" http://127.0.0.1:$p_up /v1/invoices "$api_key" "$work/ours-body.json"
echo "every target answered the bench body with 201"

# Other work on the machine skews the figures: a test run (`node --test`) or a Rust build.
others_running() { pgrep -f 'node --test' >/dev/null || pgrep -x rustc >/dev/null; }
wait_idle() { # seconds
  local waited=0
  echo "== waiting until no 'node --test' or rustc runs (at most $1 s, polling every 20 s)"
  while others_running && [ "$waited" -lt "$1" ]; do sleep 20; waited=$((waited + 20)); done
  if others_running; then
    echo "STILL RUNNING after ${waited} s (the figures below are taken beside it):"
    { pgrep -af 'node --test'; pgrep -ax rustc; } | cut -c1-150 | head -4 || true
  else echo "idle after ${waited} s"; fi
}
wait_idle "$IDLE_WAIT_S"
busy() { { ps -eo pcpu=,etime=,args= --sort=-pcpu | grep -vE 'wrangler|workerd|invoice-origin|esbuild|ps -eo' | head -4 | cut -c1-150 | sed 's/^/    /'; } || true; }
echo "  busiest other processes (%CPU over their lifetime):"; busy
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average $(cut -d' ' -f1-3 /proc/loadavg)"

results="$work/results.tsv"
printf 'round\tconns\ttarget\trps\tp50_us\tp99_us\trequests\tvoid\n' >"$results"
# target -> url path key body
# Context only (no target): peer_get and ours_get, a trivial GET of each worker with no I/O (the
# peer's "/" and our /.well-known/jwks.json), the runtime's own cost per request for each.
declare -A T_URL=([peer]=http://127.0.0.1:$p_peer [peer_do]=http://127.0.0.1:$p_peer [down]=http://127.0.0.1:$p_down [floor]=http://127.0.0.1:$p_down [up]=http://127.0.0.1:$p_up
  [peer_get]=http://127.0.0.1:$p_peer [ours_get]=http://127.0.0.1:$p_down)
declare -A T_PATH=([peer]=/v1/invoices [peer_do]=/v1/invoices-do [down]=/v1/invoices [floor]=/v1/bench/floor [up]=/v1/invoices
  [peer_get]=/ [ours_get]=/.well-known/jwks.json)
declare -A T_KEY=([peer]="" [peer_do]="" [down]=$api_key [floor]=$api_key [up]=$api_key [peer_get]="" [ours_get]="")
declare -A T_BODY=([peer]=$work/peer-body.json [peer_do]=$work/peer-body.json [down]=$work/ours-body.json [floor]=$work/ours-body.json [up]=$work/ours-body.json
  [peer_get]="" [ours_get]="")
declare -A T_METHOD=([peer]=POST [peer_do]=POST [down]=POST [floor]=POST [up]=POST [peer_get]=GET [ours_get]=GET)
declare -A T_LABEL=([peer]="peer /v1/invoices" [peer_do]="peer /v1/invoices-do" [down]="ours, origin down" [floor]="ours, floor" [up]="ours, origin up"
  [peer_get]="peer GET /" [ours_get]="ours GET jwks.json")

load() { # round conns target duration -> one line, and a row in results.tsv (round > 0)
  local round=$1 conns=$2 target=$3 duration=$4 threads=2 out line others=""
  [ "$conns" -gt 1 ] || threads=1
  ! others_running || others="  [other work was running: node --test or rustc]"
  out=$(BENCH_METHOD=${T_METHOD[$target]} BENCH_PATH=${T_PATH[$target]} BENCH_API_KEY=${T_KEY[$target]} BENCH_BODY=${T_BODY[$target]} \
    timeout 120 wrk -t$threads -c"$conns" -d"$duration" --latency -s benches/issue.lua "${T_URL[$target]}" 2>&1) || true
  ! others_running || others="  [other work was running: node --test or rustc]"
  line=$(grep '^BENCH_RESULT' <<<"$out" || true)
  [ "$round" -gt 0 ] || return 0
  if [ -z "$line" ]; then
    echo "  r$round c$conns ${T_LABEL[$target]}: VOID (wrk gave no result): $(tail -3 <<<"$out")"
    printf '%s\t%s\t%s\t0\t0\t0\t0\t1\n' "$round" "$conns" "$target" >>"$results"
    return 0
  fi
  local rps p50 p99 requests non2xx sockerr void=0
  rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line"); p50=$(sed -E 's/.* p50_us=([0-9]+).*/\1/' <<<"$line")
  p99=$(sed -E 's/.* p99_us=([0-9]+).*/\1/' <<<"$line"); requests=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")
  non2xx=$(sed -E 's/.* non2xx=([0-9]+).*/\1/' <<<"$line"); sockerr=$(sed -E 's/.* sockerr=([0-9]+).*/\1/' <<<"$line")
  [ "$non2xx" = 0 ] && [ "$sockerr" = 0 ] || void=1
  printf '  r%s c%-2s %-22s %8s req/s  p50 %6.1f ms  p99 %6.1f ms  (%s requests)%s\n' "$round" "$conns" "${T_LABEL[$target]}" "$rps" \
    "$(awk "BEGIN{print $p50/1000}")" "$(awk "BEGIN{print $p99/1000}")" "$requests" \
    "$([ $void = 0 ] || echo "  VOID: non2xx=$non2xx sockerr=$sockerr $(grep '^BENCH_FIRST_ERROR' <<<"$out" | cut -c19-)")$others"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$conns" "$target" "$rps" "$p50" "$p99" "$requests" "$void" >>"$results"
}

outstanding() { # label: the origin-up instance's series, not yet final
  local body
  body=$(curl -fsS --max-time 30 -H "Authorization: Bearer $api_key" "http://127.0.0.1:$p_up/v1/admin/series" || echo '{}')
  node -e '
    const d = JSON.parse(process.argv[1]); const s = (d.series ?? [])[0] ?? {};
    console.log(`  ${process.argv[2]}: outstanding_count ${s.outstanding_count}, head_seq ${s.head_seq}, final_seq ${s.final_seq}, breaker ${JSON.stringify(s.breaker)}, last_delivery_error ${JSON.stringify(s.last_delivery_error ?? null)}`);
    process.stdout.write("");
  ' "$body" "$1" | tee -a "$work/outstanding.log"
}

echo "== warm-up (not counted): 3 s at 16 connections on each target"
for target in peer down peer_do floor up peer_get ours_get; do load 0 16 $target 3s; done

order=(peer down peer_do floor peer up peer_get ours_get) # alternating: peer, ours, peer, ours, ...
for round in $(seq 1 "$ROUNDS"); do
  [ "$round" = 1 ] || wait_idle 300
  echo "== round $round of $ROUNDS, wrk -t2 -c16 -d$DURATION"
  for target in "${order[@]}"; do
    load "$round" 16 $target "$DURATION"
    [ $target != up ] || outstanding "right after this run"
  done
  echo "== round $round of $ROUNDS, wrk -t1 -c1 -d$DURATION"
  for target in "${order[@]}"; do load "$round" 1 $target "$DURATION"; done
done
sleep 5
outstanding "5 s after the last run"
echo "load average after the measured runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  other work (node --test or rustc) now: $(others_running && echo RUNNING || echo none)"

echo "== medians over $ROUNDS rounds (void runs left out) and targets"
node - "$results" <<'JS'
const fs = require('node:fs');
const rows = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').slice(1).map((l) => {
  const [round, conns, target, rps, p50, p99, requests, void_] = l.split('\t');
  return { round: +round, conns: +conns, target, rps: +rps, p50: +p50 / 1000, p99: +p99 / 1000, void: void_ === '1' };
});
const median = (xs) => { if (!xs.length) return NaN; const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pick = (conns, target, field) => rows.filter((r) => r.conns === conns && r.target === target && !r.void).map((r) => r[field]);
const voids = rows.filter((r) => r.void);
const labels = { peer: 'peer /v1/invoices', down: 'ours, origin down', floor: 'ours, floor', up: 'ours, origin up', peer_do: 'peer /v1/invoices-do',
  peer_get: 'peer GET / (context)', ours_get: 'ours GET jwks (context)' };
console.log('target                   | req/s at 16 (median, range)    | p50 at 1 (median, range) | p50 at 16 | runs');
for (const t of ['peer', 'down', 'floor', 'up', 'peer_do', 'peer_get', 'ours_get']) {
  const rps = pick(16, t, 'rps'), p1 = pick(1, t, 'p50'), p16 = pick(16, t, 'p50');
  const range = (xs, d) => xs.length ? `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}` : '-';
  console.log(`${labels[t].padEnd(24)} | ${median(rps).toFixed(1).padStart(7)} (${range(rps, 1)})`.padEnd(56) +
    `| ${median(p1).toFixed(2).padStart(6)} ms (${range(p1, 2)})`.padEnd(27) + `| ${median(p16).toFixed(1).padStart(6)} ms | ${rps.length}+${p1.length}`);
}
const m = (c, t, f) => median(pick(c, t, f));
const ratios = [
  ['ours (origin down) / floor, req/s at 16', m(16, 'down', 'rps') / m(16, 'floor', 'rps'), (r) => r >= 0.9, '>= 0.9'],
  ['ours (origin down) / peer, req/s at 16', m(16, 'down', 'rps') / m(16, 'peer', 'rps'), (r) => r >= 0.5, '>= 0.5'],
  ['ours p50 / peer p50 at 1 (origin down)', m(1, 'down', 'p50') / m(1, 'peer', 'p50'), (r) => r <= 2, '<= 2'],
  ['origin up / down, p50 at 1', m(1, 'up', 'p50') / m(1, 'down', 'p50'), (r) => Math.abs(r - 1) <= 0.1, 'within 10 %'],
];
const extra = [
  ['ours (origin up) / peer, req/s at 16', m(16, 'up', 'rps') / m(16, 'peer', 'rps')],
  ['ours (origin up) / down, req/s at 16', m(16, 'up', 'rps') / m(16, 'down', 'rps')],
  ['floor / peer, req/s at 16', m(16, 'floor', 'rps') / m(16, 'peer', 'rps')],
  ['peer-do / peer, req/s at 16', m(16, 'peer_do', 'rps') / m(16, 'peer', 'rps')],
  ['floor p50 / peer p50 at 1', m(1, 'floor', 'p50') / m(1, 'peer', 'p50')],
  ['peer-do p50 / peer p50 at 1', m(1, 'peer_do', 'p50') / m(1, 'peer', 'p50')],
  ['ours GET / peer GET, req/s at 16 (context)', m(16, 'ours_get', 'rps') / m(16, 'peer_get', 'rps')],
  ['ours GET - peer GET, p50 at 1 (context, ms)', m(1, 'ours_get', 'p50') - m(1, 'peer_get', 'p50')],
];
for (const [name, r, ok, target] of ratios) console.log(`RATIO ${name.padEnd(42)} ${r.toFixed(2)}  target ${target}: ${Number.isNaN(r) ? 'NO DATA' : ok(r) ? 'met' : 'MISSED'}`);
for (const [name, r] of extra) console.log(`      ${name.padEnd(42)} ${r.toFixed(2)}`);
// Per round, each of ours against the peer runs of the same round.
for (const round of [...new Set(rows.map((r) => r.round))]) {
  const get = (c, t, f) => median(rows.filter((r) => r.round === round && r.conns === c && r.target === t && !r.void).map((r) => r[f]));
  console.log(`round ${round}: down/floor ${(get(16, 'down', 'rps') / get(16, 'floor', 'rps')).toFixed(2)}, down/peer ${(get(16, 'down', 'rps') / get(16, 'peer', 'rps')).toFixed(2)}, ` +
    `p50 down/peer ${(get(1, 'down', 'p50') / get(1, 'peer', 'p50')).toFixed(2)}, p50 up/down ${(get(1, 'up', 'p50') / get(1, 'down', 'p50')).toFixed(2)}`);
}
console.log(voids.length ? `VOID runs: ${voids.map((r) => `r${r.round} c${r.conns} ${r.target}`).join(', ')}` : 'no void run');
JS

# Error lines of our worker during the run (a panic or a failed series call shows here).
for name in down up; do
  n=$(grep -ciE 'panic|series call failed|unreachable|RuntimeError|not written' "$work/$name/wrangler.log" || true)
  echo "ours ($name): $n error line(s) in its wrangler log$([ "$n" = 0 ] || echo ": $(grep -iE 'panic|series call failed|unreachable|RuntimeError|not written' "$work/$name/wrangler.log" | head -3)")"
done

[ "$DRAIN" -gt 0 ] || exit 0
echo "== drain: $DRAIN invoices per phase, origin down, then back (the other instances are stopped first)"
stop_all
wait_idle 300
start_edge drain $p_drain $p_origin_drain drain1 drain10 drainb
node - "$work" "$DRAIN" "$p_drain" "$p_origin_drain" "${origin_cmd[@]}" --db "$work/drain.sqlite" --listen 127.0.0.1:$p_origin_drain <<'JS'
const fs = require('node:fs');
const [work, count, edgePort, originPort, ...command] = process.argv.slice(2);
const key = (id) => JSON.parse(fs.readFileSync(`${work}/${id}.json`, 'utf8')).api_key;
fs.writeFileSync(`${work}/drain.json`, JSON.stringify({
  edge: `http://127.0.0.1:${edgePort}`, body: `${work}/ours-body.json`, count: Number(count), concurrency: 16, max_wait_s: 300,
  origin_health: `http://127.0.0.1:${originPort}/v1/health`, origin_command: command,
  phases: [
    { name: 'one-sync', api_key: key('drain1'), series: null, sync: true },
    { name: 'ten-sync', api_key: key('drain10'), series: ['S0', 'S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7', 'S8', 'S9'], sync: true },
    { name: 'one-nosync', api_key: key('drainb'), series: null, sync: false },
  ],
  // After the phases, with the origin up: issuance one at a time in drain1's series (count
  // documents) against drain10's S0 (count / 10), alternating, to see whether the object's cost
  // grows with the size of its series.
  size_probe: { seconds: 8, rounds: 2, series: [
    { label: `${Number(count)} documents`, api_key: key('drain1'), series: null },
    { label: `${Math.round(Number(count) / 10)} documents`, api_key: key('drain10'), series: 'S0' },
  ] },
}, null, 1));
JS
drain_rc=0
timeout 3000 node benches/drain.mjs "$work/drain.json" || drain_rc=$?
n=$(grep -ciE 'panic|series call failed|unreachable|RuntimeError|not written' "$work/drain/wrangler.log" || true)
echo "ours (drain): $n error line(s) in its wrangler log"
echo "logs and results: $work"
exit $drain_rc
