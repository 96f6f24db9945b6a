// Drain benchmark for design version 2 (docs/PERFORMANCE.md), run by scripts/bench-edge.sh.
//
// Each phase issues N invoices while the origin is down (nothing listens on its port), then
// starts the origin and times how long until every series of the merchant is final
// (GET /v1/admin/series: outstanding_count 0 and final_seq == head_seq for each series):
//   one-sync   N in one series, timed from POST /v1/admin/sync;
//   ten-sync   N spread over 10 series (the request names "series"), timed from the sync;
//   one-nosync N in one series, no sync: timed from the origin's return (its /v1/health
//              answering); the series' object finds it by its own back-off (at most 60 s).
// Each phase uses its own merchant, so a phase's series hold only that phase's invoices, and
// the origin is stopped again before the next phase issues.
//
// Usage: node benches/drain.mjs CONFIG.json
//   {edge, body, count, concurrency, max_wait_s, origin_health, origin_command: [...],
//    phases: [{name, api_key, series: [names] | null, sync: bool}]}
// Bounded: count requests per phase at `concurrency` to 127.0.0.1, every wait at most
// max_wait_s. Prints one DRAIN_RESULT line per phase; exits 1 if any phase is void or not final.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const template = readFileSync(config.body, 'utf8');
const maxWaitMs = (config.max_wait_s ?? 300) * 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms) => (ms / 1000).toFixed(1);

// Other work on the machine (a test run or a Rust build) skews the timings: sampled every 5 s
// during each phase and reported with it.
const othersRunning = () =>
  spawnSync('pgrep', ['-f', 'node --test']).status === 0 || spawnSync('pgrep', ['-x', 'rustc']).status === 0;
let othersSeen = false;
setInterval(() => { if (othersRunning()) othersSeen = true; }, 5_000).unref();

let origin = null;
async function startOrigin() {
  origin = spawn(config.origin_command[0], config.origin_command.slice(1), { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(config.origin_health, { signal: AbortSignal.timeout(2_000) })).ok) return Date.now();
    } catch {}
    await sleep(50);
  }
  throw new Error('the origin did not answer /v1/health within 30 s');
}
async function stopOrigin() {
  if (!origin) return;
  const exited = new Promise((resolve) => origin.once('exit', resolve));
  origin.kill('SIGTERM');
  const killer = setTimeout(() => origin.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killer);
  origin = null;
}
process.on('exit', () => origin?.kill('SIGKILL'));

async function listSeries(apiKey) {
  const response = await fetch(`${config.edge}/v1/admin/series`, {
    headers: { authorization: `Bearer ${apiKey}` },
    signal: AbortSignal.timeout(30_000),
  });
  if (response.status !== 200) throw new Error(`GET /v1/admin/series: ${response.status} ${await response.text()}`);
  return (await response.json()).series;
}
const totals = (series) => ({
  head: series.reduce((sum, s) => sum + (s.head_seq ?? 0), 0),
  final: series.reduce((sum, s) => sum + (s.final_seq ?? 0), 0),
  outstanding: series.reduce((sum, s) => sum + (s.outstanding_count ?? 0), 0),
  unavailable: series.filter((s) => s.unavailable).length,
});
const allFinal = (series) =>
  series.every((s) => !s.unavailable && s.outstanding_count === 0 && s.final_seq === s.head_seq);

async function issue(phase) {
  let next = 0;
  let issued = 0;
  const errors = [];
  const stamp = Date.now().toString(36);
  async function worker() {
    while (next < config.count && errors.length < 20) {
      const n = next++;
      let body = template.replace('BENCH_ORDER_ID', `DRAIN-${phase.name}-${stamp}-${n}`);
      if (phase.series) body = body.replace(/^\{/, `{"series":${JSON.stringify(phase.series[n % phase.series.length])},`);
      try {
        const response = await fetch(`${config.edge}/v1/invoices`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${phase.api_key}` },
          body,
          signal: AbortSignal.timeout(30_000),
        });
        const text = await response.text();
        if (response.status === 201) issued++;
        else errors.push(`${response.status} ${text.slice(0, 300)}`);
      } catch (error) {
        errors.push(`socket: ${error.cause?.code ?? error.message}`);
      }
    }
  }
  const started = Date.now();
  await Promise.all(Array.from({ length: config.concurrency ?? 16 }, worker));
  return { issued, errors, ms: Date.now() - started };
}

async function waitFinal(apiKey, from) {
  let last = null;
  while (Date.now() - from < maxWaitMs) {
    try {
      const series = await listSeries(apiKey);
      last = series;
      if (allFinal(series)) return { ms: Date.now() - from, series };
    } catch (error) {
      console.log(`  poll: ${error.message}`);
    }
    await sleep(250);
  }
  return { ms: null, series: last };
}

let failed = false;
for (const phase of config.phases) {
  await stopOrigin();
  othersSeen = othersRunning();
  console.log(`== drain ${phase.name}: ${config.count} invoices in ${phase.series ? phase.series.length : 1} series, origin down`);
  const issuing = await issue(phase);
  const before = totals(await listSeries(phase.api_key));
  console.log(`  issued ${issuing.issued} in ${seconds(issuing.ms)} s (${(issuing.issued / (issuing.ms / 1000)).toFixed(0)}/s at ${config.concurrency ?? 16} connections); ` +
    `errors ${issuing.errors.length}; series: head ${before.head}, final ${before.final}, outstanding ${before.outstanding}`);
  for (const error of issuing.errors.slice(0, 5)) console.log(`  ERROR ${error}`);
  const back = await startOrigin();
  let from = back;
  let syncMs = null;
  if (phase.sync) {
    from = Date.now();
    const response = await fetch(`${config.edge}/v1/admin/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${phase.api_key}` },
      signal: AbortSignal.timeout(60_000),
    });
    await response.text();
    syncMs = Date.now() - from;
    if (response.status !== 200) console.log(`  ERROR POST /v1/admin/sync: ${response.status}`);
  }
  const done = await waitFinal(phase.api_key, from);
  const after = done.series ? totals(done.series) : null;
  const void_ = issuing.errors.length > 0 || issuing.issued !== config.count;
  if (void_ || done.ms === null) failed = true;
  const timed = phase.sync ? 'from sync' : "from the origin's return";
  console.log(done.ms === null
    ? `  NOT final ${seconds(maxWaitMs)} s ${timed}: ${JSON.stringify(after)}; last error: ${done.series?.map((s) => s.last_delivery_error).filter(Boolean)[0] ?? 'none'}`
    : `  all final ${seconds(done.ms)} s ${timed}${syncMs === null ? '' : ` (the sync call answered in ${syncMs} ms)`}: head ${after.head}, final ${after.final}`);
  console.log(`DRAIN_RESULT phase=${phase.name} series=${phase.series ? phase.series.length : 1} issued=${issuing.issued} errors=${issuing.errors.length} ` +
    `issue_s=${seconds(issuing.ms)} final_s=${done.ms === null ? 'none' : seconds(done.ms)} timed=${phase.sync ? 'sync' : 'return'} void=${void_ ? 1 : 0} ` +
    `other_work=${othersSeen || othersRunning() ? 'yes' : 'no'}`);
}
// The size probe: one connection, origin up, a large series against a small one, alternating.
if (config.size_probe) {
  await stopOrigin();
  await startOrigin();
  console.log('== size probe: issuance at 1 connection with the origin up, by the size of the series');
  const stamp = Date.now().toString(36);
  let n = 0;
  const p50 = {};
  for (let round = 0; round < config.size_probe.rounds; round++) {
    for (const target of config.size_probe.series) {
      const times = [];
      let errors = 0;
      const until = Date.now() + config.size_probe.seconds * 1000;
      while (Date.now() < until) {
        let body = template.replace('BENCH_ORDER_ID', `PROBE-${stamp}-${n++}`);
        if (target.series) body = body.replace(/^\{/, `{"series":${JSON.stringify(target.series)},`);
        const started = performance.now();
        try {
          const response = await fetch(`${config.edge}/v1/invoices`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${target.api_key}` },
            body,
            signal: AbortSignal.timeout(30_000),
          });
          await response.arrayBuffer();
          if (response.status === 201) times.push(performance.now() - started);
          else errors++;
        } catch {
          errors++;
        }
      }
      times.sort((a, b) => a - b);
      const median = times.length ? times[times.length >> 1] : NaN;
      (p50[target.label] ??= []).push(median);
      console.log(`SIZE_PROBE series="${target.label}" round=${round + 1} requests=${times.length} p50_ms=${median.toFixed(1)} errors=${errors}` +
        `${othersRunning() ? ' other_work=yes' : ''}`);
    }
  }
  console.log(`  p50 by series size: ${Object.entries(p50).map(([label, xs]) => `${label} ${xs.map((x) => x.toFixed(1)).join(', ')} ms`).join('; ')}`);
}
await stopOrigin();
process.exit(failed ? 1 : 0);
