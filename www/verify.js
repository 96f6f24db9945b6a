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

function show(node, verdict, prefix) {
  node.dataset.state = verdict.valid ? 'valid' : 'invalid';
  node.dataset.code = verdict.code;
  node.textContent = `${prefix} ${verdict.valid ? 'valid · 有效' : 'invalid · 无效'} (${verdict.code}: ${verdict.detail})`;
}

// The wasm core and the keys, loaded once; the file check waits for them, so a file chosen
// before they arrive is still checked (the listener is registered at once, not after loading).
const ready = Promise.all([init(), fetch('/.well-known/jwks.json').then((r) => r.json())]).then(([, jwks]) => jwks);

fileInput?.addEventListener('change', async () => {
  const file = fileInput.files?.[0];
  if (!file) return;
  let document_;
  try {
    document_ = JSON.parse(await file.text());
  } catch {
    show(fileCheck, { valid: false, code: 'MALFORMED', detail: 'the file is not JSON' }, `${file.name}:`);
    return;
  }
  show(fileCheck, verify(document_, await ready), `${file.name}:`);
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
