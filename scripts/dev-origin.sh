#!/usr/bin/env bash
# The local origin ledger of `make dev`, on 127.0.0.1:$ORIGIN_PORT (default 8788) with
# .state/origin-v2.sqlite, logging to .state/origin.log. Two commands (README, "Watch an outage
# locally"), which leave `make dev` running:
#   scripts/dev-origin.sh stop    stop it (an outage: the edge keeps issuing)
#   scripts/dev-origin.sh start   start it again (scripts/dev.sh starts it the same way)
# DEV_DIR (default the checkout) is where .state/ lives, as for scripts/dev.sh.
#
# The origin runs in a session of its own (setsid), so a Ctrl-C in the terminal that started it
# does not reach it; `make dev` stops it when it ends. .state/origin.pid names that session;
# `stop` removes it first, so scripts/dev.sh tells a stop from a crash (a crash, with its exit
# status in .state/origin.status, ends `make dev`).
set -euo pipefail
root=$(cd -P "$(dirname "$0")/.." && pwd)
dir=${DEV_DIR:-$root}
state=$dir/.state
port=${ORIGIN_PORT:-8788}
keys=$state/keys
pidfile=$state/origin.pid

running() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case ${1:-start} in
stop)
  if ! running; then
    rm -f "$pidfile"
    echo "origin: not running"
    exit 0
  fi
  pid=$(cat "$pidfile")
  rm -f "$pidfile"
  kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  echo "origin: stopped (the edge keeps issuing; \`scripts/dev-origin.sh start\` brings it back)"
  ;;
start)
  if running; then
    echo "origin: already running (pid $(cat "$pidfile"))"
    exit 0
  fi
  rm -f "$state/origin.status"
  # The wrapper shell stays, to record the origin's exit status for scripts/dev.sh.
  setsid bash -c '"$0" "$@"; echo $? >"'"$state"'/origin.status"' "$root/target/debug/invoice-origin" \
    serve --db "$state/origin-v2.sqlite" --trust "$keys/trust.jwks" --key "$keys/origin.jwk" \
    --edge-tokens "$keys/edge-tokens" --listen "127.0.0.1:$port" >>"$state/origin.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/v1/health" 2>/dev/null; then
      echo "origin: up on http://127.0.0.1:$port (log $state/origin.log)"
      exit 0
    fi
    kill -0 "$!" 2>/dev/null || break
    sleep 0.1
  done
  echo "origin: did not start; see $state/origin.log" >&2
  exit 1
  ;;
*)
  echo "usage: scripts/dev-origin.sh start|stop" >&2
  exit 2
  ;;
esac
