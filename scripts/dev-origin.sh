#!/usr/bin/env bash
# The local origin ledger of `make dev`, on 127.0.0.1:8788 with .state/origin-v2.sqlite. Run by
# scripts/dev.sh; run it by hand to bring the origin back after stopping it
# (`kill "$(cat .state/origin.pid)"`, README, "Watch an outage locally").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
keys=.state/keys
echo $$ >.state/origin.pid
exec target/debug/invoice-origin serve --db .state/origin-v2.sqlite --trust "$keys/trust.jwks" \
  --key "$keys/origin.jwk" --edge-tokens "$keys/edge-tokens" \
  --listen 127.0.0.1:8788
