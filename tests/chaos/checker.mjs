// The drills' checker: given the clients' history and the final state (the origin's SQLite ledger
// and the edge's KV), it checks issue 11's properties and returns every violation it finds.
//
//   lost        a request answered 201 whose invoice is not in the ledger exactly once;
//   duplicated  an order with more than one invoice (in answers, in KV or in the ledger), or a
//               ledger entry whose id is not the one its order's clients were given;
//   phantom     an invoice (ledger or edge KV) for an order no client asked for;
//   gaps        a series whose numbers are not exactly 1..n, each once;
//   audit       `invoice-origin verify` on the ledger file;
//   signatures  every stored document verifies (POST /v1/verify on the edge for all of them,
//               and the CLI `invoice-edge verify` with the JWKS on a sample of the origin's);
//   pending     anything still pending (rejected invoices are listed with their reasons).
import { execFileSync } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cliPath } from '../support/cli.mjs';
import { EDGE_TOKEN, originPath } from '../support/origin.mjs';

/** All keys under `prefix` in a KV namespace, with their metadata. */
export async function listKeys(kv, prefix) {
  const keys = [];
  let cursor;
  for (let page = 0; page < 1000; page += 1) {
    const result = await kv.list({ prefix, cursor });
    keys.push(...result.keys);
    if (result.list_complete) break;
    cursor = result.cursor;
  }
  return keys;
}

async function pool(items, concurrency, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

/**
 * `orders`: Map key `merchant:order_id` -> {merchant, order_id, attempts: [{status, id, ...}]}.
 * `ledgerDb`, `trustFile`: the origin's files. `edge`: {url, kv(name)}. `workDir` for temp files.
 */
export async function check({ orders, ledgerDb, trustFile, edge, originUrl, workDir, log = console.log }) {
  const violations = [];
  const fail = (kind, detail) => violations.push({ kind, detail });

  // What the clients were told: one invoice id per order, from every 201.
  const answered = new Map(); // order key -> invoice id
  let unanswered = 0;
  for (const [key, order] of orders) {
    const ids = new Set(order.attempts.filter((a) => a.status === 201).map((a) => a.id));
    if (ids.size > 1) fail('duplicated', `${key}: clients got ${ids.size} invoice ids: ${[...ids].join(', ')}`);
    if (ids.size === 0) {
      unanswered += 1;
      const last = order.attempts.at(-1);
      fail('unanswered', `${key}: no 201 after ${order.attempts.length} attempts (last ${last?.status ?? last?.error})`);
    } else answered.set(key, [...ids][0]);
    const refused = order.attempts.filter((a) => a.status && a.status !== 201 && a.status < 500 && a.status !== 409 && a.status !== 429);
    for (const a of refused) fail('wrong_answer', `${key}: ${a.status} ${a.code}`);
  }

  // The ledger.
  const db = new DatabaseSync(ledgerDb, { readOnly: true });
  const entries = db.prepare('SELECT invoice_id, merchant, order_id, series, seq AS series_seq, number FROM entries ORDER BY ledger_seq').all();
  db.close();
  const byId = new Map();
  const byOrder = new Map();
  for (const e of entries) {
    byId.set(e.invoice_id, (byId.get(e.invoice_id) ?? []).concat([e]));
    const key = `${e.merchant}:${e.order_id}`;
    byOrder.set(key, (byOrder.get(key) ?? []).concat([e]));
  }
  let lost = 0;
  let duplicated = 0;
  for (const [key, id] of answered) {
    const found = byId.get(id) ?? [];
    if (found.length !== 1) {
      lost += found.length === 0 ? 1 : 0;
      duplicated += found.length > 1 ? 1 : 0;
      fail(found.length === 0 ? 'lost' : 'duplicated', `${key}: invoice ${id} is in the ledger ${found.length} times`);
    } else if (`${found[0].merchant}:${found[0].order_id}` !== key) {
      fail('duplicated', `${key}: invoice ${id} is in the ledger under ${found[0].merchant}:${found[0].order_id}`);
    }
  }
  for (const [key, list] of byOrder) {
    if (!orders.has(key)) fail('phantom', `ledger: ${key} was never asked for (${list.map((e) => e.invoice_id).join(', ')})`);
    if (list.length > 1) {
      duplicated += 1;
      fail('duplicated', `ledger: ${key} has ${list.length} invoices`);
    }
    const given = answered.get(key);
    if (given && list.some((e) => e.invoice_id !== given)) {
      duplicated += 1;
      fail('duplicated', `ledger: ${key} holds ${list.map((e) => e.invoice_id).join(', ')}, clients were given ${given}`);
    }
  }

  // Each series gapless and unique.
  const series = new Map();
  // A series is (merchant, series): two merchants' series never share a counter.
  for (const e of entries) series.set(`${e.merchant}/${e.series}`, (series.get(`${e.merchant}/${e.series}`) ?? []).concat([e]));
  const seriesSummary = {};
  for (const [name, list] of series) {
    const seqs = list.map((e) => e.series_seq).sort((a, b) => a - b);
    const numbers = new Set(list.map((e) => e.number));
    seriesSummary[name] = list.length;
    if (numbers.size !== list.length) fail('gaps', `series ${name}: ${list.length - numbers.size} repeated numbers`);
    seqs.forEach((seq, i) => {
      if (seq !== i + 1) fail('gaps', `series ${name}: position ${i + 1} holds ${seq}`);
    });
  }

  // The origin's own audit of the file: chain, signatures, gaps.
  let audit;
  try {
    audit = execFileSync(originPath, ['verify', '--db', ledgerDb, '--trust', trustFile], { encoding: 'utf8' }).trim();
  } catch (error) {
    audit = `${error.stdout ?? ''}${error.stderr ?? ''}`.trim();
    fail('audit', `invoice-origin verify failed: ${audit}`);
  }

  // The edge: every invoice it stored, its current document, and its signatures.
  const kv = await edge.kv('INVOICES');
  const invKeys = await listKeys(kv, 'inv:');
  const pendingKeys = await listKeys(kv, 'pending:');
  const rejectedKeys = await listKeys(kv, 'rejected:');
  const orderOfId = new Map([...answered].map(([key, id]) => [id, key]));
  const edgeByOrder = new Map();
  const rejected = [];
  const statuses = {};
  let verified = 0;
  await pool(invKeys, 16, async ({ name }) => {
    const id = name.slice('inv:'.length);
    const response = await fetch(`${edge.url}/v1/invoices/${id}`);
    const document = await response.json();
    if (response.status !== 200) return fail('edge', `GET ${id}: ${response.status} ${document.code}`);
    const key = `${document.invoice.merchant}:${document.invoice.order_id}`;
    edgeByOrder.set(key, (edgeByOrder.get(key) ?? []).concat([id]));
    if (!orders.has(key)) fail('phantom', `edge: invoice ${id} for ${key}, which no client asked for`);
    else if (!orderOfId.has(id)) fail('duplicated', `edge: invoice ${id} for ${key} is not the one its clients were given (${answered.get(key)})`);
    statuses[document.status] = (statuses[document.status] ?? 0) + 1;
    if (document.status === 'rejected') rejected.push({ id, order: key, ...document.rejection });
    else if (document.status !== 'final') fail('pending', `edge: invoice ${id} (${key}) is still ${document.status}`);
    else {
      const entry = byId.get(id)?.[0];
      if (!entry || entry.number !== document.final.number) fail('lost', `edge: invoice ${id} is final as ${document.final.number}, the ledger says ${entry?.number}`);
    }
    const verdict = await (await fetch(`${edge.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(document) })).json();
    if (verdict.code !== 'VALID') fail('signatures', `edge: invoice ${id}: ${verdict.code} ${verdict.detail ?? ''}`);
    else verified += 1;
  });
  for (const [key, ids] of edgeByOrder) if (ids.length > 1) fail('duplicated', `edge: ${key} has ${ids.length} stored invoices`);
  for (const [key, id] of answered) if (!edgeByOrder.has(key)) fail('lost', `edge: ${key}'s invoice ${id} is not stored`);
  const rejectedIds = new Set(rejectedKeys.map((k) => k.name.slice('rejected:'.length)));
  const stuck = pendingKeys.filter((k) => !rejectedIds.has(k.name.slice('pending:'.length)));
  for (const k of stuck.slice(0, 20)) fail('pending', `edge: marker ${k.name} still stands`);
  if (stuck.length > 20) fail('pending', `edge: ${stuck.length - 20} more markers still stand`);

  // The origin's stored documents through the CLI, with the edge's JWKS (edge + origin keys).
  const jwksFile = path.join(workDir, 'edge-jwks.json');
  writeFileSync(jwksFile, await (await fetch(`${edge.url}/.well-known/jwks.json`)).text());
  const sample = entries.filter((_, i) => i % Math.max(1, Math.floor(entries.length / 25)) === 0).slice(0, 25);
  let cliVerified = 0;
  for (const e of sample) {
    const document = await (await fetch(`${originUrl}/v1/ledger/invoices/${e.invoice_id}`, { headers: { authorization: `Bearer ${EDGE_TOKEN}` } })).text();
    try {
      execFileSync(cliPath, ['verify', '--jwks', jwksFile], { input: document, encoding: 'utf8' });
      cliVerified += 1;
    } catch (error) {
      fail('signatures', `origin document ${e.invoice_id}: ${error.stdout}`);
    }
  }

  const summary = {
    orders: orders.size,
    answered: answered.size,
    unanswered,
    ledger_entries: entries.length,
    series: seriesSummary,
    edge_invoices: invKeys.length,
    edge_statuses: statuses,
    verified_on_edge: verified,
    verified_with_cli: `${cliVerified}/${sample.length}`,
    lost,
    duplicated,
    pending_markers_left: stuck.length,
    rejected,
    audit: audit.split('\n').slice(0, 3).join(' | '),
    violations: violations.length,
  };
  for (const v of violations.slice(0, 40)) log(`VIOLATION ${v.kind}: ${v.detail}`);
  if (violations.length > 40) log(`... and ${violations.length - 40} more violations`);
  if (rejected.length) for (const r of rejected) log(`rejected ${r.id} (${r.order}): ${r.code} ${r.detail}`);
  return { ok: violations.length === 0, summary, violations };
}
