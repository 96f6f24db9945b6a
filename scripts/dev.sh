#!/usr/bin/env bash
# `make dev`: runs the whole system locally until Ctrl-C.
#   - the worker under `wrangler dev` on 127.0.0.1:8787, with KV, Durable Objects and queues
#     persisted in .state/wrangler, and --test-scheduled so the cron handler can be triggered;
#   - a ticker that triggers the cron handler every minute, because local cron does not
#     fire by itself (../shared/TOOLCHAIN.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p .state

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

edge=http://127.0.0.1:8787
(
  while sleep 60; do
    curl -fsS -o /dev/null "$edge/__scheduled?cron=*+*+*+*+*" || true
  done
) &
pids+=($!)

echo "dev: edge on $edge (health: $edge/v1/health); Ctrl-C stops everything"
WORKER_BUILD_OPT=0 npx wrangler dev --ip 127.0.0.1 --port 8787 --persist-to .state/wrangler \
  --test-scheduled --show-interactive-dev-session=false &
pids+=($!)
wait -n "${pids[@]}"
