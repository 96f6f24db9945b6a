// The built worker, running in workerd: the basic HTTP contract.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge } from './support/edge.mjs';
import { demoMerchant, loadMerchant } from './support/cli.mjs';

let edge;
before(async () => {
  edge = await startEdge();
});
after(async () => {
  await edge?.stop();
});

test('GET /v1/health answers ok with the version', async () => {
  const response = await fetch(`${edge.url}/v1/health`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^application\/json/);
  const body = await response.json();
  assert.equal(body.status, 'ok');
  assert.match(body.version, /^\d+\.\d+\.\d+/);
});

test('an unknown route is a problem+json 404', async () => {
  const response = await fetch(`${edge.url}/no/such/route`);
  assert.equal(response.status, 404);
  assert.equal(response.headers.get('content-type'), 'application/problem+json');
  const body = await response.json();
  assert.equal(body.status, 404);
  assert.equal(body.code, 'NOT_FOUND');
  assert.equal(body.errors[0].code, 'NOT_FOUND');
});

test('a wrong method on a known route is a problem+json 405 with Allow', async () => {
  const response = await fetch(`${edge.url}/v1/health`, { method: 'DELETE' });
  assert.equal(response.status, 405);
  assert.equal(response.headers.get('allow'), 'GET, HEAD');
  const body = await response.json();
  assert.equal(body.code, 'METHOD_NOT_ALLOWED');
});

test('/favicon.ico is a small icon, not a problem+json 404', async () => {
  const response = await fetch(`${edge.url}/favicon.ico`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^image\//);
  const bytes = new Uint8Array(await response.arrayBuffer());
  // An ICO directory (reserved 0, type 1) holding one PNG image.
  assert.deepEqual([...bytes.subarray(0, 4)], [0, 0, 1, 0]);
  assert.deepEqual([...bytes.subarray(22, 26)], [0x89, 0x50, 0x4e, 0x47]);
  assert.ok(bytes.length < 1024, `${bytes.length} bytes`);
});

test('the checkout profile answers origin_allowed for the request Origin, with Vary: Origin (issue 21)', async () => {
  const merchantFile = demoMerchant('origins');
  await loadMerchant(await edge.kv('MERCHANTS'), merchantFile);
  const url = `${edge.url}/v1/merchants/origins/checkout`;
  const cases = [
    ['https://shop.example', true], // listed by demoMerchant
    ['https://evil.example', false],
    ['https://shop.example:8443', false], // compared exactly, as issuance's CORS check does
    ['http://shop.example', false],
    [null, false], // no Origin: a same-origin GET, or not a browser
  ];
  for (const [origin, allowed] of cases) {
    const response = await fetch(url, { headers: origin ? { origin } : {} });
    assert.equal(response.status, 200, String(origin));
    assert.match(response.headers.get('vary') ?? '', /\bOrigin\b/i, String(origin));
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    const body = await response.json();
    assert.equal(body.origin_allowed, allowed, String(origin));
  }
});
