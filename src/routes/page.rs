//! `GET /v/{id}`: the printable verification page a buyer reaches from the QR code.
//!
//! Rendered here from the stored document, so it works without JavaScript; `www/verify.js` then
//! checks the signatures again in the browser with the wasm core and the published JWKS.
//! This file builds the page's data (its view model) and writes no markup: the layout is
//! `www/templates/invoice-page.html` (src/templates.rs), whose engine escapes every value, since
//! buyer names, addresses and line descriptions are user input.

use invoice_edge_core::date::{parse_rfc3339_millis, rfc3339_millis};
use invoice_edge_core::document::model::{is_uuid, Document, Kind, Status};
use invoice_edge_core::document::verify::{verify, VerifyCode};
use invoice_edge_core::keys::Jwks;
use invoice_edge_core::names;
use invoice_edge_core::numbering::UtcOffset;
use invoice_edge_core::qr;
use invoice_edge_core::request::{Address, BuyerKind};
use invoice_edge_core::template::{Record, TrustedSvg};
use invoice_edge_core::Code;
use worker::{Env, Headers, Request, Response, Result};

use crate::store;
use crate::templates::Page;

/// The page's own scripts and the wasm module are same-origin static assets; no inline script,
/// so a buyer name that slipped past escaping still could not run.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
     connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

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

/// `page` rendered with `data`, with the page's headers. A template that does not render is a
/// bug the unit tests catch (src/templates.rs compiles every page, the tests below render this
/// one); should one ship, the answer is the catalogue's INTERNAL, not a half-written page.
fn html_response(status: u16, page: Page, data: &Record) -> Result<Response> {
    let body = match page.render(data) {
        Ok(body) => body,
        Err(error) => {
            worker::console_error!("{page:?} page: {error}");
            return crate::http::problem(Code::Internal, "the page could not be rendered");
        }
    };
    let headers = Headers::new();
    headers.set("Content-Type", "text/html; charset=utf-8")?;
    headers.set("Content-Security-Policy", CONTENT_SECURITY_POLICY)?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    // Cache-Control: private, no-store (the status changes, pending then final, and the page
    // shows the buyer), Referrer-Policy: no-referrer, X-Robots-Tag: noindex: a capability URL.
    crate::http::capability_url_headers(&headers)?;
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
        Err(_) => return html_response(503, Page::Unavailable, &Record::new()),
    };
    let base = public_base_url(&req, env);
    let jwks = crate::config::jwks(env).await;
    // Times in the merchant's own offset, as its numbers' years and supply dates are (issue 21);
    // a merchant that can no longer be read leaves the page in UTC rather than failing it.
    let offset = crate::merchants::load(env, &document.invoice.merchant)
        .await
        .ok()
        .flatten()
        .map(|merchant| merchant.utc_offset)
        .unwrap_or_default();
    let credit_notes = match document.invoice.kind {
        Kind::Invoice => credit_notes(env, &document, offset).await,
        Kind::CreditNote => Vec::new(),
    };
    html_response(
        200,
        Page::Invoice,
        &invoice_view(&document, &base, &jwks, offset, credit_notes),
    )
}

/// An invoice's credit notes, listed from its series' object (docs/ARCHITECTURE.md, "Credit
/// notes"). A failed call shows no list rather than no page: the page's subject is the invoice.
/// The list is read as plain JSON, not as typed documents: the worker has no other use for a
/// `Document` deserializer, and the page shows only a few fields (docs/PERFORMANCE.md, size).
async fn credit_notes(env: &Env, document: &Document, offset: UtcOffset) -> Vec<Record> {
    let invoice = &document.invoice;
    let list =
        crate::series::client::credit_notes(env, &invoice.merchant, &invoice.series, &invoice.id)
            .await
            .and_then(|text| {
                invoice_edge_core::json_reader::parse_json(text.as_bytes())
                    .map_err(|e| worker::Error::RustError(e.detail))
            });
    match list {
        Ok(serde_json::Value::Array(notes)) => notes
            .iter()
            .map(|note| credit_note_row(note, offset))
            .collect(),
        Ok(_) => Vec::new(),
        Err(error) => {
            worker::console_error!("/v/{}: no credit-note list: {error}", invoice.id);
            Vec::new()
        }
    }
}

/// One row of an invoice's credit-note list, from a credit note's current document.
fn credit_note_row(note: &serde_json::Value, offset: UtcOffset) -> Record {
    let text = |pointer: &str| {
        note.pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Record::new()
        .with("id", text("/invoice/id"))
        .with("number", text("/invoice/number"))
        .with(
            "issued_local",
            local_time(&text("/invoice/issued_at"), offset),
        )
        .with("issued_at", text("/invoice/issued_at"))
        .with("reason_code", text("/invoice/reason_code"))
        .with("gross", text("/invoice/totals/gross"))
        .with("status_final", text("/status") == "final")
}

fn not_found(id: &str) -> Result<Response> {
    html_response(404, Page::NotFound, &Record::new().with("id", id))
}

fn address_text(address: Option<&Address>) -> String {
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

/// A signed `issued_at` (UTC) at `offset`: `2026-12-01 23:10:05 +08:00`; as signed if unreadable.
fn local_time(issued_at: &str, offset: UtcOffset) -> String {
    match parse_rfc3339_millis(issued_at) {
        Some(ms) => {
            let local = rfc3339_millis(ms + i64::from(offset.minutes()) * 60_000);
            format!("{} {} {offset}", &local[..10], &local[11..19])
        }
        None => issued_at.to_string(),
    }
}

/// The data of `invoice-page.html`: every value the page shows, as text, and the flags that
/// choose its blocks. The names are the template's; the wording is the template's alone.
fn invoice_view(
    document: &Document,
    base: &str,
    jwks: &Jwks,
    offset: UtcOffset,
    credit_notes: Vec<Record>,
) -> Record {
    let invoice = &document.invoice;
    let qr = match qr::invoice_qr_svg(base, &invoice.id) {
        Ok(svg) => TrustedSvg::from_own_renderer(svg),
        Err(error) => {
            worker::console_error!("/v/{}: no QR code: {error}", invoice.id);
            None
        }
    };
    let edge_check = serde_json::to_value(document)
        .map(|value| verify(&value, jwks))
        .ok();
    let edge_valid = edge_check.as_ref().is_some_and(|v| v.valid);
    // A key the JWKS does not list is not a forgery: say the invoice cannot be checked.
    let key_unknown = edge_check
        .as_ref()
        .is_some_and(|v| v.code == VerifyCode::UnknownKid);
    // A rejected document without its rejection shows as pending, as before the template.
    let rejection = match (&document.status, &document.rejection) {
        (Status::Rejected, Some(rejection)) => Some(
            Record::new()
                .with("code", rejection.code.as_str())
                .with("detail", rejection.detail.as_str()),
        ),
        _ => None,
    };

    let seller = &invoice.seller;
    let seller = Record::new()
        .with("name", seller.name.as_str())
        .with("tax_id", seller.tax_id.clone().unwrap_or_default())
        .with("country", seller.country.as_str())
        .with("address", address_text(seller.address.as_ref()));
    // Not the buyer's email: the page is shown to whoever holds its link, and an email is
    // contact data no verifier needs (docs/SECURITY.md, "Public invoice links"). It stays in
    // the signed document, which the buyer and the merchant keep.
    let buyer = invoice.buyer.as_ref().map(|buyer| {
        Record::new()
            .with("name", buyer.name.clone().unwrap_or_default())
            .with("company", buyer.kind == BuyerKind::Company)
            .with("individual", buyer.kind == BuyerKind::Individual)
            .with("tax_id", buyer.tax_id.clone().unwrap_or_default())
            .with("country", buyer.country.clone().unwrap_or_default())
            .with("address", address_text(buyer.address.as_ref()))
    });
    let lines = invoice
        .lines
        .iter()
        .map(|line| {
            Record::new()
                .with("description", line.description.as_str())
                .with("quantity", line.quantity.to_string())
                .with("unit_code", line.unit_code.as_str())
                .with(
                    "unit",
                    names::unit(&line.unit_code).unwrap_or(line.unit_code.as_str()),
                )
                .with("unit_price", line.unit_price.to_string())
                .with("tax_rate", line.tax_rate.map(|rate| rate.to_string()))
                .with("tax_category", line.tax_category.as_str())
                .with("tax_category_name", names::tax_category(line.tax_category))
                .with("net", line.net_amount.to_string())
                .with("tax", line.tax_amount.to_string())
        })
        .collect::<Vec<_>>();
    let tax_groups = invoice
        .tax_breakdown
        .iter()
        .map(|group| {
            Record::new()
                .with("tax_category", group.tax_category.as_str())
                .with("tax_category_name", names::tax_category(group.tax_category))
                .with("exemption_reason", group.exemption_reason.clone())
                .with("tax_rate", group.tax_rate.map(|rate| rate.to_string()))
                .with("taxable", group.taxable_amount.to_string())
                .with("tax", group.tax_amount.to_string())
        })
        .collect::<Vec<_>>();
    let totals = &invoice.totals;
    let totals = Record::new()
        .with("net", totals.net.to_string())
        .with("tax", totals.tax.to_string())
        .with("gross", totals.gross.to_string())
        .with("paid", totals.paid.to_string())
        .with("payable", totals.payable.to_string());

    // A credit note: its original (BT-25, BT-26) and its reason; the Chinese reading shows it
    // as 红字, its total negative (docs/ARCHITECTURE.md, "Credit notes").
    let credits = invoice.credits.as_ref().map(|credits| {
        Record::new()
            .with("id", credits.id.as_str())
            .with("number", credits.number.as_str())
            .with("issued_at", credits.issued_at.as_str())
            .with("issued_local", local_time(&credits.issued_at, offset))
            .with(
                "reason_code",
                invoice.reason_code.clone().unwrap_or_default(),
            )
            .with("reason", invoice.reason.clone())
            .with("red_gross", format!("-{}", invoice.totals.gross))
    });

    Record::new()
        .with("id", invoice.id.as_str())
        .with("credit_note", invoice.kind == Kind::CreditNote)
        .with("credits", credits)
        .with("credit_notes", credit_notes)
        // The edge's number, from issuance: the same before and after the origin archives it.
        .with("number", invoice.number.as_str())
        .with("status_final", document.status == Status::Final)
        .with("status_rejected", rejection.is_some())
        .with(
            "status_pending",
            document.status != Status::Final && rejection.is_none(),
        )
        .with("rejection", rejection)
        // Pending and final invoices both have their number, so both export (docs/UBL.md).
        .with("exportable", document.status != Status::Rejected)
        .with("issued_at", invoice.issued_at.as_str())
        .with("issued_local", local_time(&invoice.issued_at, offset))
        .with("supply_date", invoice.supply_date.to_string())
        .with("order_id", invoice.order_id.as_str())
        .with("qr", qr)
        .with(
            "page_url",
            qr::invoice_url(base, &invoice.id).unwrap_or_default(),
        )
        .with("seller", seller)
        .with("buyer", buyer)
        .with("currency", invoice.currency.as_str())
        .with("prices_include_tax", invoice.prices_include_tax)
        .with("lines", lines)
        .with("tax_groups", tax_groups)
        .with("totals", totals)
        .with("payment_terms", invoice.payment_terms.clone())
        .with(
            "edge_check",
            Record::new()
                .with("kid", document.edge_signature.kid.as_str())
                .with("valid", edge_valid)
                .with("key_unknown", !edge_valid && key_unknown)
                .with("invalid", !edge_valid && !key_unknown)
                .with("detail", edge_check.map(|v| v.detail).unwrap_or_default()),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use invoice_edge_core::document::issue::{issue, IssueContext};
    use invoice_edge_core::document::model::Rejection;
    use invoice_edge_core::document::sign::Channel;
    use invoice_edge_core::keys::EdKey;
    use invoice_edge_core::merchant::MerchantConfig;
    use invoice_edge_core::series::{ChainPosition, GENESIS_PREV_HASH};
    use invoice_edge_core::Payment;
    use serde_json::{json, Value};

    const BASE: &str = "https://edge.example.com";
    const HOSTILE: &str = r#"<script>alert("x")</script><img src=x onerror=alert(1)>"'&"#;

    fn key() -> EdKey {
        EdKey::from_seed(&[7; 32])
    }

    fn document(request: Value, rejection: Option<Rejection>) -> Document {
        let merchant: MerchantConfig = serde_json::from_value(json!({
            "id": "shop-1",
            "seller": {"name": "Muster & Söhne GmbH", "country": "DE", "tax_id": "136695976",
                       "address": {"line": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115"}},
            "tax_profile": [{"category": "S", "rate": "19"}, {"category": "S", "rate": "7"},
                            {"category": "K", "rate": "0", "exemption_reason": "Intra-community supply"}],
            "series": [{"name": "SHOP"}],
            "payment_terms": "Net 30 <days>",
        }))
        .unwrap();
        let request = invoice_edge_core::request::parse_request(&request).unwrap();
        let key = key();
        let context = IssueContext {
            id: "01900000-0000-7000-8000-000000000001".into(),
            issued_at_ms: 1_795_599_000_000,
            edge_node: "test".into(),
            key: &key,
            channel: Channel::ApiKey,
            position: ChainPosition {
                seq: 42,
                prev_hash: GENESIS_PREV_HASH.into(),
            },
        };
        let signed = issue(request, &merchant, Payment::AsRequested, &context).unwrap();
        Document::new(signed, None, rejection)
    }

    fn request() -> Value {
        json!({
            "currency": "EUR", "order_id": "A-10023", "supply_date": "2026-11-20",
            "buyer": {"kind": "company", "name": HOSTILE, "email": "ap@example.com",
                      "address": {"line": "<b>1</b> Road", "city": "\"><svg onload=alert(2)>"}},
            "lines": [
                {"description": "Widget <i>", "quantity": "2", "unit_price": "49.90",
                 "tax_category": "S", "tax_rate": "19"},
                {"description": "Book", "quantity": "1", "unit_price": "10", "unit_code": "C62",
                 "tax_category": "S", "tax_rate": "7"}
            ]
        })
    }

    fn published() -> Jwks {
        let mut jwks = Jwks::default();
        jwks.push(key().public_jwk());
        jwks
    }

    fn page(document: &Document, jwks: &Jwks) -> String {
        Page::Invoice
            .render(&invoice_view(
                document,
                BASE,
                jwks,
                UtcOffset::parse("+08:00").unwrap(),
                Vec::new(),
            ))
            .unwrap()
    }

    #[test]
    fn a_credit_note_shows_its_invoice_in_red_and_an_invoice_lists_its_credit_notes() {
        let original = document(request(), None);
        let prepared = invoice_edge_core::credit::prepare_credit(
            &original,
            &json!({"order_id": "R-1", "reason_code": "02", "reason": "<returned>",
                    "lines": [{"line": 0, "quantity": "1"}]}),
            &serde_json::from_value(json!({
                "id": "shop-1", "seller": {"name": "S", "country": "DE", "tax_id": "136695976"},
                "tax_profile": [{"category": "S", "rate": "19"}], "series": [{"name": "SHOP"}],
            }))
            .unwrap(),
        )
        .unwrap();
        let key = key();
        let context = IssueContext {
            id: "01900000-0000-7000-8000-000000000002".into(),
            issued_at_ms: 1_795_599_000_001,
            edge_node: "test".into(),
            key: &key,
            channel: Channel::ApiKey,
            position: ChainPosition {
                seq: 43,
                prev_hash: GENESIS_PREV_HASH.into(),
            },
        };
        let signed = invoice_edge_core::document::issue::finish(
            prepared.computed,
            prepared.issuer,
            &context,
        )
        .signed;
        let note = Document::new(signed, None, None);
        let html = page(&note, &published());
        assert!(html.contains("<title>Credit note SHOP-"), "{html}");
        assert!(html.contains("红字发票"));
        // The invoice's time of issue in the merchant's offset (+08:00 here), the signed UTC
        // time in `datetime`, as for the page's own time.
        let credited_at = &note.invoice.credits.as_ref().unwrap().issued_at;
        assert!(html.contains(&format!(
            "(<time datetime=\"{credited_at}\">{}</time>)",
            local_time(credited_at, UtcOffset::parse("+08:00").unwrap())
        )));
        assert!(local_time(credited_at, UtcOffset::parse("+08:00").unwrap()).ends_with(" +08:00"));
        assert!(html.contains(&format!(
            "<a href=\"/v/{}\">{}</a>",
            original.invoice.id, original.invoice.number
        )));
        assert!(html.contains("02 &lt;returned&gt;"));
        // 49.90 at 19 % = 59.38, shown negative in the Chinese reading.
        assert!(html.contains("<dd lang=\"zh-CN\" class=\"red\">EUR -59.38</dd>"));
        let listed = Page::Invoice
            .render(&invoice_view(
                &original,
                BASE,
                &published(),
                UtcOffset::default(),
                vec![credit_note_row(
                    &serde_json::to_value(&note).unwrap(),
                    UtcOffset::default(),
                )],
            ))
            .unwrap();
        assert!(listed.contains("<caption>Credit notes · 红字发票</caption>"));
        assert!(listed.contains(&format!(
            "<a href=\"/v/{}\">{}</a>",
            note.invoice.id, note.invoice.number
        )));
        assert!(listed.contains("<td class=\"num\">EUR -59.38</td>"));
        assert!(!html.contains("id=\"credit-notes\""));
    }

    #[test]
    fn the_page_shows_the_invoice_with_every_input_escaped() {
        let html = page(&document(request(), None), &published());
        for raw in [
            "<script>alert",
            "<img src=x",
            "<svg onload",
            "<b>1</b>",
            "<i>",
        ] {
            assert!(!html.contains(raw), "unescaped {raw}");
        }
        assert!(html.contains(
            "<dd class=\"name\">&lt;script&gt;alert(\"x\")&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;\"'&amp;</dd>"
        ));
        assert!(
            html.contains("<dd>&lt;b&gt;1&lt;/b&gt; Road, \"&gt;&lt;svg onload=alert(2)&gt;</dd>")
        );
        assert!(html.contains("<title>Invoice SHOP-"));
        assert!(html.contains("<script type=\"module\" src=\"/verify.js\"></script>"));
        assert_eq!(html.matches("<script").count(), 1, "only verify.js");
        // One row per line, with the rate and the page's currency in the totals.
        // Units and categories by name, their codes in the title (issue 21).
        assert!(html.contains("<td>Widget &lt;i&gt;</td><td class=\"num\">2 <small title=\"H87\">piece · 件</small></td><td class=\"num\">49.90</td><td class=\"num\">19% <small title=\"S\">Standard rate · 标准税率</small></td>"));
        assert!(html.contains("1 <small title=\"C62\">unit · 个</small>"));
        assert!(html.contains(
            "<td class=\"num\">7% <small title=\"S\">Standard rate · 标准税率</small></td>"
        ));
        assert!(html.contains(
            "<tr><td><span class=\"cat\" title=\"S\">Standard rate · 标准税率</span></td>"
        ));
        // The time of issue in the merchant's offset, the signed UTC time in `datetime`.
        assert!(html.contains(
            "<time datetime=\"2026-11-25T09:30:00.000Z\">2026-11-25 17:30:00 +08:00</time>"
        ));
        assert!(html.contains("<td class=\"num\" id=\"gross\">EUR 129.46</td>"));
        assert!(html.contains("Payment terms · 付款条件: Net 30 &lt;days&gt;</p>"));
        assert!(html.contains("(prices excl. tax · 不含税, EUR)"));
        // The QR code is inline SVG of the page's own link, written under it.
        assert!(html.contains("<figure class=\"qr\" aria-label=\"QR code of this page\"><svg "));
        assert!(html.contains(
            "<figcaption>https://edge.example.com/v/01900000-0000-7000-8000-000000000001</figcaption>"
        ));
        assert!(html.contains("<span class=\"badge pending\">Pending sync"));
        assert!(html.contains("<strong data-valid=\"true\">valid · 有效</strong>"));
        assert!(html
            .contains("href=\"/v1/invoices/01900000-0000-7000-8000-000000000001.xml\" id=\"ubl\""));
        assert!(html.contains("<dt>Type · 类型</dt><dd>Company · 企业</dd>"));
        // The buyer's email is in the document, never on the public page.
        assert!(!html.contains("ap@example.com"));
        assert!(!html.contains("邮箱"));
        for id in [
            "id=\"number\"",
            "id=\"browser-check\"",
            "id=\"file\"",
            "id=\"file-check\"",
            "id=\"print\"",
            "data-invoice-id=\"01900000-0000-7000-8000-000000000001\"",
        ] {
            assert!(html.contains(id), "{id}");
        }
    }

    #[test]
    fn local_times_cross_the_day_in_either_direction() {
        let at = "2026-12-31T20:30:05.123Z";
        let offset = |text| UtcOffset::parse(text).unwrap();
        assert_eq!(
            local_time(at, offset("+08:00")),
            "2027-01-01 04:30:05 +08:00"
        );
        assert_eq!(
            local_time(at, offset("-09:30")),
            "2026-12-31 11:00:05 -09:30"
        );
        assert_eq!(
            local_time(at, UtcOffset::default()),
            "2026-12-31 20:30:05 +00:00"
        );
        assert_eq!(local_time("not a time", offset("+08:00")), "not a time");
    }

    #[test]
    fn an_unpublished_key_cannot_be_checked_and_is_not_called_invalid() {
        let html = page(&document(request(), None), &Jwks::default());
        assert!(html.contains(
            "<strong data-valid=\"false\">cannot be checked: key not published · 无法校验：密钥未公布</strong>"
        ));
        assert!(!html.contains("invalid · 无效"));
        let mut tampered = document(request(), None);
        tampered.invoice.order_id = "A-10024".into();
        let html = page(&tampered, &published());
        assert!(html.contains("<strong data-valid=\"false\">invalid · 无效</strong>"));
    }

    #[test]
    fn a_rejected_invoice_shows_why_and_offers_no_xml() {
        let rejection = Rejection {
            code: "SERIES_CLOSED".into(),
            detail: "the series <SHOP> is closed".into(),
        };
        let mut consumer = request();
        consumer.as_object_mut().unwrap().remove("buyer");
        let html = page(&document(consumer, Some(rejection)), &published());
        assert!(html.contains("<span class=\"badge rejected\">Rejected"));
        assert!(html.contains(
            "<span class=\"reason\">SERIES_CLOSED: the series &lt;SHOP&gt; is closed</span>"
        ));
        assert!(!html.contains("badge pending"));
        assert!(!html.contains("id=\"ubl\""));
        assert!(html.contains("<dd class=\"name\">Consumer · 个人消费者</dd>"));
    }
}
