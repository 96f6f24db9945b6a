// Credit notes (docs/ARCHITECTURE.md, "Credit notes"): a refund against an invoice, issued by the
// invoice's own series object as the series' next seq with the cap checked in the same step,
// delivered to the real `invoice-origin` and archived like any document. The worker runs in
// workerd (Miniflare) with its SeriesLedger objects and KV; nothing is mocked.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEdge } from './support/edge.mjs';
import { startOrigin, originPath } from './support/origin.mjs';
import { cli, keygen, demoMerchant, loadMerchant } from './support/cli.mjs';

const edgeKey = keygen();
const started = [];
after(async () => {
  for (const stop of started.reverse()) await stop().catch(() => {});
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function eventually(what, check, deadlineMs = 30_000) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    const found = await check();
    if (found) return found;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const tea = { description: '龙井茶', quantity: '10', unit_price: '10.00', tax_category: 'S', tax_rate: '13' };
const book = { description: 'Book', quantity: '2', unit_price: '49.90', tax_category: 'S', tax_rate: '9' };

async function setup() {
  const shop = demoMerchant('shop');
  const other = demoMerchant('other');
  const origin = await startOrigin({ trustedKeys: [edgeKey], merchantFiles: [shop, other] });
  started.push(() => origin.kill());
  const edge = await startEdge({
    bindings: {
      EDGE_SIGNING_KEY: JSON.stringify(edgeKey),
      ORIGIN_URL: origin.url,
      ORIGIN_PUBLIC_JWK: JSON.stringify(origin.publicJwk),
      ORIGIN_BATCH_TIMEOUT_MS: '3000',
    },
  });
  started.push(() => edge.stop());
  const merchants = await edge.kv('MERCHANTS');
  const keys = { shop: await loadMerchant(merchants, shop), other: await loadMerchant(merchants, other) };
  const call = async (method, pathname, body, key = keys.shop) => {
    const response = await fetch(`${edge.url}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text.startsWith('<') ? text : JSON.parse(text) };
  };
  return {
    edge,
    origin,
    keys,
    call,
    issue: (order, lines = [tea, book], key) => call('POST', '/v1/invoices', { currency: 'CNY', order_id: order, lines }, key),
    credit: (id, body, key) => call('POST', `/v1/invoices/${id}/credit-notes`, body, key),
    list: (id, key) => call('GET', `/v1/invoices/${id}/credit-notes`, undefined, key),
    async finalSeq() {
      const series = (await call('GET', '/v1/admin/series')).body.series;
      return series[0].final_seq;
    },
  };
}

test('a refund end to end: a full credit note, replayed, listed, capped, archived, exported and shown', async () => {
  const ctx = await setup();
  const invoice = (await ctx.issue('ORDER-1')).body;
  const id = invoice.invoice.id;
  const refund = await ctx.credit(id, { order_id: 'REFUND-1', reason_code: '01', reason: '开票有误' });
  assert.equal(refund.status, 201, JSON.stringify(refund.body));
  const note = refund.body.invoice;
  assert.equal(note.kind, 'credit_note');
  assert.equal(note.seq, 2, 'the next seq of the invoice series');
  assert.equal(note.prev_hash.length, 64);
  assert.deepEqual(note.credits, { id, number: invoice.invoice.number, issued_at: invoice.invoice.issued_at });
  assert.equal(note.reason_code, '01');
  assert.deepEqual(note.totals, { ...invoice.invoice.totals, paid: '0.00', payable: invoice.invoice.totals.gross });
  assert.deepEqual(note.tax_breakdown, invoice.invoice.tax_breakdown);
  assert.equal(refund.headers.get('location'), `/v1/invoices/${note.id}`);
  // Replay: the same credit note, not a second one.
  const replay = await ctx.credit(id, { reason_code: '01', order_id: 'REFUND-1', reason: '开票有误' });
  assert.equal(replay.status, 201);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.equal(replay.body.invoice.id, note.id);
  // Its order id belongs to the series: another body under it is refused.
  const taken = await ctx.credit(id, { order_id: 'REFUND-1', reason_code: '02', lines: [{ line: 0, quantity: '1' }] });
  assert.equal(taken.body.code, 'ORDER_ALREADY_INVOICED');
  // The whole invoice is credited: anything more is over the cap, in the group and in total.
  const more = await ctx.credit(id, { order_id: 'REFUND-2', reason_code: '04', lines: [{ line: 1, amount: '0.01' }] });
  assert.equal(more.status, 422);
  assert.equal(more.body.code, 'CREDIT_EXCEEDS_INVOICE');
  assert.equal(more.headers.get('content-type'), 'application/problem+json');
  // A credit note of a credit note.
  const ofNote = await ctx.credit(note.id, { order_id: 'REFUND-3', reason_code: '01' });
  assert.equal(ofNote.status, 422);
  assert.equal(ofNote.body.code, 'NOT_CREDITABLE');
  const list = await ctx.list(id);
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.credit_notes.map((d) => d.invoice.id), [note.id]);
  // Delivered and archived like any document: the origin checks the cap again and countersigns.
  await eventually('both archived', async () => (await ctx.finalSeq()) === 2);
  const final = (await ctx.call('GET', `/v1/invoices/${note.id}`)).body;
  assert.equal(final.status, 'final');
  const verdict = (await ctx.call('POST', '/v1/verify', final)).body;
  assert.equal(verdict.code, 'VALID', verdict.detail);
  // UBL: a CreditNote (381) that refers to its invoice (BT-25, BT-26).
  const xml = await (await fetch(`${ctx.edge.url}/v1/invoices/${note.id}.xml`)).text();
  assert.match(xml, /<CreditNote /);
  assert.match(xml, /<cbc:CreditNoteTypeCode>381<\/cbc:CreditNoteTypeCode>/);
  assert.match(xml, new RegExp(`<cac:BillingReference>\\s*<cac:InvoiceDocumentReference>\\s*<cbc:ID>${invoice.invoice.number}</cbc:ID>`));
  // The pages: the credit note in red with its invoice; the invoice with its credit notes.
  const notePage = await (await fetch(`${ctx.edge.url}/v/${note.id}`)).text();
  assert.match(notePage, /<title>Credit note SHOP-/);
  assert.match(notePage, new RegExp(`<a href="/v/${id}">${invoice.invoice.number}</a>`));
  assert.match(notePage, /class="red">CNY -221\.78<\/dd>/);
  const invoicePage = await (await fetch(`${ctx.edge.url}/v/${id}`)).text();
  assert.match(invoicePage, /id="credit-notes"/);
  assert.match(invoicePage, new RegExp(`<a href="/v/${note.id}">${note.number}</a>`));
});

test('the cap holds under 20 concurrent partial credit notes, and the chain stays gapless with invoices interleaved', async () => {
  const ctx = await setup();
  const invoice = (await ctx.issue('BIG-1', [tea])).body.invoice;
  assert.equal(invoice.totals.gross, '113.00');
  // 20 credit notes of 1 of the 10 teas, with 10 invoices issued among them.
  const answers = await Promise.all([
    ...Array.from({ length: 20 }, (_, i) => ctx.credit(invoice.id, { order_id: `R-${i}`, reason_code: '02', lines: [{ line: 0, quantity: '1' }] })),
    ...Array.from({ length: 10 }, (_, i) => ctx.issue(`MORE-${i}`, [book])),
  ]);
  const credits = answers.slice(0, 20);
  assert.equal(credits.filter((a) => a.status === 201).length, 10, JSON.stringify(credits.map((a) => a.status)));
  const refused = credits.filter((a) => a.status !== 201);
  assert.equal(refused.length, 10);
  assert.ok(refused.every((a) => a.status === 422 && a.body.code === 'CREDIT_EXCEEDS_INVOICE'), JSON.stringify(refused[0].body));
  assert.ok(answers.slice(20).every((a) => a.status === 201));
  const granted = credits.filter((a) => a.status === 201).map((a) => a.body.invoice);
  const total = granted.reduce((sum, n) => sum + Number(n.totals.gross.replace('.', '')), 0);
  assert.equal(total, 11300, 'together exactly the invoice, never more');
  const list = (await ctx.list(invoice.id)).body.credit_notes;
  assert.deepEqual(list.map((d) => d.invoice.id).sort(), granted.map((n) => n.id).sort());
  // Gapless: seq 1..21 over invoices and credit notes, every signature and link valid.
  const documents = [invoice, ...granted, ...answers.slice(20).map((a) => a.body.invoice)];
  const signed = new Map(
    [...answers.filter((a) => a.status === 201).map((a) => a.body), (await ctx.call('GET', `/v1/invoices/${invoice.id}`)).body].map((d) => [d.invoice.seq, d]),
  );
  assert.equal(signed.size, 21);
  const dir = mkdtempSync(path.join(tmpdir(), 'credit-'));
  const chain = path.join(dir, 'chain.jsonl');
  writeFileSync(chain, [...signed.keys()].sort((a, b) => a - b).map((seq) => JSON.stringify({ invoice: signed.get(seq).invoice, edge_signature: signed.get(seq).edge_signature })).join('\n'));
  const jwks = path.join(dir, 'jwks.json');
  writeFileSync(jwks, await (await fetch(`${ctx.edge.url}/.well-known/jwks.json`)).text());
  const verdict = JSON.parse(cli(['verify', '--chain', chain, '--jwks', jwks]));
  assert.equal(verdict.valid, true, verdict.detail);
  assert.equal(verdict.last_seq, 21);
  assert.equal(documents.filter((d) => d.kind === 'credit_note').length, 10);
  await eventually('all 21 archived', async () => (await ctx.finalSeq()) === 21, 60_000);
  const audit = execFileSync(originPath, ['verify', '--db', ctx.origin.files.db, '--trust', ctx.origin.files.trust], { encoding: 'utf8' });
  assert.match(audit, /series shop\/SHOP: seq 1\.\.21/);
});

test('a credit note against an unknown or another merchant\'s invoice is 404, a young unknown id asks to retry', async () => {
  const ctx = await setup();
  const theirs = (await ctx.issue('THEIRS-1', [tea], ctx.keys.other)).body.invoice;
  for (const id of [theirs.id, '01800000-0000-7000-8000-000000000000', 'not-an-id']) {
    const answer = await ctx.credit(id, { order_id: 'R-1', reason_code: '01' });
    assert.equal(answer.status, 404, id);
    assert.equal(answer.body.code, 'NOT_FOUND');
    assert.equal(answer.headers.get('retry-after'), null);
    assert.equal((await ctx.list(id)).status, 404);
  }
  // Its owner can: the same invoice, the right key.
  assert.equal((await ctx.credit(theirs.id, { order_id: 'R-1', reason_code: '01' }, ctx.keys.other)).status, 201);
  // A UUIDv7 of this moment may not have reached this location's KV yet.
  const hex = Date.now().toString(16).padStart(12, '0');
  const young = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
  const answer = await ctx.credit(young, { order_id: 'R-2', reason_code: '01' });
  assert.equal(answer.status, 404);
  assert.equal(answer.headers.get('retry-after'), '2');
  // No API key: 401, as on every merchant route; a wrong body: every problem at once.
  assert.equal((await ctx.credit(theirs.id, { order_id: 'R-3', reason_code: '01' }, 'nope')).status, 401);
  const mine = (await ctx.issue('MINE-1')).body.invoice;
  const bad = await ctx.credit(mine.id, { order_id: 'R-4', reason_code: '09', lines: [{ line: 7, quantity: '1' }] });
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.errors.map((e) => [e.pointer, e.code]), [['/reason_code', 'INVALID_ENUM_VALUE']]);
  const over = await ctx.credit(mine.id, { order_id: 'R-4', reason_code: '02', lines: [{ line: 7, quantity: '1' }, { line: 0, quantity: '11' }] });
  assert.deepEqual(over.body.errors.map((e) => [e.pointer, e.code]), [['/lines/0/line', 'INVALID_ENUM_VALUE'], ['/lines/1/quantity', 'CREDIT_EXCEEDS_INVOICE']]);
});
