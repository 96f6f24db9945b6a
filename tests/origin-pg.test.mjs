// The origin ledger on PostgreSQL (issue 17): every ledger test of crates/origin/tests/ledger
// (protocol, batches, auth, void, verify, reliability with its 50 concurrent submissions and
// SIGKILL mid-load, migrations, and two origins on one database through a kill) runs again,
// each on a fresh database of a real server this file starts. No server is a failure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres } from './support/pg.mjs';
import { runLedgerSuite } from './support/ledger-suite.mjs';

let pg;
before(async () => {
  pg = await startPostgres({ name: 'ledger-pg' });
});
after(() => pg?.destroy());

test('the ledger suite passes on PostgreSQL', () => {
  const output = runLedgerSuite({ ORIGIN_TEST_PG: pg.url() });
  const summary = output.match(/test result: ok\. (\d+) passed/);
  assert.ok(summary, output.slice(-4000));
  // Every test ran (none filtered), the multi-active one included.
  assert.ok(Number(summary[1]) >= 24, output.slice(-4000));
  assert.match(output, /two_origins_on_one_database_archive_four_series_through_a_kill \.\.\. ok/);
  // The suite really used the server: its databases are there.
  const databases = Number(pg.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'ledger_%'"));
  assert.ok(databases >= 20, `only ${databases} ledger databases on the server`);
});
