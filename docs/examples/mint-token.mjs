// Mints a checkout token on a merchant's backend (Node 18+, no dependencies): an HS256 JWS whose
// claims carry the order's cart, so the buyer's browser cannot change a line or a price.
// Usage: MERCHANT_ID=shop TOKEN_SECRET=... node mint-token.mjs ORDER_ID
import { createHmac } from 'node:crypto';

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const claims = {
  merchant: process.env.MERCHANT_ID,
  order_id: process.argv[2],
  currency: 'CNY',
  cart: {
    prices_include_tax: true,
    lines: [{ description: 'Green tea 250 g', quantity: '2', unit_price: '68.00', tax_category: 'S', tax_rate: '9' }],
  },
  iat: now,
  exp: now + 15 * 60, // at most 24 h after iat
};
const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`;
// The HMAC key is the UTF-8 bytes of the secret; keep the secret on the server only.
const mac = createHmac('sha256', Buffer.from(process.env.TOKEN_SECRET, 'utf8')).update(input).digest('base64url');
console.log(`${input}.${mac}`);
