#!/usr/bin/env bash
# `make dev`: runs the whole system locally until Ctrl-C.
#   - the origin ledger (`invoice-origin`) on 127.0.0.1:8788 with its SQLite file in .state/
#     (origin-v2.sqlite: a version 1 ledger file is not carried over, docs/ORIGIN.md);
#   - the worker under `wrangler dev` on 127.0.0.1:8787, with KV, Durable Objects and queues
#     persisted in .state/wrangler, and --test-scheduled so the cron handler can be triggered;
#   - a ticker that triggers the cron handler every minute, because local cron does not fire
#     by itself (../shared/TOOLCHAIN.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
mkdir -p .state
scripts/dev-setup.sh

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

keys=.state/keys
target/debug/invoice-origin serve --db .state/origin-v2.sqlite --trust "$keys/trust.jwks" --key "$keys/origin.jwk" \
  --merchants "$keys/demo-merchant.json" --edge-tokens "$keys/edge-tokens" --listen 127.0.0.1:8788 &
pids+=($!)

edge=http://127.0.0.1:8787
(
  while sleep 60; do
    curl -fsS -o /dev/null "$edge/__scheduled?cron=*+*+*+*+*" || true
  done
) &
pids+=($!)

cat <<MSG
dev: origin ledger on http://127.0.0.1:8788, edge on $edge (demo checkout: $edge/)
dev: API key and token secret of merchant "demo" are in .dev.vars; Ctrl-C stops everything
MSG
# The worker was built by `make dev`; WORKER_BUILD_OPT=0 keeps wrangler's rebuilds fast.
WORKER_BUILD_OPT=0 npx wrangler dev --ip 127.0.0.1 --port 8787 --persist-to .state/wrangler \
  --test-scheduled --show-interactive-dev-session=false &
pids+=($!)
wait -n "${pids[@]}"
