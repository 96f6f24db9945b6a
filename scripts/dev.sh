#!/usr/bin/env bash
# `make dev`: runs the whole system locally until Ctrl-C.
#   - the origin ledger (`invoice-origin`) on 127.0.0.1:8788 with its SQLite file in .state/
#     (origin-v2.sqlite: a version 1 ledger file is not carried over, docs/ORIGIN.md), started by
#     scripts/dev-origin.sh, its pid in .state/origin.pid. Stopping it (an outage) leaves the rest
#     running: the edge keeps issuing, and scripts/dev-origin.sh brings it back;
#   - the worker under `wrangler dev` on 127.0.0.1:8787, with KV and Durable Objects (their
#     storage and alarms) persisted in .state/wrangler, and --test-scheduled so the cron handler
#     can be triggered;
#   - a ticker that triggers the cron's safety net every minute, because local cron does not
#     fire by itself (docs/DEVELOPERS.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
mkdir -p .state
scripts/dev-setup.sh

pids=()
cleanup() {
  # Each service runs in its own process group (setsid): stopping the group stops wrangler's
  # workerd children too, and an origin restarted by hand.
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  [ -s .state/origin.pid ] && kill "$(cat .state/origin.pid)" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

setsid scripts/dev-origin.sh &
pids+=($!)

edge=http://127.0.0.1:8787
setsid bash -c "while sleep 60; do curl -fsS -o /dev/null '$edge/__scheduled?cron=*+*+*+*+*' || true; done" &
pids+=($!)

cat <<MSG
dev: origin ledger on http://127.0.0.1:8788, edge on $edge (demo checkout: $edge/)
dev: API key and token secret of merchant "demo" are in .dev.vars; Ctrl-C stops everything
MSG
# The worker was built by `make dev`; WORKER_BUILD_OPT=0 keeps wrangler's rebuilds fast.
setsid env WORKER_BUILD_OPT=0 npx wrangler dev --ip 127.0.0.1 --port 8787 --persist-to .state/wrangler \
  --test-scheduled --show-interactive-dev-session=false &
wrangler=$!
pids+=($wrangler)
# Only the worker ends `make dev`: the origin may be stopped and started again meanwhile.
wait "$wrangler"
