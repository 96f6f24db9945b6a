// The drills' checker (issues 11 and 16, design version 2): given the clients' history (every
// answer they got) and the final state (the origin's SQLite ledger, the edge's KV and documents,
// and each series' report from GET /v1/admin/series), it checks, per series (merchant, series):
//
//   answers     every order got a 201, all of its 201s carry one invoice (same id, seq, number,
//               prev_hash), in the series asked for, with Offline-Exposure, every 201 after the
//               first marked Idempotent-Replayed; no 4xx but 429 (a 422
//               ORDER_ALREADY_INVOICED for the same body is a violation);
//   gaps        the edge's answers and the ledger each hold seq 1..n of every series, each once,
//               with distinct numbers (the number is the seq's, and issued_at never goes back);
//   chain       each ledger entry's series_prev_hash is the invoice_hash of seq - 1 (64 zeros
//               for seq 1), and so is each 201's prev_hash; `invoice-origin verify` and the CLI's
//               `invoice-edge verify --chain` over each series' archived documents pass;
//   lost        a 201's invoice not in the ledger exactly once, at its seq and number;
//   duplicated  an order with more than one invoice (in answers, in KV or in the ledger);
//   phantom     an invoice (ledger or edge KV) for an order no client asked for;
//   final       every answered invoice is final on the edge (GET /v1/invoices/{id}), with the
//               number and seq its 201 gave and the ledger holds; nothing rejected;
//   signatures  every edge document verifies (POST /v1/verify), and a sample of the origin's
//               with the CLI `invoice-edge verify --jwks`;
//   series      every series' report: head_seq = final_seq = entries, nothing outstanding, not
//               stopped, origin not regressed, level ok;
//   credits     a refund order (one with `credits`, docs/ARCHITECTURE.md "Credit notes") was
//               answered with a credit note of that invoice, in its series; an invoice's credit
//               notes together never credit more than its gross; invoices and credit notes
//               share one gapless series (the checks above count both);
//   monitor     what the drill saw of the reports during the run (a head or final seq that went
//               back, a stopped series).
import { execFileSync } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cliPath } from '../support/cli.mjs';
import { EDGE_TOKEN, originPath } from '../support/origin.mjs';

const ZERO_HASH = '0'.repeat(64);

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

const groupBy = (list, keyOf) => {
  const map = new Map();
  for (const item of list) {
    const key = keyOf(item);
    map.set(key, (map.get(key) ?? []).concat([item]));
  }
  return map;
};

/**
 * `orders`: Map key `merchant:order_id` -> {merchant, series, order_id, attempts: [{status, id,
 * seq, number, prev_hash, ...}]}. `ledgerDb`, `trustFile`: the origin's files. `edge`: {url,
 * kv(name)}. `seriesReports`: `merchant/series` -> the series' entry of GET /v1/admin/series.
 * `workDir` for temp files.
 */
export async function check({ orders, ledgerDb, trustFile, edge, originUrl, seriesReports = {}, monitorAnomalies = [], workDir, log = console.log }) {
  const violations = [];
  const fail = (kind, detail) => violations.push({ kind, detail });

  // What the clients were told: one invoice per order, from every 201.
  const answered = new Map(); // order key -> {id, merchant, series, seq, number, prev_hash}
  let unanswered = 0;
  for (const [key, order] of orders) {
    const ok = order.attempts.filter((a) => a.status === 201);
    const ids = new Set(ok.map((a) => a.id));
    if (ids.size > 1) fail('duplicated', `${key}: clients got ${ids.size} invoice ids: ${[...ids].join(', ')}`);
    if (ids.size === 0) {
      unanswered += 1;
      const last = order.attempts.at(-1);
      fail('unanswered', `${key}: no 201 after ${order.attempts.length} attempts (last ${last?.status ?? last?.error} ${last?.code ?? ''})`);
    } else {
      const first = ok[0];
      answered.set(key, first);
      for (const a of ok) {
        const same = ['id', 'merchant', 'series', 'order_id', 'seq', 'number', 'prev_hash'].filter((f) => a[f] !== first[f]);
        if (same.length) fail('answers', `${key}: two 201s differ in ${same.join(', ')}: ${same.map((f) => `${first[f]} vs ${a[f]}`).join('; ')}`);
      }
      if (first.merchant !== order.merchant || first.order_id !== order.order_id || first.series !== order.series) {
        fail('answers', `${key}: the 201 is for ${first.merchant}:${first.order_id} in series ${first.series}, asked ${order.merchant}:${order.order_id} in ${order.series}`);
      }
      if (!Number.isInteger(first.seq) || first.seq < 1 || typeof first.number !== 'string' || !/^[0-9a-f]{64}$/.test(first.prev_hash ?? '')) {
        fail('answers', `${key}: the 201 has no valid seq/number/prev_hash (${first.seq}, ${first.number}, ${first.prev_hash})`);
      } else if (!new RegExp(`^${first.series}-\\d{4}-${String(first.seq).padStart(8, '0')}$`).test(first.number)) {
        // The merchants' format, {series}-{year}-{seq:08}: the number is the seq's.
        fail('answers', `${key}: number ${first.number} is not seq ${first.seq} of series ${first.series}`);
      }
      // One issuance per order: every other 201 is a replay, and says so.
      const fresh = ok.filter((a) => !a.replayed);
      if (fresh.length > 1) fail('answers', `${key}: ${fresh.length} 201s without Idempotent-Replayed`);
      for (const a of ok) if (!/^level=(ok|warn|critical|blocked), limit=[a-z_]+, used=[0-9.]+$/.test(a.exposure ?? '')) fail('answers', `${key}: a 201 with Offline-Exposure ${JSON.stringify(a.exposure)}`);
    }
    for (const a of order.attempts) {
      if (!a.status || a.status === 201 || a.status >= 500 || a.status === 429) continue;
      fail(a.code === 'ORDER_ALREADY_INVOICED' ? 'order_already_invoiced' : 'wrong_answer', `${key}: ${a.status} ${a.code} (attempt at ${a.t} ms${a.dup ? ', second client' : ''})`);
    }
  }

  // Credit notes: of the invoice asked for, in its series, and within it together.
  const answeredById = new Map([...answered.values()].map((a) => [a.id, a]));
  const creditedUnits = new Map(); // invoice id -> units credited
  const units = (money) => Number(String(money ?? '0').replace('.', ''));
  for (const [key, order] of orders) {
    const a = answered.get(key);
    if (!order.credits || !a) continue;
    const invoice = answeredById.get(order.credits);
    if (a.kind !== 'credit_note' || a.credits !== order.credits) fail('credits', `${key}: answered ${a.kind} crediting ${a.credits}, asked a credit note of ${order.credits}`);
    if (invoice && invoice.series !== a.series) fail('credits', `${key}: credit note in series ${a.series}, its invoice in ${invoice.series}`);
    creditedUnits.set(order.credits, (creditedUnits.get(order.credits) ?? 0) + units(a.gross));
  }
  for (const [id, credited] of creditedUnits) {
    const invoice = answeredById.get(id);
    if (invoice && credited > units(invoice.gross)) fail('credits', `invoice ${id}: credit notes credit ${credited} of its ${units(invoice.gross)} minor units`);
  }

  // The edge's answers, per series: seq 1..n, each once, distinct numbers.
  const answersBySeries = groupBy([...answered.entries()].map(([key, a]) => ({ key, ...a })), (a) => `${a.merchant}/${a.series}`);
  for (const [name, list] of answersBySeries) {
    const bySeq = groupBy(list, (a) => a.seq);
    for (const [seq, at] of bySeq) if (at.length > 1) fail('gaps', `answers, series ${name}: seq ${seq} given to ${at.length} orders (${at.map((a) => a.key).join(', ')})`);
    const max = Math.max(...list.map((a) => a.seq));
    const missing = [];
    for (let s = 1; s <= max; s += 1) if (!bySeq.has(s)) missing.push(s);
    if (missing.length) fail('gaps', `answers, series ${name}: ${missing.length} seqs of 1..${max} missing (${missing.slice(0, 10).join(', ')})`);
    const numbers = new Set(list.map((a) => a.number));
    if (numbers.size !== list.length) fail('gaps', `answers, series ${name}: ${list.length - numbers.size} repeated numbers`);
    // issued_at = max(the object's clock, the head's issued_at): never decreasing along seq.
    const bySeqOrder = [...list].sort((a, b) => a.seq - b.seq);
    let regressions = 0;
    for (let i = 1; i < bySeqOrder.length; i += 1) {
      if (Date.parse(bySeqOrder[i].issued_at) < Date.parse(bySeqOrder[i - 1].issued_at)) {
        regressions += 1;
        if (regressions <= 3) fail('order', `answers, series ${name}: seq ${bySeqOrder[i].seq} issued at ${bySeqOrder[i].issued_at}, before seq ${bySeqOrder[i - 1].seq} (${bySeqOrder[i - 1].issued_at})`);
      }
    }
  }

  // The ledger.
  const db = new DatabaseSync(ledgerDb, { readOnly: true });
  const entries = db.prepare('SELECT ledger_seq, invoice_id, merchant, series, seq, order_id, number, invoice_hash, series_prev_hash, void, document FROM entries ORDER BY ledger_seq').all();
  db.close();
  const byId = groupBy(entries, (e) => e.invoice_id);
  const byOrder = groupBy(entries, (e) => `${e.merchant}:${e.order_id}`);
  const bySeries = groupBy(entries, (e) => `${e.merchant}/${e.series}`);
  const hashAt = new Map(); // `merchant/series#seq` -> invoice_hash
  for (const e of entries) hashAt.set(`${e.merchant}/${e.series}#${e.seq}`, e.invoice_hash);

  let lost = 0;
  let duplicated = 0;
  for (const [key, a] of answered) {
    const found = byId.get(a.id) ?? [];
    if (found.length !== 1) {
      lost += found.length === 0 ? 1 : 0;
      duplicated += found.length > 1 ? 1 : 0;
      fail(found.length === 0 ? 'lost' : 'duplicated', `${key}: invoice ${a.id} is in the ledger ${found.length} times`);
      continue;
    }
    const e = found[0];
    if (`${e.merchant}:${e.order_id}` !== key || e.series !== a.series) fail('duplicated', `${key}: invoice ${a.id} is in the ledger under ${e.merchant}:${e.order_id} in ${e.series}`);
    if (e.seq !== a.seq || e.number !== a.number) fail('lost', `${key}: invoice ${a.id} was answered as seq ${a.seq} ${a.number}, the ledger holds seq ${e.seq} ${e.number}`);
    if (e.series_prev_hash !== a.prev_hash) fail('chain', `${key}: the 201's prev_hash ${a.prev_hash} is not the ledger's ${e.series_prev_hash}`);
    if (e.void) fail('lost', `${key}: invoice ${a.id} was archived as void`);
  }
  for (const [key, list] of byOrder) {
    if (!orders.has(key)) fail('phantom', `ledger: ${key} was never asked for (${list.map((e) => e.invoice_id).join(', ')})`);
    if (list.length > 1) {
      duplicated += 1;
      fail('duplicated', `ledger: ${key} has ${list.length} invoices`);
    }
    const given = answered.get(key);
    if (given && list.some((e) => e.invoice_id !== given.id)) {
      duplicated += 1;
      fail('duplicated', `ledger: ${key} holds ${list.map((e) => e.invoice_id).join(', ')}, clients were given ${given.id}`);
    }
  }

  // Each series in the ledger: gapless from 1, unique, every link valid; the answers' series
  // and the ledger's are the same set.
  const seriesSummary = {};
  for (const [name, list] of bySeries) {
    const sorted = [...list].sort((a, b) => a.seq - b.seq);
    seriesSummary[name] = list.length;
    const numbers = new Set(list.map((e) => e.number));
    if (numbers.size !== list.length) fail('gaps', `ledger, series ${name}: ${list.length - numbers.size} repeated numbers`);
    let broken = 0;
    sorted.forEach((e, i) => {
      if (e.seq !== i + 1) fail('gaps', `ledger, series ${name}: position ${i + 1} holds seq ${e.seq}`);
      const expected = e.seq === 1 ? ZERO_HASH : hashAt.get(`${name}#${e.seq - 1}`);
      if (e.series_prev_hash !== expected) {
        broken += 1;
        if (broken <= 5) fail('chain', `ledger, series ${name}: seq ${e.seq}'s series_prev_hash ${e.series_prev_hash} is not seq ${e.seq - 1}'s hash ${expected}`);
      }
    });
    if (broken > 5) fail('chain', `ledger, series ${name}: ${broken - 5} more broken links`);
    const asked = answersBySeries.get(name)?.length ?? 0;
    if (asked !== list.length) fail('lost', `series ${name}: ${asked} orders answered, ${list.length} ledger entries`);
  }
  for (const name of answersBySeries.keys()) if (!bySeries.has(name)) fail('lost', `series ${name}: answered, but not in the ledger at all`);

  // The origin's own audit of the file: every series chain from 1, signatures, the global chain,
  // the countersignatures.
  let audit;
  try {
    audit = execFileSync(originPath, ['verify', '--db', ledgerDb, '--trust', trustFile], { encoding: 'utf8' }).trim();
  } catch (error) {
    audit = `${error.stdout ?? ''}${error.stderr ?? ''}`.trim();
    fail('audit', `invoice-origin verify failed: ${audit}`);
  }

  // The CLI's chain check of each series' archived documents, with the edge's JWKS (edge and
  // origin keys): an independent reading of the same links.
  const jwksFile = path.join(workDir, 'edge-jwks.json');
  writeFileSync(jwksFile, await (await fetch(`${edge.url}/.well-known/jwks.json`)).text());
  const chains = {};
  for (const [name, list] of bySeries) {
    const file = path.join(workDir, `chain-${name.replace('/', '_')}.jsonl`);
    writeFileSync(file, `${[...list].sort((a, b) => a.seq - b.seq).map((e) => e.document).join('\n')}\n`);
    try {
      const out = JSON.parse(execFileSync(cliPath, ['verify', '--jwks', jwksFile, '--chain', file], { encoding: 'utf8' }));
      chains[name] = `${out.first_seq}..${out.last_seq}`;
      if (!out.valid || out.first_seq !== 1 || out.last_seq !== list.length) fail('chain', `invoice-edge verify --chain, series ${name}: ${JSON.stringify(out)}`);
    } catch (error) {
      chains[name] = 'invalid';
      fail('chain', `invoice-edge verify --chain, series ${name}: ${(error.stdout ?? error.message).trim()}`);
    }
  }

  // The edge: every invoice it stored, its current document, and its signatures.
  const kv = await edge.kv('INVOICES');
  const invKeys = await listKeys(kv, 'inv:');
  const finalKeys = await listKeys(kv, 'final:');
  const rejectedKeys = await listKeys(kv, 'rejected:');
  const answeredIds = new Map([...answered].map(([key, a]) => [a.id, key]));
  const stored = new Set(invKeys.map((k) => k.name.slice('inv:'.length)));
  for (const k of rejectedKeys) fail('final', `edge: ${k.name} exists (nothing should have been refused)`);
  const edgeByOrder = new Map();
  const statuses = {};
  let verified = 0;
  const ids = [...new Set([...stored, ...answeredIds.keys()])];
  await pool(ids, 16, async (id) => {
    const key = answeredIds.get(id);
    const response = await fetch(`${edge.url}/v1/invoices/${id}`);
    const document = await response.json();
    if (response.status !== 200) return fail(key ? 'lost' : 'edge', `edge: GET ${id}${key ? ` (${key})` : ''}: ${response.status} ${document.code}`);
    const docKey = `${document.invoice.merchant}:${document.invoice.order_id}`;
    edgeByOrder.set(docKey, (edgeByOrder.get(docKey) ?? []).concat([id]));
    if (!orders.has(docKey)) fail('phantom', `edge: invoice ${id} for ${docKey}, which no client asked for`);
    else if (!key) fail('duplicated', `edge: invoice ${id} for ${docKey} is not the one its clients were given (${answered.get(docKey)?.id})`);
    if (!stored.has(id)) fail('edge', `edge: inv:${id} (${docKey}) is not in KV`);
    statuses[document.status] = (statuses[document.status] ?? 0) + 1;
    const a = key ? answered.get(key) : null;
    if (document.status !== 'final') fail('final', `edge: invoice ${id} (${docKey}) is ${document.status}${document.rejection ? `: ${document.rejection.code} ${document.rejection.detail}` : ''}`);
    else if (a) {
      const entry = byId.get(id)?.[0];
      if (document.final.number !== a.number || document.final.seq !== a.seq || document.final.series !== a.series) {
        fail('final', `edge: invoice ${id} (${key}) is final as ${document.final.series} #${document.final.seq} ${document.final.number}, its 201 said ${a.series} #${a.seq} ${a.number}`);
      }
      if (!entry || entry.number !== document.final.number) fail('final', `edge: invoice ${id} is final as ${document.final.number}, the ledger says ${entry?.number}`);
      if (document.invoice.number !== a.number || document.invoice.seq !== a.seq || document.invoice.prev_hash !== a.prev_hash) fail('final', `edge: invoice ${id}'s stored document differs from its 201`);
    }
    const verdict = await (await fetch(`${edge.url}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(document) })).json();
    if (verdict.code !== 'VALID') fail('signatures', `edge: invoice ${id}: ${verdict.code} ${verdict.detail ?? ''}`);
    else verified += 1;
  });
  for (const [key, list] of edgeByOrder) if (list.length > 1) fail('duplicated', `edge: ${key} has ${list.length} stored invoices`);

  // A sample of the origin's stored documents through the CLI, with the edge's JWKS.
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

  // Each series' own report, as the operator sees it after recovery.
  const seriesState = {};
  const reported = new Set(Object.keys(seriesReports));
  for (const name of new Set([...bySeries.keys(), ...answersBySeries.keys()])) {
    const r = seriesReports[name];
    const count = bySeries.get(name)?.length ?? 0;
    if (!r) {
      fail('series', `series ${name}: not in GET /v1/admin/series`);
      continue;
    }
    seriesState[name] = { head_seq: r.head_seq, final_seq: r.final_seq, outstanding: r.outstanding_count, level: r.level };
    if (r.head_seq !== count || r.final_seq !== count) fail('series', `series ${name}: head_seq ${r.head_seq}, final_seq ${r.final_seq}, the ledger holds ${count}`);
    if (r.outstanding_count !== 0 || Object.keys(r.outstanding_gross ?? {}).length) fail('series', `series ${name}: outstanding ${r.outstanding_count} ${JSON.stringify(r.outstanding_gross)}`);
    if (r.stopped) fail('series', `series ${name}: stopped ${JSON.stringify(r.stopped)}`);
    if (r.origin_regressed) fail('series', `series ${name}: origin_regressed ${JSON.stringify(r.origin_regressed)}`);
    if (r.level !== 'ok') fail('series', `series ${name}: level ${r.level}`);
    if (r.last_delivery_error) fail('series', `series ${name}: last_delivery_error ${r.last_delivery_error} after a complete drain`);
  }
  for (const name of reported) if (!bySeries.has(name) && seriesReports[name].head_seq > 0) fail('phantom', `series ${name}: head_seq ${seriesReports[name].head_seq}, nothing in the ledger`);
  for (const anomaly of monitorAnomalies.slice(0, 20)) fail('monitor', anomaly);

  const summary = {
    orders: orders.size,
    answered: answered.size,
    unanswered,
    ledger_entries: entries.length,
    series: seriesSummary,
    chains_cli: chains,
    series_reports: seriesState,
    edge_invoices: invKeys.length,
    edge_final_records: finalKeys.length,
    edge_statuses: statuses,
    verified_on_edge: verified,
    verified_with_cli: `${cliVerified}/${sample.length}`,
    lost,
    duplicated,
    rejected: rejectedKeys.length,
    audit: audit.split('\n').slice(0, 3).join(' | '),
    violations: violations.length,
  };
  for (const v of violations.slice(0, 40)) log(`VIOLATION ${v.kind}: ${v.detail}`);
  if (violations.length > 40) log(`... and ${violations.length - 40} more violations`);
  return { ok: violations.length === 0, summary, violations };
}
