// Webhooks (docs/ARCHITECTURE.md, "Webhooks"): the worker in workerd with its SeriesLedger objects
// and the real `invoice-origin`, delivering to real local HTTP receivers built on the snippets of
// docs/examples/ (the Node one in this process, the Python one as its own process). Back-off is
// crossed with the series objects' test clock shift, not by waiting.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEdge, repoRoot } from './support/edge.mjs';
import { startOrigin, freePort } from './support/origin.mjs';
import { keygen, demoMerchant, loadMerchant } from './support/cli.mjs';
import { startFaultInjectingProxy } from './support/fault-proxy.mjs';
import { receive, verifySignature } from '../docs/examples/webhook-receiver.mjs';

const edgeKey = keygen();
const started = [];
after(async () => {
  for (const stop of started.reverse()) await stop().catch(() => {});
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function eventually(what, check, deadlineMs = 20_000) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    const value = await check();
    if (value) return value;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const line = { description: '龙井茶', quantity: '1', unit_price: '100.00', tax_category: 'S', tax_rate: '13' };

/**
 * A receiver on the Node snippet: every raw delivery is kept, events are deduped by id with the
 * snippet's `receive`, and `failFirst(event)` makes the first delivery of an event answer 500
 * after it was recorded (the receiver did its work, the answer was lost).
 */
async function nodeReceiver(port, secretOf, failFirst = () => false) {
  const raw = [];
  const events = [];
  const seen = new Set();
  const failed = new Set();
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const rawBody = Buffer.concat(chunks);
    const header = req.headers['invoice-edge-signature'];
    raw.push({ header, body: rawBody.toString('utf8'), contentType: req.headers['content-type'] });
    const result = receive({ secret: secretOf(), header, rawBody, seen });
    if (!result.ok) return res.writeHead(400).end();
    if (!result.duplicate) events.push(result.event);
    if (failFirst(result.event) && !failed.has(result.event.id)) {
      failed.add(result.event.id);
      return res.writeHead(500).end();
    }
    res.writeHead(200).end();
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  started.push(() => new Promise((resolve) => server.close(resolve)));
  return { raw, events, url: `http://127.0.0.1:${port}/hooks` };
}

/** The Python snippet run as it ships, on its own port: each delivery is one JSON line. */
async function pythonReceiver(port, secret) {
  const lines = [];
  const child = spawn('python3', [path.join(repoRoot, 'docs/examples/webhook_receiver.py'), '--port', String(port)], {
    env: { ...process.env, WEBHOOK_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push(async () => child.kill());
  let buffered = '';
  child.stdout.on('data', (chunk) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop();
    for (const part of parts) if (part) lines.push(JSON.parse(part));
  });
  const url = `http://127.0.0.1:${port}/`;
  await eventually('the Python receiver listening', async () => fetch(url, { method: 'POST', body: '{}' }).then(() => true, () => false), 10_000);
  await eventually('the probe answered', async () => lines.length >= 1, 5_000);
  lines.length = 0; // the probe was refused (no signature); forget it
  return { lines, url, events: () => lines.filter((l) => l.event).map((l) => l.event) };
}

/** Edge + origin with merchant `shop` holding `webhooks` flags; the edge keeps its state on disk across restarts. */
async function setup({ flags = [], origin: withOrigin = true, proxy: withProxy = false, logs } = {}) {
  const merchant = demoMerchant('shop', flags);
  const origin = withOrigin ? await startOrigin({ trustedKeys: [edgeKey], merchantFiles: [merchant] }) : null;
  if (origin) started.push(() => origin.kill());
  // The fault proxy: the only double, for a document changed on the wire, which the real origin refuses.
  const proxy = withProxy && origin ? await startFaultInjectingProxy({ target: origin.url }) : null;
  if (proxy) started.push(() => proxy.stop());
  const persistTo = mkdtempSync(path.join(tmpdir(), 'webhooks-'));
  const bindings = {
    EDGE_SIGNING_KEY: JSON.stringify(edgeKey),
    ORIGIN_URL: proxy?.url ?? origin?.url ?? `http://127.0.0.1:${await freePort()}`,
    ...(origin ? { ORIGIN_PUBLIC_JWK: JSON.stringify(origin.publicJwk) } : {}),
    BREAKER_COOLDOWN_MS: '300',
  };
  const onLog = logs ? (log) => logs.push(log.message) : undefined;
  let edge = await startEdge({ bindings, persistTo, onLog });
  const apiKey = await loadMerchant(await edge.kv('MERCHANTS'), merchant);
  const ctx = {
    merchant,
    proxy,
    get edge() {
      return edge;
    },
    /** Restarts the edge on the same state with its series objects' clock shifted by `shiftMs`, and asks every series to deliver now. */
    async shiftClock(shiftMs) {
      await edge.stop();
      edge = await startEdge({ bindings: { ...bindings, TEST_CLOCK_SHIFT_MS: String(shiftMs) }, persistTo, onLog });
      await loadMerchant(await edge.kv('MERCHANTS'), merchant);
      const sync = await fetch(`${edge.url}/v1/admin/sync`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` } });
      assert.equal(sync.status, 200);
    },
    async issue(order) {
      const started = performance.now();
      const response = await fetch(`${edge.url}/v1/invoices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ currency: 'CNY', order_id: order, lines: [line] }),
      });
      return { status: response.status, body: await response.json(), ms: performance.now() - started };
    },
    async post(pathname, payload) {
      const response = await fetch(`${edge.url}${pathname}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(payload),
      });
      return { status: response.status, body: await response.json() };
    },
    async get(pathname, key = apiKey) {
      const response = await fetch(`${edge.url}${pathname}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
      return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
    },
    /** The delivery log, per series as the edge answers it, and flattened: every attempt with its series, and the copies pending. */
    async deliveries() {
      const answer = await ctx.get('/v1/admin/webhooks/deliveries');
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.type, 'application/json');
      const body = JSON.parse(answer.text);
      return {
        ...body,
        pending: body.series.reduce((sum, s) => sum + (s.pending ?? 0), 0),
        deliveries: body.series.flatMap((s) => (s.deliveries ?? []).map((d) => ({ ...d, series: s.name }))),
      };
    },
  };
  started.push(() => edge.stop());
  return ctx;
}

const sign = (secret, t, body) => `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;

test('signed events reach real receivers at least once; the snippets accept them, refuse tampering and dedupe by id', async () => {
  const [nodePort, pyPort] = [await freePort(), await freePort()];
  let secrets = [];
  // The Node endpoint answers 500 to the first delivery of the first event after recording it.
  let firstId;
  const node = await nodeReceiver(nodePort, () => secrets[0], (event) => (firstId ??= event.id) === event.id);
  const logs = [];
  const ctx = await setup({
    flags: ['--webhook', node.url, '--webhook', `http://127.0.0.1:${pyPort}/`, '--events', 'invoice.issued,invoice.final'],
    logs,
  });
  secrets = ctx.merchant.webhook_secrets;
  assert.equal(secrets.length, 2);
  assert.match(secrets[0], /^whsec_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(secrets[0], secrets[1]);
  const python = await pythonReceiver(pyPort, secrets[1]);

  const issued = [];
  for (const order of ['WH-1', 'WH-2', 'WH-3']) {
    const answer = await ctx.issue(order);
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    issued.push(answer.body.invoice);
  }
  const ids = issued.map((invoice) => invoice.id);
  const expected = ids.flatMap((id) => [`invoice.issued ${id}`, `invoice.final ${id}`]).sort();
  const seenBy = (events) => events.map((e) => `${e.type} ${e.data.id}`).sort();
  // The Python endpoint never failed: it has all six at once.
  await eventually('six events at the Python receiver', async () => python.events().length >= 6);
  assert.deepEqual(seenBy(python.events()), expected);
  // The Node endpoint answered 500 once and is backing off (10 s ceiling): one attempt so far.
  await eventually('the 500 in the delivery log', async () => (await ctx.deliveries()).deliveries.some((d) => d.status === 500));
  assert.equal(node.raw.length, 1);
  // Ten minutes later for the series objects: the retry is due, and the rest follows.
  await ctx.shiftClock(600_000);
  await eventually('six events at the Node receiver', async () => node.events.length >= 6);
  await sleep(500);
  assert.deepEqual(seenBy(node.events), expected, 'each event exactly once after dedup');
  const copies = node.raw.filter((r) => JSON.parse(r.body).id === firstId);
  assert.equal(copies.length, 2, 'the event answered 500 was delivered again');
  assert.equal(copies[0].body, copies[1].body, 'a retry sends the same bytes');

  // The envelope and payload.
  for (const delivery of node.raw) {
    assert.equal(delivery.contentType, 'application/json');
    assert.match(delivery.header, /^t=\d{10},v1=[0-9a-f]{64}$/);
    assert.ok(verifySignature(secrets[0], delivery.header, delivery.body));
  }
  const byType = (type, id) => node.events.find((e) => e.type === type && e.data.id === id);
  const first = byType('invoice.issued', ids[0]);
  assert.deepEqual(Object.keys(first).sort(), ['created', 'data', 'id', 'type']);
  assert.match(first.id, /^evt_[0-9a-f]{32}$/);
  assert.match(first.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(first.data.number, issued[0].number);
  assert.equal(first.data.order_id, 'WH-1');
  assert.equal(first.data.seq, 1);
  assert.equal(first.data.gross, '113.00');
  assert.equal(first.data.status, 'pending_sync');
  const final = byType('invoice.final', ids[2]);
  assert.equal(final.data.status, 'final');
  assert.equal(final.data.final.seq, 3);
  assert.equal(final.data.final.number, issued[2].number);
  // One event, one id, whichever endpoint it went to.
  assert.deepEqual(new Set(node.events.map((e) => e.id)), new Set(python.events().map((e) => e.id)));

  // The snippets on real deliveries: a changed byte is refused, a replay is a duplicate, an old t is refused.
  const delivery = node.raw.at(-1);
  const tampered = delivery.body.replace('"113.00"', '"11.30"');
  assert.notEqual(tampered, delivery.body);
  const toPython = (body, header) => fetch(python.url, { method: 'POST', headers: { 'invoice-edge-signature': header }, body });
  const before = python.lines.length;
  // The Python endpoint's copy of the same delivery, signed as the edge signs it.
  const pyDelivery = sign(secrets[1], Math.floor(Date.now() / 1000), delivery.body);
  assert.equal((await toPython(tampered, pyDelivery)).status, 400);
  assert.ok(!receive({ secret: secrets[0], header: delivery.header, rawBody: Buffer.from(tampered), seen: new Set() }).ok);
  assert.equal((await toPython(delivery.body, pyDelivery)).status, 200);
  const stale = sign(secrets[1], Math.floor(Date.now() / 1000) - 301, delivery.body);
  assert.equal((await toPython(delivery.body, stale)).status, 400);
  assert.equal((await toPython(delivery.body, sign(secrets[0], Math.floor(Date.now() / 1000), delivery.body))).status, 400, 'another endpoint\'s secret');
  // Its lines come through a pipe, a moment after the answers.
  await eventually('the Python receiver\'s lines', async () => python.lines.length >= before + 4, 5_000);
  assert.deepEqual(python.lines.slice(before), [{ refused: true }, { duplicate: JSON.parse(delivery.body).id }, { refused: true }, { refused: true }]);
  assert.equal(python.events().length, 6);

  // The delivery log: every attempt with its status and latency, newest first.
  const log = await ctx.deliveries();
  assert.equal(log.merchant, 'shop');
  assert.equal(log.pending, 0);
  assert.deepEqual(log.series.map((s) => [s.name, s.unavailable]), [['SHOP', undefined]]);
  assert.equal(log.deliveries.length, 13, JSON.stringify(log.deliveries));
  const failedAttempt = log.deliveries.find((d) => d.status === 500);
  assert.deepEqual(
    { event_id: failedAttempt.event_id, url: failedAttempt.url, attempt: failedAttempt.attempt, outcome: failedAttempt.outcome, series: failedAttempt.series },
    { event_id: firstId, url: node.url, attempt: 1, outcome: 'retry', series: 'SHOP' },
  );
  const retried = log.deliveries.find((d) => d.event_id === firstId && d.url === node.url && d.status === 200);
  assert.equal(retried.attempt, 2);
  assert.equal(retried.outcome, 'delivered');
  for (const d of log.deliveries) assert.ok(Number.isInteger(d.latency_ms) && d.latency_ms >= 0, JSON.stringify(d));
  assert.deepEqual([...log.deliveries].sort((a, b) => b.at.localeCompare(a.at)).map((d) => d.at), log.deliveries.map((d) => d.at));

  // The secrets never leave the edge: not in an admin answer, a public answer or the log.
  const answers = [JSON.stringify(log), (await ctx.get('/v1/admin/series')).text, (await ctx.get('/v1/merchants/shop/checkout', null)).text];
  for (const secret of secrets) {
    for (const text of [...answers, logs.join('\n')]) assert.ok(!text.includes(secret), 'a webhook secret leaked');
  }
  // Errors are problem+json with catalogue codes.
  const unauthenticated = await ctx.get('/v1/admin/webhooks/deliveries', null);
  assert.equal(unauthenticated.status, 401);
  assert.equal(unauthenticated.type, 'application/problem+json');
  assert.equal(JSON.parse(unauthenticated.text).code, 'UNAUTHENTICATED');
  const post = await fetch(`${ctx.edge.url}/v1/admin/webhooks/deliveries`, { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal((await post.json()).code, 'METHOD_NOT_ALLOWED');
});

test('an endpoint down for the whole test: issuance and the origin unaffected, attempts logged, given up after 3 days', async () => {
  const deadUrl = `http://127.0.0.1:${await freePort()}/down`;
  const ctx = await setup({ flags: ['--webhook', deadUrl] });
  const ids = [];
  for (let i = 1; i <= 5; i += 1) {
    const answer = await ctx.issue(`DOWN-${i}`);
    assert.equal(answer.status, 201);
    ids.push(answer.body.invoice.id);
  }
  // Delivery to the origin goes on beside the failing endpoint.
  for (const id of ids) {
    await eventually(`invoice ${id} final`, async () => JSON.parse((await ctx.get(`/v1/invoices/${id}`, null)).text).status === 'final');
  }
  const failing = await eventually('a failed attempt logged', async () => {
    const log = await ctx.deliveries();
    return log.deliveries.length ? log : null;
  });
  const [attempt] = failing.deliveries;
  assert.equal(attempt.url, deadUrl);
  assert.equal(attempt.status, null);
  assert.equal(attempt.outcome, 'retry');
  assert.equal(attempt.attempt, 1);
  assert.ok(attempt.error, 'the transport error is shown');
  assert.ok(failing.pending >= 5, JSON.stringify(failing));
  // The back-off holds the endpoint: one attempt per step (5 s or more at first), not one per event.
  await sleep(1_500);
  const held = await ctx.deliveries();
  assert.ok(held.deliveries.length <= 2 && held.pending >= 10, JSON.stringify(held));
  // Still issuing, and delivering to the origin, while it fails.
  const during = await ctx.issue('DOWN-6');
  assert.equal(during.status, 201);
  await eventually('DOWN-6 final', async () => JSON.parse((await ctx.get(`/v1/invoices/${during.body.invoice.id}`, null)).text).status === 'final');

  // Three days later the events are given up, each logged once.
  await ctx.shiftClock(3 * 86_400_000 + 60_000);
  const done = await eventually('every event given up', async () => {
    const log = await ctx.deliveries();
    return log.pending === 0 ? log : null;
  });
  const expired = done.deliveries.filter((d) => d.outcome === 'expired');
  // invoice.issued and invoice.final of six invoices (the default: every event).
  assert.equal(new Set(expired.map((d) => d.event_id)).size, expired.length);
  assert.equal(expired.length, 12, JSON.stringify(done.deliveries));
  assert.ok(expired.every((d) => d.status === null && d.url === deadUrl));
});

test('series.level_changed reaches an endpoint subscribed to it, without a request, and unsubscribed events do not', async () => {
  const port = await freePort();
  let secret;
  const node = await nodeReceiver(port, () => secret);
  // 0.002 h = 7.2 s: the series turns warn after 3.6 s with the origin down.
  const ctx = await setup({ origin: false, flags: ['--webhook', node.url, '--events', 'series.level_changed', '--max-offline-hours', '0.002'] });
  [secret] = ctx.merchant.webhook_secrets;
  assert.equal((await ctx.issue('LVL-1')).status, 201);
  // No endpoint wants invoice.issued: the issuance stored no event at all (the alarm, a second
  // later, would only have dropped it).
  assert.equal((await ctx.deliveries()).pending, 0);
  const event = await eventually('series.level_changed', async () => node.events.find((e) => e.type === 'series.level_changed'), 15_000);
  assert.equal(event.data.merchant, 'shop');
  assert.equal(event.data.series, 'SHOP');
  assert.equal(event.data.from, 'ok');
  assert.equal(event.data.to, 'warn');
  assert.match(event.data.exposure, /^level=warn, limit=hours, used=0\.\d+$/);
  assert.ok(node.events.every((e) => e.type === 'series.level_changed'), 'invoice.issued is not subscribed');
});

test('an issuance stores its *.issued event only for a subscribed type: none for the invoice, one for its credit note', async () => {
  const port = await freePort();
  let secret;
  const node = await nodeReceiver(port, () => secret);
  const ctx = await setup({ origin: false, flags: ['--webhook', node.url, '--events', 'credit_note.issued'] });
  [secret] = ctx.merchant.webhook_secrets;
  const invoice = await ctx.issue('CN-1');
  assert.equal(invoice.status, 201, JSON.stringify(invoice.body));
  assert.equal((await ctx.deliveries()).pending, 0, 'invoice.issued is not subscribed: nothing stored');
  const note = await ctx.post(`/v1/invoices/${invoice.body.invoice.id}/credit-notes`, { order_id: 'CN-1-R', reason_code: '01', reason: 'wrong buyer' });
  assert.equal(note.status, 201, JSON.stringify(note.body));
  const event = await eventually('credit_note.issued', async () => node.events.find((e) => e.type === 'credit_note.issued'), 15_000);
  assert.equal(event.data.id, note.body.invoice.id);
  assert.equal(event.data.kind, 'credit_note');
  assert.equal(event.data.status, 'pending_sync');
  await sleep(500);
  assert.deepEqual(node.events.map((e) => e.type), ['credit_note.issued']);
});

test('invoice.rejected carries the origin\'s refusal, once, and invoice.issued went before it', async () => {
  const port = await freePort();
  let secret;
  const node = await nodeReceiver(port, () => secret);
  const ctx = await setup({ proxy: true, flags: ['--webhook', node.url, '--events', 'invoice.issued,invoice.rejected,invoice.final'] });
  [secret] = ctx.merchant.webhook_secrets;
  ctx.proxy.set({ kind: 'tamper' });
  const issued = await ctx.issue('REJ-1');
  assert.equal(issued.status, 201);
  const rejected = await eventually('invoice.rejected', async () => node.events.find((e) => e.type === 'invoice.rejected'));
  assert.equal(rejected.data.id, issued.body.invoice.id);
  assert.equal(rejected.data.status, 'rejected');
  assert.equal(rejected.data.rejection.code, 'SIGNATURE_INVALID');
  assert.equal(rejected.data.final, undefined);
  await sleep(1_500);
  assert.deepEqual(node.events.map((e) => e.type), ['invoice.issued', 'invoice.rejected']);
});
