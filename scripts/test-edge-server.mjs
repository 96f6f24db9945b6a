// Boots the built worker (build/) in Miniflare, as the integration tests do, with a seeded demo
// merchant and DEMO_MODE, and prints one JSON line {url, api_key, token_secret, merchant}. It
// stops when stdin closes, on SIGTERM/SIGINT, or after MAX_LIFETIME_S (default 900 s) by itself.
// Used by scripts/schemathesis.sh; listens on 127.0.0.1 only.
import { startEdge } from '../tests/support/edge.mjs';
import { keygen, demoMerchant, loadMerchant } from '../tests/support/cli.mjs';

const edgeKey = keygen();
const merchant = demoMerchant('demo');
const edge = await startEdge({ bindings: { EDGE_SIGNING_KEY: JSON.stringify(edgeKey), DEMO_MODE: 'true' } });
await loadMerchant(await edge.kv('MERCHANTS'), merchant);
process.stdout.write(`${JSON.stringify({ url: edge.url, api_key: merchant.api_key, token_secret: merchant.token_secret, merchant: 'demo' })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await edge.stop();
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, Number(process.env.MAX_LIFETIME_S ?? 900) * 1000).unref();
