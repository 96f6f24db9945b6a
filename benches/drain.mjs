// Drain benchmark: issue N invoices while the origin is down, start the origin, and time how
// long until none is pending, with the cron triggered every 60 s as in production.
// Usage: node benches/drain.mjs EDGE_URL API_KEY N START_ORIGIN_COMMAND...
// Bounded: N requests at concurrency 16 to 127.0.0.1, and at most 5 minutes of waiting.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [edge, apiKey, countText, ...originCommand] = process.argv.slice(2);
const total = Number(countText);
const body = readFileSync('crates/core/benches/fixtures/ten_lines.json', 'utf8');

let next = 0;
const issued = [];
async function worker() {
  while (next < total) {
    const n = next++;
    const response = await fetch(`${edge}/v1/invoices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      body: body.replace('"BENCH-10023"', `"DRAIN-${Date.now()}-${n}"`),
    });
    const document = await response.json();
    if (response.status !== 201) throw new Error(`issue ${n}: ${response.status} ${JSON.stringify(document)}`);
    issued.push(document.invoice.id);
  }
}
const issueStart = Date.now();
await Promise.all(Array.from({ length: 16 }, worker));
console.log(`issued ${issued.length} with the origin down in ${((Date.now() - issueStart) / 1000).toFixed(1)} s`);

const pending = async () => (await (await fetch(`${edge}/v1/health`)).json()).pending;
console.log(`pending before recovery: ${await pending()}`);
const origin = spawn(originCommand[0], originCommand.slice(1), { stdio: 'ignore' });
const recovered = Date.now();
const cron = () => fetch(`${edge}/__scheduled?cron=*+*+*+*+*`).catch(() => {});
await cron();
const ticker = setInterval(cron, 60_000);
let left = Infinity;
while (Date.now() - recovered < 300_000) {
  left = await pending();
  if (left === 0) break;
  await new Promise((r) => setTimeout(r, 1000));
}
clearInterval(ticker);
const seconds = (Date.now() - recovered) / 1000;
console.log(left === 0 ? `drained: all final ${seconds.toFixed(1)} s after the origin came back` : `NOT drained: ${left} still pending after ${seconds.toFixed(0)} s`);
origin.kill('SIGTERM');
process.exit(left === 0 ? 0 : 1);
