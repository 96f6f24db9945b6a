//! What the origin checks before a document may touch the ledger: its shape, its format, the
//! fields it is archived by, and the edge signature (docs/ARCHITECTURE.md, "Origin ledger protocol"). Pure
//! and lock-free, so request handlers run it in parallel and the single writer only judges the
//! chain and appends.

use hex::FromHex;
use invoice_edge_core::date::parse_rfc3339_millis;
use invoice_edge_core::document::model::{is_uuid, Invoice, FORMAT};
use invoice_edge_core::document::verify::{verify, VerifyCode};
use invoice_edge_core::keys::Jwks;
use invoice_edge_core::merchant::is_valid_series_name;
use invoice_edge_core::series::is_hash_hex;
use invoice_edge_core::{Code, FieldError, Problem};
use serde_json::{Map, Value};

/// Where a checked document says it goes in its series: numbered and chained by the edge; the
/// origin only checks the chain, and numbers nothing of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub seq: u64,
    pub prev_hash: String,
    pub number: String,
}

/// A document whose edge signature verified under a trusted key, ready to be archived.
#[derive(Clone, Debug)]
pub struct Checked {
    pub id: String,
    pub merchant: String,
    pub order_id: String,
    pub series: String,
    pub kind: String,
    pub issued_at_ms: i64,
    pub place: Place,
    pub invoice_hash: [u8; 32],
    /// `{invoice, edge_signature}` as JSON text, exactly what is stored and re-verified.
    pub document: String,
    /// Why the edge signature does not verify (`SIGNATURE_INVALID`, `UNKNOWN_KID`), if it does
    /// not. The writer answers the stored receipt of a document it already archived (an
    /// operator's void, for one) before it looks at this, so a voided document is a replay and
    /// its series chains on.
    pub signature_problem: Option<Problem>,
}

/// The `invoice.id` of a document, when it has one (batch results name it even on failure).
pub fn document_id(document: &Value) -> Option<String> {
    document
        .get("invoice")?
        .get("id")?
        .as_str()
        .map(str::to_string)
}

/// Splits a document into its `invoice` and `edge_signature` objects.
///
/// Fields other than these two (a client may send a whole stored document with `status`) are
/// ignored: the origin archives what the edge signed and nothing else.
pub fn bare_document(document: Value) -> Result<(Value, Value), Problem> {
    let Value::Object(mut members) = document else {
        return Err(Problem::single(
            Code::MalformedDocument,
            "a document is a JSON object {invoice, edge_signature}",
        ));
    };
    match (members.remove("invoice"), members.remove("edge_signature")) {
        (Some(invoice @ Value::Object(_)), Some(signature @ Value::Object(_))) => {
            Ok((invoice, signature))
        }
        _ => Err(Problem::from_errors(vec![FieldError::new(
            "",
            Code::MalformedDocument,
            "a document needs an invoice object and an edge_signature object",
        )])),
    }
}

/// Checks one document. `path_id` is the id of `PUT /v1/ledger/invoices/{id}`, if any.
pub fn check(document: Value, path_id: Option<&str>, trust: &Jwks) -> Result<Checked, Problem> {
    let (invoice, signature) = bare_document(document)?;
    let fields = ArchivedFields::read(&invoice)?;
    known_fields_only(&invoice)?;
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
    let problem = code.map(|code| {
        Problem::from_errors(vec![FieldError::new(
            "/edge_signature",
            code,
            verification.detail.clone(),
        )])
    });
    // A document with a hash can still be one the ledger holds (void): the writer decides.
    let signature_problem = match (problem, verification.code) {
        (None, _) => None,
        (Some(problem), VerifyCode::UnknownKid | VerifyCode::SignatureInvalid) => Some(problem),
        (Some(problem), _) => return Err(problem),
    };
    let invoice_hash: [u8; 32] = verification
        .invoice_hash
        .as_deref()
        .and_then(|hash| <[u8; 32]>::from_hex(hash).ok())
        .ok_or_else(|| Problem::single(Code::Internal, "verification returned no invoice hash"))?;
    let document = serde_json::to_string(&bare)
        .map_err(|e| Problem::single(Code::Internal, format!("cannot store document: {e}")))?;
    Ok(Checked {
        id: fields.id,
        merchant: fields.merchant,
        order_id: fields.order_id,
        series: fields.series,
        kind: fields.kind,
        issued_at_ms: fields.issued_at_ms,
        place: fields.place,
        invoice_hash,
        document,
        signature_problem,
    })
}

/// Refuses an invoice holding a field this origin does not know, as it refuses an unknown
/// `format` (docs/ARCHITECTURE.md, "Origin ledger protocol": 503 `UNSUPPORTED_FORMAT`, retryable), so that a
/// newer edge's document (a credit note's `credits`, say) waits for the origin's deploy instead
/// of being archived unchecked. What this origin knows is the core's [`Invoice`]: the edge
/// serializes that same type, so its documents read back exactly; anything else differs.
fn known_fields_only(invoice: &Value) -> Result<(), Problem> {
    let typed: Invoice = serde_json::from_value(invoice.clone()).map_err(|e| {
        Problem::from_errors(vec![FieldError::new(
            "/invoice",
            Code::MalformedDocument,
            format!("the invoice does not read as one: {e}"),
        )])
    })?;
    let known = serde_json::to_value(&typed)
        .map_err(|e| Problem::single(Code::Internal, format!("cannot re-encode: {e}")))?;
    match first_difference(invoice, &known, "/invoice".into()) {
        None => Ok(()),
        Some(pointer) => Err(Problem::from_errors(vec![FieldError::new(
            pointer.clone(),
            Code::UnsupportedFormat,
            format!(
                "{pointer} is a field (or a form of one) this origin does not know; deploy a \
                 newer origin"
            ),
        )])),
    }
}

/// The JSON pointer of the first place where `given` holds something `known` does not.
fn first_difference(given: &Value, known: &Value, at: String) -> Option<String> {
    match (given, known) {
        (Value::Object(given), Value::Object(known)) => given.iter().find_map(|(name, value)| {
            let at = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
            match known.get(name) {
                Some(known) => first_difference(value, known, at),
                None => Some(at),
            }
        }),
        (Value::Array(given), Value::Array(known)) if given.len() == known.len() => given
            .iter()
            .zip(known)
            .enumerate()
            .find_map(|(i, (g, k))| first_difference(g, k, format!("{at}/{i}"))),
        _ => (given != known).then_some(at),
    }
}

/// The signed fields the ledger keys and chains by.
pub struct ArchivedFields {
    pub id: String,
    pub merchant: String,
    pub order_id: String,
    pub series: String,
    pub kind: String,
    pub issued_at_ms: i64,
    pub place: Place,
}

impl ArchivedFields {
    /// Reads them all, reporting every unusable one (RFC 9457 `errors[]`). A `format` the
    /// origin does not know is 503 `UNSUPPORTED_FORMAT`, retryable: an edge newer than its
    /// origin waits for the origin's deploy instead of losing documents.
    pub fn read(invoice: &Value) -> Result<ArchivedFields, Problem> {
        let format = invoice.get("format").and_then(Value::as_str);
        match format {
            Some(FORMAT) => {}
            // No format at all is not a newer edge's document but a broken one.
            None => {
                return Err(Problem::from_errors(vec![FieldError::new(
                    "/invoice/format",
                    Code::MalformedDocument,
                    "invoice.format must be a string such as \"invoice-edge/2\"",
                )]))
            }
            other => {
                return Err(Problem::from_errors(vec![FieldError::new(
                    "/invoice/format",
                    Code::UnsupportedFormat,
                    format!(
                        "this origin archives {FORMAT} documents, not {}; deploy a newer origin",
                        other.map_or("a document without format".to_string(), |f| format!(
                            "{f:?}"
                        ))
                    ),
                )]))
            }
        }
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
        let merchant = text(
            "merchant",
            &|v| !v.is_empty() && !v.contains(['/', ':']),
            "a merchant id (no '/' or ':')",
        );
        let order_id = text("order_id", &|v| !v.is_empty(), "a non-empty string");
        let series = text("series", &is_valid_series_name, "1-32 of A-Z a-z 0-9 _ -");
        let issued_at = text(
            "issued_at",
            &|v| parse_rfc3339_millis(v).is_some(),
            "an RFC 3339 UTC timestamp with milliseconds",
        );
        let kind = text(
            "kind",
            &|v| matches!(v, "invoice" | "credit_note"),
            "invoice or credit_note",
        );
        let number = text("number", &|v| !v.is_empty(), "a non-empty string");
        let prev_hash = text("prev_hash", &is_hash_hex, "64 lower-case hex digits");
        let seq = invoice
            .get("seq")
            .and_then(Value::as_u64)
            .filter(|seq| *seq >= 1);
        if seq.is_none() {
            errors.push(FieldError::new(
                "/invoice/seq",
                Code::MalformedDocument,
                "invoice.seq must be an integer from 1",
            ));
        }
        let place = Place {
            seq: seq.unwrap_or(0),
            prev_hash,
            number,
        };
        if !errors.is_empty() {
            return Err(Problem::from_errors(errors));
        }
        Ok(ArchivedFields {
            id,
            merchant,
            order_id,
            series,
            kind,
            issued_at_ms: parse_rfc3339_millis(&issued_at).unwrap_or(0),
            place,
        })
    }
}
