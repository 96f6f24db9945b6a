#!/usr/bin/env bash
# Schema fuzzing (docs/SECURITY.md, "Proof"): boots the built worker in Miniflare with a seeded
# merchant (scripts/test-edge-server.mjs), then runs schemathesis against it from openapi.yaml
# with a fixed seed and a bounded example count. Fails on a 5xx, a response outside the schema
# (status, content type, headers, body) or a crash. `make test` runs it after the integration tests.
#
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (default 10 per operation, seed 20261125)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.tools/bin:$PATH"
examples=${1:-10}
out="$root/target/test-artifacts/schemathesis"
mkdir -p "$out"

# The server prints one JSON line, then lives until its stdin closes (or 15 minutes pass).
coproc SERVER { MAX_LIFETIME_S=900 exec node scripts/test-edge-server.mjs 2>"$out/worker.log"; }
server_pid=$SERVER_PID
trap 'exec {SERVER[1]}>&- 2>/dev/null || true; kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
read -r -t 60 info <&"${SERVER[0]}"
field() { node -e 'process.stdout.write(JSON.parse(process.argv[1])[process.argv[2]])' "$info" "$1"; }
url=$(field url)
api_key=$(field api_key)

# Operations left out: the bench route (built only with the bench feature), the static assets
# and pages another build step produces (/v/{id} is checked by tests/security.test.mjs), and the
# origin ledger's paths, which another server answers (crates/origin/tests).
# Run from the artifacts folder: Hypothesis creates a .schemathesis/ folder in the working directory.
cd "$out"
"$root/.tools/schemathesis/bin/schemathesis" run "$root/openapi.yaml" \
  --url "$url" \
  --header "Authorization: Bearer $api_key" \
  --seed 20261125 \
  --generation-database none \
  --max-examples "$examples" \
  --workers 1 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --exclude-path /v1/bench/floor \
  --exclude-path-regex '^/($|widget|pkg|verify\.js|v1/ledger/)' \
  --request-timeout 10 \
  --max-time 90 \
  --no-color \
  --report junit --report-dir "$out" \
  2>&1 | tee "$out/schemathesis.log"
