// Issuance at the edge without an origin: validation, signing, idempotency in the Durable
// Object, checkout tokens, the KV outbox, and offline verification.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { startEdge } from './support/edge.mjs';
import { keygen, demoMerchant, loadMerchant, token, cli } from './support/cli.mjs';

let edge, apiKey, merchantPath, merchantFile, edgeKey;
const dir = mkdtempSync(path.join(tmpdir(), 'invoice-edge-issuance-'));

before(async () => {
  edgeKey = keygen();
  const originKey = keygen();
  merchantFile = demoMerchant('demo');
  merchantPath = path.join(dir, 'merchant.json');
  writeFileSync(merchantPath, JSON.stringify(merchantFile));
  const other = demoMerchant('other-shop');
  writeFileSync(path.join(dir, 'other.json'), JSON.stringify(other));
  const originPublic = { kty: 'OKP', crv: 'Ed25519', x: originKey.x, kid: originKey.kid };
  edge = await startEdge({ bindings: { EDGE_SIGNING_KEY: JSON.stringify(edgeKey), ORIGIN_PUBLIC_JWK: JSON.stringify(originPublic) } });
  apiKey = await loadMerchant(await edge.kv('MERCHANTS'), merchantFile);
  await loadMerchant(await edge.kv('MERCHANTS'), other);
});
after(async () => {
  await edge?.stop();
});

const request = (order, overrides = {}) => ({
  currency: 'CNY',
  order_id: order,
  prices_include_tax: false,
  buyer: { kind: 'company', name: '北京示例科技有限公司', tax_id: '91110000600037341L', email: 'finance@example.com' },
  lines: [{ description: 'USB-C cable', quantity: '2', unit_code: 'H87', unit_price: '49.90', tax_category: 'S', tax_rate: '13' }],
  ...overrides,
});

const post = (body, headers = {}, query = '') =>
  fetch(`${edge.url}/v1/invoices${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

test('an API-key issuance without an origin is signed, stored and pending', async () => {
  const response = await post(request('A-1'));
  assert.equal(response.status, 201);
  const document = await response.json();
  assert.equal(document.status, 'pending_sync');
  assert.equal(document.final, null);
  assert.equal(document.invoice.totals.gross, '112.77');
  assert.equal(document.invoice.series, 'DEMO');
  assert.equal(document.invoice.seq, 1);
  assert.match(document.invoice.number, /^DEMO-\d{4}-00000001$/);
  assert.equal(document.edge_signature.kid, edgeKey.kid);
  assert.equal(response.headers.get('location'), `/v1/invoices/${document.invoice.id}`);

  const kv = await edge.kv('INVOICES');
  assert.ok(await kv.get(`inv:${document.invoice.id}`), 'inv: record written');
  // The series' object holds it until the origin archives it.
  const [series] = (await (await fetch(`${edge.url}/v1/admin/series`, { headers: { authorization: `Bearer ${apiKey}` } })).json()).series;
  assert.equal(series.head_seq, 1);
  assert.equal(series.outstanding_count, 1);

  const fetched = await (await fetch(`${edge.url}/v1/invoices/${document.invoice.id}`)).json();
  assert.deepEqual(fetched, document);

  const verdict = await (await fetch(`${edge.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(document) })).json();
  assert.equal(verdict.valid, true);
  assert.equal(verdict.code, 'VALID');

  // The same check offline, with the CLI and the edge's published JWKS.
  const jwks = await (await fetch(`${edge.url}/.well-known/jwks.json`)).text();
  writeFileSync(path.join(dir, 'jwks.json'), jwks);
  assert.equal(JSON.parse(cli(['verify', '--jwks', path.join(dir, 'jwks.json')], JSON.stringify(document))).code, 'VALID');
});

test('a tampered document is reported invalid by /v1/verify', async () => {
  const document = await (await post(request('A-tamper'))).json();
  document.invoice.totals.gross = '1.77';
  const verdict = await (await fetch(`${edge.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(document) })).json();
  assert.equal(verdict.valid, false);
  assert.equal(verdict.code, 'SIGNATURE_INVALID');
});

test('a replay returns the first status and the same document, marked as replayed', async () => {
  const first = await (await post(request('A-2'))).json();
  const again = await post(request('A-2'), { 'idempotency-key': 'ignored' });
  assert.equal(again.status, 201);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(await again.json(), first);
});

test('a different request for the same order is 422 ORDER_ALREADY_INVOICED with a link', async () => {
  const first = await (await post(request('A-3'))).json();
  const response = await post(request('A-3', { lines: [{ description: 'other', quantity: '1', unit_price: '1.00', tax_category: 'S', tax_rate: '13' }] }));
  assert.equal(response.status, 422);
  const problem = await response.json();
  assert.equal(problem.code, 'ORDER_ALREADY_INVOICED');
  assert.match(problem.detail, new RegExp(first.invoice.id));
  assert.match(response.headers.get('link'), new RegExp(first.invoice.id));
});

test('20 concurrent requests for one order produce one invoice', async () => {
  const responses = await Promise.all(Array.from({ length: 20 }, () => post(request('A-concurrent'))));
  const ids = new Set();
  for (const response of responses) {
    // The series' object answers every one of them: one issues, the others replay it.
    assert.equal(response.status, 201);
    ids.add((await response.json()).invoice.id);
  }
  assert.equal(ids.size, 1, `one invoice, got ${[...ids]}`);
  const listed = await (await edge.kv('INVOICES')).list({ prefix: 'inv:' });
  const forOrder = [];
  for (const key of listed.keys) {
    const signed = JSON.parse(await (await edge.kv('INVOICES')).get(key.name));
    if (signed.invoice.order_id === 'A-concurrent') forOrder.push(signed.invoice.id);
  }
  assert.deepEqual(forOrder, [...ids]);
});

test('validation problems list every error with pointers and the catalogue codes', async () => {
  const bad = await post(request('A-4', { lines: [{ description: 'x', quantity: 2, unit_price: '1', tax_category: 'S', tax_rate: '13' }] }));
  assert.equal(bad.status, 400);
  assert.equal(bad.headers.get('content-type'), 'application/problem+json');
  const problem = await bad.json();
  assert.equal(problem.code, 'DECIMAL_MUST_BE_STRING');
  assert.equal(problem.errors[0].pointer, '/lines/0/quantity');

  const outside = await post(request('A-5', { lines: [{ description: 'x', quantity: '1', unit_price: '1', tax_category: 'S', tax_rate: '19' }] }));
  assert.equal(outside.status, 422);
  assert.equal((await outside.json()).code, 'TAX_NOT_IN_PROFILE');

  const badTaxId = await post(request('A-6', { buyer: { kind: 'company', name: 'B', tax_id: '91110000600037341M' } }));
  assert.equal((await badTaxId.json()).code, 'TAX_ID_CHECKSUM');

  assert.equal((await post('{not json')).status, 400);
  const wrongType = await post(JSON.stringify(request('A-7')), { 'content-type': 'text/plain' });
  assert.equal(wrongType.status, 415);
  const huge = await post(JSON.stringify(request('A-8', { padding: 'x'.repeat(300 * 1024) })));
  assert.equal(huge.status, 413);
  assert.equal((await huge.json()).code, 'BODY_TOO_LARGE');
});

test('API keys: missing is 401 UNAUTHENTICATED, wrong is 401 API_KEY_INVALID', async () => {
  const none = await fetch(`${edge.url}/v1/invoices`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request('K-1')) });
  assert.equal(none.status, 401);
  assert.equal((await none.json()).code, 'UNAUTHENTICATED');
  const wrong = await post(request('K-2'), { authorization: 'Bearer iek_not_a_key' });
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).code, 'API_KEY_INVALID');
});

const cart = {
  currency: 'CNY',
  prices_include_tax: true,
  lines: [{ description: '龙井茶', quantity: '2', unit_price: '68.00', tax_category: 'S', tax_rate: '9' }],
};

const postWithToken = (checkoutToken, body, merchant = 'demo', origin) =>
  fetch(`${edge.url}/v1/invoices?merchant=${merchant}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'checkout-token': checkoutToken, ...(origin ? { origin } : {}) },
    body: JSON.stringify(body),
  });

test('a checkout token carries the cart; the body adds only the buyer; it is paid', async () => {
  const response = await postWithToken(token(merchantPath, 'T-1', cart), { buyer: { kind: 'individual', name: '王小明', email: 'wang@example.com' } }, 'demo', 'https://shop.example');
  assert.equal(response.status, 201);
  assert.equal(response.headers.get('access-control-allow-origin'), 'https://shop.example');
  const document = await response.json();
  assert.equal(document.invoice.order_id, 'T-1');
  assert.equal(document.invoice.totals.gross, '136.00');
  assert.equal(document.invoice.totals.paid, '136.00');
  assert.equal(document.invoice.totals.payable, '0.00');
  assert.equal(document.invoice.buyer.country, 'CN');

  const lines = await postWithToken(token(merchantPath, 'T-2', cart), { buyer: { name: 'x' }, lines: [] });
  assert.equal(lines.status, 400);
  assert.equal((await lines.json()).errors[0].pointer, '/lines');
});

test('tampered, expired and other-merchant tokens get their exact codes', async () => {
  const good = token(merchantPath, 'T-3', cart);
  const [header, payload, signature] = good.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url'));
  claims.cart.lines[0].unit_price = '0.01';
  const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
  const forged = await postWithToken(tampered, {});
  assert.equal(forged.status, 401);
  assert.equal((await forged.json()).code, 'TOKEN_SIGNATURE_INVALID');

  // The token's cart is {prices_include_tax, lines}: the CLI's input also holds the currency,
  // which is a claim of its own, and an unknown cart member is refused (TOKEN_MALFORMED).
  const expiredClaims = { ...claims, cart: { prices_include_tax: cart.prices_include_tax, lines: cart.lines }, iat: 1000, exp: 2000 };
  const expired = await postWithToken(mintExpired(expiredClaims), {});
  assert.equal(expired.status, 401);
  assert.equal((await expired.json()).code, 'TOKEN_EXPIRED');

  const otherMerchant = token(path.join(dir, 'other.json'), 'T-4', cart);
  const mismatch = await postWithToken(otherMerchant, {}, 'demo');
  assert.equal(mismatch.status, 403);
  assert.equal((await mismatch.json()).code, 'TOKEN_MERCHANT_MISMATCH');

  const garbage = await postWithToken('not.a.token', {});
  assert.equal(garbage.status, 401);
  assert.equal((await garbage.json()).code, 'TOKEN_MALFORMED');
});

/** An HS256 token signed with the demo merchant's real secret but already expired. */
function mintExpired(claims) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  const mac = createHmac('sha256', Buffer.from(merchantFile.token_secret, 'utf8')).update(input).digest('base64url');
  return `${input}.${mac}`;
}

test('CORS: public reads allow any origin; issuance preflight only the listed origins', async () => {
  const jwks = await fetch(`${edge.url}/.well-known/jwks.json`);
  assert.equal(jwks.headers.get('access-control-allow-origin'), '*');
  const keys = (await jwks.json()).keys;
  assert.equal(keys.length, 2, 'the edge key and the origin key');
  assert.ok(keys.some((k) => k.kid === edgeKey.kid));

  const allowed = await fetch(`${edge.url}/v1/invoices?merchant=demo`, { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } });
  assert.equal(allowed.status, 204);
  assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://shop.example');
  assert.match(allowed.headers.get('access-control-allow-headers'), /Checkout-Token/);
  const unknown = await fetch(`${edge.url}/v1/invoices?merchant=demo`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
  assert.equal(unknown.headers.get('access-control-allow-origin'), null);
  const admin = await fetch(`${edge.url}/v1/admin/series`, { headers: { authorization: `Bearer ${apiKey}`, origin: 'https://shop.example' } });
  assert.equal(admin.status, 200);
  assert.equal(admin.headers.get('access-control-allow-origin'), null);
});

test('an unknown invoice id is a problem+json 404', async () => {
  const response = await fetch(`${edge.url}/v1/invoices/01936d4e-8a0b-7c3d-9e2f-0123456789ab`);
  assert.equal(response.status, 404);
  assert.equal((await response.json()).code, 'NOT_FOUND');
});

test('the verification page shows times in the merchant\'s UTC offset and codes by name; edge_node is as openapi says (issue 21)', async () => {
  const east = demoMerchant('east-shop', ['--utc-offset', '+08:00']);
  const key = await loadMerchant(await edge.kv('MERCHANTS'), east);
  const response = await post(request('TZ-1'), { authorization: `Bearer ${key}` });
  assert.equal(response.status, 201);
  const { invoice } = await response.json();
  // openapi.yaml, Invoice.edge_node: a colo's IATA code or `local` (Miniflare gives DFW).
  assert.match(invoice.edge_node, /^([A-Z]{3}|local)$/);
  const html = await (await fetch(`${edge.url}/v/${invoice.id}`)).text();
  const local = new Date(Date.parse(invoice.issued_at) + 8 * 3600_000).toISOString();
  const shown = `${local.slice(0, 10)} ${local.slice(11, 19)} +08:00`;
  assert.ok(html.includes(`<time datetime="${invoice.issued_at}">${shown}</time>`), `no ${shown} in the page`);
  assert.ok(html.includes('2 <small title="H87">piece · 件</small>'));
  assert.ok(html.includes('<small title="S">Standard rate · 标准税率</small>'));
  assert.ok(html.includes('<td><span class="cat" title="S">Standard rate · 标准税率</span></td>'));
  assert.ok(!/>H87</.test(html), 'the raw unit code is not shown as text');
});
