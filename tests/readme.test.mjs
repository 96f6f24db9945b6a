// Every ```sh block of README.md runs as written (issue 21, point 4), in order, in one scratch
// directory, with the binaries this checkout built on PATH and `make dev` running: scripts/dev.sh
// itself on free ports with that directory as its DEV_DIR (tests/support/dev.mjs), so the
// blocks find .dev.vars and .state/ where a reader's checkout has them, and `scripts/` through a
// link. Blocks that need the running system name it `$EDGE`; the test sets EDGE (and LEDGER_PORT,
// the UBL walkthrough's own origin) to free ports. Only the Cloudflare deploy block may be tagged
// `no-test`, and no other tag is allowed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './support/edge.mjs';
import { freePort } from './support/origin.mjs';
import { startDev, waitFor } from './support/dev.mjs';

/** The fenced blocks of a Markdown text: {lang, tags, code, line, section}. */
function fencedBlocks(markdown) {
  const blocks = [];
  let section = '';
  let open = null;
  markdown.split('\n').forEach((text, i) => {
    if (open) {
      if (/^```\s*$/.test(text)) {
        blocks.push(open);
        open = null;
      } else open.code += `${text}\n`;
      return;
    }
    const heading = /^#{2,3} (.*)$/.exec(text);
    if (heading) section = heading[1].trim();
    const fence = /^```(\S*)(.*)$/.exec(text);
    if (fence) {
      open = { lang: fence[1], tags: fence[2].trim().split(/\s+/).filter(Boolean), code: '', line: i + 1, section };
    }
  });
  assert.equal(open, null, 'README.md ends inside a fenced block');
  return blocks;
}

const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const shBlocks = fencedBlocks(readme).filter((b) => b.lang === 'sh');

test('README sh blocks: only the Cloudflare deploy block is tagged no-test, and no other tag exists', () => {
  assert.ok(shBlocks.length >= 8, `only ${shBlocks.length} sh blocks found`);
  for (const block of shBlocks) {
    for (const tag of block.tags) {
      assert.equal(tag, 'no-test', `README.md:${block.line}: unknown tag "${tag}" on a sh block`);
      assert.equal(block.section, 'Deploy to Cloudflare', `README.md:${block.line}: only the deploy block may be no-test (this one is in "${block.section}")`);
    }
    // The running system is $EDGE (its default is in the block), never a fixed port, and nothing
    // ends processes by name (that ended make dev's supervisor, issue 21).
    const withoutDefault = block.code.replace(/\$\{EDGE:=http:\/\/127\.0\.0\.1:8787\}/g, '');
    assert.doesNotMatch(withoutDefault, /127\.0\.0\.1:878[78]|localhost:878[78]/, `README.md:${block.line}: use $EDGE, not a fixed port of make dev`);
    assert.doesNotMatch(block.code, /\b(pkill|killall)\b/, `README.md:${block.line}: pkill/killall`);
  }
  assert.equal(shBlocks.filter((b) => b.tags.includes('no-test')).length, 1);
});

let dev;
let ledgerPort;

before(async () => {
  dev = await startDev();
  symlinkSync(path.join(repoRoot, 'scripts'), path.join(dev.dir, 'scripts'));
  ledgerPort = await freePort();
});

after(async () => {
  if (!dev) return;
  if (dev.child.exitCode === null) {
    process.kill(dev.child.pid, 'SIGTERM');
    await dev.exited;
  }
});

function run(code, env) {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', code], { cwd: dev.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.once('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, out });
    });
  });
}

test('every README sh block not tagged no-test runs, in order, against make dev', async (t) => {
  const env = { ...dev.env, LEDGER_PORT: String(ledgerPort) };
  for (const block of shBlocks.filter((b) => !b.tags.includes('no-test'))) {
    await t.test(`README.md:${block.line} (${block.section})`, async () => {
      const { status, signal, out } = await run(block.code, env);
      assert.equal(status, 0, `README.md:${block.line} exited ${status ?? signal}:\n${block.code}\n--- output ---\n${out}`);
    });
  }
  assert.equal(dev.child.exitCode, null, `make dev ended during the README:\n${dev.output()}`);
  // The block that updates the demo merchant pushed it to the running edge: within the
  // isolate's 60 s merchant cache, the checkout profile allows the new origin.
  await waitFor('the pushed merchant to reach the edge', async () => {
    const res = await fetch(`${dev.edge}/v1/merchants/demo/checkout`, { headers: { origin: 'https://checkout.shop.example' } });
    return res.ok && (await res.json()).origin_allowed === true;
  }, 90_000);
});
