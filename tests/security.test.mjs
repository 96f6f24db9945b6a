// Security and bad input (docs/SECURITY.md): token and key rotation, exact codes for forged,
// expired, cross-merchant and bad-cart tokens, body limits, money fields that are not decimal
// strings, tampered documents and unknown kids, CORS, rate limits, HTML escaping on /v/{id},
// the token-minting examples in docs/examples, and no secret in any log line or error body.
//
// Complements tests/issuance.test.mjs, which already covers a tampered token cart, an expired
// token, a token for another merchant, a wrong API key, Content-Length over 256 KiB and 415.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { startEdge, repoRoot } from './support/edge.mjs';
import { keygen, demoMerchant, loadMerchant, token, cli } from './support/cli.mjs';
import { startOrigin } from './support/origin.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'invoice-edge-security-'));
const edgeKey = keygen();
const merchantFile = demoMerchant('demo');
const merchantPath = path.join(dir, 'merchant.json');
writeFileSync(merchantPath, JSON.stringify(merchantFile));
const otherFile = demoMerchant('other-shop');

// Everything the worker and the origin log, and every error body: none may hold a secret.
const logs = [];
const errorBodies = [];
const secrets = new Set([merchantFile.api_key, merchantFile.token_secret, otherFile.api_key, otherFile.token_secret, edgeKey.d]);
const usedTokens = new Set();
let edge, origin;

/** An edge; `extra.origin` gives it its own origin: two edges with separate series objects must
 * not share one, or their `seq` 1 would conflict there, as two deployments would. */
async function bootEdge(extra = {}) {
  const target = extra.origin ?? origin;
  const instance = await startEdge({
    bindings: {
      EDGE_SIGNING_KEY: JSON.stringify(edgeKey),
      ORIGIN_URL: target.url,
      ORIGIN_PUBLIC_JWK: JSON.stringify(target.publicJwk),
      // Key and secret rotations are checked at once, not after the isolate's 60 s cache.
      MERCHANT_CACHE_MS: '0',
      ...extra.bindings,
    },
    rateLimits: extra.rateLimits,
    onLog: (log) => logs.push(`${log.level} ${log.message}`),
  });
  const kv = await instance.kv('MERCHANTS');
  await loadMerchant(kv, merchantFile);
  await loadMerchant(kv, otherFile);
  return instance;
}

before(async () => {
  origin = await startOrigin({ trustedKeys: [edgeKey], merchantFiles: [merchantFile, otherFile], onStderr: (text) => logs.push(text) });
  edge = await bootEdge();
});
after(async () => {
  await edge?.stop();
  await origin?.kill();
});

/** fetch, keeping every problem body for the secrets check. */
async function call(url, init = {}) {
  const response = await fetch(url, init);
  const text = await response.text();
  if (response.status >= 400) errorBodies.push(text);
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // HTML or empty
  }
  return { status: response.status, headers: response.headers, body };
}

const request = (order, overrides = {}) => ({
  currency: 'CNY',
  order_id: order,
  lines: [{ description: 'USB-C cable', quantity: '2', unit_price: '49.90', tax_category: 'S', tax_rate: '13' }],
  ...overrides,
});

const issue = (body, { key = merchantFile.api_key, headers = {}, target = edge } = {}) =>
  call(`${target.url}/v1/invoices`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });

const cart = { currency: 'CNY', prices_include_tax: true, lines: [{ description: '龙井茶', quantity: '1', unit_price: '68.00', tax_category: 'S', tax_rate: '9' }] };

function mint(claims, secret) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  const result = `${input}.${createHmac('sha256', Buffer.from(secret, 'utf8')).update(input).digest('base64url')}`;
  usedTokens.add(result);
  return result;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (order, overrides = {}) => ({ merchant: 'demo', order_id: order, currency: 'CNY', cart: { prices_include_tax: true, lines: cart.lines }, iat: now() - 10, exp: now() + 600, ...overrides });

const withToken = (checkoutToken, body = {}, { merchant = 'demo', headers = {}, target = edge } = {}) => {
  usedTokens.add(checkoutToken);
  return call(`${target.url}/v1/invoices?merchant=${merchant}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'checkout-token': checkoutToken, ...headers },
    body: JSON.stringify(body),
  });
};

const assertProblem = (response, status, code) => {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body.code, code, JSON.stringify(response.body));
};

test('tokens: forged, over 24 h, not yet valid and cross-merchant each get their code', async () => {
  assertProblem(await withToken(mint(claims('S-1'), 'not-the-secret')), 401, 'TOKEN_SIGNATURE_INVALID');
  assertProblem(await withToken(mint(claims('S-2', { exp: now() + 25 * 3600 }), merchantFile.token_secret)), 401, 'TOKEN_LIFETIME_TOO_LONG');
  assertProblem(await withToken(mint(claims('S-3', { iat: now() + 3600, exp: now() + 7200 }), merchantFile.token_secret)), 401, 'TOKEN_NOT_YET_VALID');
  // A genuine demo token presented for another merchant: refused before any secret is tried.
  assertProblem(await withToken(mint(claims('S-4'), merchantFile.token_secret), {}, { merchant: 'other-shop' }), 403, 'TOKEN_MERCHANT_MISMATCH');
  // A token claiming another merchant but MACed with this merchant's secret.
  assertProblem(await withToken(mint(claims('S-5', { merchant: 'other-shop' }), merchantFile.token_secret)), 403, 'TOKEN_MERCHANT_MISMATCH');
  // alg "none" is malformed, never "unsigned but fine".
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims('S-6'))).toString('base64url')}.`;
  assertProblem(await withToken(none), 401, 'TOKEN_MALFORMED');
  assertProblem(await withToken(mint(claims('S-7'), merchantFile.token_secret), {}, { merchant: 'nobody' }), 404, 'UNKNOWN_MERCHANT');
});

test('tokens from ordinary JWT libraries: registered claims are ignored, nbf is checked, a bad claim is named', async () => {
  const secret = merchantFile.token_secret;
  // What jose, PyJWT or jsonwebtoken add when asked: a jti, an issuer, an audience (string or
  // array), a subject, and a not-before in the past.
  const registered = { jti: 'c9f1d3e2-5b7a-4a1e-9d2c-0f1e2d3c4b5a', iss: 'https://shop.example', aud: ['invoice-edge'], sub: 'customer-42', nbf: now() - 5 };
  const accepted = await withToken(mint(claims('J-1', registered), secret), { buyer: { name: 'JWT buyer' } });
  assert.equal(accepted.status, 201, JSON.stringify(accepted.body));
  assert.equal(accepted.body.invoice.order_id, 'J-1');
  for (const [name, value] of Object.entries(registered)) {
    assert.equal((await withToken(mint(claims(`J-${name}`, { [name]: value }), secret))).status, 201, name);
  }
  // nbf in the future (past the 60 s of clock skew): not yet valid, and the detail says nbf.
  const early = await withToken(mint(claims('J-2', { nbf: now() + 3600 }), secret));
  assertProblem(early, 401, 'TOKEN_NOT_YET_VALID');
  assert.match(early.body.detail, /nbf/);
  // A claim of the wrong type, or one the edge does not know, is named in the detail.
  for (const [overrides, named] of [
    [{ nbf: String(now()) }, /claim nbf/],
    [{ exp: 'later' }, /claim exp/],
    [{ scope: 'invoice' }, /unknown claim "scope"/],
    [{ cart: { prices_include_taxes: true, lines: cart.lines } }, /"prices_include_taxes"/],
  ]) {
    const refused = await withToken(mint(claims('J-3', overrides), secret));
    assertProblem(refused, 401, 'TOKEN_MALFORMED');
    assert.match(refused.body.detail, named);
  }
  // A cart without prices_include_tax is priced net, as a request without it is.
  const net = await withToken(mint(claims('J-4', { cart: { lines: cart.lines } }), secret), { buyer: { name: 'Net buyer' } });
  assert.equal(net.status, 201, JSON.stringify(net.body));
  assert.equal(net.body.invoice.prices_include_tax, false);
  assert.equal(net.body.invoice.totals.net, '68.00');
  assert.equal(net.body.invoice.totals.gross, '74.12');
});

test('every 401 carries WWW-Authenticate: Bearer with the realm', async () => {
  const bearer = 'Bearer realm="invoice-edge"';
  const admin = (init) => call(`${edge.url}/v1/admin/series`, init);
  const refusals = [
    [await issue(request('W-1'), { key: '' }), 'UNAUTHENTICATED', bearer],
    [await call(`${edge.url}/v1/invoices`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 'UNAUTHENTICATED', bearer],
    [await issue(request('W-2'), { key: 'iek_wrong' }), 'API_KEY_INVALID', `${bearer}, error="invalid_token"`],
    [await admin({}), 'UNAUTHENTICATED', bearer],
    [await admin({ headers: { authorization: 'Bearer iek_wrong' } }), 'API_KEY_INVALID', `${bearer}, error="invalid_token"`],
    [await call(`${edge.url}/v1/admin/sync`, { method: 'POST' }), 'UNAUTHENTICATED', bearer],
    [await withToken('not.a.token'), 'TOKEN_MALFORMED', bearer],
    [await withToken(mint(claims('W-3'), 'not-the-secret')), 'TOKEN_SIGNATURE_INVALID', bearer],
    [await withToken(mint(claims('W-4', { iat: now() - 7200, exp: now() - 3600 }), merchantFile.token_secret)), 'TOKEN_EXPIRED', bearer],
  ];
  for (const [response, code, challenge] of refusals) {
    assertProblem(response, 401, code);
    assert.equal(response.headers.get('www-authenticate'), challenge, code);
  }
  // Not on other errors.
  const notFound = await call(`${edge.url}/v1/invoices/01936d4e-8a0b-7c3d-9e2f-0123456789ab`);
  assert.equal(notFound.status, 404);
  assert.equal(notFound.headers.get('www-authenticate'), null);
});

test('a token whose cart breaks the tax profile is 422 TOKEN_CART_INVALID, listing the cause', async () => {
  const bad = claims('S-cart', { cart: { prices_include_tax: true, lines: [{ description: 'x', quantity: '1', unit_price: '10.00', tax_category: 'S', tax_rate: '19' }] } });
  const response = await withToken(mint(bad, merchantFile.token_secret), { buyer: { name: 'A' } });
  assertProblem(response, 422, 'TOKEN_CART_INVALID');
  assert.equal(response.body.errors[0].code, 'TOKEN_CART_INVALID');
  assert.deepEqual(response.body.errors.slice(1).map((e) => [e.pointer, e.code]), [['/lines/0', 'TAX_NOT_IN_PROFILE']]);
  // A JSON number in the token's cart is the merchant's error too.
  const numeric = claims('S-cart2', { cart: { prices_include_tax: true, lines: [{ description: 'x', quantity: 1, unit_price: '10.00', tax_category: 'S', tax_rate: '9' }] } });
  assertProblem(await withToken(mint(numeric, merchantFile.token_secret)), 422, 'TOKEN_CART_INVALID');
  // The buyer's own mistakes keep their codes.
  assertProblem(await withToken(mint(claims('S-buyer'), merchantFile.token_secret), { buyer: { email: 'not-an-email' } }), 422, 'INVALID_EMAIL');
});

test('API keys rotate: both valid during the rotation, the old one refused after --revoke-old', async () => {
  const rotated = JSON.parse(cli(['merchant', 'rotate-key', '--merchant', merchantPath]));
  secrets.add(rotated.api_key);
  assert.notEqual(rotated.api_key, merchantFile.api_key);
  assert.equal(rotated.config.api_key_hashes.length, 2);
  assert.equal(rotated.token_secret, merchantFile.token_secret);
  const rotatedPath = path.join(dir, 'rotated.json');
  writeFileSync(rotatedPath, JSON.stringify(rotated));
  assert.throws(() => cli(['merchant', 'rotate-key', '--merchant', rotatedPath], ''), /two API keys/);
  const kv = await edge.kv('MERCHANTS');
  await loadMerchant(kv, rotated);
  assert.equal((await issue(request('R-old'))).status, 201);
  assert.equal((await issue(request('R-new'), { key: rotated.api_key })).status, 201);

  const revoked = JSON.parse(cli(['merchant', 'rotate-key', '--merchant', rotatedPath, '--revoke-old']));
  assert.equal(revoked.config.api_key_hashes.length, 1);
  await loadMerchant(kv, revoked);
  assertProblem(await issue(request('R-old-2')), 401, 'API_KEY_INVALID');
  assert.equal((await issue(request('R-new-2'), { key: revoked.api_key })).status, 201);
  assertProblem(await issue(request('R-x'), { key: `${revoked.api_key}x` }), 401, 'API_KEY_INVALID');
  // Restore the original key for the other tests.
  await loadMerchant(kv, merchantFile);
});

test('a merchant configuration is validated when loaded: a hand-edited one that breaks a rule is refused', async () => {
  const kv = await edge.kv('MERCHANTS');
  const broken = structuredClone(merchantFile);
  broken.config.seller.country = 'XX';
  await loadMerchant(kv, broken);
  const refused = await issue(request('CFG-1'));
  assert.equal(refused.status, 503, JSON.stringify(refused.body));
  assert.match(logs.join('\n'), /merchant demo: configuration refused: country "XX"/);
  await loadMerchant(kv, merchantFile);
  assert.equal((await issue(request('CFG-2'))).status, 201);
});

test('token secrets rotate: the old one verifies until --old-until, then stops', async () => {
  const rotated = JSON.parse(cli(['merchant', 'rotate-token-secret', '--merchant', merchantPath, '--old-until', '1h']));
  secrets.add(rotated.token_secret);
  assert.equal(rotated.config.token_secrets.length, 2);
  assert.equal(rotated.config.token_secrets[0].secret, rotated.token_secret);
  const until = rotated.config.token_secrets[1].accept_until;
  assert.ok(Math.abs(until - (now() + 3600)) < 60, `old secret accepted until ${until}`);
  const kv = await edge.kv('MERCHANTS');
  await loadMerchant(kv, rotated);
  const rotatedPath = path.join(dir, 'rotated-secret.json');
  writeFileSync(rotatedPath, JSON.stringify(rotated));
  // The CLI mints with the new secret; the old secret's tokens still verify.
  assert.equal((await withToken(token(rotatedPath, 'TS-new', cart))).status, 201);
  assert.equal((await withToken(mint(claims('TS-old'), merchantFile.token_secret))).status, 201);

  const ended = JSON.parse(cli(['merchant', 'rotate-token-secret', '--merchant', merchantPath, '--old-until', `@${now() - 1}`]));
  secrets.add(ended.token_secret);
  await loadMerchant(kv, ended);
  assertProblem(await withToken(mint(claims('TS-old-2'), merchantFile.token_secret)), 401, 'TOKEN_SIGNATURE_INVALID');
  assert.equal((await withToken(mint(claims('TS-new-2'), ended.token_secret))).status, 201);
  await loadMerchant(kv, merchantFile);
});

test('signing keys rotate: EDGE_SIGNING_KEY_PREVIOUS stays in the JWKS and old invoices verify', async () => {
  const old = await issue(request('K-before'));
  assert.equal(old.status, 201);
  assert.equal(old.body.edge_signature.kid, edgeKey.kid);
  const newKey = keygen();
  secrets.add(newKey.d);
  const rotated = await bootEdge({ bindings: { EDGE_SIGNING_KEY: JSON.stringify(newKey), EDGE_SIGNING_KEY_PREVIOUS: JSON.stringify(edgeKey) } });
  try {
    const kids = (await (await fetch(`${rotated.url}/.well-known/jwks.json`)).json()).keys.map((k) => k.kid);
    assert.deepEqual(kids, [newKey.kid, edgeKey.kid, origin.publicJwk.kid]);
    assert.ok(kids.every((kid) => typeof kid === 'string'));
    const jwks = await (await fetch(`${rotated.url}/.well-known/jwks.json`)).json();
    assert.ok(jwks.keys.every((k) => k.d === undefined), 'no private part is ever served');
    const verdict = await call(`${rotated.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(old.body) });
    assert.equal(verdict.body.code, 'VALID');
    const fresh = await issue(request('K-after'), { target: rotated });
    assert.equal(fresh.status, 201);
    assert.equal(fresh.body.edge_signature.kid, newKey.kid);
    // The origin does not trust the new key yet: the series' delivery logs UNKNOWN_KID (retryable).
    for (let i = 0; i < 100 && !logs.some((line) => line.includes('UNKNOWN_KID')); i++) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await rotated.stop();
  }
  // Without the previous key the old invoice's kid is unknown.
  const dropped = await bootEdge({ bindings: { EDGE_SIGNING_KEY: JSON.stringify(newKey) } });
  try {
    const verdict = await call(`${dropped.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(old.body) });
    assert.equal(verdict.status, 200);
    assert.equal(verdict.body.valid, false);
    assert.equal(verdict.body.code, 'UNKNOWN_KID');
  } finally {
    await dropped.stop();
  }
});

test('/v1/verify: a tampered line, an added field, an unknown kid and a stolen kid are refused', async () => {
  const issued = (await issue(request('V-1', { buyer: { name: 'Li Lei' } }))).body;
  const verify = (document) => call(`${edge.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(document) });
  const clone = () => structuredClone(issued);

  const line = clone();
  line.invoice.lines[0].unit_price = '0.01';
  assert.equal((await verify(line)).body.code, 'SIGNATURE_INVALID');
  const added = clone();
  added.invoice.note = 'pay to another account';
  assert.equal((await verify(added)).body.code, 'SIGNATURE_INVALID');
  const unknown = clone();
  unknown.edge_signature.kid = 'nYDxbz9sB0d0KmkfLTw5kqzXbSAf8Bn8OqSmBLsg7c8';
  const verdict = await verify(unknown);
  assert.equal(verdict.status, 200);
  assert.deepEqual([verdict.body.valid, verdict.body.code], [false, 'UNKNOWN_KID']);
  // Signed by an attacker's key but claiming ours.
  const forged = clone();
  forged.edge_signature.sig = Buffer.alloc(64, 7).toString('base64url');
  assert.equal((await verify(forged)).body.code, 'SIGNATURE_INVALID');
  assertProblem(await verify({ invoice: 'x' }), 400, 'MALFORMED_DOCUMENT');
  assertProblem(await call(`${edge.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '['.repeat(40) + ']'.repeat(40) }), 422, 'JSON_TOO_DEEP');
  // A second "unit_price" after the signed one: a last-value-wins reader would see 0.01 behind
  // a valid signature. Refused, with the place of the object.
  const text = JSON.stringify(issued).replace('"unit_price":', '"unit_price":"0.01","unit_price":');
  const twice = await call(`${edge.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
  assertProblem(twice, 400, 'DUPLICATE_KEY');
  assert.equal(twice.body.errors[0].pointer, '/invoice/lines/0');
});

test('strict text: duplicate keys, control characters, bidi controls and invisible names each have their code', async () => {
  const base = request('T-1');
  const text = JSON.stringify(base).replace('"currency":"CNY"', '"currency":"CNY","currency":"EUR"');
  const twice = await issue(text);
  assertProblem(twice, 400, 'DUPLICATE_KEY');
  assert.equal(twice.body.errors[0].pointer, '');
  const withBuyer = (order, buyer) => issue(request(order, { buyer }));
  const first = (response) => response.body.errors?.[0] ?? {};
  let answer = await withBuyer('T-2', { name: 'ACME\u0007 Ltd' });
  assertProblem(answer, 422, 'CONTROL_CHARACTER');
  assert.equal(first(answer).pointer, '/buyer/name');
  answer = await withBuyer('T-3', { name: 'ACME\nLtd' });
  assertProblem(answer, 422, 'CONTROL_CHARACTER');
  answer = await withBuyer('T-4', { name: 'ACME \u202Edtl' });
  assertProblem(answer, 422, 'BIDI_CONTROL');
  answer = await withBuyer('T-5', { name: '\u200B\u200B' });
  assertProblem(answer, 422, 'INVISIBLE_TEXT');
  // A newline is fine in an address line.
  const multiline = await issue(request('T-6', { buyer: { kind: 'individual', name: 'Li Lei', country: 'CN', address: { line: 'Room 1\nBuilding 2', city: 'Beijing' } } }));
  assert.equal(multiline.status, 201, JSON.stringify(multiline.body));
});

test('body limits: chunked over 256 KiB, deep nesting and non-UTF-8 each get their code', async () => {
  // A chunked body has no Content-Length: the edge must stop reading past 256 KiB.
  const chunk = new TextEncoder().encode(' '.repeat(64 * 1024));
  let sent = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (sent++ < 8) controller.enqueue(chunk);
      else controller.close();
    },
  });
  const chunked = await call(`${edge.url}/v1/invoices`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${merchantFile.api_key}` },
    body: stream,
    duplex: 'half',
  });
  assertProblem(chunked, 413, 'BODY_TOO_LARGE');

  const nest = (depth) => `{"currency":"CNY","order_id":"D-1","lines":[${'['.repeat(depth)}${']'.repeat(depth)}]}`;
  assertProblem(await issue(nest(40)), 422, 'JSON_TOO_DEEP');
  // Past serde_json's own limit of 128 it is still JSON_TOO_DEEP, not MALFORMED_JSON.
  assertProblem(await issue(nest(500)), 422, 'JSON_TOO_DEEP');
  // 32 levels are fine for the parser (the request itself is then wrong in type).
  assertProblem(await issue(nest(29)), 400, 'WRONG_TYPE');

  const latin1 = Buffer.from(JSON.stringify(request('U-1', { buyer: { name: 'Müller' } })), 'latin1');
  assertProblem(await issue(new Uint8Array(latin1)), 400, 'INVALID_UTF8');
  assertProblem(await issue(new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00])), 400, 'INVALID_UTF8');
  assertProblem(await issue(request('U-2', { lines: Array.from({ length: 1001 }, () => request('x').lines[0]) })), 422, 'TOO_MANY_LINES');
  assertProblem(await issue(request('U-3', { buyer: { name: 'x'.repeat(501) } })), 422, 'STRING_TOO_LONG');
  assertProblem(await issue(request('U-4', { lines: [{ ...request('x').lines[0], unit_price: '1234567890123456789' }] })), 422, 'TOO_MANY_DIGITS');
  const wrongMethod = await call(`${edge.url}/v1/invoices`, { method: 'PUT' });
  assertProblem(wrongMethod, 405, 'METHOD_NOT_ALLOWED');
  assert.equal(wrongMethod.headers.get('allow'), 'GET, POST, OPTIONS');
});

test('money fields: JSON numbers, exponents, NaN and Infinity are refused with exact codes', async () => {
  const line = (unitPrice) => `{"currency":"CNY","order_id":"M-1","lines":[{"description":"x","quantity":"1","unit_price":${unitPrice},"tax_category":"S","tax_rate":"13"}]}`;
  const cases = [
    ['49.9', 400, 'DECIMAL_MUST_BE_STRING'],
    ['4.99e1', 400, 'DECIMAL_MUST_BE_STRING'],
    ['1e400', 400, 'MALFORMED_JSON'],
    ['"4.99e1"', 400, 'INVALID_DECIMAL'],
    ['"1E2"', 400, 'INVALID_DECIMAL'],
    ['NaN', 400, 'MALFORMED_JSON'],
    ['"NaN"', 400, 'INVALID_DECIMAL'],
    ['Infinity', 400, 'MALFORMED_JSON'],
    ['-Infinity', 400, 'MALFORMED_JSON'],
    ['"Infinity"', 400, 'INVALID_DECIMAL'],
    ['"0x10"', 400, 'INVALID_DECIMAL'],
    ['" 1.00"', 400, 'INVALID_DECIMAL'],
    ['"01.00"', 400, 'INVALID_DECIMAL'],
    ['"1."', 400, 'INVALID_DECIMAL'],
  ];
  for (const [value, status, code] of cases) {
    const response = await issue(line(value));
    assert.equal(response.status, status, `${value}: ${JSON.stringify(response.body)}`);
    assert.equal(response.body.code, code, `${value}: ${JSON.stringify(response.body)}`);
  }
  assertProblem(await issue(request('M-2', { paid_amount: 1e2 })), 400, 'DECIMAL_MUST_BE_STRING');
  assertProblem(await issue(request('M-3', { expected_total: '1.2e2' })), 400, 'INVALID_DECIMAL');
});

test('CORS: an unknown origin gets no CORS headers on preflight or issuance; admin never', async () => {
  const preflight = await fetch(`${edge.url}/v1/invoices?merchant=demo`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'checkout-token' } });
  assert.equal(preflight.status, 204);
  for (const name of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-allow-credentials']) {
    assert.equal(preflight.headers.get(name), null, name);
  }
  assert.match(preflight.headers.get('vary') ?? '', /Origin/);
  const noMerchant = await fetch(`${edge.url}/v1/invoices?merchant=nobody`, { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } });
  assert.equal(noMerchant.headers.get('access-control-allow-origin'), null);
  // The listed origin of another merchant is not this merchant's.
  const crossShop = await fetch(`${edge.url}/v1/invoices`, { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } });
  assert.equal(crossShop.headers.get('access-control-allow-origin'), null);

  const evil = await withToken(mint(claims('C-1'), merchantFile.token_secret), {}, { headers: { origin: 'https://evil.example' } });
  assert.equal(evil.status, 201);
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  const refused = await withToken(mint(claims('C-2'), 'forged'), {}, { headers: { origin: 'https://evil.example' } });
  assert.equal(refused.headers.get('access-control-allow-origin'), null);
  const adminPreflight = await fetch(`${edge.url}/v1/admin/series`, { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET' } });
  assert.equal(adminPreflight.headers.get('access-control-allow-origin'), null);
  const publicRead = await fetch(`${edge.url}/v1/invoices/${evil.body.invoice.id}`, { headers: { origin: 'https://evil.example' } });
  assert.equal(publicRead.headers.get('access-control-allow-origin'), '*');
  assert.equal(publicRead.headers.get('access-control-allow-credentials'), null);
});

/** Waits, if need be, until at least `marginS` seconds are left in the current window of a
 * `periodS` rate limiter. Workers' rate limits (and Miniflare's) count in fixed windows aligned
 * to the wall clock, so a sequence that crosses a window's end starts counting again: the test
 * below failed once that way (the fourth wrong API key answered 401, not 429). */
async function inOneWindow(periodS = 60, marginS = 15) {
  const left = periodS * 1000 - (Date.now() % (periodS * 1000));
  if (left < marginS * 1000) await new Promise((resolve) => setTimeout(resolve, left + 100));
}

test('rate limits: 429 RATE_LIMITED with Retry-After per client IP and per merchant', async () => {
  const ownOrigin = await startOrigin({ trustedKeys: [edgeKey], merchantFiles: [merchantFile, otherFile] });
  const limited = await bootEdge({ origin: ownOrigin, rateLimits: { ISSUE_IP_LIMITER: 3, ISSUE_MERCHANT_LIMITER: 6, HEALTH_IP_LIMITER: 2, SYNC_MERCHANT_LIMITER: 2 } });
  try {
    await inOneWindow();
    const fromIp = (ip, order) => withToken(mint(claims(order), merchantFile.token_secret), {}, { target: limited, headers: { 'cf-connecting-ip': ip, origin: 'https://shop.example' } });
    for (let i = 0; i < 3; i++) assert.equal((await fromIp('198.51.100.7', `RL-${i}`)).status, 201);
    const over = await fromIp('198.51.100.7', 'RL-3');
    assertProblem(over, 429, 'RATE_LIMITED');
    assert.equal(over.headers.get('retry-after'), '60');
    // The widget on the listed origin can read why.
    assert.equal(over.headers.get('access-control-allow-origin'), 'https://shop.example');
    assert.equal((await fromIp('203.0.113.9', 'RL-4')).status, 201, 'another client is not limited');

    // Wrong API keys count against the IP: guessing is slowed down.
    const guess = (i) => issue(request(`RL-g${i}`), { key: `iek_guess_${i}`, target: limited, headers: { 'cf-connecting-ip': '192.0.2.1' } });
    for (let i = 0; i < 3; i++) assertProblem(await guess(i), 401, 'API_KEY_INVALID');
    assertProblem(await guess(3), 429, 'RATE_LIMITED');

    // The merchant's own limit: 4 issuances so far (3 + 1 from another IP); API-key calls from one
    // server IP count only per merchant.
    const server = (order, overrides) => issue(request(order, overrides), { target: limited, headers: { 'cf-connecting-ip': '192.0.2.50' } });
    assert.equal((await server('RL-s1')).status, 201);
    assert.equal((await server('RL-s2')).status, 201);
    const merchantOver = await server('RL-s3');
    assertProblem(merchantOver, 429, 'RATE_LIMITED');
    assert.match(merchantOver.body.detail, /merchant/);
    assert.equal(merchantOver.headers.get('retry-after'), '60');
    // The limiter decides right after authentication, before the body is read
    // (docs/ARCHITECTURE.md, "Edge issuance path", step 1): nothing was issued for the refused
    // order, and a refused body that is also invalid gets the 429, not its 422.
    const refusedOrder = await call(`${limited.url}/v1/invoices?order_id=RL-s3`, { headers: { authorization: `Bearer ${merchantFile.api_key}`, 'cf-connecting-ip': '192.0.2.50' } });
    assertProblem(refusedOrder, 404, 'NOT_FOUND');
    assertProblem(await server('RL-s4', { lines: [] }), 429, 'RATE_LIMITED');
    // Another merchant is not affected.
    assert.equal((await issue(request('RL-o1'), { key: otherFile.api_key, target: limited, headers: { 'cf-connecting-ip': '192.0.2.50' } })).status, 201);

    // The public health check, per client IP: it lists KV keys, so a flood is cut off.
    const health = (ip) => call(`${limited.url}/v1/health`, { headers: { 'cf-connecting-ip': ip } });
    for (let i = 0; i < 2; i++) assert.equal((await health('198.51.100.20')).status, 200);
    const healthOver = await health('198.51.100.20');
    assertProblem(healthOver, 429, 'RATE_LIMITED');
    assert.match(healthOver.body.detail, /health/);
    assert.equal((await health('198.51.100.21')).status, 200, 'another client is not limited');

    // The admin sync, per merchant: each one calls every series' object and resets its back-off.
    const sync = (key, ip = '192.0.2.60') => call(`${limited.url}/v1/admin/sync`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'cf-connecting-ip': ip } });
    for (let i = 0; i < 2; i++) assert.equal((await sync(merchantFile.api_key)).status, 200);
    const syncOver = await sync(merchantFile.api_key);
    assertProblem(syncOver, 429, 'RATE_LIMITED');
    assert.match(syncOver.body.detail, /sync/);
    assert.equal((await sync(otherFile.api_key)).status, 200, 'another merchant is not limited');
    // Wrong keys on the admin routes count against the IP, as on issuance.
    for (let i = 0; i < 3; i++) assertProblem(await sync(`iek_admin_guess_${i}`, '192.0.2.70'), 401, 'API_KEY_INVALID');
    assertProblem(await sync('iek_admin_guess_3', '192.0.2.70'), 429, 'RATE_LIMITED');
    // And on the order lookup: the same API keys, the same guard.
    const lookup = (key, ip) => call(`${limited.url}/v1/invoices?order_id=RL-s1`, { headers: { authorization: `Bearer ${key}`, 'cf-connecting-ip': ip } });
    for (let i = 0; i < 3; i++) assertProblem(await lookup(`iek_lookup_guess_${i}`, '192.0.2.80'), 401, 'API_KEY_INVALID');
    const lookupOver = await lookup('iek_lookup_guess_3', '192.0.2.80');
    assertProblem(lookupOver, 429, 'RATE_LIMITED');
    assert.match(lookupOver.body.detail, /lookup/);
    assert.equal((await lookup(merchantFile.api_key, '192.0.2.80')).status, 200, 'a successful lookup is not counted, and RL-s1 is found');
  } finally {
    await limited.stop();
    await ownOrigin.kill();
  }
});

test('the verification page escapes an HTML-injection attempt in the buyer name', async () => {
  const attack = `<script>alert("x")</script><img src=x onerror=alert(1)>"'&`;
  const issued = await issue(request('H-1', { buyer: { name: attack, address: { line: '<b>1</b> Road', city: '"><svg onload=alert(2)>' } } }));
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  const page = await call(`${edge.url}/v/${issued.body.invoice.id}`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  const html = page.body;
  for (const raw of ['<script>alert', '<img src=x', '<svg onload', '<b>1</b>']) assert.ok(!html.includes(raw), `unescaped ${raw}`);
  assert.ok(html.includes('&lt;script&gt;alert('), 'the name is shown, escaped');
  const notFound = await call(`${edge.url}/v/${encodeURIComponent('<script>x</script>')}`);
  assert.equal(notFound.status, 404);
  assert.ok(!String(notFound.body).includes('<script>x'));
  // The page's templates are compiled into the worker; www/.assetsignore keeps them unserved.
  assert.equal((await call(`${edge.url}/templates/invoice-page.html`)).status, 404);
});

test('invoice links are capability URLs: private, no referrer, not indexed, and no email on the page', async () => {
  const email = 'buyer.private@example.cn';
  const issued = await issue(request('P-1', { buyer: { kind: 'individual', name: '张三', email, country: 'CN' } }));
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  const { id } = issued.body.invoice;
  const unknown = '01936d4e-8a0b-7c3d-9e2f-0123456789ab';
  const answers = {
    json: await call(`${edge.url}/v1/invoices/${id}`),
    xml: await call(`${edge.url}/v1/invoices/${id}.xml`),
    page: await call(`${edge.url}/v/${id}`),
    'json 404': await call(`${edge.url}/v1/invoices/${unknown}`),
    'page 404': await call(`${edge.url}/v/${unknown}`),
    head: await call(`${edge.url}/v1/invoices/${id}`, { method: 'HEAD' }),
  };
  for (const [name, answer] of Object.entries(answers)) {
    const cacheControl = answer.headers.get('cache-control') ?? '';
    assert.ok(cacheControl.split(/,\s*/).includes('private'), `${name}: Cache-Control ${cacheControl}`);
    // The status changes from pending to final: nothing keeps a stale copy either.
    assert.ok(cacheControl.split(/,\s*/).includes('no-store'), `${name}: Cache-Control ${cacheControl}`);
    assert.equal(answer.headers.get('referrer-policy'), 'no-referrer', name);
    assert.equal(answer.headers.get('x-robots-tag'), 'noindex', name);
  }
  assert.equal(answers.json.status, 200);
  assert.equal(answers.page.status, 200);
  assert.equal(answers['page 404'].status, 404);
  // The email is in the signed document, which the buyer keeps, and never on the public page.
  assert.equal(answers.json.body.invoice.buyer.email, email);
  const html = answers.page.body;
  assert.ok(html.includes('张三'), 'the page shows the buyer');
  assert.ok(!html.includes(email), 'the page shows the buyer\'s email');
  assert.ok(!html.includes('buyer.private'), 'no part of the email either');
  assert.ok(!html.includes('邮箱'), 'no email row');
});

test('docs/examples mint checkout tokens in Node and Python that the edge accepts', async () => {
  const env = { ...process.env, MERCHANT_ID: 'demo', TOKEN_SECRET: merchantFile.token_secret };
  const node = execFileSync(process.execPath, [path.join(repoRoot, 'docs/examples/mint-token.mjs'), 'EX-node'], { env, encoding: 'utf8' }).trim();
  const python = execFileSync('python3', [path.join(repoRoot, 'docs/examples/mint_token.py'), 'EX-python'], { env, encoding: 'utf8' }).trim();
  for (const [minted, order] of [[node, 'EX-node'], [python, 'EX-python']]) {
    const response = await withToken(minted, { buyer: { name: 'Example buyer' } });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    assert.equal(response.body.invoice.order_id, order);
  }
});

test('no secret, token or API key appears in a log line or an error body', async () => {
  // Drive the paths that log: an origin rejection and a worker error path with secrets in headers.
  await issue(request('L-1'), { headers: { 'x-debug': merchantFile.token_secret } });
  await issue('{"broken', { headers: { cookie: `k=${merchantFile.api_key}` } });
  await fetch(`${origin.url}/v1/ledger/invoices/01936d4e-8a0b-7c3d-9e2f-0123456789ab`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${merchantFile.api_key}` }, body: JSON.stringify({ invoice: {}, token: merchantFile.token_secret }) });
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(errorBodies.length > 20, `error bodies captured: ${errorBodies.length}`);
  // The capture works: the edge whose key the origin does not trust logged its UNKNOWN_KID answer.
  assert.ok(logs.some((line) => line.includes('UNKNOWN_KID')), 'worker log lines were captured');
  const haystacks = [...logs, ...errorBodies];
  const needles = [...secrets, ...usedTokens].filter((s) => s && s.length >= 16);
  for (const needle of needles) {
    // Tokens are long; their signature part alone would already leak the MAC.
    const parts = needle.split('.').filter((p) => p.length >= 16);
    for (const part of [needle, ...parts]) {
      const leaks = haystacks.filter((line) => line.includes(part));
      assert.deepEqual(leaks, [], `a secret leaked: ${part.slice(0, 6)}…`);
    }
  }
});
