// Outage drill (issues 11 and 16, docs/RESILIENCE.md), design version 2: the real worker in
// Miniflare on persisted state (one `SeriesLedger` Durable Object per series, which numbers,
// chains, signs and stores each invoice, and delivers from its alarm), the real `invoice-origin`
// on a real SQLite file, the fault proxy between them, a bounded load generator at concurrency
// 16, a seeded fault schedule, a drain driven as an operator would (POST /v1/admin/sync, then
// GET /v1/admin/series until nothing is outstanding), then the checker.
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
import { startFaultInjectingProxy, prng, FAULT_KINDS } from '../support/fault-proxy.mjs';
import { check, listKeys } from './checker.mjs';

/** `invoice-edge token` (the cart on stdin), asynchronously: the load must not wait on it. */
function mintToken(merchantPath, order, series, cartValue) {
  return new Promise((resolve, reject) => {
    const args = ['token', '--merchant', merchantPath, '--order', order, '--series', series, '--ttl', '24h'];
    const child = execFile(cliPath, args, { encoding: 'utf8' }, (error, stdout) => (error ? reject(error) : resolve(stdout.trim())));
    child.stdin.end(JSON.stringify(cartValue));
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The profiles. `cronMs` is how often the drill runs the cron handler (production: every 60 s;
 * in version 2 it only pokes series objects, a safety net). `batchTimeoutMs` is
 * ORIGIN_BATCH_TIMEOUT_MS and `cooldownMs` BREAKER_COOLDOWN_MS, small so that recovery is quick
 * (the alarm's back-off is capped at 60 s whatever they are). `ratePerS` paces the orders' starts
 * (the load would otherwise be over before its schedule: issuance no longer waits for the
 * origin), null for as fast as 16 clients go. `deliveryFaultsMs` is a spell of faults with the
 * origin up after the load, when only the alarms' batches run. At recovery the short drill calls
 * POST /v1/admin/sync as an operator would (`syncAtRecovery`); the long one leaves the objects to
 * their own alarms and back-off (at most 60 s) and the 60 s cron, so its drain figure is what
 * production gets with nobody watching. Either calls sync again after `resyncAfterMs` without
 * progress (counted in the report). `drainLimitMs` bounds the wait for every series to report
 * nothing outstanding after recovery.
 */
export const PROFILES = {
  short: { n: 500, ratePerS: 14, cycles: 1, faultP: 0.35, cronMs: 3_000, batchTimeoutMs: 3_000, cooldownMs: 2_000, bigOutage: false, deliveryFaultsMs: 10_000, syncAtRecovery: true, resyncAfterMs: 15_000, drainLimitMs: 60_000, deadlineMs: 120_000, clientMs: 100_000 },
  long: { n: 20_000, ratePerS: 50, cycles: 3, faultP: 0.25, cronMs: 60_000, batchTimeoutMs: 3_000, cooldownMs: 2_000, bigOutage: true, deliveryFaultsMs: 0, syncAtRecovery: false, resyncAfterMs: 90_000, drainLimitMs: 600_000, deadlineMs: 3_600_000, clientMs: 240_000 },
};

/**
 * Two merchants, two series each. Both have a series named WEB: a series is (merchant, series),
 * and two merchants' series never share a counter or a chain.
 */
const MERCHANTS = [
  { id: 'demo', series: ['DEMO', 'WEB'] },
  { id: 'shop2', series: ['SHOP2', 'WEB'] },
];

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
 * faults on, an origin SIGKILL and restart, a refused-connections window, a worker restart, a
 * second SIGKILL and restart, and faults off; the long profile ends with an outage long enough to
 * leave about 10,000 documents outstanding.
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
    events.push({ at: at(0.7), action: 'kill_origin' });
    events.push({ at: at(0.82), action: 'start_origin' });
    // The short drill keeps its faults on to the end of the load, heavier at the end: the
    // outstanding tail is then delivered through faults (see "Delivery under faults" below).
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
  const t0 = Date.now();
  const log = profile.log ?? ((line) => console.log(`[drill ${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`));
  const random = prng(seed);
  log(`profile=${options.profile ?? 'short'} n=${profile.n} seed=${seed}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'invoice-drill-'));

  // Keys, two merchants (four series), the origin on its SQLite file, the proxy, the worker.
  const edgeKey = keygen();
  const merchants = MERCHANTS.map((m) => demoMerchant(m.id, m.series.flatMap((s) => ['--series', s])));
  const merchantPaths = merchants.map((m, i) => {
    const file = path.join(dir, `merchant-${i}.json`);
    writeFileSync(file, JSON.stringify(m));
    return file;
  });
  const origin = await startOrigin({ trustedKeys: [edgeKey], merchantFiles: merchants });
  // "latency" holds a batch past the edge's deadline, then forwards it (the origin commits a
  // batch the edge gave up on).
  const proxy = await startFaultInjectingProxy({ target: origin.url, seed: seed ^ 0x5eed, deadlines: { put: 1500, batch: profile.batchTimeoutMs } });
  const persistTo = path.join(dir, 'edge-state');
  const edgePort = await freePort();
  const bindings = {
    EDGE_SIGNING_KEY: JSON.stringify(edgeKey),
    ORIGIN_URL: proxy.url,
    ORIGIN_PUBLIC_JWK: JSON.stringify(origin.publicJwk),
    ORIGIN_BATCH_TIMEOUT_MS: String(profile.batchTimeoutMs),
    BREAKER_FAILURES: '3',
    BREAKER_COOLDOWN_MS: String(profile.cooldownMs),
  };
  let edge = await startEdge({ persistTo, port: edgePort, bindings });
  // Whatever happens (a failed check, an exception, SIGTERM), stop what this drill started.
  let stopped = false;
  const timers = [];
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    for (const timer of timers) clearInterval(timer);
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
    // server would), the rest through API keys; each in one of its merchant's two series.
    const orders = new Map();
    const plan = [];
    const tokenJobs = [];
    for (let i = 0; i < profile.n; i += 1) {
      const m = i % 2;
      const order = `DRILL-${seed}-${i}`;
      const viaToken = random() < 0.33;
      const series = MERCHANTS[m].series[random() < 0.5 ? 0 : 1];
      const entry = { merchant: merchants[m].config.id, series, order_id: order, via: viaToken ? 'token' : 'key', attempts: [], cart: cart(i), m };
      orders.set(`${entry.merchant}:${order}`, entry);
      plan.push(entry);
      if (viaToken) tokenJobs.push(entry);
    }
    let nextToken = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (nextToken < tokenJobs.length) {
          const entry = tokenJobs[nextToken++];
          entry.token = await mintToken(merchantPaths[entry.m], entry.order_id, entry.series, entry.cart);
        }
      }),
    );
    log(`${tokenJobs.length} checkout tokens minted, ${profile.n - tokenJobs.length} orders by API key`);

    // The operator's view: GET /v1/admin/series and POST /v1/admin/sync, per merchant.
    const admin = async (m, method, route) => {
      const response = await fetch(`${edge.url}${route}`, { method, headers: { authorization: `Bearer ${apiKeys[m]}` }, signal: AbortSignal.timeout(15_000) });
      const body = await response.json();
      if (response.status !== 200) throw new Error(`${method} ${route}: ${response.status} ${body.code ?? ''}`);
      return body;
    };
    /** Every series of both merchants, keyed `merchant/series`; throws if one is unreachable. */
    const seriesReports = async () => {
      const all = {};
      for (let m = 0; m < merchants.length; m += 1) {
        const { series } = await admin(m, 'GET', '/v1/admin/series');
        for (const s of series) {
          if (s.unavailable) throw new Error(`series ${merchants[m].config.id}/${s.name} unavailable: ${s.unavailable}`);
          all[`${merchants[m].config.id}/${s.name}`] = s;
        }
      }
      return all;
    };
    let syncs = 0;
    const syncAll = async () => {
      syncs += 1;
      for (let m = 0; m < merchants.length; m += 1) await admin(m, 'POST', '/v1/admin/sync');
    };

    // A monitor of the series' reports during the whole drill: what an operator's dashboard
    // would show, and a check that a head or a final seq never goes back (not across a worker
    // restart either) and that nothing is final beyond the head.
    const monitor = { samples: 0, failures: 0, maxOutstanding: 0, errors: new Map(), levels: new Set(), breakers: new Set(), anomalies: [] };
    const lastSeen = new Map();
    const observe = (reports) => {
      let outstanding = 0;
      for (const [name, r] of Object.entries(reports)) {
        outstanding += r.outstanding_count;
        const before = lastSeen.get(name);
        if (before && (r.head_seq < before.head_seq || r.final_seq < before.final_seq)) {
          monitor.anomalies.push(`${name}: went back from head ${before.head_seq}/final ${before.final_seq} to head ${r.head_seq}/final ${r.final_seq}`);
        }
        if (r.final_seq > r.head_seq) monitor.anomalies.push(`${name}: final_seq ${r.final_seq} beyond head_seq ${r.head_seq}`);
        if (r.outstanding_count !== r.head_seq - r.final_seq && !r.stopped && !r.origin_regressed) {
          monitor.anomalies.push(`${name}: outstanding_count ${r.outstanding_count} but head ${r.head_seq} - final ${r.final_seq}`);
        }
        if (r.stopped) monitor.anomalies.push(`${name}: stopped ${JSON.stringify(r.stopped)}`);
        if (r.origin_regressed) monitor.anomalies.push(`${name}: origin_regressed ${JSON.stringify(r.origin_regressed)}`);
        lastSeen.set(name, { head_seq: r.head_seq, final_seq: r.final_seq });
        if (r.last_delivery_error) {
          const kind = r.last_delivery_error.replace(/https?:\/\/[^ :]+:\d+/g, 'ORIGIN').replace(/\d+/g, 'N');
          monitor.errors.set(kind, (monitor.errors.get(kind) ?? 0) + 1);
        }
        monitor.levels.add(r.level);
        monitor.breakers.add(typeof r.breaker === 'string' ? r.breaker : JSON.stringify(r.breaker));
      }
      monitor.samples += 1;
      monitor.maxOutstanding = Math.max(monitor.maxOutstanding, outstanding);
      return outstanding;
    };
    let monitorBusy = false;
    let monitorPaused = false;
    timers.push(
      setInterval(async () => {
        if (!edgeUp || monitorBusy || monitorPaused || stopped) return;
        monitorBusy = true;
        try {
          observe(await seriesReports());
        } catch {
          monitor.failures += 1;
        } finally {
          monitorBusy = false;
        }
      }, 2_000),
    );

    // One HTTP attempt, as a widget or a shop server makes it.
    async function attempt(entry, dup) {
      const started = performance.now();
      const at = phaseNow();
      const record = { dup, phase: at, t: Date.now() - t0 };
      try {
        const headers = { 'content-type': 'application/json' };
        let url = `${edgeUrl}/v1/invoices`;
        let body;
        if (entry.via === 'credit') {
          // A refund: a credit note of one tea against an invoice the drill was given.
          url += `/${entry.credits}/credit-notes`;
          headers.authorization = `Bearer ${apiKeys[entry.m]}`;
          body = { order_id: entry.order_id, reason_code: '02', lines: [{ line: 0, quantity: '1' }] };
        } else if (entry.via === 'token') {
          url += `?merchant=${entry.merchant}`;
          headers['checkout-token'] = entry.token;
          headers.origin = 'https://shop.example';
          body = { buyer: { name: 'Drill Buyer' } };
        } else {
          headers.authorization = `Bearer ${apiKeys[entry.m]}`;
          body = { ...entry.cart, order_id: entry.order_id, series: entry.series };
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
          doc: json.status,
          replayed: response.headers.get('idempotent-replayed') === 'true',
          retryAfter: Number(response.headers.get('retry-after')) || undefined,
          exposure: response.headers.get('offline-exposure') ?? undefined,
        });
        if (response.status === 201) {
          const inv = json.invoice ?? {};
          Object.assign(record, { id: inv.id, merchant: inv.merchant, series: inv.series, order_id: inv.order_id, seq: inv.seq, number: inv.number, prev_hash: inv.prev_hash, issued_at: inv.issued_at, kind: inv.kind, credits: inv.credits?.id, gross: inv.totals?.gross });
        }
      } catch (error) {
        record.error = error.name === 'TimeoutError' ? 'timeout' : 'network';
      }
      record.ms = performance.now() - started;
      entry.attempts.push(record);
      if (process.env.DRILL_DEBUG && record.status !== 201) log(`attempt ${entry.order_id}: ${JSON.stringify(record)}`);
      return record;
    }

    // A client: retries the same order until it gets 201, on a timeout, a network error, a 5xx
    // (a 503 is "not issued, or cannot tell": retrying is always safe) or a 429, after
    // Retry-After (or a short jittered pause); bounded. Any other answer ends it: a 422
    // ORDER_ALREADY_INVOICED for the same body is a violation the checker reports.
    async function client(entry, dup) {
      const end = Date.now() + profile.clientMs;
      for (let n = 0; n < 80 && Date.now() < end; n += 1) {
        const r = await attempt(entry, dup);
        if (r.status === 201) return;
        // A credit note's invoice may not have reached KV yet: 404 with Retry-After.
        const retry = r.error || r.status >= 500 || r.status === 429 || (r.status === 404 && r.retryAfter);
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
        await proxy.refuseFor(event.ms).finally(() => {
          proxy.refusing = false;
        });
      },
      async restart_worker() {
        // Disposed mid-load, with issuances, alarms and batches in flight; started again on the
        // same persisted state and port.
        injected.worker_restart += 1;
        edgeUp = false;
        await edge.stop();
        await sleep(500);
        edge = await startEdge({ persistTo, port: edgePort, bindings });
        edgeUp = true;
      },
    };
    const fire = (event) => {
      event.firedAt = Date.now() - t0;
      log(`${event.action}${event.ms ? ` ${event.ms} ms` : ''} due at ${done}/${profile.n}`);
      busy = busy
        .then(() => actions[event.action](event))
        .then(() => {
          event.doneAt = Date.now() - t0;
          log(`${event.action} done at ${done}/${profile.n}`);
        })
        .catch((e) => log(`action ${event.action} failed: ${e.message}`));
    };

    // The cron, as production runs it (compressed in the short profile): it only pokes series.
    let cronRuns = 0;
    let cronFailures = 0;
    timers.push(
      setInterval(() => {
        if (!edgeUp || stopped) return;
        cronRuns += 1;
        edge.cron().catch(() => {
          cronFailures += 1;
        });
      }, profile.cronMs),
    );

    // The load: 16 clients; 10% of orders get a second client while the first is in flight.
    const loadStart = Date.now();
    let next = 0;
    let scheduleIndex = 0;
    const scheduler = setInterval(() => {
      while (scheduleIndex < schedule.length && done / profile.n >= schedule[scheduleIndex].at) fire(schedule[scheduleIndex++]);
    }, 50);
    timers.push(scheduler);
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < plan.length && Date.now() - t0 < profile.deadlineMs) {
          const index = next++;
          const entry = plan[index];
          if (profile.ratePerS) await sleep(Math.max(0, loadStart + (index * 1000) / profile.ratePerS - Date.now()));
          const runs = [client(entry, false)];
          if (random() < 0.1) runs.push(sleep(Math.floor(random() * 200)).then(() => client(entry, true)));
          await Promise.all(runs);
          // Every 10th API-key order is refunded in part at once: a credit note in the same
          // series, numbered among the invoices, under the same faults (docs/ARCHITECTURE.md,
          // "Credit notes"). The checker counts it as an order of its own.
          const invoiceId = entry.attempts.find((a) => a.status === 201)?.id;
          if (invoiceId && entry.via === 'key' && index % 10 === 0) {
            const refund = { merchant: entry.merchant, series: entry.series, order_id: `${entry.order_id}-R`, via: 'credit', credits: invoiceId, attempts: [], m: entry.m };
            orders.set(`${refund.merchant}:${refund.order_id}`, refund);
            await client(refund, false);
          }
          done += 1;
        }
      }),
    );
    clearInterval(scheduler);
    while (scheduleIndex < schedule.length) fire(schedule[scheduleIndex++]);
    await busy;
    const loadEnd = Date.now();
    const loadSeconds = (loadEnd - loadStart) / 1000;
    let emptyAt = null; // when every series first reported nothing outstanding after the load
    log(`load done: ${profile.n} orders in ${loadSeconds.toFixed(1)} s`);

    // Delivery under faults: a while of faults with the origin up, when only the alarms' batches
    // reach the origin (garbage, 5xx, latency past the deadline, truncated and lost answers).
    // The operator's sync at its start resets the back-off the outages built up, so batches go
    // through the faults, each failure backing off again from 1 s.
    let deliveredUnderFaults = null;
    // From here the drill samples the reports itself, one at a time.
    monitorPaused = true;
    while (monitorBusy) await sleep(50);
    if (profile.deliveryFaultsMs > 0) {
      if (!originUp) {
        await origin.start();
        originUp = true;
      }
      phase = 'faults';
      proxy.setFaults(0.6);
      const spellStart = Date.now();
      let before = null;
      let after = null;
      let zeroAt = null;
      try {
        before = observe(await seriesReports());
        await syncAll();
      } catch (error) {
        log(`delivery under faults: ${error.message}`);
      }
      while (Date.now() - spellStart < profile.deliveryFaultsMs) {
        await sleep(500);
        try {
          after = observe(await seriesReports());
          if (after === 0 && zeroAt === null) zeroAt = Date.now();
          if (after === 0 && emptyAt === null) emptyAt = zeroAt;
        } catch (error) {
          log(`delivery under faults: ${error.message}`);
        }
      }
      deliveredUnderFaults = { seconds: profile.deliveryFaultsMs / 1000, outstanding_before: before, outstanding_after: after, drained_after_s: zeroAt ? Number(((zeroAt - spellStart) / 1000).toFixed(1)) : null };
      log(`delivery under faults (p = 0.6): ${before} -> ${after} outstanding in ${profile.deliveryFaultsMs / 1000} s${zeroAt ? `, none left after ${deliveredUnderFaults.drained_after_s} s` : ''}`);
    }

    // Recovery: the origin back, no more faults. The operator (short profile) asks every series
    // to deliver now, resetting back-off and breaker; then /v1/admin/series is watched until
    // nothing is outstanding. Without progress for `resyncAfterMs`, sync is called (again).
    proxy.setFaults(0);
    phase = 'healthy';
    if (!originUp) {
      await origin.start();
      originUp = true;
    }
    const recoveredAt = Date.now();
    let atRecovery = null;
    for (let i = 0; i < 10 && !atRecovery; i += 1) {
      try {
        atRecovery = await seriesReports();
      } catch (error) {
        log(`admin/series at recovery: ${error.message}`);
        await sleep(500);
      }
    }
    const outstandingAtRecovery = atRecovery ? observe(atRecovery) : null;
    log(`recovery: origin healthy, ${outstandingAtRecovery} documents outstanding${bigOutageAt ? ` (the big outage lasted ${((recoveredAt - bigOutageAt) / 1000).toFixed(0)} s)` : ''}`);
    if (profile.syncAtRecovery) await syncAll().catch((error) => log(`sync failed: ${error.message}`));
    let reports = atRecovery ?? {};
    let drained = false;
    let lastProgressAt = Date.now();
    let lastFinal = -1;
    while (Date.now() - recoveredAt < profile.drainLimitMs) {
      try {
        reports = await seriesReports();
        observe(reports);
        const list = Object.values(reports);
        const finalSum = list.reduce((sum, r) => sum + r.final_seq, 0);
        if (finalSum > lastFinal) {
          lastFinal = finalSum;
          lastProgressAt = Date.now();
        }
        drained = list.length > 0 && list.every((r) => r.outstanding_count === 0 && r.final_seq === r.head_seq && !r.stopped && !r.origin_regressed);
        if (drained) {
          emptyAt ??= Date.now();
          break;
        }
        if (Date.now() - lastProgressAt > profile.resyncAfterMs) {
          log(`no delivery progress for ${profile.resyncAfterMs / 1000} s: ${JSON.stringify(Object.fromEntries(list.map((r) => [`${r.merchant}/${r.series}`, { head: r.head_seq, final: r.final_seq, error: r.last_delivery_error, breaker: r.breaker }])))}; sync again`);
          await syncAll();
          lastProgressAt = Date.now();
        }
      } catch (error) {
        log(`drain poll: ${error.message}`);
      }
      await sleep(500);
    }
    const drainSeconds = (Date.now() - recoveredAt) / 1000;
    log(drained ? `drained: nothing outstanding ${drainSeconds.toFixed(1)} s after recovery (${syncs} sync calls)` : `NOT drained after ${drainSeconds.toFixed(0)} s: ${JSON.stringify(reports)}`);

    // The alarm writes final: beside each receipt (a failed KV write is retried a second later):
    // wait, bounded, until every inv: has its final: before the checker reads the documents.
    const kvEnd = Date.now() + 30_000;
    let kvSettled = false;
    while (Date.now() < kvEnd) {
      const store = await edge.kv('INVOICES');
      const [inv, fin] = await Promise.all([listKeys(store, 'inv:'), listKeys(store, 'final:')]);
      if (inv.length > 0 && fin.length >= inv.length) {
        kvSettled = true;
        break;
      }
      await sleep(500);
    }
    const kvSeconds = (Date.now() - recoveredAt) / 1000;
    for (const timer of timers) clearInterval(timer);

    // The checker, with the origin healthy and delivery finished.
    let finalReports = reports;
    try {
      finalReports = await seriesReports();
    } catch (error) {
      log(`final admin/series: ${error.message}`);
    }
    const result = await check({ orders, ledgerDb: origin.files.db, trustFile: origin.files.trust, edge, originUrl: origin.url, seriesReports: finalReports, monitorAnomalies: monitor.anomalies, workDir: dir, log });

    // DRILL_HISTORY=FILE keeps every client attempt (and the fault schedule), for analysis.
    if (process.env.DRILL_HISTORY) {
      writeFileSync(process.env.DRILL_HISTORY, JSON.stringify({ seed, schedule, attempts: [...orders.values()].flatMap((o) => o.attempts.map((a) => ({ order: `${o.merchant}:${o.order_id}`, series: o.series, via: o.via, ...a }))) }));
    }

    // Figures.
    const all = [...orders.values()].flatMap((o) => o.attempts);
    const latencies = {};
    for (const ph of ['healthy', 'faults', 'outage']) {
      const ms = all.filter((a) => a.status === 201 && a.phase === ph).map((a) => a.ms);
      latencies[ph] = { n: ms.length, p50_ms: percentile(ms, 50), p99_ms: percentile(ms, 99) };
    }
    const answers = {};
    for (const a of all) {
      const key = a.error ?? `${a.status}${a.code ? ` ${a.code}` : a.doc ? ` ${a.doc}${a.replayed ? ' replayed' : ''}` : ''}`;
      answers[key] = (answers[key] ?? 0) + 1;
    }
    const faults = { ...injected };
    for (const kind of FAULT_KINDS) faults[kind] = { ...proxy.counts[kind] };
    faults.refused = { windows: proxy.counts.refused.other, put: proxy.counts.refused.put, batch: proxy.counts.refused.batch };
    const report = {
      seed,
      profile: options.profile ?? 'short',
      n: profile.n,
      // Refunds of every 10th API-key order: credit notes, orders of their own in the series.
      credit_notes: [...orders.values()].filter((o) => o.via === 'credit').length,
      load_seconds: Number(loadSeconds.toFixed(1)),
      outstanding_at_recovery: outstandingAtRecovery,
      max_outstanding_seen: monitor.maxOutstanding,
      delivered_under_faults: deliveredUnderFaults,
      drained_seconds_after_load: emptyAt ? Number(((emptyAt - loadEnd) / 1000).toFixed(1)) : null,
      drain_seconds_after_recovery: Number(drainSeconds.toFixed(1)),
      kv_final_seconds_after_recovery: Number(kvSeconds.toFixed(1)),
      drained,
      kv_settled: kvSettled,
      sync_calls: syncs,
      cron_runs: cronRuns,
      cron_failures: cronFailures,
      issuance_latency: latencies,
      answers,
      faults,
      proxy_traffic: { ...proxy.traffic },
      monitor: {
        samples: monitor.samples,
        unreachable: monitor.failures,
        levels: [...monitor.levels],
        breakers: [...monitor.breakers],
        delivery_errors: Object.fromEntries(monitor.errors),
        anomalies: monitor.anomalies.length,
      },
      duplicate_clients: [...orders.values()].filter((o) => o.attempts.some((a) => a.dup)).length,
      check: result.summary,
      ok: result.ok && drained && kvSettled,
      total_seconds: Number(((Date.now() - t0) / 1000).toFixed(1)),
    };
    log(`report ${JSON.stringify(report, null, 2)}`);
    log(report.ok ? 'DRILL PASSED: 0 lost, 0 duplicated, every series gapless, chained and final' : `DRILL FAILED: ${result.violations.length} violations, lost ${result.summary.lost}, duplicated ${result.summary.duplicated}, drained ${drained}`);

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
