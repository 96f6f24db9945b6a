// The edge of `make dev` in the tests: scripts/dev.sh runs it instead of `wrangler dev` when
// DEV_EDGE_CMD names it (tests/dev.test.mjs, tests/readme.test.mjs), because `wrangler dev`
// rebuilds the worker at each start. It is the tests' build (build-test/) in Miniflare, the
// runtime `wrangler dev` uses, with what `wrangler dev` would give it: the variables of
// $DEV_DIR/.dev.vars, and KV and Durable Objects persisted in $DEV_DIR/.state/wrangler under
// wrangler.toml's namespace ids, so `scripts/load-merchant.sh FILE --local` reaches it.
// Listens on 127.0.0.1:$EDGE_PORT; stops on SIGTERM or SIGINT.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startEdge } from './edge.mjs';

const dir = process.env.DEV_DIR;
const port = Number(process.env.EDGE_PORT);
if (!dir || !port) {
  console.error('dev-edge: DEV_DIR and EDGE_PORT must be set');
  process.exit(2);
}
// .dev.vars as dev-setup.sh writes it: NAME=value or NAME='value', comments with #.
const bindings = {};
for (const line of readFileSync(path.join(dir, '.dev.vars'), 'utf8').split('\n')) {
  const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
  if (m) bindings[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
}
const edge = await startEdge({
  bindings,
  port,
  persistTo: path.join(dir, '.state/wrangler/v3'),
  kvNamespaces: { MERCHANTS: '00000000000000000000000000000001', INVOICES: '00000000000000000000000000000002' },
});
console.log(`dev-edge: the tests' worker on ${edge.url}`);
const stop = async () => {
  await edge.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
