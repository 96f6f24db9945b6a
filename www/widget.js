/*! invoice-edge widget: one tag on the merchant's checkout page asks the buyer for the invoice
 * details and issues a signed invoice at the edge.
 *
 *   <script src="https://EDGE/widget.js" data-merchant="demo" data-token="<checkout token>"
 *           data-lang="zh-CN"></script>
 *
 * This file is the only source. As a classic script it mounts itself where the tag stands;
 * `widget.mjs` imports this same file and re-exports `mount` for ES modules, so nothing is
 * written twice. It is plain strict-mode code for that reason (no `import.meta`, no exports).
 * No framework: a Shadow DOM keeps the merchant's CSS out and ours in.
 */
(function () {
  'use strict';

  var currentScript = typeof document !== 'undefined' ? document.currentScript : null;
  var VERSION = '0.1.0';

  // ---- Texts (zh-CN and en) -----------------------------------------------------------------
  var TEXT = {
    en: {
      title: 'Request an invoice',
      subtitle: 'Issued and signed at once by {seller}',
      cart: 'Your order',
      order: 'Order',
      qty: 'Qty',
      amount: 'Amount',
      net: 'Net',
      tax: 'Tax',
      rate: 'VAT',
      total: 'Total',
      inclTax: 'Prices include tax',
      buyer: 'Invoice to',
      individual: 'Individual',
      company: 'Company',
      kind: 'Invoice type',
      nameIndividual: 'Name (optional)',
      nameCompany: 'Company name',
      taxIdCN: 'Unified social credit code (tax ID)',
      taxId: 'Tax ID / VAT number',
      taxIdHintCN: '18 characters, as on the business licence',
      country: 'Country or region',
      email: 'Email (optional)',
      addressLine: 'Street address',
      city: 'City',
      postalCode: 'Postal code',
      submit: 'Issue invoice',
      submitting: 'Issuing…',
      retry: 'Try again',
      loading: 'Loading…',
      fixErrors: 'Please correct the highlighted fields.',
      networkError: 'The invoice service could not be reached. Your details are kept; try again — you will not be invoiced twice.',
      serverError: 'The invoice could not be issued: {detail}',
      tokenInvalid: 'This checkout link is not valid. Please reload the page.',
      tokenExpired: 'This checkout session has expired. Please reload the page.',
      pending: 'Pending sync',
      pendingNote: 'Numbered, signed and valid now; the tax ledger confirms it shortly. This page updates by itself.',
      final: 'Final',
      rejected: 'Rejected',
      number: 'Invoice number',
      numberPending: 'assigned when synced',
      issued: 'Your invoice',
      view: 'View and print the invoice',
      downloadJson: 'Download JSON',
      qr: 'QR code linking to the verification page',
      statusNow: 'Invoice status: {status}',
      sigValid: 'Signature checked in your browser: valid',
      sigUnknown: 'Signature cannot be checked: key not published',
      sigInvalid: 'Signature check failed',
      already: 'An invoice was already issued for this order.',
      req: 'required',
      missing: 'This field is required.',
      missingName: 'Enter the company name.',
      missingTaxId: 'Enter the company’s tax ID.',
      taxIdFormatCN: 'A unified social credit code has 18 characters: digits and capital letters (no I, O, S, V, Z).',
      taxIdChecksumCN: 'This unified social credit code is not valid: its check character does not match.',
      taxIdFormat: 'This is not a valid tax ID format for {country}.',
      taxIdChecksum: 'This tax ID is not valid: its check digit does not match.',
      taxIdCountry: 'This tax ID carries another country’s prefix.',
      email_: 'Enter a valid email address, like name@example.com.',
      tooLong: 'Too long: at most 500 characters.',
      notSetUp: 'Invoicing is not set up for this site yet, so no invoice can be issued here. Please contact the shop.',
      countries: { CN: 'China mainland', HK: 'Hong Kong', SG: 'Singapore', JP: 'Japan', DE: 'Germany', FR: 'France', GB: 'United Kingdom', US: 'United States' },
    },
    'zh-CN': {
      title: '申请开具发票',
      subtitle: '由 {seller} 即时开具并签名',
      cart: '您的订单',
      order: '订单号',
      qty: '数量',
      amount: '金额',
      net: '不含税金额',
      tax: '税额',
      rate: '税率',
      total: '价税合计',
      inclTax: '价格含税',
      buyer: '发票抬头',
      individual: '个人',
      company: '企业',
      kind: '抬头类型',
      nameIndividual: '姓名（选填）',
      nameCompany: '企业名称',
      taxIdCN: '纳税人识别号（统一社会信用代码）',
      taxId: '税号',
      taxIdHintCN: '18 位，见营业执照',
      country: '国家或地区',
      email: '电子邮箱（选填）',
      addressLine: '详细地址',
      city: '城市',
      postalCode: '邮政编码',
      submit: '开具发票',
      submitting: '正在开具…',
      retry: '重试',
      loading: '加载中…',
      fixErrors: '请更正标出的字段。',
      networkError: '无法连接开票服务。您填写的信息已保留，请重试——不会重复开票。',
      serverError: '未能开具发票：{detail}',
      tokenInvalid: '此结账链接无效，请刷新页面。',
      tokenExpired: '结账会话已过期，请刷新页面。',
      pending: '待同步',
      pendingNote: '发票已编号、签名并立即有效；税务账本将很快确认。本页面会自动更新。',
      final: '已开具',
      rejected: '已拒绝',
      number: '发票号码',
      numberPending: '同步后分配',
      issued: '您的发票',
      view: '查看并打印发票',
      downloadJson: '下载 JSON',
      qr: '指向验真页面的二维码',
      statusNow: '发票状态：{status}',
      sigValid: '已在您的浏览器中校验签名：有效',
      sigUnknown: '签名无法校验：密钥未公布',
      sigInvalid: '签名校验未通过',
      already: '此订单已开具过发票。',
      req: '必填',
      missing: '此项为必填项。',
      missingName: '请填写企业名称。',
      missingTaxId: '请填写纳税人识别号。',
      taxIdFormatCN: '统一社会信用代码应为 18 位数字或大写字母（不含 I、O、S、V、Z）。',
      taxIdChecksumCN: '统一社会信用代码无效：校验位不符。',
      taxIdFormat: '该税号格式不符合 {country} 的规则。',
      taxIdChecksum: '该税号无效：校验位不符。',
      taxIdCountry: '该税号带有其他国家的前缀。',
      email_: '请输入有效的邮箱地址，例如 name@example.com。',
      tooLong: '过长：最多 500 个字符。',
      notSetUp: '本网站尚未开通开票服务，暂时无法在此开具发票。请联系商家。',
      countries: { CN: '中国大陆', HK: '中国香港', SG: '新加坡', JP: '日本', DE: '德国', FR: '法国', GB: '英国', US: '美国' },
    },
  };

  function pickLang(requested) {
    var lang = requested || (typeof navigator !== 'undefined' && navigator.language) || 'en';
    return /^zh/i.test(lang) ? 'zh-CN' : 'en';
  }

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (_, key) {
      return values && values[key] != null ? values[key] : '';
    });
  }

  // ---- Small helpers ------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value == null || value === false) return;
        if (key === 'text') node.textContent = value;
        else if (key.slice(0, 2) === 'on') node.addEventListener(key.slice(2), value);
        else node.setAttribute(key, value === true ? '' : value);
      });
    }
    (children || []).forEach(function (child) {
      if (child != null) node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  /** The claims of a checkout token, read for display only: the edge verifies the HMAC. */
  function decodeToken(token) {
    var parts = String(token || '').split('.');
    if (parts.length !== 3) return null;
    try {
      var b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
      while (b64.length % 4) b64 += '=';
      var bytes = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); });
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      return null;
    }
  }

  var STYLE = [
    ':host{all:initial!important;display:block!important;visibility:visible!important;opacity:1!important;position:static!important;transform:none!important;filter:none!important;clip-path:none!important;contain:content;max-width:560px!important;width:auto!important;height:auto!important;margin:0 0 16px!important;float:none!important}',
    '.w{all:initial;display:block;box-sizing:border-box;font:15px/1.5 system-ui,-apple-system,"Segoe UI","PingFang SC","Hiragino Sans GB","Noto Sans CJK SC","Microsoft YaHei",sans-serif;color:#1b2430;background:#fff;border:1px solid #d5dbe3;border-radius:12px;padding:20px 22px;text-align:left;letter-spacing:normal;word-spacing:normal;text-transform:none;white-space:normal;direction:ltr}',
    // :where() keeps the reset at zero specificity, so the element rules below win over it.
    ':where(.w *,.w *::before,.w *::after){box-sizing:border-box;font:inherit;color:inherit;letter-spacing:inherit;margin:0;padding:0;text-transform:none}',
    'h2{font-size:18px;font-weight:650;line-height:1.3}.sub{color:#5b6675;font-size:13px;margin-top:2px}',
    'h3{font-size:14px;font-weight:650;color:#2d3846;margin:18px 0 6px}',
    'table{width:100%;border-collapse:collapse;font-size:14px}th,td{padding:5px 0;text-align:left;vertical-align:top;font-weight:400}td.n,th.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums;padding-left:12px}',
    'tbody tr+tr td,tbody tr+tr th{border-top:1px solid #eef1f4}.q{color:#5b6675;font-size:12px;display:block}tfoot th,tfoot td{padding-top:4px;color:#4a5563;font-size:13px}tfoot tr.g th,tfoot tr.g td{font-weight:700;color:#1b2430;font-size:15px;border-top:1px solid #1b2430;padding-top:6px}',
    'fieldset{border:0;margin-bottom:12px;min-width:0}legend{font-size:13px;font-weight:600;color:#2d3846;margin-bottom:6px}',
    '.seg label{margin-right:8px;display:inline-flex;align-items:center;gap:6px;border:1px solid #c4ccd6;border-radius:8px;padding:7px 14px;cursor:pointer;background:#fff}.seg input{accent-color:#0b5cad;width:16px;height:16px}',
    '.seg label:has(input:checked){border-color:#0b5cad;background:#eef5fd;color:#0a4f95;font-weight:600}',
    '.f{display:block;margin-bottom:12px}.f>label{display:block;font-size:13px;font-weight:600;margin-bottom:4px;color:#2d3846}.hint{font-weight:400;color:#5b6675}',
    'input[type=text],input[type=email],select{display:block;width:100%;border:1px solid #9aa6b4;border-radius:8px;padding:9px 11px;background:#fff;color:#1b2430;min-height:40px;-webkit-appearance:none;appearance:none}',
    'select{background-image:linear-gradient(45deg,transparent 50%,#4a5563 50%),linear-gradient(135deg,#4a5563 50%,transparent 50%);background-position:calc(100% - 16px) 50%,calc(100% - 11px) 50%;background-size:5px 5px;background-repeat:no-repeat;padding-right:28px}',
    'input[aria-invalid=true]{border-color:#b42318;background:#fffafa}.err{display:block;color:#b42318;font-size:13px;margin-top:4px}.err:empty{display:none}',
    '.row{display:grid;grid-template-columns:1fr 1fr;gap:0 12px}',
    ':focus-visible{outline:3px solid #f5a623!important;outline-offset:2px}',
    'button{display:inline-flex;align-items:center;justify-content:center;gap:8px;border:0;border-radius:8px;padding:11px 18px;background:#0b5cad;color:#fff;font-weight:650;cursor:pointer;min-height:44px}button[disabled]{opacity:.6;cursor:progress}button.sec{background:#fff;color:#0b5cad;border:1px solid #0b5cad}',
    '.go{width:100%;margin-top:6px;font-size:16px}.alert{border-radius:8px;padding:10px 12px;font-size:14px;margin:10px 0;background:#fde4e1;color:#8a1c12}.alert:empty{display:none}.alert button{margin-top:8px}',
    '.res{display:grid;grid-template-columns:1fr 142px;gap:16px;align-items:start}.qr svg{width:132px;height:132px;display:block}.qr{border:1px solid #e3e7ec;border-radius:8px;padding:4px;background:#fff}',
    '.badge{display:inline-block;padding:3px 11px;border-radius:999px;font-weight:650;font-size:13px}.b-pending_sync{background:#fff1d6;color:#7a4600}.b-final{background:#dcf5ea;color:#0d6148}.b-rejected{background:#fde4e1;color:#8a1c12}',
    '.num{font:600 16px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin-top:6px;word-break:break-all}.note{color:#5b6675;font-size:13px;margin-top:6px}',
    '.check{font-size:13px;margin-top:6px}.check[data-state=valid]{color:#0d6148}.check[data-state=unknown]{color:#7a4600}.check[data-state=invalid]{color:#8a1c12}',
    '.links{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}.links a{color:#0b5cad;font-weight:600;text-decoration:underline;text-underline-offset:3px}',
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
    // The author rules above (.f{display:block} and the like) would beat the user agent's
    // [hidden]{display:none}: a hidden field must stay hidden (issue 21, a tax ID on screen
    // but never sent).
    '[hidden]{display:none!important}',
    '@media (max-width:480px){.res{grid-template-columns:1fr}.row{grid-template-columns:1fr}}',
  ].join('');

  var uid = 0;
  /** Pages told about an origin the merchant has not listed: the console hears it once. */
  var originWarned = false;

  /**
   * Mounts the widget into `target` (an element; its content is replaced by a shadow root).
   * options: {merchant, token, lang, base (the edge's URL, default: where widget.js came
   * from), pollMaxMs}. Returns {host, destroy()}.
   */
  function mount(target, options) {
    options = options || {};
    if (!target) throw new Error('invoice-edge widget: mount(target, options) needs an element');
    var base = new URL(options.base || (currentScript && currentScript.src) || location.href, location.href);
    base = new URL('./', base);
    var lang = pickLang(options.lang);
    var t = TEXT[lang];
    var id = 'iew' + ++uid;
    var pollMaxMs = Number(options.pollMaxMs) > 0 ? Number(options.pollMaxMs) : 15000;

    var host = target;
    var root = host.shadowRoot || host.attachShadow({ mode: 'open' });
    host.setAttribute('data-state', 'loading');
    host.setAttribute('lang', lang);
    root.textContent = '';
    root.appendChild(el('style', { text: STYLE }));
    var wrap = el('div', { class: 'w', lang: lang, part: 'widget' });
    root.appendChild(wrap);
    var live = el('p', { class: 'sr', 'aria-live': 'polite', role: 'status' });
    wrap.appendChild(el('p', { class: 'sub', text: t.loading }));
    var destroyed = false;
    var pollTimer = null;
    var state = { wasm: null, profile: null, claims: decodeToken(options.token), submitted: false, body: null, document: null };

    function announce(text) {
      live.textContent = '';
      // A fresh text node each time, so screen readers announce repeated statuses too.
      setTimeout(function () { live.textContent = text; }, 30);
    }

    function api(path) {
      return new URL(path, base).href;
    }

    function loadWasm() {
      return import(api('pkg/invoice_edge_browser.js'))
        .then(function (mod) { return mod.default().then(function () { return mod; }); })
        .catch(function () { return null; }); // the edge still validates everything
    }

    function loadProfile() {
      return fetch(api('v1/merchants/' + encodeURIComponent(options.merchant) + '/checkout'))
        .then(function (r) { return r.ok ? r.json() : null; })
        .catch(function () { return null; });
    }

    Promise.all([loadWasm(), loadProfile()]).then(function (loaded) {
      if (destroyed) return;
      state.wasm = loaded[0];
      state.profile = loaded[1] || { seller: { name: options.merchant, country: 'CN' }, require_buyer_address: false };
      // A page on another origin than the edge issues by a cross-origin POST, which the edge
      // allows only for the merchant's listed origins (docs/ARCHITECTURE.md, "CORS"). The edge
      // says at load whether this page's is one, so the buyer is not left to fail at submit.
      // A same-origin page needs no CORS (and its GET carries no Origin to judge by).
      state.blocked = state.profile.origin_allowed === false && location.origin !== base.origin;
      if (state.blocked && !originWarned) {
        originWarned = true;
        console.error('invoice-edge widget: merchant "' + options.merchant + '" does not list this page\'s origin ' + location.origin +
          ', so the edge refuses its invoices (CORS) and the widget shows the buyer that invoicing is not set up. Add the origin to the merchant and load the file again:\n' +
          '  invoice-edge merchant update MERCHANT_FILE --allow-origin ' + location.origin + ' > MERCHANT_FILE.new && mv MERCHANT_FILE.new MERCHANT_FILE\n' +
          '  scripts/load-merchant.sh MERCHANT_FILE --remote');
      }
      render();
    });

    // ---- Rendering ----------------------------------------------------------------------
    var fields = {};
    var alertBox, submitButton, formEl;

    function render() {
      wrap.textContent = '';
      wrap.appendChild(live);
      var claims = state.claims;
      wrap.appendChild(el('h2', { text: t.title }));
      wrap.appendChild(el('p', { class: 'sub', text: fill(t.subtitle, { seller: state.profile.seller.name }) }));
      if (state.blocked) {
        // No form and no retry: nothing the buyer does here can succeed.
        wrap.appendChild(el('p', { class: 'alert', role: 'alert', 'data-code': 'ORIGIN_NOT_ALLOWED', text: t.notSetUp }));
        host.setAttribute('data-state', 'error');
        return;
      }
      var unreadable = false;
      if (state.wasm) {
        try { checkoutRequest({}); } catch (problem) { unreadable = !!(problem && problem.code === 'TOKEN_MALFORMED'); }
      }
      if (unreadable || !claims || !claims.cart || !Array.isArray(claims.cart.lines)) {
        wrap.appendChild(el('p', { class: 'alert', role: 'alert', text: t.tokenInvalid }));
        host.setAttribute('data-state', 'error');
        return;
      }
      if (claims.exp && claims.exp * 1000 < Date.now()) {
        wrap.appendChild(el('p', { class: 'alert', role: 'alert', text: t.tokenExpired }));
        host.setAttribute('data-state', 'error');
        return;
      }
      wrap.appendChild(renderCart(claims));
      var result = el('div', { class: 'result' });
      wrap.appendChild(result);
      state.resultBox = result;
      wrap.appendChild(renderForm());
      host.setAttribute('data-state', 'ready');
    }

    /**
     * The request the edge will assemble from the token and `body` (what this widget posts),
     * made by the core itself (`checkoutRequest`), so what is previewed and checked here is
     * what gets issued. Throws the core's problem (TOKEN_MALFORMED for an unreadable token).
     */
    function checkoutRequest(body) {
      return state.wasm.checkoutRequest(String(options.token || ''), body);
    }

    function renderCart(claims) {
      var section = el('section', { 'aria-labelledby': id + '-cart' });
      section.appendChild(el('h3', { id: id + '-cart', text: t.cart + ' · ' + t.order + ' ' + claims.order_id }));
      // Every figure is the core's (preview): line amounts, net, tax and total are never added
      // or rounded here, so the cart shows exactly what the edge will issue.
      var computed = null;
      if (state.wasm) {
        try { computed = state.wasm.preview(checkoutRequest({})); } catch (e) { computed = null; }
      }
      var tbody = el('tbody');
      (computed ? computed.lines : claims.cart.lines).forEach(function (line, index) {
        var amount = computed ? computed.line_amounts[index] : '';
        tbody.appendChild(el('tr', null, [
          el('td', null, [line.description, el('span', { class: 'q', text: line.quantity + ' × ' + line.unit_price + (line.tax_rate ? ' · ' + t.rate + ' ' + line.tax_rate + '%' : '') })]),
          el('td', { class: 'n', 'data-amount': amount, text: amount }),
        ]));
      });
      var table = el('table', { class: 'cart' }, [
        el('caption', { class: 'sr', text: t.cart }),
        el('thead', { class: 'sr' }, [el('tr', null, [el('th', { scope: 'col', text: t.cart }), el('th', { scope: 'col', class: 'n', text: t.amount })])]),
        tbody,
      ]);
      if (computed) {
        var cur = claims.currency + ' ';
        table.appendChild(el('tfoot', null, [
          el('tr', null, [el('th', { scope: 'row', text: t.net }), el('td', { class: 'n', 'data-net': computed.totals.net, text: cur + computed.totals.net })]),
          el('tr', null, [el('th', { scope: 'row', text: t.tax }), el('td', { class: 'n', 'data-tax': computed.totals.tax, text: cur + computed.totals.tax })]),
          el('tr', { class: 'g' }, [el('th', { scope: 'row', text: t.total }), el('td', { class: 'n', 'data-total': computed.totals.gross, text: cur + computed.totals.gross })]),
        ]));
      }
      section.appendChild(table);
      return section;
    }

    function field(name, label, input, hint) {
      var errId = id + '-' + name + '-err';
      input.setAttribute('id', id + '-' + name);
      input.setAttribute('name', name);
      input.setAttribute('aria-describedby', errId);
      var err = el('span', { class: 'err', id: errId });
      var labelNode = el('label', { for: id + '-' + name }, [label, hint ? el('span', { class: 'hint', text: ' · ' + hint }) : null]);
      var wrapper = el('div', { class: 'f', 'data-field': name }, [labelNode, input, err]);
      fields[name] = { input: input, err: err, wrapper: wrapper, label: labelNode, touched: false };
      input.addEventListener('input', function () { scheduleCheck(); });
      input.addEventListener('blur', function () { fields[name].touched = true; check(); });
      return wrapper;
    }

    function renderForm() {
      var profile = state.profile;
      var form = el('form', { novalidate: true, 'aria-labelledby': id + '-buyer' });
      formEl = form;
      form.appendChild(el('h3', { id: id + '-buyer', text: t.buyer }));
      var kind = el('fieldset', { class: 'seg', role: 'radiogroup' }, [
        el('legend', { text: t.kind }),
        el('label', null, [el('input', { type: 'radio', name: 'kind', value: 'individual', checked: true }), t.individual]),
        el('label', null, [el('input', { type: 'radio', name: 'kind', value: 'company' }), t.company]),
      ]);
      kind.addEventListener('change', function () { updateKind(); check(); });
      form.appendChild(kind);
      form.appendChild(field('name', t.nameIndividual, el('input', { type: 'text', autocomplete: 'name', maxlength: '500' })));
      var country = el('select', { autocomplete: 'country' });
      var sellerCountry = (profile.seller && profile.seller.country) || 'CN';
      var codes = Object.keys(t.countries);
      if (codes.indexOf(sellerCountry) < 0) codes.unshift(sellerCountry);
      codes.forEach(function (code) {
        country.appendChild(el('option', { value: code, selected: code === sellerCountry, text: (t.countries[code] || code) + ' (' + code + ')' }));
      });
      var taxInput = el('input', { type: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', maxlength: '40', inputmode: 'text' });
      form.appendChild(field('tax_id', t.taxIdCN, taxInput, t.taxIdHintCN));
      // A tax ID arriving while 个人 is selected (autofill, a script, a field shown by an old
      // stylesheet) means a company buyer: switch to 企业 and show it, rather than drop it.
      taxInput.addEventListener('input', function () {
        if (kindValue() === 'individual' && taxInput.value.trim()) {
          formEl.querySelector('input[name=kind][value=company]').checked = true;
          updateKind();
        }
      });
      form.appendChild(field('country', t.country, country));
      country.addEventListener('change', function () { updateKind(); check(); });
      form.appendChild(field('email', t.email, el('input', { type: 'email', autocomplete: 'email', maxlength: '500' })));
      if (profile.require_buyer_address) {
        form.appendChild(field('line', t.addressLine, el('input', { type: 'text', autocomplete: 'street-address', required: true, 'aria-required': 'true', maxlength: '500' })));
        form.appendChild(el('div', { class: 'row' }, [
          field('city', t.city, el('input', { type: 'text', autocomplete: 'address-level2', required: true, 'aria-required': 'true', maxlength: '500' })),
          field('postal_code', t.postalCode, el('input', { type: 'text', autocomplete: 'postal-code', required: true, 'aria-required': 'true', maxlength: '500' })),
        ]));
      }
      alertBox = el('div', { class: 'alert', role: 'alert' });
      form.appendChild(alertBox);
      submitButton = el('button', { type: 'submit', class: 'go', text: t.submit });
      form.appendChild(submitButton);
      form.addEventListener('submit', function (event) { event.preventDefault(); submit(); });
      updateKind();
      return form;
    }

    function kindValue() {
      var checked = formEl.querySelector('input[name=kind]:checked');
      return checked ? checked.value : 'individual';
    }

    function updateKind() {
      var company = kindValue() === 'company';
      var cn = fields.country.input.value === 'CN';
      fields.tax_id.wrapper.hidden = !company;
      fields.tax_id.label.firstChild.textContent = cn ? t.taxIdCN : t.taxId;
      fields.tax_id.label.lastChild.textContent = cn ? ' · ' + t.taxIdHintCN : '';
      fields.name.label.firstChild.textContent = company ? t.nameCompany : t.nameIndividual;
      setRequired(fields.tax_id.input, company);
      setRequired(fields.name.input, company);
    }

    function setRequired(input, required) {
      if (required) { input.setAttribute('required', ''); input.setAttribute('aria-required', 'true'); }
      else { input.removeAttribute('required'); input.removeAttribute('aria-required'); }
    }

    function value(name) {
      return fields[name] ? fields[name].input.value.trim() : '';
    }

    function buyer() {
      var company = kindValue() === 'company';
      var result = { kind: company ? 'company' : 'individual', country: value('country') };
      if (value('name')) result.name = value('name');
      if (company && value('tax_id')) result.tax_id = value('tax_id');
      if (value('email')) result.email = value('email');
      if (state.profile.require_buyer_address) {
        result.address = {};
        ['line', 'city', 'postal_code'].forEach(function (k) { if (value(k)) result.address[k] = value(k); });
      }
      return result;
    }

    /** The message for one error code at one field, in the widget's language. */
    function message(code, name, detail) {
      var cn = value('country') === 'CN';
      switch (code) {
        case 'MISSING_FIELD':
        case 'EMPTY_STRING':
          return name === 'name' ? t.missingName : name === 'tax_id' ? t.missingTaxId : t.missing;
        case 'TAX_ID_FORMAT': return cn ? t.taxIdFormatCN : fill(t.taxIdFormat, { country: value('country') });
        case 'TAX_ID_CHECKSUM': return cn ? t.taxIdChecksumCN : t.taxIdChecksum;
        case 'TAX_ID_COUNTRY_MISMATCH': return t.taxIdCountry;
        case 'INVALID_EMAIL': return t.email_;
        case 'STRING_TOO_LONG': return t.tooLong;
        default: return detail || code;
      }
    }

    var POINTERS = { '/buyer/name': 'name', '/buyer/tax_id': 'tax_id', '/buyer/email': 'email', '/buyer/country': 'country', '/buyer/address/line': 'line', '/buyer/address/city': 'city', '/buyer/address/postal_code': 'postal_code', '/buyer/address': 'line' };

    /** Every problem with the buyer: the widget's own required fields plus the core's checks. */
    function problems() {
      var found = {};
      var b = buyer();
      if (b.kind === 'company') {
        if (!b.name) found.name = { code: 'MISSING_FIELD' };
        if (!b.tax_id) found.tax_id = { code: 'MISSING_FIELD' };
      }
      if (state.profile.require_buyer_address) {
        ['line', 'city', 'postal_code'].forEach(function (k) { if (!value(k)) found[k] = { code: 'MISSING_FIELD' }; });
      }
      if (state.wasm) {
        if (b.tax_id) {
          var tax = state.wasm.checkTaxId(b.country, b.tax_id);
          if (!tax.valid) found.tax_id = { code: tax.code, detail: tax.detail };
        }
        var problem;
        try { problem = state.wasm.validate(checkoutRequest({ buyer: b })); } catch (thrown) { problem = thrown; }
        ((problem && problem.errors) || []).forEach(function (error) {
          var name = POINTERS[error.pointer];
          if (name && !found[name]) found[name] = { code: error.code, detail: error.detail };
        });
      }
      return found;
    }

    var checkTimer = null;
    function scheduleCheck() {
      clearTimeout(checkTimer);
      checkTimer = setTimeout(check, 120);
    }

    /** Shows the problems of touched fields (all of them after a submit attempt). */
    function check(all) {
      if (!formEl) return {};
      var found = problems();
      Object.keys(fields).forEach(function (name) {
        var f = fields[name];
        var p = found[name];
        // The tax ID is checked as it is typed, once it is long enough to judge.
        var typing = name === 'tax_id' && f.input.value.trim().length >= 15;
        var show = p && !f.wrapper.hidden && (all || state.submitted || f.touched || typing);
        f.err.textContent = show ? message(p.code, name, p.detail) : '';
        if (show) { f.input.setAttribute('aria-invalid', 'true'); f.input.setAttribute('data-code', p.code); }
        else { f.input.removeAttribute('aria-invalid'); f.input.removeAttribute('data-code'); }
      });
      return found;
    }

    // ---- Submitting, retrying, polling ----------------------------------------------------
    function submit() {
      if (state.inFlight) return;
      state.submitted = true;
      var found = check(true);
      var names = Object.keys(fields).filter(function (n) { return found[n] && !fields[n].wrapper.hidden; });
      if (names.length) {
        alertBox.textContent = t.fixErrors;
        fields[names[0]].input.focus();
        return;
      }
      alertBox.textContent = '';
      // One body per attempt series: a retry resends exactly this, and the token's order id
      // makes the edge answer with the same invoice however often it arrives.
      state.body = JSON.stringify({ buyer: buyer() });
      send();
    }

    function send() {
      state.inFlight = true;
      submitButton.disabled = true;
      submitButton.textContent = t.submitting;
      host.setAttribute('data-state', 'submitting');
      fetch(api('v1/invoices?merchant=' + encodeURIComponent(options.merchant)), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Checkout-Token': options.token },
        body: state.body,
      }).then(function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          return { response: response, body: body };
        });
      }).then(function (answer) {
        state.inFlight = false;
        var status = answer.response.status;
        var body = answer.body;
        if ((status === 200 || status === 201) && body && body.invoice) return issued(body);
        if (status >= 500 || status === 429) return failed(body && body.detail ? fill(t.serverError, { detail: body.detail }) : t.networkError, true);
        if (body && body.code === 'ORDER_ALREADY_INVOICED') return failed(t.already + ' ' + (body.detail || ''), false);
        showServerProblem(body);
      }).catch(function () {
        state.inFlight = false;
        failed(t.networkError, true);
      });
    }

    function resetButton() {
      submitButton.disabled = false;
      submitButton.textContent = t.submit;
      host.setAttribute('data-state', 'ready');
    }

    function failed(text, retryable) {
      resetButton();
      host.setAttribute('data-state', retryable ? 'retry' : 'error');
      alertBox.textContent = '';
      alertBox.appendChild(el('p', { text: text }));
      if (retryable) {
        alertBox.appendChild(el('button', { type: 'button', class: 'sec retry', text: t.retry, onclick: function () { alertBox.textContent = ''; send(); } }));
      }
    }

    function showServerProblem(body) {
      resetButton();
      var shown = false;
      ((body && body.errors) || []).forEach(function (error) {
        var name = POINTERS[error.pointer];
        if (name && fields[name]) {
          fields[name].err.textContent = message(error.code, name, error.detail);
          fields[name].input.setAttribute('aria-invalid', 'true');
          fields[name].input.setAttribute('data-code', error.code);
          if (!shown) fields[name].input.focus();
          shown = true;
        }
      });
      alertBox.textContent = shown ? t.fixErrors : fill(t.serverError, { detail: (body && (body.detail || body.title)) || '' });
      if (body && /^TOKEN_/.test(body.code || '')) alertBox.textContent = body.code === 'TOKEN_EXPIRED' ? t.tokenExpired : t.tokenInvalid;
    }

    function statusLabel(status) {
      return status === 'final' ? t.final : status === 'rejected' ? t.rejected : t.pending;
    }

    function issued(document_) {
      state.document = document_;
      state.verdict = null;
      if (formEl) { formEl.remove(); formEl = null; }
      showResult();
      var number = document_.invoice.number || (document_.final && document_.final.number);
      announce(fill(t.statusNow, { status: statusLabel(document_.status) }) + (number ? ' · ' + number : ''));
      if (document_.status === 'pending_sync') poll(1000);
      checkSignature(document_);
    }

    /**
     * Checks the document's signatures here, with the wasm core and the published keys, as the
     * verification page does (www/verify.js). A key the JWKS does not list is not a forgery:
     * UNKNOWN_KID is "cannot be checked: key not published", never "invalid" (docs/SECURITY.md).
     */
    function checkSignature(doc) {
      if (!state.wasm) return;
      fetch(api('.well-known/jwks.json'), { cache: 'no-store' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (jwks) {
          if (destroyed || !jwks || state.document !== doc) return;
          state.verdict = state.wasm.verify(doc, jwks);
          showResult();
        })
        .catch(function () { /* no check shown: the edge's answer stands */ });
    }

    function verdictLine(verdict) {
      var unknownKey = verdict.code === 'UNKNOWN_KID';
      var shown = verdict.valid ? 'valid' : unknownKey ? 'unknown' : 'invalid';
      var text = verdict.valid ? t.sigValid : unknownKey ? t.sigUnknown : t.sigInvalid;
      return el('p', { class: 'check', 'data-state': shown, 'data-code': verdict.code, text: text + ' (' + verdict.code + ')' });
    }

    function showResult() {
      var doc = state.document;
      var inv = doc.invoice;
      var box = state.resultBox;
      box.textContent = '';
      host.setAttribute('data-state', doc.status);
      var badge = el('span', { class: 'badge b-' + doc.status, 'data-status': doc.status, text: statusLabel(doc.status) });
      var info = el('div', null, [el('h3', { text: t.issued }), badge]);
      // Version 2: the number is the edge's, from the first answer; `final` repeats it.
      var number = inv.number || (doc.final && doc.final.number);
      if (number) {
        info.appendChild(el('p', { class: 'num' }, [el('span', { class: 'sr', text: t.number + ': ' }), el('span', { class: 'number', text: number })]));
      } else {
        info.appendChild(el('p', { class: 'num' }, [t.number + ': ', el('span', { class: 'number', text: t.numberPending })]));
      }
      if (doc.status === 'rejected' && doc.rejection) {
        info.appendChild(el('p', { class: 'note reason', text: doc.rejection.code + ': ' + doc.rejection.detail }));
      } else if (doc.status === 'pending_sync') {
        info.appendChild(el('p', { class: 'note', text: t.pendingNote }));
      }
      if (state.verdict) info.appendChild(verdictLine(state.verdict));
      var cur = inv.currency + ' ';
      info.appendChild(el('table', { class: 'totals' }, [el('tbody', null, [
        el('tr', null, [el('th', { scope: 'row', text: t.net }), el('td', { class: 'n', text: cur + inv.totals.net })]),
        el('tr', null, [el('th', { scope: 'row', text: t.tax }), el('td', { class: 'n', text: cur + inv.totals.tax })]),
        el('tr', { class: 'g' }, [el('th', { scope: 'row', text: t.total }), el('td', { class: 'n', text: cur + inv.totals.gross })]),
      ])]));
      var pageUrl = api('v/' + encodeURIComponent(inv.id));
      var json = new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' });
      if (state.blobUrl) URL.revokeObjectURL(state.blobUrl);
      state.blobUrl = URL.createObjectURL(json);
      info.appendChild(el('p', { class: 'links' }, [
        el('a', { href: pageUrl, target: '_blank', rel: 'noopener', class: 'view', text: t.view }),
        el('a', { href: state.blobUrl, download: 'invoice-' + (number || inv.id) + '.json', class: 'json', text: t.downloadJson }),
      ]));
      var qr = el('div', { class: 'qr', role: 'img', 'aria-label': t.qr });
      if (state.wasm) {
        try {
          // The SVG comes from our own core (no user text in it); parse it, never innerHTML user data.
          var svg = new DOMParser().parseFromString(state.wasm.invoiceQrSvg(base.origin, inv.id), 'image/svg+xml').documentElement;
          svg.setAttribute('aria-hidden', 'true');
          qr.appendChild(document.importNode(svg, true));
        } catch (e) { /* no QR: the link is still there */ }
      }
      box.appendChild(el('div', { class: 'res' }, [info, qr]));
    }

    function poll(delay) {
      clearTimeout(pollTimer);
      pollTimer = setTimeout(function () {
        if (destroyed) return;
        fetch(api('v1/invoices/' + encodeURIComponent(state.document.invoice.id)), { cache: 'no-store' })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (doc) {
            if (destroyed) return;
            if (doc && doc.invoice && doc.status !== 'pending_sync') {
              state.document = doc;
              state.verdict = null;
              showResult();
              checkSignature(doc);
              announce(fill(t.statusNow, { status: statusLabel(doc.status) }) + (doc.final ? ' · ' + doc.final.number : ''));
              return;
            }
            poll(Math.min(delay * 2, pollMaxMs));
          })
          .catch(function () { poll(Math.min(delay * 2, pollMaxMs)); });
      }, delay);
    }

    return {
      host: host,
      destroy: function () {
        destroyed = true;
        clearTimeout(pollTimer);
        clearTimeout(checkTimer);
        if (state.blobUrl) URL.revokeObjectURL(state.blobUrl);
        root.textContent = '';
      },
    };
  }

  globalThis.InvoiceEdgeWidget = { mount: mount, version: VERSION };

  // The one-tag form: mount right where the <script> tag stands (or into data-target).
  if (currentScript && currentScript.dataset && currentScript.dataset.merchant) {
    var data = currentScript.dataset;
    var target = data.target ? document.querySelector(data.target) : null;
    if (!target) {
      target = document.createElement('invoice-edge-widget');
      currentScript.parentNode.insertBefore(target, currentScript);
    }
    mount(target, { merchant: data.merchant, token: data.token, lang: data.lang, pollMaxMs: data.pollMaxMs });
  }
})();
