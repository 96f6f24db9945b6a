// Edge numbering (docs/ARCHITECTURE.md, "Series", "Edge issuance path", "Delivery to the origin", "Offline
// limits"): the worker in workerd with its SeriesLedger objects (SQLite storage, alarms) and KV,
// the real `invoice-origin` on a temporary SQLite file. The only test double is the fault proxy,
// for answers the real origin cannot give (401/413/429 on a batch, UNSUPPORTED_FORMAT).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEdge } from './support/edge.mjs';
import { startOrigin, freePort, originPath } from './support/origin.mjs';
import { cli, keygen, demoMerchant, loadMerchant } from './support/cli.mjs';
import { startFaultInjectingProxy } from './support/fault-proxy.mjs';

const edgeKey = keygen();
const started = [];
after(async () => {
  for (const stop of started.reverse()) await stop().catch(() => {});
});

const line = { description: '龙井茶', quantity: '1', unit_price: '100.00', tax_category: 'S', tax_rate: '13' };
const body = (order, extra = {}) => ({ currency: 'CNY', order_id: order, lines: [line], ...extra });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function eventually(what, check, deadlineMs = 20_000) {
  const end = Date.now() + deadlineMs;
  let last;
  while (Date.now() < end) {
    last = await check();
    if (last) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** One edge (and by default a real origin behind it), with merchant `shop` loaded. */
async function setup({ flags = [], bindings = {}, origin: withOrigin = true, proxy: withProxy = false, persistTo, originUrl, trusted } = {}) {
  const merchant = demoMerchant('shop', flags);
  const origin = withOrigin ? await startOrigin({ trustedKeys: trusted ?? [edgeKey], merchantFiles: [merchant] }) : null;
  if (origin) started.push(() => origin.kill());
  const proxy = withProxy && origin ? await startFaultInjectingProxy({ target: origin.url }) : null;
  if (proxy) started.push(() => proxy.stop());
  const url = originUrl ?? proxy?.url ?? origin?.url ?? `http://127.0.0.1:${await freePort()}`;
  const edgeBindings = {
    EDGE_SIGNING_KEY: JSON.stringify(edgeKey),
    ORIGIN_URL: url,
    ...(origin ? { ORIGIN_PUBLIC_JWK: JSON.stringify(origin.publicJwk) } : {}),
    ORIGIN_BATCH_TIMEOUT_MS: '3000',
    BREAKER_COOLDOWN_MS: '300',
    ...bindings,
  };
  let edge = await startEdge({ bindings: edgeBindings, persistTo });
  const apiKey = await loadMerchant(await edge.kv('MERCHANTS'), merchant);
  const ctx = {
    merchant,
    origin,
    proxy,
    apiKey,
    get edge() {
      return edge;
    },
    async restart(extraBindings = {}) {
      await edge.stop();
      edge = await startEdge({ bindings: { ...edgeBindings, ...extraBindings }, persistTo });
      await loadMerchant(await edge.kv('MERCHANTS'), merchant);
    },
    async issue(order, extra = {}, headers = {}) {
      const response = await fetch(`${edge.url}/v1/invoices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body(order, extra)),
      });
      return { status: response.status, headers: response.headers, body: await response.json() };
    },
    async get(id) {
      const response = await fetch(`${edge.url}/v1/invoices/${id}`);
      return { status: response.status, headers: response.headers, body: await response.json() };
    },
    /** `GET /v1/invoices?order_id=&series=` with this merchant's API key (or `key`). */
    async lookup(order, { series, key = apiKey, headers = {} } = {}) {
      const query = new URLSearchParams({ ...(order === undefined ? {} : { order_id: order }), ...(series === undefined ? {} : { series }) });
      const response = await fetch(`${edge.url}/v1/invoices?${query}`, { headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });
      return { status: response.status, headers: response.headers, body: await response.json() };
    },
    async series() {
      const response = await fetch(`${edge.url}/v1/admin/series`, { headers: { authorization: `Bearer ${apiKey}` } });
      assert.equal(response.status, 200);
      return (await response.json()).series;
    },
    async admin(pathname) {
      const response = await fetch(`${edge.url}${pathname}`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` } });
      return { status: response.status, body: await response.json() };
    },
    async final(id) {
      return eventually(`invoice ${id} final`, async () => {
        const current = await ctx.get(id);
        return current.status === 200 && current.body.status === 'final' ? current.body : null;
      });
    },
  };
  started.push(() => edge.stop());
  return ctx;
}

test('origin up and origin down give the same answer: 201 with the number at once, then final with that number', async () => {
  const up = await setup();
  const down = await setup({ origin: false });
  for (const ctx of [up, down]) {
    const issued = await ctx.issue('SAME-1');
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    assert.equal(issued.body.status, 'pending_sync');
    assert.equal(issued.body.invoice.format, 'invoice-edge/2');
    assert.equal(issued.body.invoice.seq, 1);
    assert.match(issued.body.invoice.number, /^SHOP-\d{4}-00000001$/);
    assert.equal(issued.body.invoice.prev_hash, '0'.repeat(64));
    assert.match(issued.headers.get('offline-exposure'), /^level=ok, limit=\w+, used=[0-9.]+$/);
  }
  const final = await up.final((await up.issue('SAME-1')).body.invoice.id);
  assert.equal(final.final.number, final.invoice.number);
  assert.equal(final.final.seq, 1);
  assert.equal(final.final.void, false);
  // Verifies offline against the edge's JWKS (edge and origin keys).
  const verdict = await (await fetch(`${up.edge.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(final) })).json();
  assert.equal(verdict.code, 'VALID', verdict.detail);
  // The UBL export of a pending invoice has its number too.
  const downId = (await down.issue('SAME-1')).body.invoice.id;
  const xml = await fetch(`${down.edge.url}/v1/invoices/${downId}.xml`);
  assert.equal(xml.status, 200);
  assert.match(await xml.text(), /<cbc:ID>SHOP-\d{4}-00000001<\/cbc:ID>/);
  // The alarm's first delivery attempt runs a second after the issuance (DELIVERY_COALESCE_MS).
  const report = await eventually('the failed delivery shown', async () => {
    const [current] = await down.series();
    return current.last_delivery_error ? current : null;
  });
  assert.equal(report.head_seq, 1);
  assert.equal(report.final_seq, 0);
  assert.equal(report.outstanding_count, 1);
  assert.deepEqual(report.outstanding_gross, { CNY: '113' });
});

test('50 concurrent requests for one order give one invoice and consume one seq', async () => {
  const ctx = await setup();
  const answers = await Promise.all(Array.from({ length: 50 }, () => ctx.issue('RACE-1')));
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [201]);
  assert.equal(new Set(answers.map((a) => a.body.invoice.id)).size, 1);
  assert.equal(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true').length, 49);
  const next = await ctx.issue('RACE-2');
  assert.equal(next.body.invoice.seq, 2, 'the race consumed exactly one seq');
  // Another body for the same order: 422 with a link to the invoice.
  const other = await ctx.issue('RACE-1', { lines: [{ ...line, quantity: '2' }] });
  assert.equal(other.status, 422);
  assert.equal(other.body.code, 'ORDER_ALREADY_INVOICED');
  assert.match(other.headers.get('link'), new RegExp(answers[0].body.invoice.id));
});

test('300 concurrent orders in one series get seq 1..300, every link valid, all archived', async () => {
  const ctx = await setup();
  const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => ctx.issue(`BULK-${i}`)));
  assert.ok(answers.every((a) => a.status === 201), JSON.stringify(answers.find((a) => a.status !== 201)?.body));
  const bySeq = new Map(answers.map((a) => [a.body.invoice.seq, a.body]));
  assert.equal(bySeq.size, 300);
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'series-')), 'chain.jsonl');
  const ordered = [...bySeq.keys()].sort((a, b) => a - b);
  assert.deepEqual(ordered, Array.from({ length: 300 }, (_, i) => i + 1));
  writeFileSync(file, ordered.map((seq) => JSON.stringify({ invoice: bySeq.get(seq).invoice, edge_signature: bySeq.get(seq).edge_signature })).join('\n'));
  const jwks = path.join(path.dirname(file), 'jwks.json');
  writeFileSync(jwks, await (await fetch(`${ctx.edge.url}/.well-known/jwks.json`)).text());
  // `invoice-edge verify --chain`: every signature, no gap, every prev_hash link.
  const verdict = JSON.parse(cli(['verify', '--chain', file, '--jwks', jwks]));
  assert.equal(verdict.valid, true, verdict.detail);
  assert.equal(verdict.last_seq, 300);
  await eventually('all 300 archived', async () => (await ctx.series())[0].final_seq === 300, 60_000);
  const audit = execFileSync(originPath, ['verify', '--db', ctx.origin.files.db, '--trust', ctx.origin.files.trust], { encoding: 'utf8' });
  assert.match(audit, /ledger OK: 300 entries/);
  assert.match(audit, /series shop\/SHOP: seq 1\.\.300/);
});

test('two series of one merchant number independently, and such a merchant must name one', async () => {
  const ctx = await setup({ flags: ['--series', 'A', '--series', 'B:{series}/{year}/{seq:04}'] });
  const missing = await ctx.issue('TWO-0');
  assert.equal(missing.status, 422);
  assert.equal(missing.body.code, 'SERIES_REQUIRED');
  const unknown = await ctx.issue('TWO-0', { series: 'C' });
  assert.equal(unknown.body.code, 'UNKNOWN_SERIES');
  const a1 = await ctx.issue('TWO-1', { series: 'A' });
  const b1 = await ctx.issue('TWO-2', { series: 'B' });
  const a2 = await ctx.issue('TWO-3', { series: 'A' });
  assert.deepEqual([a1, b1, a2].map((a) => [a.body.invoice.series, a.body.invoice.seq]), [['A', 1], ['B', 1], ['A', 2]]);
  assert.match(b1.body.invoice.number, /^B\/\d{4}\/0001$/);
  // The same order id in the other series is another invoice (the origin counts it as DUPLICATE_ORDER).
  const again = await ctx.issue('TWO-1', { series: 'B' });
  assert.equal(again.status, 201);
  assert.equal(again.body.invoice.seq, 2);
  const report = await ctx.series();
  assert.deepEqual(report.map((s) => [s.name, s.head_seq]), [['A', 2], ['B', 2]]);
  // A checkout token names the series too.
  const merchantPath = path.join(mkdtempSync(path.join(tmpdir(), 'series-')), 'merchant.json');
  writeFileSync(merchantPath, JSON.stringify(ctx.merchant));
  const minted = cli(['token', '--merchant', merchantPath, '--order', 'TOK-1', '--series', 'B'], JSON.stringify({ currency: 'CNY', prices_include_tax: true, lines: [line] })).trim();
  const viaToken = await fetch(`${ctx.edge.url}/v1/invoices?merchant=shop`, { method: 'POST', headers: { 'checkout-token': minted, 'content-type': 'application/json' }, body: '{}' });
  const tokenBody = await viaToken.json();
  assert.equal(viaToken.status, 201, JSON.stringify(tokenBody));
  assert.equal(tokenBody.invoice.series, 'B');
});

test("an order's invoice is found by its order id: pending_sync, then final; never another merchant's", async () => {
  const ctx = await setup();
  const issued = await ctx.issue('LOOK-1');
  assert.equal(issued.status, 201);
  // At once, from the series' object (its alarm delivers a second later): the same document.
  const pending = await ctx.lookup('LOOK-1');
  assert.equal(pending.status, 200, JSON.stringify(pending.body));
  assert.match(pending.headers.get('content-type'), /^application\/json/);
  assert.equal(pending.body.status, 'pending_sync');
  assert.deepEqual(pending.body, issued.body);
  // No CORS: the route is for the merchant's backend, even from a listed origin.
  assert.equal(pending.headers.get('access-control-allow-origin'), null);
  assert.equal((await ctx.lookup('LOOK-1', { headers: { origin: 'https://shop.example' } })).headers.get('access-control-allow-origin'), null);
  // Once the origin archived it: final, the same JSON as GET /v1/invoices/{id}.
  const final = await ctx.final(issued.body.invoice.id);
  const found = await ctx.lookup('LOOK-1');
  assert.equal(found.status, 200);
  assert.equal(found.body.status, 'final');
  assert.deepEqual(found.body, final);
  // Named explicitly, and percent-encoded characters of an order id are decoded.
  assert.equal((await ctx.lookup('LOOK-1', { series: 'SHOP' })).body.invoice.id, issued.body.invoice.id);
  const odd = await ctx.issue('A:1.b_c-d');
  assert.equal((await fetch(`${ctx.edge.url}/v1/invoices?order_id=A%3A1.b_c-d`, { headers: { authorization: `Bearer ${ctx.apiKey}` } }).then((r) => r.json())).invoice.id, odd.body.invoice.id);

  const unknown = await ctx.lookup('NO-SUCH-ORDER');
  assert.equal(unknown.status, 404);
  assert.match(unknown.headers.get('content-type'), /^application\/problem\+json/);
  assert.equal(unknown.body.code, 'NOT_FOUND');
  assert.equal(unknown.headers.get('retry-after'), null, 'the object is the record: no KV propagation to wait for');

  // Another merchant on the same edge never sees this merchant's order.
  const other = demoMerchant('other');
  await loadMerchant(await ctx.edge.kv('MERCHANTS'), other);
  const theirs = await ctx.lookup('LOOK-1', { key: other.api_key });
  assert.equal(theirs.status, 404);
  assert.equal(theirs.body.code, 'NOT_FOUND');
  const theirsNamed = await ctx.lookup('LOOK-1', { key: other.api_key, series: 'SHOP' });
  assert.equal(theirsNamed.status, 422);
  assert.equal(theirsNamed.body.code, 'UNKNOWN_SERIES');

  // Authentication: a wrong key, and none.
  const wrongKey = await ctx.lookup('LOOK-1', { key: 'iek_not_a_key' });
  assert.equal(wrongKey.status, 401);
  assert.equal(wrongKey.body.code, 'API_KEY_INVALID');
  const noKey = await ctx.lookup('LOOK-1', { key: null });
  assert.equal(noKey.status, 401);
  assert.equal(noKey.body.code, 'UNAUTHENTICATED');

  // The order id, with the codes issuance uses; every problem at once.
  const missing = await ctx.lookup(undefined);
  assert.equal(missing.status, 422);
  assert.equal(missing.body.code, 'MISSING_FIELD');
  assert.match(missing.body.detail, /order_id/);
  for (const bad of ['', 'has space', 'x'.repeat(129), '订单']) {
    const invalid = await ctx.lookup(bad);
    assert.equal(invalid.status, 422, bad);
    assert.equal(invalid.body.code, 'INVALID_ORDER_ID', bad);
  }
  const both = await ctx.lookup('bad id', { series: 'NOPE' });
  assert.deepEqual(both.body.errors.map((e) => e.code), ['INVALID_ORDER_ID', 'UNKNOWN_SERIES']);

  // Only GET: the route's other methods are issuance's.
  const put = await fetch(`${ctx.edge.url}/v1/invoices?order_id=LOOK-1`, { method: 'PUT', headers: { authorization: `Bearer ${ctx.apiKey}` } });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'GET, POST, OPTIONS');
});

test('a merchant with two series names one to look an order up', async () => {
  const ctx = await setup({ flags: ['--series', 'A', '--series', 'B'], origin: false });
  const a = await ctx.issue('LOOK-2', { series: 'A' });
  assert.equal(a.status, 201);
  const unnamed = await ctx.lookup('LOOK-2');
  assert.equal(unnamed.status, 422);
  assert.equal(unnamed.body.code, 'SERIES_REQUIRED');
  const found = await ctx.lookup('LOOK-2', { series: 'A' });
  assert.equal(found.status, 200);
  assert.equal(found.body.invoice.id, a.body.invoice.id);
  assert.equal(found.body.status, 'pending_sync');
  // The same order id in the other series is another order: B has none.
  assert.equal((await ctx.lookup('LOOK-2', { series: 'B' })).body.code, 'NOT_FOUND');
  const b = await ctx.issue('LOOK-2', { series: 'B' });
  assert.equal((await ctx.lookup('LOOK-2', { series: 'B' })).body.invoice.id, b.body.invoice.id);
  const unknown = await ctx.lookup('LOOK-2', { series: 'C' });
  assert.equal(unknown.status, 422);
  assert.equal(unknown.body.code, 'UNKNOWN_SERIES');
});

test('a retired series still replays its invoices and refuses new ones with SERIES_RETIRED', async () => {
  const ctx = await setup({ bindings: { MERCHANT_CACHE_MS: '0' } });
  const first = await ctx.issue('RET-1');
  assert.equal(first.status, 201);
  const retired = structuredClone(ctx.merchant);
  retired.config.series[0].retired = true;
  await loadMerchant(await ctx.edge.kv('MERCHANTS'), retired);
  const replay = await ctx.issue('RET-1');
  assert.equal(replay.status, 201, JSON.stringify(replay.body));
  assert.equal(replay.body.invoice.id, first.body.invoice.id);
  const fresh = await ctx.issue('RET-2');
  assert.equal(fresh.status, 422);
  assert.equal(fresh.body.code, 'SERIES_RETIRED');
  assert.equal((await ctx.series())[0].head_seq, 1, 'still listed, nothing new issued');
  // Its invoices are still found by order id, with the series named or not.
  assert.equal((await ctx.lookup('RET-1')).body.invoice.id, first.body.invoice.id);
});

test('a KV write that fails after the object committed: retries see the invoice, and the alarm writes inv:', async () => {
  const ctx = await setup();
  const first = await ctx.issue('KV-1', {}, { 'x-test-skip-inv': '1' });
  assert.equal(first.status, 201);
  const id = first.body.invoice.id;
  // The same body again: the same invoice, from the object.
  const replay = await ctx.issue('KV-1');
  assert.equal(replay.status, 201);
  assert.equal(replay.body.invoice.id, id);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  // Another body: 422 with a link to an invoice that exists and becomes final.
  const other = await ctx.issue('KV-1', { lines: [{ ...line, unit_price: '1.00' }] });
  assert.equal(other.status, 422);
  assert.match(other.headers.get('link'), new RegExp(id));
  const final = await ctx.final(id);
  assert.equal(final.invoice.seq, 1);
  assert.notEqual(await (await ctx.edge.kv('INVOICES')).get(`inv:${id}`), null, 'the alarm wrote inv:');
  // A young id that KV does not have is 404 with Retry-After: 2.
  const unknown = `${id.slice(0, 24)}000000000000`;
  const miss = await ctx.get(unknown);
  assert.equal(miss.status, 404);
  assert.equal(miss.headers.get('retry-after'), '2');
});

test('each inv: the worker wrote is acknowledged with its next call, so the alarm reads KV only for the rest', async () => {
  const ctx = await setup({ origin: false });
  // Back to back, well inside the alarm's first second: every one but the last is acknowledged
  // by the call after it. Without acknowledgements all five would wait for the alarm's KV read.
  const ids = [];
  for (let n = 1; n <= 5; n++) {
    const issued = await ctx.issue(`ACK-${n}`);
    assert.equal(issued.status, 201);
    ids.push(issued.body.invoice.id);
  }
  const [report] = await ctx.series();
  assert.equal(report.head_seq, 5);
  assert.ok(report.kv_records_unconfirmed <= 1, `unconfirmed: ${report.kv_records_unconfirmed}`);
  // One whose KV write failed is not acknowledged; the alarm writes it and confirms the rest.
  const skipped = await ctx.issue('ACK-6', {}, { 'x-test-skip-inv': '1' });
  await ctx.issue('ACK-7');
  const [after] = await ctx.series();
  assert.ok(after.kv_records_unconfirmed >= 1, 'the skipped record is not confirmed by the worker');
  await eventually('every KV record confirmed', async () => (await ctx.series())[0].kv_records_unconfirmed === 0);
  const kv = await ctx.edge.kv('INVOICES');
  for (const id of [...ids, skipped.body.invoice.id]) assert.notEqual(await kv.get(`inv:${id}`), null, id);
});

test('offline limits: warn, critical and blocked by count; an amount; 422 INVOICE_AMOUNT_LIMIT; resumes once archived', async () => {
  const ctx = await setup({ proxy: true, flags: ['--max-offline-count', '5', '--max-offline-amount', 'CNY:1000', '--max-invoice-amount', 'CNY:500'] });
  ctx.proxy.set({ kind: 'status500' });
  const levels = [];
  for (let i = 1; i <= 5; i += 1) {
    const issued = await ctx.issue(`LIM-${i}`);
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    levels.push(issued.headers.get('offline-exposure'));
  }
  assert.equal(levels[2], 'level=warn, limit=count, used=0.6');
  assert.equal(levels[3], 'level=critical, limit=count, used=0.8');
  assert.equal(levels[4], 'level=blocked, limit=count, used=1');
  const blocked = await ctx.issue('LIM-6');
  assert.equal(blocked.status, 503);
  assert.equal(blocked.body.code, 'OFFLINE_LIMIT_REACHED');
  assert.equal(blocked.headers.get('retry-after'), '60');
  // A replay still answers while blocked.
  assert.equal((await ctx.issue('LIM-1')).status, 201);
  const big = await ctx.issue('LIM-BIG', { lines: [{ ...line, unit_price: '500.00' }] });
  assert.equal(big.status, 422);
  assert.equal(big.body.code, 'INVOICE_AMOUNT_LIMIT');
  assert.equal((await ctx.series())[0].level, 'blocked');
  // The origin comes back: the series drains and issues again by itself.
  ctx.proxy.set({ kind: 'forward' });
  await ctx.admin('/v1/admin/sync');
  await eventually('drained', async () => (await ctx.series())[0].outstanding_count === 0);
  const resumed = await ctx.issue('LIM-6');
  assert.equal(resumed.status, 201);
  assert.equal(resumed.body.invoice.seq, 6);
  // The amount: 8 × 113 = 904 outstanding; a ninth would be 1017 > 1000.
  const amount = await setup({ origin: false, flags: ['--max-offline-amount', 'CNY:1000'] });
  for (let i = 0; i < 8; i += 1) assert.equal((await amount.issue(`AM-${i}`)).status, 201);
  const over = await amount.issue('AM-8');
  assert.equal(over.status, 503);
  assert.equal(over.body.code, 'OFFLINE_LIMIT_REACHED');
  assert.match(over.headers.get('offline-exposure'), /limit=amount, currency="CNY", used=0\.9/);
});

test('offline hours: a fractional limit changes level without traffic, and a clock 72 h ahead blocks', async () => {
  // 0.002 h = 7.2 s: warn from 3.6 s, critical from 5.76 s, without any request.
  const ctx = await setup({ origin: false, flags: ['--max-offline-hours', '0.002'] });
  assert.equal((await ctx.issue('H-1')).status, 201);
  await eventually('warn by the alarm alone', async () => (await ctx.series())[0].level === 'warn', 8_000);
  const health = await (await fetch(`${ctx.edge.url}/v1/health`)).json();
  assert.ok(health.series.warn >= 1, JSON.stringify(health));
  // The default 72 h, crossed with the test clock shift on the same persisted state.
  const persistTo = mkdtempSync(path.join(tmpdir(), 'series-clock-'));
  const late = await setup({ origin: false, persistTo });
  assert.equal((await late.issue('D-1')).status, 201);
  await late.restart({ TEST_CLOCK_SHIFT_MS: String(72 * 3_600_000 + 1_000) });
  const blocked = await late.issue('D-2');
  assert.equal(blocked.status, 503);
  assert.equal(blocked.body.code, 'OFFLINE_LIMIT_REACHED');
  assert.match(blocked.headers.get('offline-exposure'), /^level=blocked, limit=hours, used=1/);
});

test('a permanent refusal stops the series; resume redelivers once the cause is fixed; void lets the rest chain on', async () => {
  // A document changed on the wire (the fault proxy): the real origin answers SIGNATURE_INVALID.
  const ctx = await setup({ proxy: true });
  ctx.proxy.set({ kind: 'tamper' });
  const first = await ctx.issue('STOP-1');
  await eventually('stopped', async () => (await ctx.series())[0].stopped);
  const [report] = await ctx.series();
  assert.equal(report.stopped.code, 'SIGNATURE_INVALID');
  assert.equal(report.stopped.seq, 1);
  const refused = await ctx.issue('STOP-2');
  assert.equal(refused.status, 503);
  assert.equal(refused.body.code, 'SERIES_STOPPED');
  assert.equal((await ctx.issue('STOP-1')).status, 201, 'replays still answer');
  await eventually('rejected: written', async () => (await ctx.get(first.body.invoice.id)).body.status === 'rejected');
  // The order lookup tells the same story, from the object's own storage.
  const rejected = await ctx.lookup('STOP-1');
  assert.equal(rejected.body.status, 'rejected');
  assert.equal(rejected.body.rejection.code, 'SIGNATURE_INVALID');
  // The operator finds the cause (the path to the origin), fixes it and resumes: seq 1 is
  // delivered again and final wins over the rejection.
  ctx.proxy.set({ kind: 'forward' });
  assert.equal((await ctx.admin('/v1/admin/series/SHOP/resume')).status, 200);
  const final = await ctx.final(first.body.invoice.id);
  assert.equal(final.final.seq, 1);
  assert.equal((await ctx.issue('STOP-2')).status, 201);
  assert.equal((await ctx.admin('/v1/admin/series/NOPE/resume')).body.code, 'UNKNOWN_SERIES');

  // Or the operator archives the refused document as void, and resumes: the rest chains on.
  const other = await setup({ proxy: true });
  other.proxy.set({ kind: 'tamper' });
  const refusedDoc = (await other.issue('VOID-1')).body;
  await eventually('stopped', async () => (await other.series())[0].stopped);
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'series-void-')), 'refused.json');
  writeFileSync(file, JSON.stringify({ invoice: refusedDoc.invoice, edge_signature: refusedDoc.edge_signature }));
  const receipt = JSON.parse(execFileSync(originPath, ['void', '--db', other.origin.files.db, '--key', other.origin.files.key, '--merchant', 'shop', '--series', 'SHOP', '--document', file, '--reason', 'test: changed on the wire'], { encoding: 'utf8' }));
  assert.equal(receipt.void, true);
  other.proxy.set({ kind: 'forward' });
  await other.admin('/v1/admin/series/SHOP/resume');
  const voided = await other.final(refusedDoc.invoice.id);
  assert.equal(voided.final.void, true);
  const next = await other.issue('VOID-2');
  assert.equal(next.body.invoice.seq, 2);
  assert.equal((await other.final(next.body.invoice.id)).final.seq, 2);
});

test('401, 413, 429 and UNSUPPORTED_FORMAT from the origin never stop a series', async () => {
  const ctx = await setup({ proxy: true });
  const issued = await ctx.issue('RETRY-1');
  for (const mode of [{ kind: 'status', status: 401, code: 'LEDGER_TOKEN_INVALID' }, { kind: 'status', status: 413, code: 'BODY_TOO_LARGE' }, { kind: 'status', status: 429, code: 'RATE_LIMITED' }, { kind: 'unsupported' }]) {
    ctx.proxy.set(mode);
    const before = ctx.proxy.requests;
    await ctx.admin('/v1/admin/sync');
    await eventually(`a delivery attempt under ${mode.kind} ${mode.status ?? ''}`, async () => ctx.proxy.requests > before);
    const [report] = await ctx.series();
    assert.equal(report.stopped, null, JSON.stringify(report));
    assert.equal(report.final_seq, 0);
    assert.ok(report.last_delivery_error);
    assert.equal((await ctx.issue(`RETRY-${mode.status ?? mode.kind}`)).status, 201, 'still issuing');
  }
  ctx.proxy.set({ kind: 'forward' });
  await ctx.admin('/v1/admin/sync');
  await ctx.final(issued.body.invoice.id);
});

test('an unknown key at the origin answers UNKNOWN_KID then SEQUENCE_GAP for the rest; all final once trusted', async () => {
  const ctx = await setup({ trusted: [keygen()] });
  const ids = [];
  for (let i = 0; i < 4; i += 1) ids.push((await ctx.issue(`GAP-${i}`)).body.invoice.id);
  await eventually('a failed delivery', async () => (await ctx.series())[0].last_delivery_error);
  assert.equal((await ctx.series())[0].stopped, null);
  await ctx.origin.trust([edgeKey]);
  await ctx.admin('/v1/admin/sync');
  for (const id of ids) await ctx.final(id);
});

test('an origin restored without receipts it gave is ORIGIN_REGRESSED: delivery stops, visibly', async () => {
  const ctx = await setup();
  const first = await ctx.issue('REG-1');
  await ctx.final(first.body.invoice.id);
  // The origin "restored from a backup" that holds nothing: a fresh ledger file.
  await ctx.origin.kill();
  const snapshot = `${ctx.origin.files.db}.lost`;
  if (existsSync(ctx.origin.files.db)) copyFileSync(ctx.origin.files.db, snapshot);
  execFileSync('rm', ['-f', ctx.origin.files.db, `${ctx.origin.files.db}-wal`, `${ctx.origin.files.db}-shm`]);
  await ctx.origin.start();
  await ctx.issue('REG-2');
  const report = await eventually('regressed', async () => (await ctx.series())[0].origin_regressed);
  assert.equal(report.expected_seq, 1);
  assert.equal(report.acked_seq, 1);
  assert.equal((await ctx.series())[0].final_seq, 1, 'nothing resent over it');
});

test('ORIGIN_URL with a dead first process and the real origin second: everything becomes final', async () => {
  const origin = await startOrigin({ trustedKeys: [edgeKey], merchantFiles: [] });
  started.push(() => origin.kill());
  const dead = `http://127.0.0.1:${await freePort()}`;
  const ctx = await setup({ origin: false, originUrl: `${dead},${origin.url}`, bindings: { ORIGIN_PUBLIC_JWK: JSON.stringify(origin.publicJwk) } });
  const ids = [];
  for (let i = 0; i < 3; i += 1) ids.push((await ctx.issue(`FAIL-${i}`)).body.invoice.id);
  for (const id of ids) await ctx.final(id);
});

test('a worker restarted on its persisted state delivers every pending invoice', async () => {
  const persistTo = mkdtempSync(path.join(tmpdir(), 'series-restart-'));
  const ctx = await setup({ proxy: true, persistTo });
  ctx.proxy.set({ kind: 'status500' });
  const ids = [];
  for (let i = 0; i < 5; i += 1) ids.push((await ctx.issue(`RS-${i}`)).body.invoice.id);
  await ctx.restart();
  ctx.proxy.set({ kind: 'forward' });
  await ctx.admin('/v1/admin/sync');
  for (const id of ids) await ctx.final(id);
  assert.equal((await ctx.issue('RS-5')).body.invoice.seq, 6);
});
