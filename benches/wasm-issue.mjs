// Times the core's issue path compiled to wasm32 under V8 (Node 24), as workerd runs it, in one
// run, paired sample by sample so that the machine's drifting speed (these 2-core boxes move by
// 2x within minutes) hits every side of a ratio alike:
//   - the release profile (opt-level 3) against the deploy profile the worker ships with;
//   - each beside a bare Ed25519 signature of the same bytes;
//   - the JS peer's issuance (../shared/peers/js-edge: the exact computation of its micro.mjs,
//     imported in this process and interleaved with ours), over the peer's own 10-line body.
// The peer's micro.mjs is also run as is, once before and once after, for reference.
// Run with `make bench-wasm` (scripts/bench-wasm.sh builds what this loads); figures go to
// docs/PERFORMANCE.md. Each figure is a median over samples; each ratio is the median of the
// per-sample ratios.
import { readFileSync, statSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'target/bench-wasm');
const require = createRequire(import.meta.url);
const profiles = ['release', 'deploy'];
const modules = Object.fromEntries(profiles.map((p) => [p, require(path.join(out, p, 'invoice_edge_bench_wasm.js'))]));

const ours = readFileSync(path.join(root, 'benches/fixtures/ten_lines.json'));
const merchant = readFileSync(path.join(root, 'benches/fixtures/merchant.json'), 'utf8');
const peerDir = path.join(out, 'peers/js-edge');
const peerFile = path.join(out, 'peers/bench-invoice-10.json');
const havePeer = existsSync(peerFile) && existsSync(path.join(peerDir, 'node_modules'));

// The peer's body with each line's `unit` as our UN/ECE Rec. 20 `unit_code`, exactly as
// scripts/bench-edge.sh sends it to our worker (the same content, our field names).
function withUnitCodes(request) {
  const unitCode = { EA: 'H87' };
  request.lines = request.lines.map(({ unit, ...line }) => ({ ...line, unit_code: unitCode[unit] ?? unit }));
  return request;
}
const peerText = havePeer ? readFileSync(peerFile, 'utf8') : null;
const peerBodyForUs = havePeer ? Buffer.from(JSON.stringify(withUnitCodes(JSON.parse(peerText)))) : null;

const CALLS = 100; // per timed batch
const SAMPLES = 41;

function microsPerCall(fn) {
  const start = process.hrtime.bigint();
  fn(CALLS);
  return Number(process.hrtime.bigint() - start) / 1000 / CALLS;
}

async function microsPerCallAsync(fn) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) await fn();
  return Number(process.hrtime.bigint() - start) / 1000 / CALLS;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// The peer, as micro.mjs computes it: JSON.parse, validateRequest, buildInvoice (decimal.js),
// canonicalize (its JCS), then WebCrypto Ed25519 over the canonical bytes.
let peer = null;
if (havePeer) {
  const { validateRequest, buildInvoice } = await import(pathToFileURL(path.join(peerDir, 'src/invoice.js')));
  const { canonicalize } = await import(pathToFileURL(path.join(peerDir, 'src/jcs.js')));
  const PKCS8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 7)]);
  const key = await crypto.subtle.importKey('pkcs8', PKCS8, { name: 'Ed25519' }, false, ['sign']);
  const encoder = new TextEncoder();
  const compute = () => {
    const checked = validateRequest(JSON.parse(peerText));
    const built = buildInvoice(checked.request, { id: crypto.randomUUID(), issuedAt: new Date().toISOString(), merchant: 'demo', seller: { name: 'x' }, edgeNode: 'local' });
    return canonicalize(built.invoice);
  };
  peer = {
    compute: (n) => {
      for (let i = 0; i < n; i++) compute();
    },
    computeAndSign: async () => crypto.subtle.sign('Ed25519', key, encoder.encode(compute())),
  };
}

/** micro.mjs itself in a child Node, for reference: `compute + sign` in µs. */
function peerMicro() {
  const text = execFileSync(process.execPath, ['micro.mjs'], { cwd: peerDir, encoding: 'utf8' });
  const number = (re) => Number(text.match(re)?.[1]);
  return `${number(/JCS \(10 lines\): ([\d.]+) us/)} + ${number(/sign invoice \(\d+ B\): ([\d.]+) us/)}`;
}

const sides = {};
for (const profile of profiles) {
  const wasm = modules[profile];
  sides[`${profile} path`] = () => microsPerCall((n) => wasm.issuePath(ours, merchant, n));
  sides[`${profile} sign`] = () => microsPerCall((n) => wasm.bareSign(ours, merchant, n));
  if (havePeer) sides[`${profile} path, peer body`] = () => microsPerCall((n) => wasm.issuePath(peerBodyForUs, merchant, n));
}
if (peer) {
  sides['peer compute'] = () => microsPerCall(peer.compute);
  sides['peer compute+sign'] = () => microsPerCallAsync(peer.computeAndSign);
}

const microBefore = havePeer ? peerMicro() : null;
const names = Object.keys(sides);
for (const name of names) await sides[name](); // warm-up: compile tiers, the signing table
const times = Object.fromEntries(names.map((name) => [name, []]));
for (let sample = 0; sample < SAMPLES; sample++) {
  // A rotating order, so no side always runs first or last in a sample.
  for (let k = 0; k < names.length; k++) {
    const name = names[(sample + k) % names.length];
    times[name].push(await sides[name]());
  }
}
const microAfter = havePeer ? peerMicro() : null;

const pairedRatio = (a, b) => median(times[a].map((t, i) => t / times[b][i]));
console.log(`node ${process.version}; ${SAMPLES} samples of ${CALLS} calls per side, sides interleaved in each sample`);
console.log(`check: gross of ten_lines.json = ${modules.release.issuePath(ours, merchant, 1)} (release), ${modules.deploy.issuePath(ours, merchant, 1)} (deploy)`);
for (const name of names) console.log(`${name.padEnd(26)} median ${median(times[name]).toFixed(1).padStart(7)} µs   (min ${Math.min(...times[name]).toFixed(1)})`);
for (const profile of profiles) console.log(`${profile}: issue path / bare sign = ${pairedRatio(`${profile} path`, `${profile} sign`).toFixed(2)}x`);
console.log(`deploy / release, issue path: ${pairedRatio('deploy path', 'release path').toFixed(3)}x (target <= 1.10)`);
console.log(`deploy / release, bare sign: ${pairedRatio('deploy sign', 'release sign').toFixed(3)}x`);
if (peer) {
  for (const profile of profiles) {
    console.log(`${profile}: ours on the peer's body / peer compute+sign = ${pairedRatio(`${profile} path, peer body`, 'peer compute+sign').toFixed(2)}x (target <= 0.6)`);
  }
  console.log(`JS peer's own micro.mjs, compute + sign (µs): before ${microBefore}, after ${microAfter}`);
}
for (const profile of profiles) {
  const file = path.join(out, profile, 'invoice_edge_bench_wasm_bg.wasm');
  console.log(`${profile} wasm: ${(statSync(file).size / 1024).toFixed(1)} KiB raw, ${(gzipSync(readFileSync(file), { level: 9 }).length / 1024).toFixed(1)} KiB gzip`);
}
