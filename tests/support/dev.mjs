// `make dev` (scripts/dev.sh) in a scratch directory on free ports, for tests/dev.test.mjs and
// tests/readme.test.mjs: DEV_DIR holds its .state/ and .dev.vars, and the edge is the tests'
// build in Miniflare (tests/support/dev-edge.mjs) instead of `wrangler dev`, which would rebuild
// the worker. Everything else (set-up, the origin, the ticker, the supervision) is dev.sh's own.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './edge.mjs';
import { freePort } from './origin.mjs';

/** True when something accepts connections on 127.0.0.1:port. */
export function listening(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Every process whose command line names `needle` (the scratch directory), as `pid args` lines. */
export function processesNaming(needle) {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes(needle) && !line.includes('ps -eo'))
    .map((line) => line.trim());
}

/** The processes (`pid pgid args` lines) left in any of these process groups. */
export function processesInGroups(pgids) {
  const wanted = new Set(pgids.map(String));
  const out = execFileSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && wanted.has(line.split(/\s+/)[1]));
}

export async function waitFor(what, check, ms = 60_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Starts scripts/dev.sh in a new process group (as a terminal's foreground job is) and waits
 * for its summary. Returns the ports, the scratch directory, the env its commands need, the
 * output so far (`output()`), and `exited` (a promise of {code, signal}).
 */
export async function startDev({ dir = mkdtempSync(path.join(tmpdir(), 'invoice-dev-')) } = {}) {
  const edgePort = await freePort();
  let originPort = await freePort();
  while (originPort === edgePort) originPort = await freePort();
  const env = {
    ...process.env,
    PATH: `${path.join(repoRoot, 'target/debug')}:${path.join(repoRoot, '.tools/bin')}:${process.env.PATH}`,
    DEV_DIR: dir,
    EDGE_PORT: String(edgePort),
    ORIGIN_PORT: String(originPort),
    EDGE: `http://127.0.0.1:${edgePort}`,
    // The tests' worker, with the DEV_DIR-qualified path so processesNaming(dir) finds it.
    DEV_EDGE_CMD: `exec node ${path.join(repoRoot, 'tests/support/dev-edge.mjs')} ${dir}`,
  };
  const child = spawn(path.join(repoRoot, 'scripts/dev.sh'), [], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk) => {
    output += chunk.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  exited.then(() => {
    done = true;
  });
  await waitFor('the summary of make dev', () => done || output.includes('dev: running'), 180_000).catch((e) => {
    throw new Error(`${e.message}\n${output}`);
  });
  if (done) throw new Error(`scripts/dev.sh ended before its summary:\n${output}`);
  return { child, dir, env, edgePort, originPort, edge: env.EDGE, output: () => output, exited };
}
