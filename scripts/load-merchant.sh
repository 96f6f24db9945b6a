#!/usr/bin/env bash
# Loads a merchant file (`invoice-edge merchant create` output) into the MERCHANTS KV namespace:
#   merchant:{id}      -> the configuration
#   apikey:{sha256}    -> the merchant id, for each API-key hash
#
# Usage: scripts/load-merchant.sh MERCHANT_FILE [--local --persist-to DIR | --remote]
# Locally (`make dev` does this for the demo merchant) pass --local --persist-to .state/wrangler;
# for a deployed worker pass --remote.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$root/.tools/bin:$PATH"
file=${1:?usage: scripts/load-merchant.sh MERCHANT_FILE [wrangler kv flags]}
shift
node - "$file" "$@" <<'JS'
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
