//! `GET /v/{id}`: the printable verification page a buyer reaches from the QR code.
//!
//! Rendered here from the stored document, so it works without JavaScript; `www/verify.js` then
//! checks the signatures again in the browser with the wasm core and the published JWKS.
//! Everything shown is escaped: buyer names, addresses and line descriptions are user input.

use invoice_edge_core::document::{is_uuid, verify, Document, Status};
use invoice_edge_core::qr;
use std::fmt::Write;
use worker::{Env, Headers, Request, Response, Result};

use crate::store;

/// The page's own scripts and the wasm module are same-origin static assets; no inline script,
/// so a buyer name that slipped past escaping still could not run.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// HTML-escapes text for element content and double-quoted attributes (OWASP XSS rule #1/#2).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The base of the links and the QR code: `PUBLIC_BASE_URL`, else the request's own origin.
fn public_base_url(req: &Request, env: &Env) -> String {
    let configured = env
        .var("PUBLIC_BASE_URL")
        .map(|v| v.to_string())
        .ok()
        .filter(|v| !v.trim().is_empty());
    match configured {
        Some(url) => url.trim().trim_end_matches('/').to_string(),
        None => crate::http::request_origin(req).unwrap_or_default(),
    }
}

fn html_response(status: u16, body: String) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "text/html; charset=utf-8")?;
    headers.set("Content-Security-Policy", CONTENT_SECURITY_POLICY)?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    headers.set("Referrer-Policy", "no-referrer")?;
    // The status changes (pending, then final): never serve a stale page from a cache.
    headers.set("Cache-Control", "no-store")?;
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
}

pub async fn get(req: Request, env: &Env, id: &str) -> Result<Response> {
    if !is_uuid(id) {
        return not_found(id);
    }
    let kv = store::invoices(env)?;
    let document = match store::read_document(&kv, id).await {
        Ok(Some(document)) => document,
        Ok(None) => return not_found(id),
        Err(_) => {
            return html_response(
                503,
                shell(
                    "Temporarily unavailable · 暂时无法访问",
                    "<main class=\"sheet\"><h1>Temporarily unavailable <span lang=\"zh-CN\">暂时无法访问</span></h1>\
                     <p>The invoice could not be read just now. Reload this page in a moment.</p></main>",
                    false,
                ),
            )
        }
    };
    let base = public_base_url(&req, env);
    let jwks = crate::config::jwks(env).await;
    html_response(200, render(&document, &base, &jwks))
}

fn not_found(id: &str) -> Result<Response> {
    let body = format!(
        "<main class=\"sheet\"><h1>Invoice not found <span lang=\"zh-CN\">未找到发票</span></h1>\
         <p>There is no invoice <code>{}</code> here. Check the link or scan the QR code on the \
         invoice again.</p><p lang=\"zh-CN\">此处没有该发票。请检查链接或重新扫描发票上的二维码。</p></main>",
        escape(id)
    );
    html_response(404, shell("Invoice not found · 未找到发票", &body, false))
}

/// A page around `main`, with the print stylesheet; `with_script` loads `www/verify.js`.
fn shell(title: &str, main: &str, with_script: bool) -> String {
    let script = if with_script {
        "<script type=\"module\" src=\"/verify.js\"></script>"
    } else {
        ""
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{}</title><style>{STYLE}</style>{script}</head>\
         <body>{main}</body></html>",
        escape(title)
    )
}

fn status_badge(document: &Document) -> String {
    // The edge's number, from issuance: the same before and after the origin archives it.
    let number = format!(
        "<span class=\"number\" id=\"number\">{}</span>",
        escape(&document.invoice.number)
    );
    match (&document.status, &document.rejection) {
        (Status::Final, _) => format!(
            "<span class=\"badge final\">Final <span lang=\"zh-CN\">已开具</span></span>{number}"
        ),
        (Status::Rejected, Some(rejection)) => format!(
            "<span class=\"badge rejected\">Rejected <span lang=\"zh-CN\">已拒绝</span></span>\
             {number}<span class=\"reason\">{}: {}</span>",
            escape(&rejection.code),
            escape(&rejection.detail)
        ),
        _ => format!(
            "<span class=\"badge pending\">Pending sync <span lang=\"zh-CN\">待同步</span></span>{number}"
        ),
    }
}

fn party(title: &str, zh: &str, lines: &[(Option<&str>, &str)]) -> String {
    let mut html =
        format!("<section class=\"party\"><h2>{title} <span lang=\"zh-CN\">{zh}</span></h2><dl>");
    for (label, value) in lines {
        if value.is_empty() {
            continue;
        }
        match label {
            Some(label) => {
                let _ = write!(html, "<dt>{label}</dt><dd>{}</dd>", escape(value));
            }
            None => {
                let _ = write!(html, "<dd class=\"name\">{}</dd>", escape(value));
            }
        }
    }
    html.push_str("</dl></section>");
    html
}

fn address_text(address: Option<&invoice_edge_core::request::Address>) -> String {
    address
        .map(|a| {
            [&a.line, &a.postal_code, &a.city]
                .iter()
                .filter_map(|part| part.as_deref())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn rate_text(rate: Option<invoice_edge_core::request::TaxRate>) -> String {
    rate.map(|r| format!("{r}%")).unwrap_or_else(|| "—".into())
}

fn render(document: &Document, base: &str, jwks: &invoice_edge_core::keys::Jwks) -> String {
    let invoice = &document.invoice;
    let currency = escape(&invoice.currency);
    let id = escape(&invoice.id);
    let page_url = qr::invoice_url(base, &invoice.id).unwrap_or_default();
    let qr_svg = qr::invoice_qr_svg(base, &invoice.id).unwrap_or_else(|error| {
        worker::console_error!("/v/{}: no QR code: {error}", invoice.id);
        String::new()
    });
    let edge_check = serde_json::to_value(document)
        .map(|value| verify(&value, jwks))
        .ok();
    let (edge_valid, edge_detail) = edge_check
        .as_ref()
        .map_or((false, String::new()), |v| (v.valid, v.detail.clone()));
    // A key the JWKS does not list is not a forgery: say the invoice cannot be checked.
    let key_unknown = edge_check
        .as_ref()
        .is_some_and(|v| v.code == invoice_edge_core::document::VerifyCode::UnknownKid);

    let mut html = String::with_capacity(8 * 1024);
    let _ = write!(
        html,
        "<main class=\"sheet\" data-invoice-id=\"{id}\"><header class=\"head\"><div>\
         <h1>Invoice <span lang=\"zh-CN\">发票</span></h1>\
         <p class=\"status\" role=\"status\">{}</p>\
         <dl class=\"meta\"><dt>Issued · 开票时间</dt><dd>{}</dd>\
         <dt>Supply date · 交易日期</dt><dd>{}</dd>\
         <dt>Order · 订单号</dt><dd>{}</dd><dt>Invoice id</dt><dd class=\"mono\">{id}</dd></dl></div>\
         <figure class=\"qr\" aria-label=\"QR code of this page\">{qr_svg}<figcaption>{}</figcaption></figure></header>",
        status_badge(document),
        escape(&invoice.issued_at),
        escape(&invoice.supply_date.to_string()),
        escape(&invoice.order_id),
        escape(&page_url),
    );

    let seller = &invoice.seller;
    let seller_address = address_text(seller.address.as_ref());
    let seller_tax = seller.tax_id.clone().unwrap_or_default();
    html.push_str("<div class=\"parties\">");
    html.push_str(&party(
        "Seller",
        "销售方",
        &[
            (None, seller.name.as_str()),
            (Some("Tax ID · 纳税人识别号"), seller_tax.as_str()),
            (Some("Country · 国家"), seller.country.as_str()),
            (Some("Address · 地址"), seller_address.as_str()),
        ],
    ));
    match &invoice.buyer {
        Some(buyer) => {
            let kind = match buyer.kind {
                invoice_edge_core::request::BuyerKind::Company => "Company · 企业",
                invoice_edge_core::request::BuyerKind::Individual => "Individual · 个人",
            };
            let address = address_text(buyer.address.as_ref());
            html.push_str(&party(
                "Buyer",
                "购买方",
                &[
                    (None, buyer.name.as_deref().unwrap_or("")),
                    (Some("Type · 类型"), kind),
                    (
                        Some("Tax ID · 纳税人识别号"),
                        buyer.tax_id.as_deref().unwrap_or(""),
                    ),
                    (
                        Some("Country · 国家"),
                        buyer.country.as_deref().unwrap_or(""),
                    ),
                    (Some("Email · 邮箱"), buyer.email.as_deref().unwrap_or("")),
                    (Some("Address · 地址"), address.as_str()),
                ],
            ));
        }
        None => html.push_str(&party(
            "Buyer",
            "购买方",
            &[(None, "Consumer · 个人消费者")],
        )),
    }
    html.push_str("</div>");

    let amount_kind = if invoice.prices_include_tax {
        "incl. tax · 含税"
    } else {
        "excl. tax · 不含税"
    };
    let _ = write!(
        html,
        "<table class=\"lines\"><caption>Lines · 明细 <small>(prices {amount_kind}, {currency})</small></caption>\
         <thead><tr><th scope=\"col\">Description · 名称</th><th scope=\"col\" class=\"num\">Qty · 数量</th>\
         <th scope=\"col\" class=\"num\">Unit price · 单价</th><th scope=\"col\" class=\"num\">Tax rate · 税率</th>\
         <th scope=\"col\" class=\"num\">Net · 金额</th><th scope=\"col\" class=\"num\">Tax · 税额</th></tr></thead><tbody>"
    );
    for line in &invoice.lines {
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"num\">{} <small>{}</small></td><td class=\"num\">{}</td>\
             <td class=\"num\">{} <small>{}</small></td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&line.description),
            escape(&line.quantity.to_string()),
            escape(&line.unit_code),
            escape(&line.unit_price.to_string()),
            escape(&rate_text(line.tax_rate)),
            line.tax_category.as_str(),
            line.net_amount,
            line.tax_amount,
        );
    }
    html.push_str("</tbody></table>");

    html.push_str(
        "<div class=\"sums\"><table class=\"breakdown\"><caption>Tax breakdown · 税额明细</caption>\
         <thead><tr><th scope=\"col\">Category · 类别</th><th scope=\"col\" class=\"num\">Rate · 税率</th>\
         <th scope=\"col\" class=\"num\">Taxable · 计税金额</th><th scope=\"col\" class=\"num\">Tax · 税额</th></tr></thead><tbody>",
    );
    for group in &invoice.tax_breakdown {
        let reason = group
            .exemption_reason
            .as_deref()
            .map(|r| format!("<br><small>{}</small>", escape(r)))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}{reason}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            group.tax_category.as_str(),
            escape(&rate_text(group.tax_rate)),
            group.taxable_amount,
            group.tax_amount,
        );
    }
    let totals = &invoice.totals;
    let _ = write!(
        html,
        "</tbody></table><table class=\"totals\"><caption>Totals · 合计</caption><tbody>\
         <tr><th scope=\"row\">Net · 不含税金额</th><td class=\"num\">{currency} {}</td></tr>\
         <tr><th scope=\"row\">Tax · 税额</th><td class=\"num\">{currency} {}</td></tr>\
         <tr class=\"gross\"><th scope=\"row\">Total · 价税合计</th><td class=\"num\" id=\"gross\">{currency} {}</td></tr>\
         <tr><th scope=\"row\">Paid · 已付</th><td class=\"num\">{currency} {}</td></tr>\
         <tr><th scope=\"row\">Payable · 应付</th><td class=\"num\">{currency} {}</td></tr></tbody></table></div>",
        totals.net, totals.tax, totals.gross, totals.paid, totals.payable,
    );
    if let Some(terms) = &invoice.payment_terms {
        let _ = write!(
            html,
            "<p class=\"terms\">Payment terms · 付款条件: {}</p>",
            escape(terms)
        );
    }

    let edge_text = if edge_valid {
        "valid · 有效"
    } else if key_unknown {
        "cannot be checked: key not published · 无法校验：密钥未公布"
    } else {
        "invalid · 无效"
    };
    let _ = write!(
        html,
        "<section class=\"verification\" aria-labelledby=\"verification-title\">\
         <h2 id=\"verification-title\">Verification <span lang=\"zh-CN\">验真</span></h2>\
         <p>Signed by the edge with key <code>{}</code>. The server's check: <strong data-valid=\"{edge_valid}\">{edge_text}</strong> <small>({})</small></p>\
         <p id=\"browser-check\" class=\"browser-check\" role=\"status\" aria-live=\"polite\" data-state=\"checking\">\
         Checking again in your browser with the WebAssembly core and the published keys (/.well-known/jwks.json)…</p>\
         <noscript><p>Enable JavaScript to check the signatures in your own browser.</p></noscript>\
         <div class=\"file-check no-print\"><label for=\"file\">Check a downloaded invoice file (.json) · 校验已下载的发票文件</label> \
         <input type=\"file\" id=\"file\" accept=\"application/json,.json\"><p id=\"file-check\" role=\"status\" aria-live=\"polite\"></p></div>\
         </section>",
        escape(&document.edge_signature.kid),
        escape(&edge_detail),
    );

    html.push_str("<nav class=\"actions no-print\" aria-label=\"Downloads\">");
    let _ = write!(
        html,
        "<a href=\"/v1/invoices/{id}\" download=\"invoice-{id}.json\">Download JSON · 下载 JSON</a>"
    );
    // Pending and final invoices both have their number, so both export (docs/UBL.md).
    if document.status != Status::Rejected {
        let _ = write!(
            html,
            "<a href=\"/v1/invoices/{id}.xml\" id=\"ubl\">Download UBL XML · 下载 UBL XML</a>"
        );
    }
    html.push_str("<button type=\"button\" id=\"print\">Print / PDF · 打印</button></nav></main>");

    let number = &document.invoice.number;
    shell(&format!("Invoice {number} · 发票"), &html, true)
}

/// Screen and print styles: one A4 page, no buttons, no background colours needed.
const STYLE: &str = r#"
:root{color-scheme:light;--ink:#1b2430;--muted:#5b6675;--line:#d9dee5;--accent:#0b5cad;--ok:#13795b;--warn:#9a5b00;--bad:#b42318}
*{box-sizing:border-box}
body{margin:0;background:#eef1f5;color:var(--ink);font:15px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif}
.sheet{max-width:860px;margin:24px auto;background:#fff;padding:32px 40px;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{margin:0 0 6px;font-size:26px}h2{font-size:15px;margin:0 0 6px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.head{display:flex;justify-content:space-between;gap:24px;border-bottom:2px solid var(--ink);padding-bottom:16px}
.qr{margin:0;text-align:center;width:150px}.qr svg{width:150px;height:150px;display:block}.qr figcaption{font-size:10px;color:var(--muted);word-break:break-all}
.badge{display:inline-block;padding:3px 10px;border-radius:999px;font-weight:600;font-size:13px;margin-right:8px}
.badge.final{background:#dcf5ea;color:var(--ok)}.badge.pending{background:#fff1d6;color:var(--warn)}.badge.rejected{background:#fde4e1;color:var(--bad)}
.number{font:600 16px ui-monospace,SFMono-Regular,Menlo,monospace}
.meta{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;margin:10px 0 0;font-size:13px}.meta dt{color:var(--muted)}.meta dd{margin:0}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;word-break:break-all}
.parties{display:grid;grid-template-columns:1fr 1fr;gap:24px;margin:20px 0}
.party dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:2px 12px;font-size:13px}.party dt{color:var(--muted)}.party dd{margin:0}
.party dd.name{grid-column:1/-1;font-weight:600;font-size:15px}
table{width:100%;border-collapse:collapse;font-size:13px;margin:8px 0 16px}caption{text-align:left;font-weight:600;padding:4px 0;color:var(--muted)}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}thead th{background:#f6f8fa;font-weight:600}
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.sums{display:grid;grid-template-columns:1.4fr 1fr;gap:24px;align-items:start}.totals .gross th,.totals .gross td{font-weight:700;font-size:15px;border-top:2px solid var(--ink)}
.verification{border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin-top:8px;font-size:13px}
.browser-check[data-state=valid]{color:var(--ok);font-weight:600}.browser-check[data-state=invalid]{color:var(--bad);font-weight:600}
#file-check[data-state=valid]{color:var(--ok);font-weight:600}#file-check[data-state=invalid]{color:var(--bad);font-weight:600}[data-state=unknown]{color:#9a6700;font-weight:600}
.actions{display:flex;gap:12px;margin-top:16px;flex-wrap:wrap}
.actions a,.actions button{font:inherit;padding:8px 14px;border-radius:6px;border:1px solid var(--accent);color:var(--accent);background:#fff;text-decoration:none;cursor:pointer}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
small{color:var(--muted)}.terms{font-size:13px;color:var(--muted)}
@media (max-width:640px){.sheet{padding:20px}.head,.parties,.sums{display:block}.qr{margin:12px auto}}
@media print{@page{size:A4;margin:12mm}body{background:#fff;font-size:11px}.sheet{box-shadow:none;margin:0;padding:0;max-width:none}
.no-print,noscript{display:none!important}table{page-break-inside:avoid}.head,.parties,.sums{break-inside:avoid}
.badge{border:1px solid currentColor}}
"#;

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
        assert_eq!(escape("北京某某科技有限公司"), "北京某某科技有限公司");
    }
}
