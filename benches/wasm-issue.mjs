// Times the core's issue path compiled to wasm32 under V8 (Node 24), as workerd runs it:
// warm-up, then the median of repeated runs, beside a bare Ed25519 signature of the same bytes.
// Run with `make bench-wasm`; figures go to docs/PERFORMANCE.md.
import { readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = path.join(root, 'target/bench-wasm');
const require = createRequire(import.meta.url);
const wasm = require(path.join(pkg, 'invoice_edge_bench_wasm.js'));

const request = readFileSync(path.join(root, 'crates/core/benches/fixtures/ten_lines.json'));
const merchant = readFileSync(path.join(root, 'crates/core/benches/fixtures/merchant.json'), 'utf8');

const ITERATIONS = 500; // per sample
const SAMPLES = 30;

function microsPerCall(fn) {
  fn(ITERATIONS); // warm-up: compile tiers and fill caches
  fn(ITERATIONS);
  const samples = [];
  for (let i = 0; i < SAMPLES; i++) {
    const start = process.hrtime.bigint();
    fn(ITERATIONS);
    samples.push(Number(process.hrtime.bigint() - start) / 1000 / ITERATIONS);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

// Interleave the two so machine noise hits both alike.
const gross = wasm.issuePath(request, merchant, 1);
const path_us = microsPerCall((n) => wasm.issuePath(request, merchant, n));
const sign_us = microsPerCall((n) => wasm.bareSign(request, merchant, n));
const path_again = microsPerCall((n) => wasm.issuePath(request, merchant, n));
const median_path = (path_us + path_again) / 2;

const wasmFile = path.join(pkg, 'invoice_edge_bench_wasm_bg.wasm');
const raw = statSync(wasmFile).size;
const gz = gzipSync(readFileSync(wasmFile), { level: 9 }).length;
console.log(`node ${process.version}, 10-line invoice (gross ${gross})`);
console.log(`issue path (wasm): ${median_path.toFixed(1)} µs per invoice (median of ${SAMPLES} x ${ITERATIONS}, two rounds)`);
console.log(`bare Ed25519 sign (wasm): ${sign_us.toFixed(1)} µs`);
console.log(`ratio: ${(median_path / sign_us).toFixed(2)}x`);
console.log(`wasm: ${(raw / 1024).toFixed(1)} KiB raw, ${(gz / 1024).toFixed(1)} KiB gzip (${path.relative(root, wasmFile)})`);
