// The project's own `invoice-edge` binary: keys, merchants and tokens for the tests, made the
// way an operator makes them.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './edge.mjs';

// INVOICE_EDGE_BIN_DIR points the tests at binaries built in another target dir.
export const cliPath = path.join(process.env.INVOICE_EDGE_BIN_DIR ?? path.join(repoRoot, 'target/debug'), 'invoice-edge');

export function cli(args, input = '') {
  return execFileSync(cliPath, args, { input, encoding: 'utf8' });
}

export function keygen() {
  return JSON.parse(cli(['keygen']));
}

/** `merchant create` output {config, api_key, token_secret} for a Chinese VAT taxpayer. */
export function demoMerchant(id = 'demo', extra = []) {
  return JSON.parse(
    cli([
      'merchant', 'create', '--id', id, '--name', '示例商店有限公司', '--country', 'CN',
      '--tax-id', '91110000600037341L',
      '--tax', 'S:13', '--tax', 'S:9', '--tax', 'S:6', '--tax', 'S:5', '--tax', 'S:3', '--tax', 'S:1',
      '--tax', 'Z:0:零税率 Zero-rated export', '--tax', 'E:0:免税 Exempt under VAT law art. 15',
      '--allowed-origin', 'https://shop.example', ...extra,
    ]),
  );
}

/** Stores a merchant file in the MERCHANTS namespace, as `scripts/load-merchant.sh` does. */
export async function loadMerchant(kv, merchantFile) {
  const { config, api_key } = merchantFile;
  await kv.put(`merchant:${config.id}`, JSON.stringify(config));
  for (const hash of config.api_key_hashes) await kv.put(`apikey:${hash}`, config.id);
  return api_key;
}

export function token(merchantPath, order, cart, ttl = '15m') {
  return cli(['token', '--merchant', merchantPath, '--order', order, '--ttl', ttl], JSON.stringify(cart)).trim();
}
