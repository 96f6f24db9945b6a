//! What the origin checks before a document may touch the ledger: its shape, the fields it is
//! numbered by, and the edge signature (DESIGN.md, "Origin ledger protocol"). Pure and
//! lock-free, so request handlers run it in parallel and the single writer only numbers.

use invoice_edge_core::document::{is_uuid, verify, VerifyCode};
use invoice_edge_core::keys::{hex_decode, Jwks};
use invoice_edge_core::{Code, FieldError, Problem};
use serde_json::{Map, Value};

/// A document whose edge signature verified under a trusted key, ready to be numbered.
#[derive(Clone, Debug)]
pub struct Checked {
    pub id: String,
    pub merchant: String,
    pub order_id: String,
    pub series: String,
    /// The year of `issued_at`, for `{year}` in the number format.
    pub year: String,
    pub invoice_hash: [u8; 32],
    /// `{invoice, edge_signature}` as JSON text, exactly what is stored and re-verified.
    pub document: String,
}

/// The `invoice.id` of a document, when it has one (batch results name it even on failure).
pub fn document_id(document: &Value) -> Option<String> {
    document
        .get("invoice")?
        .get("id")?
        .as_str()
        .map(str::to_string)
}

/// Checks one document. `path_id` is the id of `PUT /v1/ledger/invoices/{id}`, if any.
///
/// Fields other than `invoice` and `edge_signature` (a client may send a whole stored document
/// with `status`) are ignored: the origin numbers what the edge signed and nothing else.
pub fn check(document: Value, path_id: Option<&str>, trust: &Jwks) -> Result<Checked, Problem> {
    let Value::Object(mut members) = document else {
        return Err(Problem::single(
            Code::MalformedDocument,
            "a document is a JSON object {invoice, edge_signature}",
        ));
    };
    let (invoice, signature) = match (members.remove("invoice"), members.remove("edge_signature")) {
        (Some(invoice @ Value::Object(_)), Some(signature @ Value::Object(_))) => {
            (invoice, signature)
        }
        _ => {
            return Err(Problem::from_errors(vec![FieldError::new(
                "",
                Code::MalformedDocument,
                "a document needs an invoice object and an edge_signature object",
            )]))
        }
    };

    let fields = NumberedFields::read(&invoice)?;
    if let Some(path_id) = path_id {
        if path_id != fields.id {
            return Err(Problem::from_errors(vec![FieldError::new(
                "/invoice/id",
                Code::IdMismatch,
                format!(
                    "the path names invoice {path_id} but the body is invoice {}",
                    fields.id
                ),
            )]));
        }
    }

    let mut bare = Map::with_capacity(2);
    bare.insert("invoice".into(), invoice);
    bare.insert("edge_signature".into(), signature);
    let bare = Value::Object(bare);
    let verification = verify(&bare, trust);
    let code = match verification.code {
        VerifyCode::Valid => None,
        VerifyCode::UnknownKid => Some(Code::UnknownKid),
        VerifyCode::SignatureInvalid => Some(Code::SignatureInvalid),
        VerifyCode::UnsupportedFormat => Some(Code::UnsupportedFormat),
        // A bare document can only be malformed otherwise (status and final are stripped).
        _ => Some(Code::MalformedDocument),
    };
    if let Some(code) = code {
        return Err(Problem::from_errors(vec![FieldError::new(
            "/edge_signature",
            code,
            verification.detail,
        )]));
    }
    let invoice_hash: [u8; 32] = verification
        .invoice_hash
        .as_deref()
        .and_then(hex_decode)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| Problem::single(Code::Internal, "verification returned no invoice hash"))?;
    let document = serde_json::to_string(&bare)
        .map_err(|e| Problem::single(Code::Internal, format!("cannot store document: {e}")))?;
    Ok(Checked {
        id: fields.id,
        merchant: fields.merchant,
        order_id: fields.order_id,
        series: fields.series,
        year: fields.year,
        invoice_hash,
        document,
    })
}

/// The signed fields the ledger keys and numbers by.
struct NumberedFields {
    id: String,
    merchant: String,
    order_id: String,
    series: String,
    year: String,
}

impl NumberedFields {
    /// Reads them all, reporting every unusable one (RFC 9457 `errors[]`).
    fn read(invoice: &Value) -> Result<NumberedFields, Problem> {
        let mut errors = Vec::new();
        let mut text = |name: &str, valid: &dyn Fn(&str) -> bool, rule: &str| -> String {
            match invoice.get(name).and_then(Value::as_str) {
                Some(value) if valid(value) => value.to_string(),
                _ => {
                    errors.push(FieldError::new(
                        format!("/invoice/{name}"),
                        Code::MalformedDocument,
                        format!("invoice.{name} must be {rule}"),
                    ));
                    String::new()
                }
            }
        };
        let id = text("id", &is_uuid, "a lower-case hyphenated UUID");
        let merchant = text("merchant", &|v| !v.is_empty(), "a non-empty string");
        let order_id = text("order_id", &|v| !v.is_empty(), "a non-empty string");
        let series = text("series", &|v| !v.is_empty(), "a non-empty string");
        let issued_at = text(
            "issued_at",
            &|v| v.len() >= 10 && v.as_bytes()[..4].iter().all(u8::is_ascii_digit),
            "an RFC 3339 UTC timestamp",
        );
        if !errors.is_empty() {
            return Err(Problem::from_errors(errors));
        }
        Ok(NumberedFields {
            id,
            merchant,
            order_id,
            series,
            year: issued_at[..4].to_string(),
        })
    }
}
