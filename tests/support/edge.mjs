// Starts the tests' build of the worker (build-test/: the `test-hooks` feature) in workerd
// through Miniflare, the runtime `wrangler dev` uses, with the bindings of wrangler.toml: KV, the
// SERIES Durable Object (SQLite storage, alarms) and the rate limiters.
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Starts the worker. `bindings` are plain variables and secrets; `persistTo`, when given,
 * keeps KV, Durable Objects and queues on disk across restarts, as `wrangler dev --persist-to`.
 */
/**
 * `rateLimits` sets the `[[ratelimits]]` bindings' limits per 60 s (docs/SECURITY.md); the
 * tests default to limits no test reaches. `onLog({level, message})`, when given, receives every
 * line the worker logs (it is still printed).
 */
/**
 * `kvNamespaces`, when given, maps each binding to its namespace id (as wrangler.toml does):
 * with `persistTo` set to `wrangler dev --persist-to DIR`'s `DIR/v3`, the worker then reads what
 * `wrangler kv key put --local --persist-to DIR` wrote (tests/support/dev-edge.mjs).
 */
export async function startEdge({ bindings = {}, persistTo, port = 0, rateLimits = {}, onLog, kvNamespaces = ['MERCHANTS', 'INVOICES'] } = {}) {
  const options = convertV4MiniflareOptions({
    modules: [
      { type: 'ESModule', path: path.join(repoRoot, 'build-test/index.js') },
      { type: 'CompiledWasm', path: path.join(repoRoot, 'build-test/index_bg.wasm') },
    ],
    compatibilityDate: '2026-11-01',
    host: '127.0.0.1',
    port,
    // ORIGIN_TOKEN: the token tests/support/origin.mjs configures every origin to accept.
    bindings: { ORIGIN_BATCH_TIMEOUT_MS: '5000', BREAKER_FAILURES: '3', BREAKER_COOLDOWN_MS: '30000', ORIGIN_TOKEN: 'test-edge-token-not-secret', ...bindings },
    kvNamespaces,
    durableObjects: { SERIES: { className: 'SeriesLedger', useSQLite: true } },
    // wrangler.toml [assets]: www/ behind the worker (run_worker_first), as `wrangler dev` serves it.
    assets: { directory: path.join(repoRoot, 'www'), binding: 'ASSETS', run_worker_first: true, routerConfig: { has_user_worker: true } },
    ratelimits: Object.fromEntries(
      Object.entries({ ISSUE_IP_LIMITER: 1_000_000, ISSUE_MERCHANT_LIMITER: 1_000_000, HEALTH_IP_LIMITER: 1_000_000, SYNC_MERCHANT_LIMITER: 1_000_000, ...rateLimits }).map(([name, limit], i) => [
        name,
        { namespace_id: String(1001 + i), simple: { limit, period: 60 } },
      ]),
    ),
    ...(onLog
      ? {
          handleStructuredLogs: (log) => {
            onLog(log);
            console.error(`[worker ${log.level}] ${log.message}`);
          },
        }
      : {}),
    ...(persistTo ? { resourcePersistencePath: persistTo } : {}),
  });
  const mf = new Miniflare(options);
  const url = await mf.ready;
  const base = url.toString().replace(/\/$/, '');
  return {
    mf,
    url: base,
    kv: (name) => mf.getKVNamespace(name),
    /** Runs the cron handler (the safety net that pokes every series' object) once. */
    async cron() {
      const worker = await mf.getWorker();
      await worker.scheduled({ cron: '* * * * *', scheduledTime: new Date() });
    },
    async stop() {
      await mf.dispose();
    },
  };
}
