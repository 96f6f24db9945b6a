// `make bench-origin-pg`: benches/origin_load.rs on PostgreSQL, on a single server and on a
// primary with a synchronous streaming standby, both on this machine, with fsync and
// synchronous_commit on (what an acknowledgement means in production). Extra arguments go to
// the bench (e.g. --invoices 20000). Run: node tests/support/pg-bench.mjs [bench args...]
import { spawnSync } from 'node:child_process';
import { PgCluster } from './pg.mjs';
import { repoRoot } from './edge.mjs';

const args = process.argv.slice(2);

function bench(label, url) {
  console.log(`\n== origin_load on ${label} ==`);
  const result = spawnSync('cargo', ['bench', '-p', 'invoice-edge-origin', '--bench', 'origin_load', '--', '--db', url, ...args], {
    cwd: repoRoot,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error(`the bench failed on ${label}`);
}

const clusters = [];
try {
  const single = await PgCluster.init({ name: 'bench-single', fast: false });
  clusters.push(single);
  single.start();
  bench('PostgreSQL, one server', single.createDatabase('bench'));
  single.stop();

  const primary = await PgCluster.init({ name: 'bench-primary', fast: false, settings: ["synchronous_standby_names = 'standby'"] });
  clusters.push(primary);
  primary.start();
  const standby = await primary.standby({ name: 'standby' });
  clusters.push(standby);
  const deadline = Date.now() + 30_000;
  while (primary.sql("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") !== '1') {
    if (Date.now() > deadline) throw new Error('the standby never became synchronous');
    await new Promise((r) => setTimeout(r, 100));
  }
  bench('PostgreSQL, primary + synchronous standby', primary.createDatabase('bench'));
} finally {
  for (const cluster of clusters) cluster.destroy();
}
