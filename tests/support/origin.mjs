// Runs the real `invoice-origin` binary on a temporary SQLite file, on a free 127.0.0.1 port.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './edge.mjs';
import { cli } from './cli.mjs';

export const originPath = path.join(process.env.INVOICE_EDGE_BIN_DIR ?? path.join(repoRoot, 'target/debug'), 'invoice-origin');

/**
 * The edge's bearer token at the origin in tests (`ORIGIN_TOKEN`); the origin is given only its
 * SHA-256 (`--edge-tokens`), as in production. startEdge passes it to the worker by default.
 */
export const EDGE_TOKEN = 'test-edge-token-not-secret';
export const sha256Hex = (text) => createHash('sha256').update(text).digest('hex');

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url, deadlineMs = 10_000) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    try {
      if ((await fetch(`${url}/v1/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`origin at ${url} did not become healthy`);
}

/**
 * An origin ledger process. `trustedKeys` are private or public JWK objects of the edge keys it
 * accepts; `trust()` rewrites that file and sends SIGHUP, as an operator would.
 */
/** `onStderr(text)`, when given, receives what the origin logs (it is still printed). */
/** `db`, when given, is the ledger instead of a new SQLite file: e.g. a `postgres://` URL that
 *  several origins share (tests/origin-multi-edge.test.mjs). */
export async function startOrigin({ trustedKeys, merchantFiles = [], onStderr, db }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'invoice-origin-'));
  const files = {
    db: db ?? path.join(dir, 'ledger.sqlite'),
    trust: path.join(dir, 'trust.jwks'),
    key: path.join(dir, 'origin.jwk'),
    merchants: path.join(dir, 'merchants.json'),
    edgeTokens: path.join(dir, 'edge-tokens'),
  };
  writeFileSync(files.edgeTokens, `${sha256Hex(EDGE_TOKEN)}\n`);
  const originKey = JSON.parse(cli(['keygen']));
  writeFileSync(files.key, JSON.stringify(originKey));
  writeFileSync(files.merchants, JSON.stringify(merchantFiles));
  const writeTrust = (keys) => {
    const keyFiles = keys.map((key, i) => {
      const file = path.join(dir, `trusted-${i}.jwk`);
      writeFileSync(file, JSON.stringify(key));
      return file;
    });
    const jwks = keyFiles.length ? cli(['jwks', ...keyFiles.flatMap((f) => ['--key', f])]) : '{"keys":[]}';
    writeFileSync(files.trust, jwks);
  };
  writeTrust(trustedKeys);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child;
  const origin = {
    url,
    token: EDGE_TOKEN,
    port,
    files,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: originKey.x, kid: originKey.kid },
    async start() {
      child = spawn(originPath, ['serve', '--db', files.db, '--trust', files.trust, '--key', files.key, '--edge-tokens', files.edgeTokens, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', onStderr ? 'pipe' : 'inherit'] });
      child.stderr?.on('data', (chunk) => {
        onStderr(chunk.toString());
        process.stderr.write(chunk);
      });
      await waitForHealth(url);
    },
    async kill(signal = 'SIGKILL') {
      // A process killed by a signal has a signalCode and no exitCode: it is gone too.
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
    },
    async trust(keys) {
      writeTrust(keys);
      child.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 200));
    },
  };
  await origin.start();
  return origin;
}
