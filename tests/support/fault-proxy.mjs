// A fault-injecting HTTP proxy, for faults the real origin cannot produce: it stands between
// the edge and the real origin and, depending on its mode, forwards, delays, answers 500,
// garbage, another status with a problem body (401, 413, 429), a batch answer refusing every
// document as UNSUPPORTED_FORMAT (an origin older than the edge), or forwards a batch whose first
// document was changed on the wire (`tamper`: the real origin then refuses it for good). Only for tests; it listens on
// 127.0.0.1. `requests` counts what reached it.
import { createServer } from 'node:http';

export async function startFaultInjectingProxy(targetUrl) {
  let mode = { kind: 'forward' };
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    proxy.requests += 1;
    if (mode.kind === 'status') {
      const problem = { type: `urn:invoice-edge:problem:${mode.code}`, title: mode.code, status: mode.status, code: mode.code, errors: [] };
      res.writeHead(mode.status, { 'content-type': 'application/problem+json' }).end(JSON.stringify(problem));
      return;
    }
    if (mode.kind === 'unsupported') {
      const documents = JSON.parse(body.toString()).documents ?? [];
      const results = documents.map((d) => ({
        id: d.invoice?.id ?? null,
        status: 503,
        problem: { type: 'urn:invoice-edge:problem:UNSUPPORTED_FORMAT', title: 'Unsupported document format', status: 503, code: 'UNSUPPORTED_FORMAT', errors: [] },
      }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results }));
      return;
    }
    let forwarded = body;
    if (mode.kind === 'tamper' && req.url.endsWith('/v1/ledger/batch')) {
      // A document changed on the wire: the real origin refuses it as SIGNATURE_INVALID.
      const batch = JSON.parse(body.toString());
      if (batch.documents?.[0]?.invoice) batch.documents[0].invoice.order_id += '-tampered';
      forwarded = Buffer.from(JSON.stringify(batch));
    }
    if (mode.kind === 'status500') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream exploded');
      return;
    }
    if (mode.kind === 'garbage') {
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"number": <<<not json');
      return;
    }
    if (mode.kind === 'delay') await new Promise((r) => setTimeout(r, mode.ms));
    try {
      const upstream = await fetch(`${targetUrl}${req.url}`, { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) }, body: ['GET', 'HEAD'].includes(req.method) ? undefined : forwarded });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    } catch {
      if (!res.headersSent) res.writeHead(502).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = {
    requests: 0,
    url: `http://127.0.0.1:${server.address().port}`,
    set(next) {
      mode = next;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return proxy;
}
