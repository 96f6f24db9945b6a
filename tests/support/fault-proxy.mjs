// A fault-injecting HTTP proxy, for faults the real origin cannot produce: it stands between
// the edge and the real origin and, depending on its mode, forwards, delays, answers 500 or
// answers garbage. Only for tests; it listens on 127.0.0.1.
import { createServer } from 'node:http';

export async function startFaultInjectingProxy(targetUrl) {
  let mode = { kind: 'forward' };
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
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
      const upstream = await fetch(`${targetUrl}${req.url}`, { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) }, body: ['GET', 'HEAD'].includes(req.method) ? undefined : body });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    } catch {
      if (!res.headersSent) res.writeHead(502).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    set(next) {
      mode = next;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
