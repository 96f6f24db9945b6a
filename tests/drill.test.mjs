// The short outage drill (issues 11 and 16, docs/RESILIENCE.md), part of `make test`: N = 500
// invoices at concurrency 16 through API keys and checkout tokens, two merchants with two series
// each (one SeriesLedger object per series), two origin SIGKILLs, one worker restart on
// persisted state, a refused-connections window and every proxy fault kind on the delivery
// batches, then a drain (POST /v1/admin/sync, GET /v1/admin/series until nothing is
// outstanding) and the checker. It must end with every series gapless from 1, every link valid,
// every order one invoice, every 201 final with its number, 0 lost and 0 duplicated.
// DRILL_SEED=… replays a schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDrill } from './chaos/drill.mjs';
import { FAULT_KINDS } from './support/fault-proxy.mjs';

test('short outage drill: every series gapless and chained, nothing lost, nothing duplicated', { timeout: 240_000 }, async () => {
  const seed = process.env.DRILL_SEED ? Number(process.env.DRILL_SEED) : undefined;
  const { report, violations } = await runDrill({ profile: 'short', seed });
  const context = `seed ${report.seed}; first violations: ${JSON.stringify(violations.slice(0, 10), null, 1)}`;
  assert.equal(report.check.lost, 0, `lost invoices (${context})`);
  assert.equal(report.check.duplicated, 0, `duplicated invoices (${context})`);
  assert.deepEqual(violations, [], `checker violations (${context})`);
  assert.ok(report.drained, `series still outstanding after recovery (${context})`);
  assert.ok(report.kv_settled, `final: records missing after the drain (${context})`);
  // The orders, and the credit notes refunding every 10th API-key order (issue 19).
  assert.ok(report.credit_notes > 0, 'credit notes among the documents');
  assert.equal(report.check.answered, report.n + report.credit_notes, `every order and refund answered 201 (${context})`);
  assert.equal(report.check.ledger_entries, report.n + report.credit_notes, `every order and refund archived once (${context})`);
  assert.equal(Object.keys(report.check.series).length, 4, `four series archived (${context})`);
  assert.equal(report.answers['422 ORDER_ALREADY_INVOICED'] ?? 0, 0, 'no retry of the same body was refused as another request');
  // Issuance does not need the origin: orders were answered 201 while it was down.
  assert.ok(report.issuance_latency.outage.n > 0, `201s during the outage (${context})`);
  assert.ok(report.faults.origin_sigkill >= 2, 'two origin kills');
  assert.ok(report.faults.worker_restart >= 1, 'one worker restart');
  assert.ok(report.faults.refused.windows >= 1, 'a refused-connections window');
  // Version 2 delivers only by batches from the series' alarms: no single PUT, and every fault
  // kind hit a batch.
  assert.equal(report.proxy_traffic.put, 0, 'no PUT /v1/ledger/invoices/{id} from the edge');
  for (const kind of FAULT_KINDS.filter((k) => k !== 'refused')) {
    assert.ok(report.faults[kind].batch > 0, `fault ${kind} on batch injected (seed ${report.seed})`);
  }
});
