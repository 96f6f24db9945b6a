// `make dev` supervises what it starts (issue 21, point 5): scripts/dev.sh itself, in a scratch
// directory on free ports (tests/support/dev.mjs), so it never meets a running `make dev`.
//   - the documented `scripts/dev-origin.sh stop` and `start` leave it running;
//   - when the edge exits, everything stops, the edge is named with its exit status, and no
//     process or port is left;
//   - Ctrl-C (SIGINT to the process group) leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './support/edge.mjs';
import { startDev, listening, processesInGroups, processesNaming, waitFor } from './support/dev.mjs';

const pidOf = (dev, name) => Number(readFileSync(path.join(dev.dir, '.state', `${name}.pid`), 'utf8'));
const originCmd = (dev, verb) => execFileSync(path.join(repoRoot, 'scripts/dev-origin.sh'), [verb], { env: dev.env, encoding: 'utf8' });

/** Asserts that nothing of this `make dev` is left: no process in its groups, no port. */
async function assertNothingLeft(dev, groups) {
  await waitFor('every process of make dev to end', () => processesInGroups(groups).length === 0, 20_000).catch(() => {});
  assert.deepEqual(processesInGroups(groups), [], 'a process of make dev is left');
  assert.deepEqual(processesNaming(dev.dir), [], 'a process naming the scratch directory is left');
  assert.equal(await listening(dev.edgePort), false, 'the edge port is still held');
  assert.equal(await listening(dev.originPort), false, 'the origin port is still held');
}

test('the documented origin stop and start leave make dev running; the edge exiting ends everything, named', async () => {
  const dev = await startDev();
  const summary = dev.output();
  // The one-screen summary: URLs, the API key's location, the origin's commands, delivery now.
  for (const line of [
    `demo checkout    ${dev.edge}/`,
    `origin ledger    http://127.0.0.1:${dev.originPort}`,
    'DEMO_API_KEY in',
    'scripts/dev-origin.sh stop',
    'scripts/dev-origin.sh start',
    `curl -X POST ${dev.edge}/v1/admin/sync`,
  ]) assert.ok(summary.includes(line), `the summary lacks ${line}:\n${summary}`);
  const groups = [dev.child.pid, pidOf(dev, 'edge'), pidOf(dev, 'ticker'), pidOf(dev, 'origin')];
  try {
    assert.equal((await fetch(`${dev.edge}/v1/health`)).status, 200);
    assert.equal(await listening(dev.originPort), true);

    assert.match(originCmd(dev, 'stop'), /origin: stopped/);
    assert.equal(await listening(dev.originPort), false, 'the origin still listens after stop');
    await new Promise((r) => setTimeout(r, 1500)); // dev.sh polls every 0.5 s
    assert.equal(dev.child.exitCode, null, `make dev ended with the origin stop:\n${dev.output()}`);
    assert.equal((await fetch(`${dev.edge}/v1/health`)).status, 200, 'the edge stopped with the origin');

    assert.match(originCmd(dev, 'start'), /origin: up on/);
    groups.push(pidOf(dev, 'origin'));
    assert.equal((await fetch(`http://127.0.0.1:${dev.originPort}/v1/health`)).status, 200);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(dev.child.exitCode, null, `make dev ended with the origin start:\n${dev.output()}`);

    // The edge dies: dev.sh names it with its status and takes the origin and the ticker down.
    process.kill(pidOf(dev, 'edge'), 'SIGKILL');
    const { code } = await dev.exited;
    assert.equal(code, 1);
    assert.match(dev.output(), /dev: the edge \(.*dev-edge\.mjs.*\) exited with status 137; stopping everything/);
    await assertNothingLeft(dev, groups);
  } finally {
    for (const g of groups) try { process.kill(-g, 'SIGKILL'); } catch {}
  }
});

test('Ctrl-C (SIGINT to the process group) leaves nothing behind', async () => {
  const dev = await startDev();
  const groups = [dev.child.pid, pidOf(dev, 'edge'), pidOf(dev, 'ticker'), pidOf(dev, 'origin')];
  try {
    // What the terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    process.kill(-dev.child.pid, 'SIGINT');
    const { code } = await dev.exited;
    assert.equal(code, 130);
    assert.match(dev.output(), /dev: interrupted; stopping everything/);
    await assertNothingLeft(dev, groups);
  } finally {
    for (const g of groups) try { process.kill(-g, 'SIGKILL'); } catch {}
  }
});

test('an origin that dies by itself ends make dev, named with its status', async () => {
  const dev = await startDev();
  const originGroup = pidOf(dev, 'origin');
  const groups = [dev.child.pid, pidOf(dev, 'edge'), pidOf(dev, 'ticker'), originGroup];
  try {
    // The origin binary itself (the wrapper's child), not the documented stop.
    const origin = execFileSync('pgrep', ['-g', String(originGroup), '-x', 'invoice-origin'], { encoding: 'utf8' }).trim().split('\n')[0];
    process.kill(Number(origin), 'SIGKILL');
    const { code } = await dev.exited;
    assert.equal(code, 1);
    assert.match(dev.output(), /dev: the origin ledger \(invoice-origin\) exited with status 137; stopping everything/);
    await assertNothingLeft(dev, groups);
  } finally {
    for (const g of groups) try { process.kill(-g, 'SIGKILL'); } catch {}
  }
});
