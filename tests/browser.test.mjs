// The buyer's side in real Chromium (Debian's `chromium`, driven by playwright-core, headless):
// the demo checkout served by the worker (Miniflare) with the embeddable widget, issuance while
// the origin ledger is down, the badge turning final once the origin is back, the verification
// page /v/{id} and its in-browser check, accessibility, a hostile page stylesheet, and both
// languages. Screenshots go to target/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import { startEdge, repoRoot } from './support/edge.mjs';
import { keygen, demoMerchant, loadMerchant, token as cliToken } from './support/cli.mjs';
import { startOrigin } from './support/origin.mjs';

const screenshots = path.join(repoRoot, 'target/screenshots');
mkdirSync(screenshots, { recursive: true });

// Flags for a container: no sandbox (we run as root), no GPU, and nothing that phones home.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const VALID_USCC = '91110000600037341L';
const INVALID_USCC = '91110000600037341X'; // one wrong check character
const HOSTILE_NAME = '示例 <b>Tea</b> & "Co." 有限公司';

const edgeKey = keygen();
const merchantFile = demoMerchant('demo');
let origin, edge, browser;
/** The invoice issued while the origin was down, shared by the tests that follow it. */
let issued;

before(async () => {
  origin = await startOrigin({ trustedKeys: [edgeKey], merchantFiles: [merchantFile] });
  await origin.kill(); // the buyer arrives during an origin outage
  edge = await startEdge({
    bindings: {
      EDGE_SIGNING_KEY: JSON.stringify(edgeKey),
      ORIGIN_URL: origin.url,
      ORIGIN_PUBLIC_JWK: JSON.stringify(origin.publicJwk),
      DEMO_MODE: 'true',
      BREAKER_COOLDOWN_MS: '200',
    },
  });
  await loadMerchant(await edge.kv('MERCHANTS'), merchantFile);
  // launch() gives every run a fresh temporary user-data-dir and removes it on close.
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await edge?.stop();
  await origin?.kill();
});

async function newPage({ locale = 'en-US', colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ locale, colorScheme, viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error('page error:', error.message));
  return page;
}

/** Opens the demo checkout, pays, and waits for the widget to be ready. */
async function checkout(page, query = '') {
  await page.goto(`${edge.url}/${query}`);
  await page.getByRole('button', { name: /Pay/ }).click();
  const widget = page.locator('invoice-edge-widget');
  await widget.waitFor();
  await page.waitForFunction(() => document.querySelector('invoice-edge-widget')?.dataset.state === 'ready');
  return widget;
}

async function fillCompany(widget, { name = HOSTILE_NAME, taxId = VALID_USCC, email = 'finance@example.cn', company = /Company|企业/ } = {}) {
  await widget.getByRole('radio', { name: company }).check();
  await widget.locator('input[name=name]').fill(name);
  await widget.locator('input[name=tax_id]').fill(taxId);
  if (email) await widget.locator('input[name=email]').fill(email);
}

test('the worker serves the demo checkout, the widget (classic and module) and the wasm with CORS', async () => {
  for (const [file, type] of [['/', 'text/html'], ['/widget.js', 'javascript'], ['/widget.mjs', 'javascript'], ['/verify.js', 'javascript'], ['/pkg/invoice_edge_browser.js', 'javascript'], ['/pkg/invoice_edge_browser_bg.wasm', 'application/wasm']]) {
    const response = await fetch(`${edge.url}${file}`);
    assert.equal(response.status, 200, file);
    assert.match(response.headers.get('content-type'), new RegExp(type), file);
    assert.equal(response.headers.get('access-control-allow-origin'), '*', file);
    await response.arrayBuffer();
  }
  // The API keeps priority over the files, and an unknown path is still the API's 404.
  assert.equal((await fetch(`${edge.url}/v1/health`)).status, 200);
  const missing = await fetch(`${edge.url}/nope.txt`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).code, 'NOT_FOUND');
  // Budgets (issue 9): widget ≤ 20 KB gzip without the wasm; the wasm ≤ 200 KB gzip.
  const widgetGzip = gzipSync(readFileSync(path.join(repoRoot, 'www/widget.js')), { level: 9 }).length
    + gzipSync(readFileSync(path.join(repoRoot, 'www/widget.mjs')), { level: 9 }).length;
  const wasmGzip = gzipSync(readFileSync(path.join(repoRoot, 'www/pkg/invoice_edge_browser_bg.wasm')), { level: 9 }).length;
  console.log(`sizes: widget ${widgetGzip} B gzip, wasm ${wasmGzip} B gzip`);
  assert.ok(widgetGzip <= 20 * 1024, `widget ${widgetGzip} B gzip`);
  assert.ok(wasmGzip <= 200 * 1024, `wasm ${wasmGzip} B gzip`);
  const profile = await (await fetch(`${edge.url}/v1/merchants/demo/checkout`)).json();
  // Node's fetch sends no Origin: not a listed origin.
  assert.deepEqual(profile, { merchant: 'demo', seller: { name: '示例商店有限公司', country: 'CN' }, require_buyer_address: false, origin_allowed: false });
});

test('an invalid unified social credit code is flagged as typed, and no request is sent', async () => {
  const page = await newPage();
  const widget = await checkout(page, '?lang=en');
  const requests = [];
  page.on('request', (request) => requests.push(`${request.method()} ${request.url()}`));
  await fillCompany(widget, { taxId: INVALID_USCC });
  const taxId = widget.locator('input[name=tax_id]');
  await assert.doesNotReject(widget.getByText('This unified social credit code is not valid').waitFor());
  assert.equal(await taxId.getAttribute('aria-invalid'), 'true');
  assert.equal(await taxId.getAttribute('data-code'), 'TAX_ID_CHECKSUM');
  await widget.getByRole('button', { name: 'Issue invoice' }).click();
  await widget.getByText('Please correct the highlighted fields.').waitFor();
  // Focus moves to the field to fix.
  assert.equal(await page.evaluate(() => document.querySelector('invoice-edge-widget').shadowRoot.activeElement?.name), 'tax_id');
  await page.waitForTimeout(300);
  assert.deepEqual(requests, [], 'nothing may leave the browser for an invalid tax ID');
  // A wrong length is a format error, with its own message.
  await taxId.fill('9111000060003734');
  await widget.getByText('A unified social credit code has 18 characters').waitFor();
  await page.context().close();
});

test('with the origin down, a valid buyer gets a signed invoice with the pending badge', async () => {
  const page = await newPage();
  const widget = await checkout(page, '?lang=en&poll_max_ms=1000');
  // The cart comes from the token, with its totals computed by the wasm core.
  await widget.getByText('龙井茶 Longjing tea 250 g').waitFor();
  assert.equal(await widget.locator('[data-total]').getAttribute('data-total'), '277.00');
  await fillCompany(widget);
  await page.screenshot({ path: path.join(screenshots, 'checkout.png'), fullPage: true });
  const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().includes('/v1/invoices?merchant=demo'));
  await widget.getByRole('button', { name: 'Issue invoice' }).click();
  const request = await posted;
  assert.ok(request.headers()['checkout-token']);
  assert.deepEqual(JSON.parse(request.postData()).buyer, { kind: 'company', country: 'CN', name: HOSTILE_NAME, tax_id: VALID_USCC, email: 'finance@example.cn' });
  const badge = widget.locator('.badge');
  await badge.waitFor();
  assert.equal(await badge.getAttribute('data-status'), 'pending_sync');
  assert.equal(await badge.textContent(), 'Pending sync');
  // Version 2: numbered at the edge, so the number shows at once, origin or not.
  assert.match(await widget.locator('.number').textContent(), /^DEMO-\d{4}-00000001$/);
  assert.ok(await widget.locator('.qr svg').count(), 'the QR code is drawn');
  const link = await widget.getByRole('link', { name: 'View and print the invoice' }).getAttribute('href');
  const id = link.split('/v/')[1];
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.match(await widget.getByRole('link', { name: 'Download JSON' }).getAttribute('href'), /^blob:/);
  issued = { page, widget, id };
});

test('after the origin starts and delivery runs, the badge turns final without a reload', async () => {
  assert.ok(issued, 'needs the pending invoice');
  const { page, widget, id } = issued;
  await page.evaluate(() => { window.__sameDocument = true; });
  await origin.start();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const document = await (await fetch(`${edge.url}/v1/invoices/${id}`)).json();
    if (document.status === 'final') break;
    // As an operator would after an outage: deliver now, without waiting out the back-off.
    await fetch(`${edge.url}/v1/admin/sync`, { method: 'POST', headers: { authorization: `Bearer ${merchantFile.api_key}` } });
    await new Promise((r) => setTimeout(r, 250));
  }
  const badge = widget.locator('.badge[data-status=final]');
  await badge.waitFor({ timeout: 15_000 });
  assert.equal(await badge.textContent(), 'Final');
  const number = await widget.locator('.number').textContent();
  assert.match(number, /^[A-Z0-9_-]+-\d{4}-\d{8}$/);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload happened');
  // The status change was announced to assistive technology.
  await page.waitForFunction(() => document.querySelector('invoice-edge-widget').shadowRoot.querySelector('[aria-live]').textContent.includes('Final'));
  await page.screenshot({ path: path.join(screenshots, 'checkout-final.png'), fullPage: true });
  issued.number = number;
});

test('the verification page shows the invoice, escapes the buyer, and says valid after the in-browser check', async () => {
  assert.ok(issued?.number, 'needs the final invoice');
  const page = await newPage();
  const response = await page.goto(`${edge.url}/v/${issued.id}`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'], /default-src 'none'/);
  const check = page.locator('#browser-check');
  await page.waitForFunction(() => document.getElementById('browser-check').dataset.state !== 'checking');
  assert.equal(await check.getAttribute('data-state'), 'valid');
  assert.match(await check.textContent(), /Checked again in your browser .* valid/);
  assert.equal((await page.locator('#number').textContent()).trim(), issued.number);
  assert.equal((await page.locator('#gross').textContent()).trim(), 'CNY 277.00');
  // The buyer's name is shown as typed, never as markup.
  await page.getByText(HOSTILE_NAME).waitFor();
  assert.equal(await page.locator('.party b').count(), 0);
  assert.equal(await page.locator('svg path').count() > 0, true, 'the QR code is inline SVG');
  assert.equal(await page.getByRole('link', { name: /UBL XML/ }).getAttribute('href'), `/v1/invoices/${issued.id}.xml`);
  await page.screenshot({ path: path.join(screenshots, 'verification.png'), fullPage: true });
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('nav.actions').isVisible(), false, 'print hides the buttons');
  // "Print to PDF" gives one clean A4 page.
  const pdf = await page.pdf({ format: 'A4', preferCSSPageSize: true });
  const pages = pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) ?? [];
  assert.equal(pages.length, 1, 'one page');
  await page.context().close();
});

test('a downloaded document with one tampered amount is reported invalid in the browser', async () => {
  assert.ok(issued, 'needs an invoice');
  const document = await (await fetch(`${edge.url}/v1/invoices/${issued.id}`)).json();
  const page = await newPage();
  await page.goto(`${edge.url}/v/${issued.id}`);
  const file = page.locator('#file');
  const result = page.locator('#file-check');
  await file.setInputFiles({ name: 'invoice.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(document)) });
  await page.waitForFunction(() => document.getElementById('file-check').dataset.state);
  assert.equal(await result.getAttribute('data-state'), 'valid');
  const tampered = structuredClone(document);
  tampered.invoice.totals.gross = '27.70';
  await file.setInputFiles({ name: 'tampered.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(tampered)) });
  await page.waitForFunction(() => document.getElementById('file-check').textContent.startsWith('tampered.json'));
  assert.equal(await result.getAttribute('data-state'), 'invalid');
  assert.equal(await result.getAttribute('data-code'), 'SIGNATURE_INVALID');
  // The text is read strictly: a second "gross" after the signed one is refused, not read.
  const twice = JSON.stringify(document).replace('"gross":', '"gross":"1.00","gross":');
  await file.setInputFiles({ name: 'twice.json', mimeType: 'application/json', buffer: Buffer.from(twice) });
  await page.waitForFunction(() => document.getElementById('file-check').textContent.startsWith('twice.json'));
  assert.equal(await result.getAttribute('data-code'), 'MALFORMED');
  assert.match(await result.textContent(), /DUPLICATE_KEY/);
  // A key the JWKS does not list: "cannot be checked", never "invalid".
  const unpublished = structuredClone(document);
  unpublished.edge_signature.kid = 'nYDxbz9sB0d0KmkfLTw5kqzXbSAf8Bn8OqSmBLsg7c8';
  await file.setInputFiles({ name: 'unpublished.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(unpublished)) });
  await page.waitForFunction(() => document.getElementById('file-check').textContent.startsWith('unpublished.json'));
  assert.equal(await result.getAttribute('data-state'), 'unknown');
  assert.match(await result.textContent(), /cannot be checked: key not published/);
  assert.doesNotMatch(await result.textContent(), /invalid/);
  await page.context().close();
});

test('the file check refuses a valid file of another invoice than the one on the page', async () => {
  assert.ok(issued, 'needs an invoice');
  const response = await fetch(`${edge.url}/v1/invoices`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${merchantFile.api_key}` },
    body: JSON.stringify({ currency: 'CNY', order_id: 'FILE-OTHER', lines: [{ description: 'tea', quantity: '1', unit_price: '10.00', tax_category: 'S', tax_rate: '13' }] }),
  });
  assert.equal(response.status, 201);
  const document = await response.json();
  const page = await newPage();
  await page.goto(`${edge.url}/v/${issued.id}`);
  await page.locator('#file').setInputFiles({ name: 'other.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(document)) });
  await page.waitForFunction(() => document.getElementById('file-check').dataset.state);
  const result = page.locator('#file-check');
  assert.equal(await result.getAttribute('data-state'), 'invalid');
  assert.equal(await result.getAttribute('data-code'), 'ID_MISMATCH');
  await page.context().close();
});

test('an unknown invoice id gets a readable HTML 404 page', async () => {
  const page = await newPage();
  const response = await page.goto(`${edge.url}/v/0190f3a2-0000-7000-8000-000000000000`);
  assert.equal(response.status(), 404);
  await page.getByRole('heading', { name: /Invoice not found/ }).waitFor();
  const odd = await page.goto(`${edge.url}/v/%3Cscript%3Ealert(1)%3C%2Fscript%3E`);
  assert.equal(odd.status(), 404);
  assert.equal(await page.locator('script').count(), 0);
  await page.context().close();
});

test('axe finds no serious or critical violation on the checkout, the widget states, and the verification page', async () => {
  const page = await newPage();
  const serious = async (label) => {
    const { violations } = await new AxeBuilder({ page }).analyze();
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad.map((v) => `${label}: ${v.id} ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), []);
  };
  const widget = await checkout(page, '?lang=en');
  await serious('form');
  await fillCompany(widget, { taxId: INVALID_USCC });
  await widget.getByRole('button', { name: 'Issue invoice' }).click();
  await serious('form with errors');
  // Keyboard: the radio group and the fields are reachable with Tab, with a visible focus ring.
  await widget.locator('input[name=name]').focus();
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => {
    const active = document.querySelector('invoice-edge-widget').shadowRoot.activeElement;
    return { name: active?.name, outline: getComputedStyle(active).outlineStyle };
  });
  assert.equal(outline.name, 'tax_id');
  assert.equal(outline.outline, 'solid');
  await widget.locator('input[name=tax_id]').fill(VALID_USCC);
  // The error line goes away as the field turns valid; click once the layout has settled.
  await widget.locator('input[name=tax_id]:not([aria-invalid])').waitFor();
  await widget.getByRole('button', { name: 'Issue invoice' }).click();
  await widget.locator('.badge').waitFor();
  await serious('issued invoice');
  await page.goto(`${edge.url}/v/${issued.id}`);
  await page.waitForFunction(() => document.getElementById('browser-check').dataset.state !== 'checking');
  await serious('verification page');
  await page.context().close();
});

test('a hostile global stylesheet on the merchant page does not break the widget', async () => {
  const page = await newPage();
  await page.goto(`${edge.url}/?lang=en`);
  await page.addStyleTag({
    content: `* { color: #f0f !important; background: yellow !important; font: italic 40px/3 "Comic Sans MS", cursive !important;
      letter-spacing: 6px !important; text-transform: uppercase !important; display: inline !important; }
      input, button, label, select, form, table { display: none !important; visibility: hidden !important; }
      div, h2, h3, p { margin: 40px !important; padding: 30px !important; border: 5px dashed red !important; }
      invoice-edge-widget { display: none !important; }`,
  });
  // The merchant's own button is hidden by its own stylesheet too; press it from script.
  await page.evaluate(() => document.getElementById('pay').click());
  await page.waitForFunction(() => document.querySelector('invoice-edge-widget')?.dataset.state === 'ready');
  const widget = page.locator('invoice-edge-widget');
  const looks = await page.evaluate(() => {
    const host = document.querySelector('invoice-edge-widget');
    const root = host.shadowRoot;
    const title = root.querySelector('h2');
    const input = root.querySelector('input[name=name]');
    const button = root.querySelector('button');
    return {
      host: getComputedStyle(host).display,
      titleSize: getComputedStyle(title).fontSize,
      titleColor: getComputedStyle(title).color,
      titleTransform: getComputedStyle(title).textTransform,
      inputWidth: input.getBoundingClientRect().width,
      buttonDisplay: getComputedStyle(button).display,
    };
  });
  assert.equal(looks.host, 'block');
  assert.equal(looks.titleSize, '18px');
  assert.equal(looks.titleColor, 'rgb(27, 36, 48)');
  assert.equal(looks.titleTransform, 'none');
  assert.ok(looks.inputWidth > 200, `input ${looks.inputWidth}px wide`);
  assert.notEqual(looks.buttonDisplay, 'none');
  await fillCompany(widget, { taxId: INVALID_USCC });
  await widget.getByText('This unified social credit code is not valid').waitFor();
  await widget.screenshot({ path: path.join(screenshots, 'widget-hostile-page.png') });
  await page.context().close();
});

test('both languages: zh-CN from the browser language, en from data-lang', async () => {
  const zh = await newPage({ locale: 'zh-CN' });
  const widget = await checkout(zh);
  await widget.getByRole('heading', { name: '申请开具发票' }).waitFor();
  await widget.getByRole('radio', { name: '企业' }).check();
  await widget.getByText('纳税人识别号（统一社会信用代码）').waitFor();
  await widget.locator('input[name=name]').fill('北京示例科技有限公司');
  await widget.locator('input[name=tax_id]').fill(INVALID_USCC);
  await widget.getByText('统一社会信用代码无效：校验位不符。').waitFor();
  await widget.locator('input[name=tax_id]').fill(VALID_USCC);
  await widget.locator('input[name=tax_id]:not([aria-invalid])').waitFor();
  await widget.getByRole('button', { name: '开具发票' }).click();
  // Version 2: the number comes with the first answer (pending sync); the widget then sees the
  // origin's receipt and turns the badge final without a reload.
  await widget.locator('.badge').waitFor();
  assert.match(await widget.locator('.number').textContent(), /^DEMO-\d{4}-\d{8}$/);
  const badge = widget.locator('.badge[data-status=final]');
  await badge.waitFor({ timeout: 20_000 });
  assert.equal(await badge.textContent(), '已开具');
  await zh.screenshot({ path: path.join(screenshots, 'checkout-zh.png'), fullPage: true });
  await zh.context().close();

  const en = await newPage({ locale: 'zh-CN' });
  const english = await checkout(en, '?lang=en');
  await english.getByRole('heading', { name: 'Request an invoice' }).waitFor();
  await en.context().close();
});

test('widget.mjs exports the same mount as the one-tag widget.js', async () => {
  const page = await newPage();
  await page.goto(`${edge.url}/`);
  const token = (await (await fetch(`${edge.url}/v1/demo/token`, { method: 'POST' })).json()).token;
  const state = await page.evaluate(async (token) => {
    const { mount } = await import('/widget.mjs');
    const host = document.createElement('div');
    document.body.append(host);
    mount(host, { merchant: 'demo', token, lang: 'zh-CN' });
    for (let i = 0; i < 100 && host.dataset.state !== 'ready'; i++) await new Promise((r) => setTimeout(r, 50));
    return { state: host.dataset.state, title: host.shadowRoot.querySelector('h2').textContent, same: typeof globalThis.InvoiceEdgeWidget.mount };
  }, token);
  assert.deepEqual(state, { state: 'ready', title: '申请开具发票', same: 'function' });
  await page.context().close();
});

test('a network failure shows a retry button, and retrying never makes a second invoice', async () => {
  const page = await newPage();
  const widget = await checkout(page, '?lang=en');
  await fillCompany(widget);
  // The first attempt dies on the wire, the way a dropped mobile connection does.
  let attempts = 0;
  await page.route('**/v1/invoices?merchant=demo', (route) => (++attempts === 1 ? route.abort('connectionreset') : route.continue()));
  await widget.getByRole('button', { name: 'Issue invoice' }).click();
  const retry = widget.getByRole('button', { name: 'Try again' });
  const resent = page.waitForRequest((r) => r.method() === 'POST' && r.url().includes('/v1/invoices?merchant=demo'));
  await retry.waitFor();
  await widget.getByText('The invoice service could not be reached').waitFor();
  await retry.click();
  const sent = await resent;
  const badge = widget.locator('.badge');
  await badge.waitFor();
  assert.ok(['pending_sync', 'final'].includes(await badge.getAttribute('data-status')));
  assert.match(await widget.locator('.number').textContent(), /^DEMO-\d{4}-\d{8}$/);
  const id = (await widget.getByRole('link', { name: 'View and print the invoice' }).getAttribute('href')).split('/v/')[1];
  // The same request again (what any later retry sends) replays the same invoice.
  const response = await fetch(`${edge.url}/v1/invoices?merchant=demo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'checkout-token': sent.headers()['checkout-token'] },
    body: sent.postData(),
  });
  const replay = { status: response.status, replayed: response.headers.get('idempotent-replayed'), id: (await response.json()).invoice.id };
  assert.deepEqual(replay, { status: 201, replayed: 'true', id });
  await page.context().close();
});

/** Mounts the widget (widget.mjs) on the demo page for a token minted by the CLI for `cart`. */
async function mountFor(page, order, cart) {
  const dir = mkdtempSync(path.join(tmpdir(), 'widget-'));
  const merchantPath = path.join(dir, 'merchant.json');
  writeFileSync(merchantPath, JSON.stringify(merchantFile));
  const checkoutToken = cliToken(merchantPath, order, cart);
  await page.goto(`${edge.url}/`);
  await page.evaluate(async (checkoutToken) => {
    const { mount } = await import('/widget.mjs');
    const host = document.createElement('div');
    host.id = 'mounted';
    document.body.append(host);
    mount(host, { merchant: 'demo', token: checkoutToken, lang: 'en' });
  }, checkoutToken);
  await page.waitForFunction(() => document.getElementById('mounted')?.dataset.state === 'ready');
  return page.locator('#mounted');
}

/** Issues the invoice for an individual buyer and answers the document the edge stored. */
async function issueAsIndividual(widget) {
  await widget.getByRole('button', { name: 'Issue invoice' }).click();
  await widget.locator('.badge').waitFor();
  const id = (await widget.getByRole('link', { name: 'View and print the invoice' }).getAttribute('href')).split('/v/')[1];
  return (await fetch(`${edge.url}/v1/invoices/${id}`)).json();
}

test('the figures the widget shows for a cart rounded at a half are the ones the edge issues', async () => {
  // Each cart lands on a half: a line amount (0.5 × 24.97 = 12.485, and 3 × 0.415 = 1.245) and,
  // with net pricing, the tax (12.50 × 13 % = 1.625). Half away from zero gives 12.49, 1.25 and
  // 1.63 (docs/ARCHITECTURE.md, "Money rules"); half to even, or a float, would give 12.48, 1.24 or 1.62.
  const carts = [
    {
      order: 'HALF-NET',
      cart: { currency: 'CNY', prices_include_tax: false, lines: [
        { description: 'tea, by weight', quantity: '0.5', unit_price: '24.97', tax_category: 'S', tax_rate: '13' },
        { description: 'paper bag', quantity: '1', unit_price: '0.01', tax_category: 'S', tax_rate: '13' },
      ] },
      shown: { lines: ['12.49', '0.01'], net: '12.50', tax: '1.63', gross: '14.13' },
    },
    {
      order: 'HALF-GROSS',
      cart: { currency: 'CNY', prices_include_tax: true, lines: [
        { description: 'tea sample', quantity: '3', unit_price: '0.415', tax_category: 'S', tax_rate: '13' },
        { description: 'tea cup', quantity: '1', unit_price: '10.00', tax_category: 'S', tax_rate: '13' },
      ] },
      shown: { lines: ['1.25', '10.00'], net: '9.96', tax: '1.29', gross: '11.25' },
    },
  ];
  for (const { order, cart, shown } of carts) {
    const page = await newPage();
    const widget = await mountFor(page, order, cart);
    const figures = {
      lines: await widget.locator('table.cart tbody td[data-amount]').evaluateAll((cells) => cells.map((c) => c.dataset.amount)),
      net: await widget.locator('[data-net]').getAttribute('data-net'),
      tax: await widget.locator('[data-tax]').getAttribute('data-tax'),
      gross: await widget.locator('[data-total]').getAttribute('data-total'),
    };
    assert.deepEqual(figures, shown, `${order}: the widget's figures`);
    // The text a buyer reads is those figures too.
    assert.equal((await widget.locator('[data-total]').textContent()).trim(), `CNY ${shown.gross}`);
    const { invoice } = await issueAsIndividual(widget);
    // A line's amount is its net with net pricing, and net + tax with tax-inclusive pricing;
    // the test adds in whole fen, never in floating point.
    const fen = (text) => BigInt(text.replace('.', ''));
    const yuan = (units) => `${units / 100n}.${String(units % 100n).padStart(2, '0')}`;
    const issuedFigures = {
      lines: invoice.lines.map((line) => yuan(fen(line.net_amount) + (cart.prices_include_tax ? fen(line.tax_amount) : 0n))),
      net: invoice.totals.net,
      tax: invoice.totals.tax,
      gross: invoice.totals.gross,
    };
    assert.deepEqual(issuedFigures, figures, `${order}: what the edge issued`);
    // The issued totals shown after issuance are the edge's, and equal the preview's.
    assert.deepEqual(await widget.locator('table.totals td').allTextContents(), [`CNY ${shown.net}`, `CNY ${shown.tax}`, `CNY ${shown.gross}`]);
    // The widget checks the signature in the browser with the published keys.
    const check = widget.locator('.check');
    await check.waitFor();
    assert.equal(await check.getAttribute('data-state'), 'valid');
    await page.context().close();
  }
});

test('a signature whose key is not published is shown as "cannot be checked", never as invalid', async () => {
  const page = await newPage();
  // The keys as a verifier without this edge's key would see them.
  await page.route('**/.well-known/jwks.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ keys: [] }) }));
  const widget = await mountFor(page, 'UNPUBLISHED-KEY', { currency: 'CNY', prices_include_tax: true, lines: [{ description: 'tea', quantity: '1', unit_price: '10.00', tax_category: 'S', tax_rate: '13' }] });
  await issueAsIndividual(widget);
  const check = widget.locator('.check');
  await check.waitFor();
  assert.equal(await check.getAttribute('data-state'), 'unknown');
  assert.equal(await check.getAttribute('data-code'), 'UNKNOWN_KID');
  assert.match(await check.textContent(), /cannot be checked: key not published/);
  assert.doesNotMatch(await check.textContent(), /invalid|failed/i);
  await page.context().close();
});

/** Which of the buyer's fields a person can see (display, visibility and size, as Playwright judges). */
async function visibleFields(widget) {
  const shown = {};
  for (const name of ['name', 'tax_id', 'country', 'email']) shown[name] = await widget.locator(`[data-field=${name}]`).isVisible();
  return shown;
}

/** Submits, and answers the buyer the widget posted and the buyer of the invoice the edge issued. */
async function submitAndRead(page, widget) {
  const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().includes('/v1/invoices?merchant=demo'));
  await widget.getByRole('button', { name: 'Issue invoice' }).click();
  const sent = JSON.parse((await posted).postData()).buyer;
  await widget.locator('.badge').waitFor();
  const id = (await widget.getByRole('link', { name: 'View and print the invoice' }).getAttribute('href')).split('/v/')[1];
  const document = await (await fetch(`${edge.url}/v1/invoices/${id}`)).json();
  return { sent, issued: document.invoice.buyer };
}

test('each buyer kind shows only its fields and sends what is shown (issue 21)', async () => {
  // 个人 / Individual: no tax-ID field on screen, and none sent.
  let page = await newPage();
  let widget = await checkout(page, '?lang=en');
  assert.deepEqual(await visibleFields(widget), { name: true, tax_id: false, country: true, email: true });
  await widget.locator('input[name=name]').fill('张三');
  await widget.locator('input[name=email]').fill('zhang@example.cn');
  let { sent, issued: buyer } = await submitAndRead(page, widget);
  assert.deepEqual(sent, { kind: 'individual', country: 'CN', name: '张三', email: 'zhang@example.cn' });
  assert.equal(buyer.kind, 'individual');
  assert.equal(buyer.tax_id, undefined);
  await page.context().close();

  // 企业 / Company: the tax ID shows, is required, and reaches the invoice.
  page = await newPage();
  widget = await checkout(page, '?lang=en');
  await fillCompany(widget, { name: '北京示例科技有限公司' });
  assert.deepEqual(await visibleFields(widget), { name: true, tax_id: true, country: true, email: true });
  ({ sent, issued: buyer } = await submitAndRead(page, widget));
  assert.deepEqual(sent, { kind: 'company', country: 'CN', name: '北京示例科技有限公司', tax_id: VALID_USCC, email: 'finance@example.cn' });
  assert.equal(buyer.kind, 'company');
  assert.equal(buyer.tax_id, VALID_USCC);
  await page.context().close();

  // A tax ID arriving while 个人 is selected (as autofill or a page script puts it in the
  // hidden field): the buyer becomes 企业, the field shows, and the tax ID is sent.
  page = await newPage();
  widget = await checkout(page, '?lang=en');
  await page.evaluate((taxId) => {
    const input = document.querySelector('invoice-edge-widget').shadowRoot.querySelector('input[name=tax_id]');
    input.value = taxId;
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, VALID_USCC);
  assert.equal(await widget.getByRole('radio', { name: 'Company' }).isChecked(), true);
  assert.deepEqual(await visibleFields(widget), { name: true, tax_id: true, country: true, email: true });
  await widget.getByText('Company name').waitFor();
  await widget.locator('input[name=name]').fill('上海示例贸易有限公司');
  ({ sent, issued: buyer } = await submitAndRead(page, widget));
  assert.deepEqual(sent, { kind: 'company', country: 'CN', name: '上海示例贸易有限公司', tax_id: VALID_USCC });
  assert.equal(buyer.tax_id, VALID_USCC);
  await page.context().close();
});

/** A shop's own web server on another port than the edge: another origin. Serves `html(origin)`. */
async function startShop(html) {
  const server = createServer((request, response) => {
    // No favicon, without a 404 in the console.
    response.writeHead(request.url === '/' ? 200 : 204, { 'content-type': 'text/html; charset=utf-8' });
    response.end(request.url === '/' ? html(`http://127.0.0.1:${server.address().port}`) : '');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  // Chromium keeps connections alive: end them, or close() would wait for them.
  return { url, close: () => new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); }) };
}

const shopPage = (merchant, token, lang) => () => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><main><h1>Thank you for your order</h1>
<script src="${edge.url}/widget.js" data-merchant="${merchant}" data-token="${token}" data-lang="${lang}"></script></main></body></html>`;

test('on a page whose origin the merchant did not list, the widget says invoicing is not set up, once in the console, with no retry (issue 21)', async () => {
  const token = (await (await fetch(`${edge.url}/v1/demo/token`, { method: 'POST' })).json()).token;
  for (const [lang, text] of [['en', 'Invoicing is not set up for this site'], ['zh-CN', '本网站尚未开通开票服务']]) {
    const shop = await startShop(shopPage('demo', token, lang));
    after(() => shop.close());
    assert.notEqual(new URL(shop.url).origin, new URL(edge.url).origin);
    const page = await newPage();
    const errors = [];
    page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
    const posts = [];
    page.on('request', (request) => { if (request.method() === 'POST') posts.push(request.url()); });
    await page.goto(shop.url);
    await page.waitForFunction(() => document.querySelector('invoice-edge-widget')?.dataset.state === 'error');
    const widget = page.locator('invoice-edge-widget');
    const alert = widget.getByRole('alert');
    assert.match(await alert.textContent(), new RegExp(text));
    assert.equal(await alert.getAttribute('data-code'), 'ORIGIN_NOT_ALLOWED');
    assert.equal(await widget.locator('button').count(), 0, 'no retry, no submit');
    assert.equal(await widget.locator('form').count(), 0);
    // For the merchant: one message naming the origin to add and the command that adds it.
    const ours = errors.filter((text) => text.startsWith('invoice-edge widget:'));
    assert.equal(ours.length, 1, errors.join('\n'));
    assert.ok(ours[0].includes(`--allow-origin ${shop.url}`), ours[0]);
    assert.match(ours[0], /invoice-edge merchant update /);
    assert.match(ours[0], /merchant "demo"/);
    if (lang === 'en') await widget.screenshot({ path: path.join(screenshots, 'widget-origin-not-listed.png') });
    await page.waitForTimeout(200);
    assert.deepEqual(posts, []);
    await page.context().close();
  }
});

test('on a page whose origin the merchant listed, the widget on another origin issues through CORS (issue 21)', async () => {
  // The page is known once the server has its port, and the merchant lists that origin.
  let html = () => '';
  const shop = await startShop((origin) => html(origin));
  after(() => shop.close());
  const listed = demoMerchant('listedshop', ['--allowed-origin', shop.url]);
  await loadMerchant(await edge.kv('MERCHANTS'), listed);
  const dir = mkdtempSync(path.join(tmpdir(), 'widget-'));
  const merchantPath = path.join(dir, 'merchant.json');
  writeFileSync(merchantPath, JSON.stringify(listed));
  const checkoutToken = cliToken(merchantPath, 'CROSS-ORIGIN-1', { currency: 'CNY', prices_include_tax: true, lines: [
    { description: '西湖龙井 Longjing green tea, 250 g', quantity: '2', unit_price: '168.00', tax_category: 'S', tax_rate: '13' },
    { description: 'Tea tasting class', quantity: '1', unit_price: '80.00', tax_category: 'S', tax_rate: '6' },
  ] });
  // A shop's own order page, styled as a shop styles it: the screenshot in docs/images/.
  html = () => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Order confirmed · Green Leaf Tea</title>
<style>body{margin:0;font:16px/1.5 Georgia,serif;background:#f4efe6;color:#2d2a26}header{background:#24543a;color:#fff;padding:14px 32px;display:flex;justify-content:space-between;align-items:center}
header b{font-size:22px;letter-spacing:.5px}nav a{color:#d8ead9;margin-left:18px;text-decoration:none}main{max-width:760px;margin:28px auto;padding:0 24px}
.card{background:#fff;border-radius:10px;padding:20px 24px;margin-bottom:20px;box-shadow:0 1px 3px rgba(0,0,0,.12)}h1{font-size:26px;margin:0 0 6px}p{margin:4px 0}</style></head>
<body><header><b>Green Leaf Tea · 青叶茶庄</b><nav><a href="#">Shop</a><a href="#">Classes</a><a href="#">Account</a></nav></header>
<main><div class="card"><h1>Thank you, your order is paid</h1><p>Order CROSS-ORIGIN-1 · paid by card · ships tomorrow</p></div>
<div class="card"><h2 style="margin-top:0;font-size:19px">Need an invoice? · 开具发票</h2>
<script src="${edge.url}/widget.js" data-merchant="listedshop" data-token="${checkoutToken}" data-lang="en"></script></div></main></body></html>`;
  const page = await newPage();
  const errors = [];
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  await page.goto(shop.url);
  await page.waitForFunction(() => document.querySelector('invoice-edge-widget')?.dataset.state === 'ready');
  const widget = page.locator('invoice-edge-widget');
  await widget.getByRole('radio', { name: 'Company' }).check();
  await widget.locator('input[name=name]').fill('上海示例贸易有限公司');
  await widget.locator('input[name=tax_id]').fill(VALID_USCC);
  await widget.getByRole('button', { name: 'Issue invoice' }).click();
  await widget.locator('.badge').waitFor();
  assert.match(await widget.locator('.number').textContent(), /^LISTEDSHOP-\d{4}-00000001$/);
  assert.deepEqual(errors, []);
  await page.screenshot({ path: path.join(screenshots, 'widget-third-party.png'), fullPage: true });
  await page.context().close();
});
