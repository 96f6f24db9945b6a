// Runs the origin ledger's Rust test suite (crates/origin/tests/ledger) with the environment
// given, e.g. ORIGIN_TEST_PG to run every ledger test on PostgreSQL. `make unit` has built it.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './edge.mjs';

/** `cargo test -p invoice-edge-origin --test ledger [filter]`; returns its output, throws on failure. */
export function runLedgerSuite(env, { filter = [], timeoutMs = 20 * 60_000 } = {}) {
  const cli = path.join(process.env.INVOICE_EDGE_BIN_DIR ?? path.join(repoRoot, 'target/debug'), 'invoice-edge');
  const result = spawnSync('cargo', ['test', '-p', 'invoice-edge-origin', '--test', 'ledger', '--', ...filter, '--nocapture'], {
    cwd: repoRoot,
    env: { ...process.env, INVOICE_EDGE_CLI: cli, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${result.stdout}\n${result.stderr}`;
  if (result.status !== 0) {
    throw new Error(`the ledger suite failed (exit ${result.status ?? result.signal}):\n${output.slice(-20_000)}`);
  }
  return output;
}
