#!/usr/bin/env bash
# Pushes a merchant file (`invoice-edge merchant create` or `merchant update` output) to the
# edge's MERCHANTS KV namespace; the one command for a new or a changed merchant:
#   merchant:{id}      -> the configuration
#   apikey:{sha256}    -> the merchant id, for each API-key hash
#
# Usage: scripts/load-merchant.sh MERCHANT_FILE --local | --remote
#   --local    the KV of `make dev` (.state/wrangler under DEV_DIR, default the checkout; or give
#              --persist-to DIR), read by the running `wrangler dev` at once
#   --remote   the deployed worker's KV (after `wrangler login`)
# The edge sees the change within about a minute: an isolate keeps a merchant for 60 s.
set -euo pipefail
root=$(cd -P "$(dirname "$0")/.." && pwd)
export PATH="$root/.tools/bin:$PATH"
export WRANGLER_SEND_METRICS=false
usage='usage: scripts/load-merchant.sh MERCHANT_FILE --local | --remote [wrangler kv flags]'
file=${1:?$usage}
shift
file=$(realpath "$file")
flags=()
local_kv=
persist=
while [ $# -gt 0 ]; do
  case $1 in
  --local) local_kv=1 ;;
  --persist-to) persist=$(realpath -m "${2:?$usage}"); shift ;;
  --persist-to=*) persist=$(realpath -m "${1#--persist-to=}") ;;
  *) flags+=("$1") ;;
  esac
  shift
done
if [ -n "$local_kv" ]; then
  flags+=(--local --persist-to "${persist:-${DEV_DIR:-$root}/.state/wrangler}")
elif [ -n "$persist" ]; then
  echo "$usage" >&2
  exit 2
fi
# wrangler reads wrangler.toml (the namespace ids) and node_modules from the checkout.
cd "$root"
node - "$file" "${flags[@]}" <<'JS'
const { readFileSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const [file, ...flags] = process.argv.slice(2);
const parsed = JSON.parse(readFileSync(file, 'utf8'));
const config = parsed.config ?? parsed;
const wrangler = (key, value) =>
  execFileSync('npx', ['wrangler', 'kv', 'key', 'put', '--binding', 'MERCHANTS', key, value, ...flags], { stdio: ['ignore', 'ignore', 'inherit'] });
wrangler(`merchant:${config.id}`, JSON.stringify(config));
for (const hash of config.api_key_hashes ?? []) wrangler(`apikey:${hash}`, config.id);
console.log(`loaded merchant ${config.id} (${(config.api_key_hashes ?? []).length} API key hash(es))`);
JS
