// Starts the built worker (build/index.js + build/index_bg.wasm) in workerd through Miniflare,
// the same runtime `wrangler dev` uses, and gives tests its URL.
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Starts the worker. `bindings` are the plain variables and secrets; `persistTo`, when given,
 * keeps KV, Durable Objects and cache on disk across restarts, as `wrangler dev --persist-to` does.
 */
export async function startEdge({ bindings = {}, persistTo } = {}) {
  const options = convertV4MiniflareOptions({
    modules: [
      { type: 'ESModule', path: path.join(repoRoot, 'build/index.js') },
      { type: 'CompiledWasm', path: path.join(repoRoot, 'build/index_bg.wasm') },
    ],
    compatibilityDate: '2026-11-01',
    host: '127.0.0.1',
    port: 0,
    bindings,
    ...(persistTo ? { resourcePersistencePath: persistTo } : {}),
  });
  const mf = new Miniflare(options);
  const url = await mf.ready;
  return {
    mf,
    url: url.toString().replace(/\/$/, ''),
    async stop() {
      await mf.dispose();
    },
  };
}
