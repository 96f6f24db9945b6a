// The verification page's own check (GET /v/{id}): the document and the public keys are fetched
// again and the signatures checked here, in the buyer's browser, with the same core compiled to
// WebAssembly, so the result does not rest on the server's word alone. A downloaded invoice file
// can be checked the same way, offline from the server's answer.
import init, { verify } from './pkg/invoice_edge_browser.js';

const sheet = document.querySelector('[data-invoice-id]');
const browserCheck = document.getElementById('browser-check');
const fileInput = document.getElementById('file');
const fileCheck = document.getElementById('file-check');
document.getElementById('print')?.addEventListener('click', () => window.print());

// A key that is not published is not a forgery: the invoice cannot be checked here, which is
// different from a signature that does not match (UNKNOWN_KID is never shown as "invalid").
function show(node, verdict, prefix) {
  const unknownKey = verdict.code === 'UNKNOWN_KID';
  node.dataset.state = verdict.valid ? 'valid' : unknownKey ? 'unknown' : 'invalid';
  node.dataset.code = verdict.code;
  const word = verdict.valid ? 'valid · 有效' : unknownKey ? 'cannot be checked: key not published · 无法校验：密钥未公布' : 'invalid · 无效';
  node.textContent = `${prefix} ${word} (${verdict.code}: ${verdict.detail})`;
}

// The wasm core and the keys, loaded once; the file check waits for them, so a file chosen
// before they arrive is still checked (the listener is registered at once, not after loading).
const ready = Promise.all([init(), fetch('/.well-known/jwks.json').then((r) => r.json())]).then(([, jwks]) => jwks);

fileInput?.addEventListener('change', async () => {
  const file = fileInput.files?.[0];
  if (!file) return;
  // The text goes to the core as it is, so it is read strictly (a key twice is refused).
  const text = await file.text();
  const verdict = verify(text, await ready);
  // A valid file of another invoice must not pass as this page's.
  let fileId = null;
  try {
    fileId = JSON.parse(text)?.invoice?.id ?? null;
  } catch {
    // Not JSON: the verdict already says MALFORMED.
  }
  const pageId = sheet?.dataset.invoiceId;
  if (verdict.valid && pageId && fileId !== pageId) {
    show(fileCheck, { valid: false, code: 'ID_MISMATCH', detail: `this file is invoice ${fileId}, not ${pageId}, the invoice of this page` }, `${file.name}:`);
    return;
  }
  show(fileCheck, verdict, `${file.name}:`);
});

async function main() {
  const jwks = await ready;
  if (sheet && browserCheck) {
    const response = await fetch(`/v1/invoices/${encodeURIComponent(sheet.dataset.invoiceId)}`, { cache: 'no-store' });
    const document_ = await response.json();
    show(browserCheck, verify(document_, jwks), 'Checked again in your browser (WebAssembly core, keys from /.well-known/jwks.json):');
  }
}

main().catch((error) => {
  if (browserCheck) {
    browserCheck.dataset.state = 'error';
    browserCheck.textContent = `The in-browser check could not run: ${error.message}`;
  }
});
