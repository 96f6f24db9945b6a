// Times the core's issue path compiled to wasm32 under V8 (Node 24), as workerd runs it, in one
// run: the release profile (opt-level 3) against the deploy profile the worker ships with, each
// beside a bare Ed25519 signature of the same bytes, and the JS peer's own micro benchmark
// (../shared/peers/js-edge/micro.mjs) before and after, over the peer's 10-line body.
// Run with `make bench-wasm` (scripts/bench-wasm.sh builds what this loads); figures go to
// docs/PERFORMANCE.md. Medians of repeated samples, rounds interleaved so that the machine's
// noise hits every side alike.
import { readFileSync, statSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'target/bench-wasm');
const require = createRequire(import.meta.url);
const profiles = ['release', 'deploy'];
const modules = Object.fromEntries(profiles.map((p) => [p, require(path.join(out, p, 'invoice_edge_bench_wasm.js'))]));

const ours = readFileSync(path.join(root, 'benches/fixtures/ten_lines.json'));
const merchant = readFileSync(path.join(root, 'benches/fixtures/merchant.json'), 'utf8');
const peerDir = path.join(out, 'peers/js-edge');
// The peer's body with each line's `unit` as our UN/ECE Rec. 20 `unit_code`, exactly as
// scripts/bench-edge.sh sends it to our worker (the same content, our field names).
const peerFile = path.join(out, 'peers/bench-invoice-10.json');
const peerBody = existsSync(peerFile) ? Buffer.from(JSON.stringify(withUnitCodes(JSON.parse(readFileSync(peerFile, 'utf8'))))) : null;

function withUnitCodes(request) {
  const unitCode = { EA: 'H87' };
  request.lines = request.lines.map(({ unit, ...line }) => ({ ...line, unit_code: unitCode[unit] ?? unit }));
  return request;
}

const ITERATIONS = 300; // per sample
const SAMPLES = 21;
const ROUNDS = 3;

function microsPerCall(fn) {
  fn(ITERATIONS); // warm-up: compile tiers and fill caches
  const samples = [];
  for (let i = 0; i < SAMPLES; i++) {
    const start = process.hrtime.bigint();
    fn(ITERATIONS);
    samples.push(Number(process.hrtime.bigint() - start) / 1000 / ITERATIONS);
  }
  return median(samples);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The peer's micro.mjs in a child Node: parse+validate+tax+JCS, and signing its invoice. */
function peerMicro() {
  const text = execFileSync(process.execPath, ['micro.mjs'], { cwd: peerDir, encoding: 'utf8' });
  const number = (re) => Number(text.match(re)?.[1]);
  const computed = { compute: number(/JCS \(10 lines\): ([\d.]+) us/), sign: number(/sign invoice \(\d+ B\): ([\d.]+) us/) };
  if (!(computed.compute > 0 && computed.sign > 0)) throw new Error(`unexpected micro.mjs output: ${text}`);
  return computed;
}

const bodies = { ten_lines: ours, ...(peerBody ? { peer_body: peerBody } : {}) };
const times = {};
const record = (name, value) => (times[name] ??= []).push(value);
const peerRuns = [];
if (peerBody) peerRuns.push(peerMicro());
for (let round = 0; round < ROUNDS; round++) {
  for (const profile of profiles) {
    const wasm = modules[profile];
    for (const [bodyName, body] of Object.entries(bodies)) {
      record(`${profile} path ${bodyName}`, microsPerCall((n) => wasm.issuePath(body, merchant, n)));
    }
    record(`${profile} sign`, microsPerCall((n) => wasm.bareSign(ours, merchant, n)));
  }
}
if (peerBody) peerRuns.push(peerMicro());

const m = (name) => median(times[name]);
console.log(`node ${process.version}; medians of ${ROUNDS} rounds x ${SAMPLES} samples x ${ITERATIONS} calls, profiles interleaved`);
console.log(`check: gross of ten_lines.json = ${modules.release.issuePath(ours, merchant, 1)} (release), ${modules.deploy.issuePath(ours, merchant, 1)} (deploy)`);
for (const name of Object.keys(times)) console.log(`${name.padEnd(28)} ${m(name).toFixed(1).padStart(7)} µs   (rounds: ${times[name].map((t) => t.toFixed(1)).join(', ')})`);
for (const profile of profiles) {
  console.log(`${profile}: issue path / bare sign = ${(m(`${profile} path ten_lines`) / m(`${profile} sign`)).toFixed(2)}x`);
}
console.log(`deploy / release, issue path (ten_lines): ${(m('deploy path ten_lines') / m('release path ten_lines')).toFixed(3)}x (target <= 1.10)`);
console.log(`deploy / release, bare sign: ${(m('deploy sign') / m('release sign')).toFixed(3)}x`);
if (peerBody) {
  const peerTotal = median(peerRuns.map((r) => r.compute + r.sign));
  console.log(`JS peer micro.mjs (compute + sign), runs: ${peerRuns.map((r) => `${r.compute.toFixed(1)} + ${r.sign.toFixed(1)}`).join('; ')} µs`);
  for (const profile of profiles) {
    console.log(`${profile}: ours on the peer's body / peer compute+sign = ${(m(`${profile} path peer_body`) / peerTotal).toFixed(2)}x (target <= 0.6)`);
  }
}
for (const profile of profiles) {
  const file = path.join(out, profile, 'invoice_edge_bench_wasm_bg.wasm');
  console.log(`${profile} wasm: ${(statSync(file).size / 1024).toFixed(1)} KiB raw, ${(gzipSync(readFileSync(file), { level: 9 }).length / 1024).toFixed(1)} KiB gzip`);
}
