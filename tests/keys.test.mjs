// Signing keys across rotations (docs/SECURITY.md, "Signing keys"): `invoice-edge signing-key
// rotate` drives each key's life (current, next, previous, archive); the edge publishes all of
// them (the archive from KV `jwks:archive`); the edge checks receipts against the origin's keys
// only. The real worker in workerd and the real `invoice-origin`, restarted with each new key.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEdge } from './support/edge.mjs';
import { startOrigin } from './support/origin.mjs';
import { cli, demoMerchant, loadMerchant } from './support/cli.mjs';

const stops = [];
after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
});

const dir = mkdtempSync(path.join(tmpdir(), 'invoice-edge-keys-'));
const edgeDir = path.join(dir, 'edge');
const originDir = path.join(dir, 'origin');
const roleOf = (keyDir) => (keyDir === edgeDir ? 'edge' : 'origin');
const rotate = (keyDir) => JSON.parse(cli(['signing-key', 'rotate', '--dir', keyDir, '--role', roleOf(keyDir)]));
const publicKeys = (keyDir) => JSON.parse(cli(['signing-key', 'public', '--dir', keyDir, '--role', roleOf(keyDir)]));
const read = (keyDir, name) => (existsSync(path.join(keyDir, name)) ? readFileSync(path.join(keyDir, name), 'utf8') : null);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('three rotations of the edge key and of the origin key: every invoice issued on the way still verifies', async () => {
  const merchant = demoMerchant('shop');
  const first = { edge: rotate(edgeDir), origin: rotate(originDir) };
  assert.ok(first.edge.current && first.edge.next && first.edge.previous === null);

  const origin = await startOrigin({ trustedKeys: publicKeys(edgeDir), merchantFiles: [merchant] });
  stops.push(() => origin.kill());
  const useOriginKey = async () => {
    writeFileSync(origin.files.key, read(originDir, 'current.jwk'));
    await origin.kill();
    await origin.start();
  };
  await useOriginKey();

  const persistTo = path.join(dir, 'edge-state');
  let edge = null;
  const startWithCurrentKeys = async () => {
    if (edge) await edge.stop();
    const bindings = {
      EDGE_SIGNING_KEY: read(edgeDir, 'current.jwk'),
      EDGE_SIGNING_KEY_NEXT: read(edgeDir, 'next.jwk'),
      ORIGIN_URL: origin.url,
      ORIGIN_PUBLIC_JWK: JSON.stringify(publicKeys(originDir)),
      BREAKER_COOLDOWN_MS: '300',
      // The archive is read at once, not after the isolate's 60 s cache.
      MERCHANT_CACHE_MS: '0',
    };
    const previous = read(edgeDir, 'previous.jwk');
    if (previous) bindings.EDGE_SIGNING_KEY_PREVIOUS = previous;
    edge = await startEdge({ bindings, persistTo });
    const kv = await edge.kv('MERCHANTS');
    await loadMerchant(kv, merchant);
    await kv.put('jwks:archive', read(edgeDir, 'archive.jwks'));
  };
  stops.push(() => edge?.stop());

  const issueFinal = async (order) => {
    const response = await fetch(`${edge.url}/v1/invoices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${merchant.api_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ currency: 'CNY', order_id: order, lines: [{ description: 'tea', quantity: '1', unit_price: '10.00', tax_category: 'S', tax_rate: '13' }] }),
    });
    assert.equal(response.status, 201, await response.clone().text());
    const { invoice } = await response.json();
    for (let i = 0; i < 200; i++) {
      const current = await (await fetch(`${edge.url}/v1/invoices/${invoice.id}`)).json();
      if (current.status === 'final') return current;
      await sleep(100);
    }
    throw new Error(`${order} never became final`);
  };
  const verify = async (document) =>
    (await fetch(`${edge.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(document) })).json();

  const finals = [];
  await startWithCurrentKeys();
  finals.push(await issueFinal('KEY-0'));
  for (let round = 1; round <= 3; round++) {
    const publishedNext = JSON.parse(read(edgeDir, 'next.jwk')).kid;
    const edgeKeys = rotate(edgeDir);
    const originKeys = rotate(originDir);
    // The key that signs now is the one published as next in the round before.
    assert.equal(edgeKeys.current, publishedNext);
    assert.equal(edgeKeys.archived.length, round - 1, 'each rotation archives the key before the previous');
    await origin.trust(publicKeys(edgeDir));
    await useOriginKey();
    await startWithCurrentKeys();
    const final = await issueFinal(`KEY-${round}`);
    assert.equal(final.edge_signature.kid, edgeKeys.current, `round ${round}: signed with the new current key`);
    assert.equal(final.final.origin_kid, originKeys.current, `round ${round}: countersigned with the new origin key`);
    finals.push(final);
  }
  // Three rotations later the first key is archived, and the JWKS still lists it.
  const jwks = await (await fetch(`${edge.url}/.well-known/jwks.json`)).json();
  const listed = new Map(jwks.keys.map((key) => [key.kid, key.role]));
  assert.equal(listed.get(first.edge.current), 'edge', 'the first edge key is still published, as an edge key');
  assert.equal(listed.get(first.origin.current), 'origin', 'the first origin key is still published, as an origin key');
  assert.equal(listed.get(JSON.parse(read(edgeDir, 'next.jwk')).kid), 'edge', 'the next key is published before it signs');
  assert.equal(listed.get(finals[3].final.origin_kid), 'origin');
  for (const [index, final] of finals.entries()) {
    const verdict = await verify(final);
    assert.equal(verdict.code, 'VALID', `invoice ${index}: ${verdict.detail}`);
  }
  // Without the archive the first invoice's key is unknown: cannot be checked, not invalid.
  await (await edge.kv('MERCHANTS')).delete('jwks:archive');
  const withoutArchive = await verify(finals[0]);
  assert.equal(withoutArchive.code, 'UNKNOWN_KID');
  assert.equal((await verify(finals[3])).code, 'VALID');
});
