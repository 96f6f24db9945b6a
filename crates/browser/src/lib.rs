//! The core, exported to browsers (`www/pkg/`, built by `make browser`).
//!
//! A thin adapter, like the worker: every function converts JavaScript values to the core's
//! types, calls the core and converts back. No rule lives here, so the widget and the
//! verification page give exactly the answers the edge gives.
//!
//! Values cross as JSON (a JS object or JSON text in, a JS object out), the same bytes the HTTP
//! API speaks, so decimals stay strings and are never parsed through `f64`.

use invoice_edge_core::document;
use invoice_edge_core::keys::Jwks;
use invoice_edge_core::tax_id::TaxId;
use invoice_edge_core::token;
use invoice_edge_core::{Payment, Problem};
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;

/// A JS value as JSON text: strings are taken as JSON text already, anything else is
/// serialized with `JSON.stringify`.
fn json_text(value: &JsValue) -> Result<String, JsValue> {
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    js_sys::JSON::stringify(value)
        .map(String::from)
        .map_err(|_| JsValue::from_str("the value cannot be serialized to JSON"))
}

/// A Rust value as a plain JS object.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|e| JsValue::from_str(&e.to_string()))?;
    js_sys::JSON::parse(&text)
}

/// A value given as JSON text (a file's bytes, read strictly: a key twice is `DUPLICATE_KEY`,
/// as at the edge and the origin) or as a JavaScript object (already parsed by the page).
fn parse_value(value: &JsValue) -> Result<Value, Problem> {
    let text = json_text(value)
        .map_err(|_| Problem::single(invoice_edge_core::Code::MalformedJson, "not JSON"))?;
    invoice_edge_core::json_reader::parse_json(text.as_bytes())
        .map_err(|error| Problem::from_errors(vec![error]))
}

/// The computation the edge runs before signing, without a merchant profile (as the CLI's
/// `totals`): the same codes and JSON pointers as `POST /v1/invoices`.
fn compute(request: &JsValue) -> Result<invoice_edge_core::ComputedInvoice, Problem> {
    let value = parse_value(request)?;
    let parsed = invoice_edge_core::parse_request(&value).map_err(Problem::from_errors)?;
    invoice_edge_core::compute_invoice(parsed, None, Payment::AsRequested)
        .map_err(Problem::from_errors)
}

/// `validate(request)`: `null` when the invoice request is acceptable, else the RFC 9457
/// problem the edge would answer (`{status, code, errors: [{pointer, code, detail}]}`).
#[wasm_bindgen]
pub fn validate(request: JsValue) -> Result<JsValue, JsValue> {
    match compute(&request) {
        Ok(_) => Ok(JsValue::NULL),
        Err(problem) => to_js(&problem),
    }
}

/// `preview(request)`: the computed lines, tax breakdown and totals, and `line_amounts` (each
/// line's amount as the buyer sees it), so a page shows the core's figures and adds none of its
/// own; throws the problem object when the request is not acceptable.
#[wasm_bindgen]
pub fn preview(request: JsValue) -> Result<JsValue, JsValue> {
    let invoice = compute(&request).map_err(|problem| problem_value(&problem))?;
    match invoice.preview() {
        Ok(preview) => to_js(&preview),
        Err(overflow) => Err(problem_value(&Problem::single(
            invoice_edge_core::Code::AmountOverflow,
            overflow.to_string(),
        ))),
    }
}

/// `checkoutRequest(token, body)`: the invoice request the edge assembles for a checkout-token
/// issuance from the token's cart and the body's `buyer` (`body` as the widget posts it,
/// `{buyer}`), to preview and validate before posting; throws the problem object (the edge's
/// codes, `TOKEN_MALFORMED` for an unreadable token). The token's HMAC is not checked: only
/// the edge holds the secret.
#[wasm_bindgen(js_name = checkoutRequest)]
pub fn checkout_request(token: &str, body: JsValue) -> Result<JsValue, JsValue> {
    let claims = token::unverified_claims(token)
        .map_err(|error| problem_value(&Problem::single(error.code(), error.detail())))?;
    let body = parse_value(&body).map_err(|problem| problem_value(&problem))?;
    match token::invoice_request(&claims, &body) {
        Ok(request) => to_js(&request),
        Err(problem) => Err(problem_value(&problem)),
    }
}

/// A problem as the JS object thrown (or, if it cannot be made, its code as a string).
fn problem_value(problem: &Problem) -> JsValue {
    to_js(problem).unwrap_or_else(|_| JsValue::from_str(problem.code.as_str()))
}

#[derive(Serialize)]
struct TaxIdCheck {
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    with_prefix: Option<String>,
    /// `checked` (the country's rule holds) or `unchecked` (no rule to check against).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// `checkTaxId(country, id)`: `{valid, value, with_prefix, status}` or `{valid: false, code,
/// detail}` with the edge's codes (`TAX_ID_FORMAT`, `TAX_ID_CHECKSUM`, ...).
#[wasm_bindgen(js_name = checkTaxId)]
pub fn check_tax_id(country: &str, id: &str) -> Result<JsValue, JsValue> {
    let check = match TaxId::parse(country, id) {
        Ok(tax_id) => TaxIdCheck {
            valid: true,
            value: Some(tax_id.value().to_string()),
            with_prefix: Some(tax_id.with_prefix()),
            status: Some(tax_id.status().as_str()),
            code: None,
            detail: None,
        },
        Err(error) => TaxIdCheck {
            valid: false,
            value: None,
            with_prefix: None,
            status: None,
            code: Some(error.code().as_str()),
            detail: Some(error.detail().to_string()),
        },
    };
    to_js(&check)
}

/// `verify(document, jwks)`: checks a signed invoice entirely in the browser, as
/// `POST /v1/verify` does: `{valid, code, detail, invoice_hash?, status?, unsigned?}`.
#[wasm_bindgen]
pub fn verify(document: JsValue, jwks: JsValue) -> Result<JsValue, JsValue> {
    let document: Value = match parse_value(&document) {
        Ok(value) => value,
        Err(problem) => {
            return to_js(&document::verify::Verification {
                valid: false,
                code: document::verify::VerifyCode::Malformed,
                detail: problem.errors.first().map_or_else(
                    || problem.code.as_str().to_string(),
                    |error| {
                        format!(
                            "{} at \"{}\": {}",
                            error.code.as_str(),
                            error.pointer,
                            error.detail
                        )
                    },
                ),
                invoice_hash: None,
                status: None,
                unsigned: Vec::new(),
            })
        }
    };
    let jwks: Jwks = serde_json::from_str(&json_text(&jwks)?)
        .map_err(|e| JsValue::from_str(&format!("the JWKS is not {{\"keys\": [...]}}: {e}")))?;
    to_js(&document::verify::verify(&document, &jwks))
}

/// `invoiceQrSvg(publicBaseUrl, invoiceId)`: the QR code of the invoice's verification page,
/// the same SVG the edge prints on `/v/{id}`.
#[wasm_bindgen(js_name = invoiceQrSvg)]
pub fn invoice_qr_svg(public_base_url: &str, invoice_id: &str) -> Result<String, JsValue> {
    invoice_edge_core::qr::invoice_qr_svg(public_base_url, invoice_id)
        .map_err(|e| JsValue::from_str(&e.to_string()))
}

/// The product version, as `/v1/health` reports it.
#[wasm_bindgen]
pub fn version() -> String {
    invoice_edge_core::VERSION.to_string()
}
