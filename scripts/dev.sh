#!/usr/bin/env bash
# `make dev`: runs the whole system locally until Ctrl-C.
#   - the origin ledger (`invoice-origin`) on 127.0.0.1:8788 with its SQLite file in .state/
#     (origin-v2.sqlite: a version 1 ledger file is not carried over, docs/ORIGIN.md), started
#     and stopped by scripts/dev-origin.sh. Stopping it with `scripts/dev-origin.sh stop` (an
#     outage) leaves the rest running, and `scripts/dev-origin.sh start` brings it back;
#   - the worker under `wrangler dev` on 127.0.0.1:8787, with KV and Durable Objects (their
#     storage and alarms) persisted in .state/wrangler, and --test-scheduled so the cron handler
#     can be triggered;
#   - a ticker that triggers the cron's safety net every minute, because local cron does not
#     fire by itself (docs/DEVELOPERS.md).
# Supervision (issue 21): if the edge or the ticker exits, or the origin exits other than by
# `scripts/dev-origin.sh stop`, everything is stopped and the process that ended is named with
# its exit status; Ctrl-C (SIGINT to the process group) and SIGTERM stop everything too. Each
# service runs in a session of its own, so stopping it stops its children (wrangler's workerd).
#
# For the tests (tests/dev.test.mjs, tests/readme.test.mjs) every location can be moved:
# DEV_DIR (default the checkout) holds .state/ and .dev.vars; EDGE_PORT (8787) and ORIGIN_PORT
# (8788); DEV_EDGE_CMD replaces `wrangler dev` (tests/support/dev-edge.mjs, which does not build).
set -euo pipefail
root=$(cd -P "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
export DEV_DIR=${DEV_DIR:-$root} EDGE_PORT=${EDGE_PORT:-8787} ORIGIN_PORT=${ORIGIN_PORT:-8788}
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
state=$DEV_DIR/.state
edge=http://127.0.0.1:$EDGE_PORT
mkdir -p "$state"
scripts/dev-setup.sh

edge_pid=
ticker_pid=
stopping=
stop_all() {
  [ -n "$stopping" ] && return
  stopping=1
  trap '' INT TERM
  local pid
  for pid in $edge_pid $ticker_pid; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  scripts/dev-origin.sh stop >/dev/null || true
  # wrangler and workerd get 10 s to close their ports and storage, then are killed.
  for _ in $(seq 100); do
    alive=
    for pid in $edge_pid $ticker_pid; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for pid in $edge_pid $ticker_pid; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'echo "dev: interrupted; stopping everything" >&2; stop_all; exit 130' INT
trap 'echo "dev: terminated; stopping everything" >&2; stop_all; exit 143' TERM
trap stop_all EXIT

scripts/dev-origin.sh start

if [ -n "${DEV_EDGE_CMD:-}" ]; then
  edge_name="the edge ($DEV_EDGE_CMD)"
  setsid bash -c "$DEV_EDGE_CMD" </dev/null &
else
  edge_name="the edge (wrangler dev)"
  env_file=()
  [ "$DEV_DIR" = "$root" ] || env_file=(--env-file "$DEV_DIR/.dev.vars")
  # The worker was built by `make dev`; WORKER_BUILD_OPT=0 keeps wrangler's rebuilds fast.
  setsid env WORKER_BUILD_OPT=0 npx wrangler dev --ip 127.0.0.1 --port "$EDGE_PORT" \
    --persist-to "$state/wrangler" "${env_file[@]}" --test-scheduled \
    --show-interactive-dev-session=false </dev/null &
fi
edge_pid=$!
echo "$edge_pid" >"$state/edge.pid"

setsid bash -c "while sleep 60; do curl -fsS -o /dev/null '$edge/__scheduled?cron=*+*+*+*+*' || true; done" </dev/null &
ticker_pid=$!
echo "$ticker_pid" >"$state/ticker.pid"

# The summary once the edge answers (wrangler dev builds first: up to a few minutes).
for _ in $(seq 3000); do
  curl -fsS -o /dev/null "$edge/v1/health" 2>/dev/null && break
  kill -0 "$edge_pid" 2>/dev/null || break
  sleep 0.1
done
rel=${state#"$root"/}
cat <<MSG

dev: running. Ctrl-C stops everything.
  demo checkout    $edge/
  edge API         $edge/v1/… (openapi.yaml); the page of an invoice: $edge/v/{id}
  origin ledger    http://127.0.0.1:$ORIGIN_PORT (SQLite $rel/origin-v2.sqlite, log $rel/origin.log)
  demo API key     DEMO_API_KEY in ${DEV_DIR#"$root"/}/.dev.vars (load it: set -a; . ./.dev.vars; set +a)
  stop the origin  scripts/dev-origin.sh stop     (an outage: the edge keeps issuing)
  start it again   scripts/dev-origin.sh start
  deliver now      curl -X POST $edge/v1/admin/sync -H "authorization: Bearer \$DEMO_API_KEY"
MSG

# Supervise: the edge and the ticker are children (wait gives their status); the origin is
# watched through its pid file (scripts/dev-origin.sh).
while :; do
  for name in edge ticker; do
    pid=${name}_pid
    pid=${!pid}
    if ! kill -0 "$pid" 2>/dev/null; then
      status=0
      wait "$pid" || status=$?
      what=$edge_name
      [ "$name" = ticker ] && what="the cron ticker"
      echo "dev: $what exited with status $status; stopping everything" >&2
      stop_all
      exit 1
    fi
  done
  if [ -s "$state/origin.pid" ] && ! kill -0 "$(cat "$state/origin.pid" 2>/dev/null || echo 0)" 2>/dev/null; then
    # Not stopped by `scripts/dev-origin.sh stop`, which removes the pid file first.
    sleep 0.2
    if [ -s "$state/origin.pid" ]; then
      status=$(cat "$state/origin.status" 2>/dev/null || echo unknown)
      echo "dev: the origin ledger (invoice-origin) exited with status $status; stopping everything" >&2
      rm -f "$state/origin.pid"
      stop_all
      exit 1
    fi
  fi
  sleep 0.5
done
