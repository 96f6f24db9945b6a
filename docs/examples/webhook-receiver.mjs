// Receives invoice-edge webhooks (Node 18+, no dependencies): checks the Invoice-Edge-Signature
// header, refuses a body changed on the way or a delivery more than 5 minutes old, and hands
// each event to your code once, however often it is delivered (delivery is at least once).
// Usage: WEBHOOK_SECRET=whsec_... PORT=8080 node webhook-receiver.mjs
// or import { verifySignature, receive } from it in your own server.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

export const TOLERANCE_SECONDS = 300;

/**
 * True when `header` (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`) signs `rawBody`, the
 * bytes exactly as received (never a re-serialized object), under `secret`, and `t` is within
 * 5 minutes of `nowSeconds`.
 */
export function verifySignature(secret, header, rawBody, nowSeconds = Math.floor(Date.now() / 1000)) {
  const fields = new Map();
  for (const part of String(header ?? '').split(',')) {
    const i = part.indexOf('=');
    if (i > 0) fields.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const t = fields.get('t') ?? '';
  const v1 = fields.get('v1') ?? '';
  if (!/^\d{1,12}$/.test(t) || !/^[0-9a-f]{64}$/.test(v1)) return false;
  if (Math.abs(nowSeconds - Number(t)) > TOLERANCE_SECONDS) return false;
  const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${t}.`).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}

/**
 * One delivery: `{ok: false}` when the signature does not hold; otherwise the event, and
 * whether its id was seen before. `seen` is any store with `has` and `add` (a Set here; a table
 * with a unique key in production, so a restart forgets nothing).
 */
export function receive({ secret, header, rawBody, seen, nowSeconds }) {
  if (!verifySignature(secret, header, rawBody, nowSeconds)) return { ok: false };
  const event = JSON.parse(rawBody);
  const duplicate = seen.has(event.id);
  seen.add(event.id);
  return { ok: true, event, duplicate };
}

/** An HTTP server calling `onEvent(event)` once per event id; if it throws, the answer is 500 and the edge retries. */
export function createReceiver({ secret, onEvent, seen = new Set() }) {
  return createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const result = receive({ secret, header: req.headers['invoice-edge-signature'], rawBody: Buffer.concat(chunks), seen });
    if (!result.ok) return res.writeHead(400).end('signature refused\n');
    if (!result.duplicate) {
      try {
        await onEvent(result.event);
      } catch {
        seen.delete?.(result.event.id); // not handled: the retry must be handled again
        return res.writeHead(500).end();
      }
    }
    res.writeHead(200).end('ok\n');
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  createReceiver({ secret: process.env.WEBHOOK_SECRET, onEvent: (event) => console.log(JSON.stringify(event)) })
    .listen(Number(process.env.PORT ?? 8080));
}
