// Outage drill (issue 11, docs/RESILIENCE.md): the real worker in Miniflare on persisted state,
// the real `invoice-origin` on a real SQLite file, the fault proxy between them, a bounded load
// generator at concurrency 16, a seeded fault schedule, then the checker.
//
//   node tests/chaos/drill.mjs [--profile short|long] [--n N] [--seed S]
//
// `make test` runs the short profile through tests/drill.test.mjs; `make drill-long` the long one.
// Everything listens on 127.0.0.1, every loop is bounded in count and time, and every process
// started here is stopped here.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEdge } from '../support/edge.mjs';
import { keygen, demoMerchant, loadMerchant, cliPath } from '../support/cli.mjs';
import { startOrigin, freePort } from '../support/origin.mjs';
import { startFaultProxy, prng, FAULT_KINDS } from './fault-proxy.mjs';
import { check, listKeys } from './checker.mjs';

/** `invoice-edge token` (the cart on stdin), asynchronously: the load must not wait on it. */
function mintToken(merchantPath, order, cartValue) {
  return new Promise((resolve, reject) => {
    const child = execFile(cliPath, ['token', '--merchant', merchantPath, '--order', order, '--ttl', '24h'], { encoding: 'utf8' }, (error, stdout) =>
      error ? reject(error) : resolve(stdout.trim()),
    );
    child.stdin.end(JSON.stringify(cartValue));
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The profiles. `cronMs` is how often the drill runs the cron handler; `graceMs` is
 * RECONCILE_GRACE_MS (production: a 60 s cron and a 60 s grace). The short drill compresses
 * time by 20 so that it fits `make test`; the long one runs the production cadence, so its drain
 * figure is the one the 3-minute promise is about. `retryDelay` is the queue's (production: 10 s).
 */
export const PROFILES = {
  short: { n: 500, cycles: 1, faultP: 0.35, cronMs: 3_000, graceMs: 3_000, retryDelay: 1, bigOutage: false, deadlineMs: 270_000 },
  long: { n: 20_000, cycles: 3, faultP: 0.25, cronMs: 60_000, graceMs: 60_000, retryDelay: 10, bigOutage: true, deadlineMs: 3_600_000 },
};

const cart = (i) => ({
  currency: 'CNY',
  prices_include_tax: false,
  lines: [
    { description: '龙井茶', quantity: String(1 + (i % 3)), unit_price: '68.00', tax_category: 'S', tax_rate: '9' },
    { description: '运费 Shipping', quantity: '1', unit_price: '12.00', tax_category: 'S', tax_rate: '6' },
  ],
});

const percentile = (values, p) => {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
};

/**
 * The seeded schedule: actions at fractions of the orders completed. Per cycle: per-request
 * faults on, an origin SIGKILL and restart, a refused-connections window, a worker restart, and
 * faults off; the long profile ends with an outage long enough to leave about 10,000 pending.
 */
function buildSchedule(profile, random) {
  const events = [];
  const jitter = () => (random() - 0.5) * 0.03;
  const span = profile.bigOutage ? 0.48 : 0.9;
  const width = span / profile.cycles;
  for (let c = 0; c < profile.cycles; c += 1) {
    const at = (f) => c * width + f * width + jitter() * width;
    events.push({ at: at(0.12), action: 'faults_on' });
    events.push({ at: at(0.25), action: 'kill_origin' });
    events.push({ at: at(0.38), action: 'start_origin' });
    events.push({ at: at(0.48), action: 'refuse', ms: 2_000 + Math.floor(random() * 2_000) });
    events.push({ at: at(0.6), action: 'restart_worker' });
    // The short drill kills the origin twice; the long one once more per cycle.
    events.push({ at: at(0.7), action: 'kill_origin' });
    events.push({ at: at(0.82), action: 'start_origin' });
    // The short drill keeps its faults on to the end of the load: the pending tail is then
    // delivered by batches through the faults (see "Delivery under faults" below).
    if (profile.bigOutage || c < profile.cycles - 1) events.push({ at: at(0.92), action: 'faults_off' });
    else events.push({ at: at(0.86), action: 'faults_heavy' });
  }
  if (profile.bigOutage) events.push({ at: 0.49, action: 'kill_origin', big: true });
  return events.sort((a, b) => a.at - b.at);
}

let activeCleanup = null;

export async function runDrill(options = {}) {
  const profile = { ...PROFILES[options.profile ?? 'short'], ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  const seed = profile.seed ?? Math.floor(Math.random() * 2 ** 31);
  const log = profile.log ?? ((line) => console.log(`[drill ${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`));
  const t0 = Date.now();
  const random = prng(seed);
  log(`profile=${options.profile ?? 'short'} n=${profile.n} seed=${seed}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'invoice-drill-'));

  // Keys, two merchants (two series), the origin on its SQLite file, the proxy, the worker.
  const edgeKey = keygen();
  const merchants = [demoMerchant('demo'), demoMerchant('shop2')];
  const merchantPaths = merchants.map((m, i) => {
    const file = path.join(dir, `merchant-${i}.json`);
    writeFileSync(file, JSON.stringify(m));
    return file;
  });
  const origin = await startOrigin({ trustedKeys: [edgeKey], merchantFiles: merchants });
  const proxy = await startFaultProxy({ target: origin.url, seed: seed ^ 0x5eed, deadlines: { put: 1500, batch: 10_000 } });
  const persistTo = path.join(dir, 'edge-state');
  const edgePort = await freePort();
  const bindings = {
    EDGE_SIGNING_KEY: JSON.stringify(edgeKey),
    ORIGIN_URL: proxy.url,
    ORIGIN_PUBLIC_JWK: JSON.stringify(origin.publicJwk),
    ORIGIN_TIMEOUT_MS: '1500',
    BREAKER_COOLDOWN_MS: '2000',
    RECONCILE_GRACE_MS: String(profile.graceMs),
  };
  let edge = await startEdge({ persistTo, port: edgePort, bindings, retryDelay: profile.retryDelay });
  // Whatever happens (a failed check, an exception, SIGTERM), stop what this drill started.
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    await edge.stop().catch(() => {});
    await proxy.stop().catch(() => {});
    await origin.kill('SIGKILL').catch(() => {});
  };
  activeCleanup = stopAll;
  try {
    const apiKeys = [];
    for (const m of merchants) apiKeys.push(await loadMerchant(await edge.kv('MERCHANTS'), m));
    const edgeUrl = edge.url;

    const injected = { origin_sigkill: 0, worker_restart: 0 };
    let originUp = true;
    let edgeUp = true;
    let phase = 'healthy';
    const phaseNow = () => (!originUp || proxy.refusing ? 'outage' : phase);

    // The orders: a third through checkout tokens (minted by the CLI beforehand, as a shop's
    // server would), the rest through API keys.
    const orders = new Map();
    const plan = [];
    const tokenJobs = [];
    for (let i = 0; i < profile.n; i += 1) {
      const m = i % 2;
      const order = `DRILL-${seed}-${i}`;
      const viaToken = random() < 0.33;
      const entry = { merchant: merchants[m].config.id, order_id: order, via: viaToken ? 'token' : 'key', attempts: [], cart: cart(i), m };
      orders.set(`${entry.merchant}:${order}`, entry);
      plan.push(entry);
      if (viaToken) tokenJobs.push(entry);
    }
    let nextToken = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (nextToken < tokenJobs.length) {
          const entry = tokenJobs[nextToken++];
          entry.token = await mintToken(merchantPaths[entry.m], entry.order_id, entry.cart);
        }
      }),
    );
    log(`${tokenJobs.length} checkout tokens minted, ${profile.n - tokenJobs.length} orders by API key`);

    // One HTTP attempt, as a widget or a shop server makes it.
    async function attempt(entry, dup) {
      const started = performance.now();
      const at = phaseNow();
      const record = { dup, phase: at, t: Date.now() - t0 };
      try {
        const headers = { 'content-type': 'application/json' };
        let url = `${edgeUrl}/v1/invoices`;
        let body;
        if (entry.via === 'token') {
          url += `?merchant=${entry.merchant}`;
          headers['checkout-token'] = entry.token;
          headers.origin = 'https://shop.example';
          body = { buyer: { name: 'Drill Buyer' } };
        } else {
          headers.authorization = `Bearer ${apiKeys[entry.m]}`;
          body = { ...entry.cart, order_id: entry.order_id };
        }
        const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
        const text = await response.text();
        let json = {};
        try {
          json = JSON.parse(text);
        } catch {
          json = { code: 'NOT_JSON' };
        }
        Object.assign(record, {
          status: response.status,
          code: json.code,
          id: json.invoice?.id,
          doc: json.status,
          retryAfter: Number(response.headers.get('retry-after')) || undefined,
        });
      } catch (error) {
        record.error = error.name === 'TimeoutError' ? 'timeout' : 'network';
      }
      record.ms = performance.now() - started;
      entry.attempts.push(record);
      if (process.env.DRILL_DEBUG && record.status !== 201) log(`attempt ${entry.order_id}: ${JSON.stringify(record)}`);
      return record;
    }

    // A client: retries the same order on a timeout, a network error, a 5xx, a 429 or a 409
    // IDEMPOTENCY_IN_PROGRESS, after Retry-After (or a short jittered pause); bounded.
    async function client(entry, dup) {
      const end = Date.now() + 240_000;
      for (let n = 0; n < 80 && Date.now() < end; n += 1) {
        const r = await attempt(entry, dup);
        if (r.status === 201) return;
        const retry = r.error || r.status >= 500 || r.status === 429 || (r.status === 409 && r.code === 'IDEMPOTENCY_IN_PROGRESS');
        if (!retry) return;
        await sleep(r.retryAfter ? Math.min(r.retryAfter * 1000, 30_000) : 300 + Math.floor(random() * 700));
      }
    }

    // The seeded schedule, driven by progress.
    const schedule = buildSchedule(profile, random);
    log(`schedule: ${schedule.map((e) => `${e.action}@${e.at.toFixed(2)}`).join(' ')}`);
    let done = 0;
    let busy = Promise.resolve();
    let bigOutageAt = null;
    let killedAt = 0;
    const actions = {
      async faults_on() {
        phase = 'faults';
        proxy.setFaults(profile.faultP);
      },
      async faults_heavy() {
        phase = 'faults';
        proxy.setFaults(0.8);
      },
      async faults_off() {
        phase = 'healthy';
        proxy.setFaults(0);
      },
      async kill_origin(event) {
        if (!originUp) return;
        originUp = false;
        injected.origin_sigkill += 1;
        await origin.kill('SIGKILL');
        killedAt = Date.now();
        if (event.big) bigOutageAt = Date.now();
      },
      async start_origin() {
        if (originUp) return;
        // An outage lasts at least 4 s, however fast the load progresses.
        await sleep(Math.max(0, killedAt + 4_000 - Date.now()));
        await origin.start();
        originUp = true;
      },
      async refuse(event) {
        proxy.refusing = true;
        const window = proxy.refuseFor(event.ms).finally(() => {
          proxy.refusing = false;
        });
        await window;
      },
      async restart_worker() {
        injected.worker_restart += 1;
        edgeUp = false;
        await edge.stop();
        await sleep(500);
        edge = await startEdge({ persistTo, port: edgePort, bindings, retryDelay: profile.retryDelay });
        edgeUp = true;
      },
    };
    const fire = (event) => {
      log(`${event.action}${event.ms ? ` ${event.ms} ms` : ''} at ${done}/${profile.n}`);
      busy = busy.then(() => actions[event.action](event)).catch((e) => log(`action ${event.action} failed: ${e.message}`));
    };

    // The cron, as production runs it (compressed in the short profile).
    let cronRuns = 0;
    const cronTimer = setInterval(() => {
      if (!edgeUp) return;
      cronRuns += 1;
      edge.cron().catch(() => {});
    }, profile.cronMs);

    // The load: 16 clients; 10% of orders get a second client while the first is in flight.
    const loadStart = Date.now();
    let next = 0;
    let scheduleIndex = 0;
    const scheduler = setInterval(() => {
      while (scheduleIndex < schedule.length && done / profile.n >= schedule[scheduleIndex].at) fire(schedule[scheduleIndex++]);
    }, 50);
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < plan.length && Date.now() - t0 < profile.deadlineMs) {
          const entry = plan[next++];
          const runs = [client(entry, false)];
          if (random() < 0.1) runs.push(sleep(Math.floor(random() * 200)).then(() => client(entry, true)));
          await Promise.all(runs);
          done += 1;
        }
      }),
    );
    clearInterval(scheduler);
    while (scheduleIndex < schedule.length) fire(schedule[scheduleIndex++]);
    await busy;
    const loadSeconds = (Date.now() - loadStart) / 1000;
    log(`load done: ${profile.n} orders in ${loadSeconds.toFixed(1)} s`);

    const kv = () => edge.kv('INVOICES');
    const unsettled = async () => {
      const store = await kv();
      const [inv, fin, rej] = await Promise.all([listKeys(store, 'inv:'), listKeys(store, 'final:'), listKeys(store, 'rejected:')]);
      return inv.length - fin.length - rej.length;
    };

    // Delivery under faults (the batch route's turn): a while of faults with the origin up.
    if (!profile.bigOutage) {
      phase = 'faults';
      proxy.setFaults(0.6);
      await sleep(15_000);
      proxy.setFaults(0);
      phase = 'healthy';
    }

    // Recovery: the origin back, no more faults. Time until every invoice is final or rejected.
    const pendingAtRecovery = await unsettled();
    if (!originUp) {
      await origin.start();
      originUp = true;
    }
    proxy.setFaults(0);
    const recoveredAt = Date.now();
    log(`recovery: origin healthy, ${pendingAtRecovery} invoices not final${bigOutageAt ? ` (the big outage lasted ${((recoveredAt - bigOutageAt) / 1000).toFixed(0)} s)` : ''}`);
    let left = pendingAtRecovery;
    const drainLimit = profile.bigOutage ? 600_000 : 150_000;
    while (Date.now() - recoveredAt < drainLimit) {
      left = await unsettled();
      if (left <= 0) break;
      await sleep(1000);
    }
    const drainSeconds = (Date.now() - recoveredAt) / 1000;
    log(left <= 0 ? `drained: all final ${drainSeconds.toFixed(1)} s after recovery` : `NOT drained: ${left} not final after ${drainSeconds.toFixed(0)} s`);
    // The markers of final invoices go with the next reconciliations (bounded wait).
    const markersEnd = Date.now() + Math.max(3 * profile.cronMs, 20_000);
    while (Date.now() < markersEnd) {
      if ((await listKeys(await kv(), 'pending:')).length === 0) break;
      await sleep(1000);
    }
    clearInterval(cronTimer);
    await sleep(1000);

    // The checker, with the origin healthy and delivery finished.
    const result = await check({ orders, ledgerDb: origin.files.db, trustFile: origin.files.trust, edge, originUrl: origin.url, workDir: dir, log });

    // Figures.
    const all = [...orders.values()].flatMap((o) => o.attempts);
    const latencies = {};
    for (const ph of ['healthy', 'faults', 'outage']) {
      const ms = all.filter((a) => a.status === 201 && a.phase === ph).map((a) => a.ms);
      latencies[ph] = { n: ms.length, p50_ms: percentile(ms, 50), p99_ms: percentile(ms, 99) };
    }
    const answers = {};
    for (const a of all) {
      const key = a.error ?? `${a.status}${a.code ? ` ${a.code}` : a.doc ? ` ${a.doc}` : ''}`;
      answers[key] = (answers[key] ?? 0) + 1;
    }
    const faults = { ...injected };
    for (const kind of FAULT_KINDS) faults[kind] = { ...proxy.counts[kind] };
    faults.refused = { windows: proxy.counts.refused.other, put: proxy.counts.refused.put, batch: proxy.counts.refused.batch };
    const report = {
      seed,
      profile: options.profile ?? 'short',
      n: profile.n,
      load_seconds: Number(loadSeconds.toFixed(1)),
      pending_at_recovery: pendingAtRecovery,
      drain_seconds_after_recovery: Number(drainSeconds.toFixed(1)),
      drained: left <= 0,
      cron_runs: cronRuns,
      issuance_latency: latencies,
      answers,
      faults,
      proxy_traffic: { ...proxy.traffic },
      duplicate_clients: [...orders.values()].filter((o) => o.attempts.some((a) => a.dup)).length,
      check: result.summary,
      ok: result.ok && left <= 0,
      total_seconds: Number(((Date.now() - t0) / 1000).toFixed(1)),
    };
    log(`report ${JSON.stringify(report, null, 2)}`);
    log(report.ok ? 'DRILL PASSED: 0 lost, 0 duplicated' : `DRILL FAILED: ${result.violations.length} violations, lost ${result.summary.lost}, duplicated ${result.summary.duplicated}`);

    return { report, violations: result.violations };
  } finally {
    await stopAll();
    activeCleanup = null;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const value = (name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const profile = value('profile') ?? 'short';
  const n = value('n') ? Number(value('n')) : undefined;
  const seed = value('seed') ? Number(value('seed')) : undefined;
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.once(signal, async () => {
      await activeCleanup?.();
      process.exit(130);
    });
  }
  const { report } = await runDrill({ profile, n, seed });
  process.exit(report.ok ? 0 : 1);
}
