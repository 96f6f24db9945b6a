// The one fault-injecting HTTP proxy of the tests, for faults the real origin cannot produce. It
// stands between the edge (`ORIGIN_URL`) and the real origin ledger on 127.0.0.1, and injects
// faults in one of two ways.
//
// Random faults, for the drills (tests/chaos/drill.mjs), chosen per request by a seeded PRNG
// (`setFaults`, `refuseFor`):
//
//   refused    a window in which nothing listens on the port (new connections are refused;
//              requests already on a kept-alive connection get their socket reset);
//   latency    the request is held longer than the caller's deadline, then forwarded (so the
//              origin may commit an invoice the edge has already given up on);
//   http5xx    500, 502 or 503, without forwarding;
//   truncated  forwarded (the origin commits), then the answer is cut off mid-body;
//   garbage    200/201 with a body that is not JSON, sometimes after forwarding;
//   lost_ack   forwarded, the origin commits, and the answer is dropped (socket reset).
//
// Random faults apply to the ingest routes only (PUT /v1/ledger/invoices/{id} and POST
// /v1/ledger/batch); reads pass through. Counts are kept per kind and route.
//
// A fixed mode, for the series tests (`set({kind, ...})`), applied to every request:
//
//   forward      pass through (the default);
//   status       answer `status` with a problem body of `code` (401, 413, 429: what a real
//                origin or a proxy in front of it may say);
//   status500    500 with a text body;
//   garbage      201 with a body that is not JSON;
//   delay        hold the request `ms`, then forward it;
//   unsupported  a batch answer refusing every document as UNSUPPORTED_FORMAT (an origin older
//                than the edge);
//   tamper       forward a batch whose first document was changed on the wire (the real origin
//                then refuses it for good).
//
// `requests` counts every request that reached the proxy.
import { createServer as createHttpServer, request as httpRequest, Agent } from 'node:http';
import { createServer as createNetServer } from 'node:net';

export const FAULT_KINDS = ['refused', 'latency', 'http5xx', 'truncated', 'garbage', 'lost_ack'];

/** mulberry32: a small seeded PRNG, so a drill's schedule can be replayed from its seed. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function routeOf(req) {
  if (req.method === 'PUT' && req.url.startsWith('/v1/ledger/invoices/')) return 'put';
  if (req.method === 'POST' && req.url.startsWith('/v1/ledger/batch')) return 'batch';
  return 'other';
}

/**
 * Starts the proxy on `port` (0: a free one), forwarding to `target` (http://127.0.0.1:PORT).
 * `deadlines` are the callers' deadlines per route, so "latency" exceeds them.
 */
export async function startFaultInjectingProxy({ target, port = 0, seed = 1, deadlines = { put: 1500, batch: 10_000 } }) {
  const random = prng(seed);
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, { put: 0, batch: 0, other: 0 }]));
  const traffic = { put: 0, batch: 0, other: 0, upstreamDown: 0 };
  let probability = 0; // per-request fault probability on ingest routes
  let kinds = FAULT_KINDS.filter((k) => k !== 'refused');
  let refusing = false;
  let fixedMode = { kind: 'forward' };
  let requests = 0;
  let listener;
  let closed = false;
  const sockets = new Set();

  const count = (kind, route) => {
    counts[kind][route] += 1;
  };

  /** Forwards to the origin and resolves {status, headers, body}, or rejects (origin down). */
  function forward(req, body) {
    return new Promise((resolve, reject) => {
      const out = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, agent, headers: { 'content-type': req.headers['content-type'] ?? 'application/json', 'content-length': body.length, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) } },
        (answer) => {
          const chunks = [];
          answer.on('data', (c) => chunks.push(c));
          answer.on('end', () => resolve({ status: answer.statusCode, headers: answer.headers, body: Buffer.concat(chunks) }));
          answer.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });
  }

  const send = (res, answer) => {
    if (res.destroyed || res.socket?.destroyed) return;
    res.writeHead(answer.status, { 'content-type': answer.headers['content-type'] ?? 'application/json', 'content-length': answer.body.length });
    res.end(answer.body);
  };

  /** The fixed mode's answer (see the top of this file). */
  async function answerFixedMode(req, res, body, route) {
    const mode = fixedMode;
    switch (mode.kind) {
      case 'status': {
        const problem = { type: `urn:invoice-edge:problem:${mode.code}`, title: mode.code, status: mode.status, code: mode.code, errors: [] };
        res.writeHead(mode.status, { 'content-type': 'application/problem+json' }).end(JSON.stringify(problem));
        return;
      }
      case 'status500':
        res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream exploded');
        return;
      case 'garbage':
        res.writeHead(201, { 'content-type': 'application/json' }).end('{"number": <<<not json');
        return;
      case 'unsupported': {
        const documents = JSON.parse(body.toString()).documents ?? [];
        const results = documents.map((d) => ({
          id: d.invoice?.id ?? null,
          status: 503,
          problem: { type: 'urn:invoice-edge:problem:UNSUPPORTED_FORMAT', title: 'Unsupported document format', status: 503, code: 'UNSUPPORTED_FORMAT', errors: [] },
        }));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results }));
        return;
      }
      case 'delay':
        await new Promise((r) => setTimeout(r, mode.ms));
        send(res, await forward(req, body));
        return;
      case 'tamper': {
        let forwarded = body;
        if (route === 'batch') {
          // A document changed on the wire: the real origin refuses it as SIGNATURE_INVALID.
          const batch = JSON.parse(body.toString());
          if (batch.documents?.[0]?.invoice) batch.documents[0].invoice.order_id += '-tampered';
          forwarded = Buffer.from(JSON.stringify(batch));
        }
        send(res, await forward(req, forwarded));
        return;
      }
      default:
        throw new Error(`unknown fault proxy mode ${mode.kind}`);
    }
  }

  const server = createHttpServer({ keepAliveTimeout: 5000 }, async (req, res) => {
    const chunks = [];
    try {
      for await (const chunk of req) chunks.push(chunk);
    } catch {
      return; // the caller went away mid-body (a refused window or its own deadline)
    }
    const body = Buffer.concat(chunks);
    const route = routeOf(req);
    traffic[route] += 1;
    requests += 1;
    if (fixedMode.kind !== 'forward') {
      try {
        await answerFixedMode(req, res, body, route);
      } catch {
        traffic.upstreamDown += 1;
        req.socket.destroy();
      }
      return;
    }
    if (refusing) {
      // A kept-alive connection opened before the window: reset it, as a dead host would.
      count('refused', route);
      req.socket.destroy();
      return;
    }
    // A fault is rolled with `probability`; its kind is random, except that a kind not yet
    // injected on this route goes first, so a short drill covers every kind on both routes.
    let kind = 'forward';
    if (route !== 'other' && probability > 0 && random() < probability) {
      kind = kinds.find((k) => counts[k][route] === 0) ?? kinds[Math.floor(random() * kinds.length)];
    }
    const roll = random();
    try {
      switch (kind) {
        case 'http5xx': {
          count(kind, route);
          const status = [500, 502, 503][Math.floor(roll * 3)];
          res.writeHead(status, { 'content-type': 'text/plain' }).end(`injected ${status}`);
          return;
        }
        case 'garbage': {
          count(kind, route);
          // Half the time the origin has committed first: then this is also a lost answer.
          if (roll < 0.5) await forward(req, body);
          const junk = roll < 0.25 ? '{"number": <<<not json' : roll < 0.75 ? '<html>502 Bad Gateway</html>' : '{"results": "nope"}';
          res.writeHead(route === 'put' ? 201 : 200, { 'content-type': 'application/json' }).end(junk);
          return;
        }
        case 'latency': {
          count(kind, route);
          const hold = deadlines[route] + 300 + Math.floor(roll * 1200);
          await new Promise((r) => setTimeout(r, hold));
          send(res, await forward(req, body));
          return;
        }
        case 'truncated': {
          count(kind, route);
          const answer = await forward(req, body);
          res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': answer.body.length });
          res.write(answer.body.subarray(0, Math.max(1, Math.floor(answer.body.length / 2))));
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        }
        case 'lost_ack': {
          count(kind, route);
          await forward(req, body); // the origin commits...
          req.socket.destroy(); // ...and its answer never arrives
          return;
        }
        default:
          send(res, await forward(req, body));
      }
    } catch {
      // The origin is down (killed by the drill): the edge sees a dead connection.
      traffic.upstreamDown += 1;
      req.socket.destroy();
    }
  });

  const listen = (p) =>
    new Promise((resolve, reject) => {
      const net = createNetServer((socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        server.emit('connection', socket);
      });
      net.once('error', reject);
      net.listen(p, '127.0.0.1', () => resolve(net));
    });
  listener = await listen(port);
  const boundPort = listener.address().port;

  return {
    url: `http://127.0.0.1:${boundPort}`,
    port: boundPort,
    counts,
    traffic,
    get requests() {
      return requests;
    },
    /** A fixed mode for every request from now on (see the top of this file). */
    set(mode) {
      fixedMode = mode;
    },
    /** Per-request faults on ingest routes with probability `p`, drawn from `only` kinds. */
    setFaults(p, only) {
      probability = p;
      if (only) kinds = only;
    },
    /** Closes the listening socket for `ms`: connections are refused, then accepted again. */
    async refuseFor(ms) {
      refusing = true;
      counts.refused.other += 1; // one window
      const stopped = new Promise((resolve) => listener.close(resolve));
      // The host went away: every open connection dies with it (a request in flight may still
      // have reached the origin, which makes it a lost answer too).
      for (const socket of sockets) socket.destroy();
      await stopped;
      await new Promise((r) => setTimeout(r, ms));
      refusing = false;
      for (let attempt = 0; attempt < 50 && !closed; attempt += 1) {
        try {
          listener = await listen(boundPort);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async stop() {
      closed = true;
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise((resolve) => listener.close(() => resolve()));
    },
  };
}
