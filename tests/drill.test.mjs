// The short outage drill (issue 11, docs/RESILIENCE.md), part of `make test`: N = 500 invoices
// at concurrency 16 through API keys and checkout tokens, two origin SIGKILLs, one worker
// restart on persisted state, a refused-connections window and every proxy fault kind, then the
// checker. It must end with 0 lost and 0 duplicated. DRILL_SEED=… replays a schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDrill } from './chaos/drill.mjs';
import { FAULT_KINDS } from './chaos/fault-proxy.mjs';

test('short outage drill: nothing lost, nothing duplicated', { timeout: 300_000 }, async () => {
  const seed = process.env.DRILL_SEED ? Number(process.env.DRILL_SEED) : undefined;
  const { report, violations } = await runDrill({ profile: 'short', seed });
  const context = `seed ${report.seed}; first violations: ${JSON.stringify(violations.slice(0, 10), null, 1)}`;
  assert.equal(report.check.lost, 0, `lost invoices (${context})`);
  assert.equal(report.check.duplicated, 0, `duplicated invoices (${context})`);
  assert.deepEqual(violations, [], `checker violations (${context})`);
  assert.ok(report.drained, `not drained after recovery (${context})`);
  assert.equal(report.check.answered, report.n, `every order answered 201 (${context})`);
  assert.ok(report.faults.origin_sigkill >= 2, 'two origin kills');
  assert.ok(report.faults.worker_restart >= 1, 'one worker restart');
  assert.ok(report.faults.refused.windows >= 1, 'a refused-connections window');
  for (const kind of FAULT_KINDS.filter((k) => k !== 'refused')) {
    assert.ok(report.faults[kind].put > 0, `fault ${kind} on PUT injected (seed ${report.seed})`);
    assert.ok(report.faults[kind].batch > 0, `fault ${kind} on batch injected (seed ${report.seed})`);
  }
});
