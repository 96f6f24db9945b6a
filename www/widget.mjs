// The widget as an ES module: `import { mount } from 'https://EDGE/widget.mjs'`.
// It runs widget.js itself (the one source) and re-exports its `mount`, with the edge's URL
// taken from this module's own address, as the classic tag takes it from its `src`.
import './widget.js';

const widget = globalThis.InvoiceEdgeWidget;
const edgeBase = new URL('./', import.meta.url).href;

/** mount(element, {merchant, token, lang?, base?, pollMaxMs?}) → {host, destroy()} */
export function mount(target, options = {}) {
  return widget.mount(target, { base: edgeBase, ...options });
}

export const version = widget.version;
