// Multi-active origins behind the edge (issue 17; docs/ORIGIN.md, "PostgreSQL: several origins,
// one replicated database"): two real `invoice-origin` processes on one PostgreSQL database, the
// worker in workerd with ORIGIN_URL listing both. The edge issues 2,000 documents in 4 series;
// the first origin is SIGKILLed mid-delivery and the series' objects move to the second; the
// CLI's `finalize` writes series D's first documents through the second origin meanwhile. At
// the end every series is final to seq 500 at the edge, and `invoice-origin verify` passes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startEdge } from './support/edge.mjs';
import { startOrigin, originPath, EDGE_TOKEN } from './support/origin.mjs';
import { cliPath, keygen, demoMerchant, loadMerchant } from './support/cli.mjs';
import { startPostgres } from './support/pg.mjs';

const run = promisify(execFile);

/** `invoice-edge finalize` of one document through `origin`: the final document it prints. */
function finalize(document, origin) {
  return new Promise((resolve, reject) => {
    const child = execFile(cliPath, ['finalize', '--origin', origin, '--token', EDGE_TOKEN], (error, stdout, stderr) =>
      error ? reject(new Error(`finalize: ${stderr || error}`)) : resolve(JSON.parse(stdout)),
    );
    child.stdin.end(JSON.stringify(document));
  });
}
const started = [];
after(async () => {
  for (const stop of started.reverse()) await stop().catch(() => {});
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const line = { description: '龙井茶', quantity: '1', unit_price: '100.00', tax_category: 'S', tax_rate: '13' };

test('two origins on one database behind ORIGIN_URL: the first killed mid-delivery, 2,000 documents in 4 series', async () => {
  const PER_SERIES = 500;
  const CLI_DOCUMENTS = 20;
  const names = ['A', 'B', 'C', 'D'];
  const pg = await startPostgres({ name: 'multi-edge' });
  started.push(async () => pg.destroy());
  const db = pg.createDatabase('multi');
  const archived = () => Number(pg.sql('SELECT ledger_seq FROM audit_head', 'multi'));

  let killedAt = null;
  const edgeKey = keygen();
  const merchant = demoMerchant('shop', names.flatMap((name) => ['--series', name]));
  const first = await startOrigin({ trustedKeys: [edgeKey], merchantFiles: [merchant], db });
  // Not after our SIGKILL: kill() would wait for an exit event that has already come.
  started.push(() => (killedAt === null ? first.kill() : Promise.resolve()));
  const second = await startOrigin({ trustedKeys: [edgeKey], merchantFiles: [merchant], db });
  started.push(() => second.kill());
  const edge = await startEdge({
    bindings: {
      EDGE_SIGNING_KEY: JSON.stringify(edgeKey),
      ORIGIN_URL: `${first.url},${second.url}`,
      ORIGIN_PUBLIC_JWK: JSON.stringify([first.publicJwk, second.publicJwk]),
      ORIGIN_BATCH_TIMEOUT_MS: '3000',
      BREAKER_COOLDOWN_MS: '300',
    },
  });
  started.push(() => edge.stop());
  const apiKey = await loadMerchant(await edge.kv('MERCHANTS'), merchant);

  const issue = async (series, n) => {
    const response = await fetch(`${edge.url}/v1/invoices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ currency: 'CNY', order_id: `${series}-${n}`, series, lines: [line] }),
    });
    const body = await response.json();
    assert.equal(response.status, 201, JSON.stringify(body));
    assert.equal(body.invoice.seq, n);
    return body;
  };

  // Series D's first documents: issued, and each finalized at once through the second origin
  // by the CLI, racing the edge's own delivery (one of them archives it, the other replays).
  const series = async (name) => {
    for (let n = 1; n <= PER_SERIES; n++) {
      const document = await issue(name, n);
      if (name === 'D' && n <= CLI_DOCUMENTS) {
        const final = await finalize(document, second.url);
        assert.equal(final.status, 'final');
        assert.equal(final.final.seq, n);
        assert.equal(final.final.number, document.invoice.number);
      }
      // Kill the first origin once it has archived part of the load, while most is to come.
      if (name === 'A' && n === 200 && killedAt === null) {
        const deadline = Date.now() + 60_000;
        while (archived() < 150) {
          assert.ok(Date.now() < deadline, 'the first origin archived nothing');
          await sleep(100);
        }
        killedAt = archived();
        await first.kill('SIGKILL');
      }
    }
  };
  await Promise.all(names.map(series));
  assert.ok(killedAt !== null && killedAt < PER_SERIES * names.length, `killed at ${killedAt}`);
  console.log(`first origin SIGKILLed with ${killedAt} of ${PER_SERIES * names.length} archived`);

  // Every document reaches the ledger through the second origin.
  const deadline = Date.now() + 300_000;
  while (archived() < PER_SERIES * names.length) {
    assert.ok(Date.now() < deadline, `only ${archived()} archived`);
    await edge.cron();
    await sleep(500);
  }
  assert.equal(archived(), PER_SERIES * names.length);
  const report = await (await fetch(`${edge.url}/v1/admin/series`, { headers: { authorization: `Bearer ${apiKey}` } })).json();
  const finals = Object.fromEntries(report.series.map((s) => [s.series, [s.head_seq, s.final_seq]]));
  for (const name of names) {
    const deadlineFinal = Date.now() + 60_000;
    // The objects learn of the last receipts on their next delivery round.
    while (JSON.stringify(finals[name]) !== JSON.stringify([PER_SERIES, PER_SERIES]) && Date.now() < deadlineFinal) {
      await sleep(500);
      const again = await (await fetch(`${edge.url}/v1/admin/series`, { headers: { authorization: `Bearer ${apiKey}` } })).json();
      for (const s of again.series) finals[s.series] = [s.head_seq, s.final_seq];
    }
    assert.deepEqual(finals[name], [PER_SERIES, PER_SERIES], name);
  }
  const { stdout } = await run(originPath, ['verify', '--db', db, '--trust', second.files.trust]);
  assert.match(stdout, new RegExp(`ledger OK: ${PER_SERIES * names.length} entries, 4 series`));
  for (const name of names) {
    assert.match(stdout, new RegExp(`series shop/${name}: seq 1\\.\\.${PER_SERIES} `));
  }
});
