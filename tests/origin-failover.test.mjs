// The failover drill's short form (issue 17; `make drill-failover` runs the long one): a
// PostgreSQL primary with a synchronous streaming standby, two origins naming both hosts with
// target_session_attrs=read-write; crates/origin/tests/ledger/failover.rs kills an origin,
// stops the primary, promotes the standby, clears synchronous_standby_names, and checks RTOs,
// that nothing acknowledged is lost, and verify.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PgCluster } from './support/pg.mjs';
import { runLedgerSuite } from './support/ledger-suite.mjs';

let primary;
let standby;
before(async () => {
  // fsync and synchronous_commit stay on: the drill is about what an acknowledgement means.
  primary = await PgCluster.init({ name: 'primary', fast: false, settings: ["synchronous_standby_names = 'standby'", 'synchronous_commit = on'] });
  primary.start();
  standby = await primary.standby({ name: 'standby' });
  // The standby streams synchronously before the drill starts.
  const deadline = Date.now() + 30_000;
  while (primary.sql("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") !== '1') {
    assert.ok(Date.now() < deadline, 'the standby never became synchronous');
    await new Promise((r) => setTimeout(r, 100));
  }
});
after(() => {
  primary?.destroy();
  standby?.destroy();
});

test('failover drill: an origin killed, the primary lost, the standby promoted; nothing acknowledged lost', () => {
  const report = path.join(tmpdir(), `failover-drill-${process.pid}.txt`);
  const output = runLedgerSuite(
    {
      ORIGIN_TEST_FAILOVER: JSON.stringify({
        primary: primary.url(),
        standby: standby.url(),
        primary_pid_file: path.join(primary.data, 'postmaster.pid'),
      }),
      DRILL_REPORT: report,
    },
    { filter: ['failover::failover_drill', '--exact'], timeoutMs: 60 * 60_000 },
  );
  assert.match(output, /failover_drill \.\.\. ok/);
  const text = readFileSync(report, 'utf8');
  rmSync(report, { force: true });
  console.log(text);
  assert.match(text, /origin process killed at .* archiving again after [\d.]+ s \(RTO\)/);
  assert.match(text, /primary stopped at .* archiving again after [\d.]+ s \(RTO\)/);
  assert.match(text, /verify: ledger OK/);
});
