//! The wire types of the origin ledger protocol (docs/ARCHITECTURE.md, "Origin ledger protocol" and
//! "Delivery to the origin"), defined once so the edge that sends and the origin that answers
//! cannot drift apart, and the origin's global audit chain: each archived document's link
//! ([`chain_hash`]) and the countersigned receipt that carries it ([`receipt`]).
//!
//! - `PUT /v1/ledger/invoices/{id}` takes one [`crate::document::model::SignedInvoice`] and
//!   answers 201 (or 200 on a replay) with a [`crate::document::model::Final`], or a problem.
//! - `POST /v1/ledger/batch` takes a [`BatchRequest`] and always answers 200 with a
//!   [`BatchResponse`]: one [`BatchResult`] per document, in order.

use serde::{Deserialize, Serialize};

use crate::canonical::to_jcs_bytes;
use crate::document::model::{Final, FinalBody};
use crate::keys::{sha256, EdKey};
use crate::problem::{Code, Problem};

/// Most documents in one batch request.
pub const MAX_BATCH_DOCUMENTS: usize = 500;
/// Most bytes in one batch request body.
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// What one run of a series' delivery alarm sends at most: 100 documents or 4 MiB.
pub const DELIVERY_BATCH_DOCUMENTS: usize = 100;
pub const DELIVERY_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// The edge's request body limit (docs/ARCHITECTURE.md, "Limits").
pub const EDGE_REQUEST_LIMIT_BYTES: usize = 256 * 1024;
/// A single PUT takes up to twice the edge's request limit: a signed document is larger than
/// the request it was made from.
pub const MAX_PUT_BYTES: usize = 2 * EDGE_REQUEST_LIMIT_BYTES;

/// `POST /v1/ledger/batch`. Generic over the document, so the edge can send typed documents
/// while the origin reads each one on its own and a malformed one fails alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchRequest<D> {
    pub documents: Vec<D>,
}

/// The answer for one document of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    /// `invoice.id`, when the document had a readable one.
    pub id: Option<String>,
    /// The HTTP status the single PUT would have had.
    pub status: u16,
    #[serde(rename = "final", default, skip_serializing_if = "Option::is_none")]
    pub final_: Option<Final>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    pub results: Vec<BatchResult>,
}

impl BatchResponse {
    /// Reads a batch answer, tolerating problem codes this version does not know: an origin
    /// deployed before its edges (docs/ARCHITECTURE.md) may answer a newer code, which is then retried as
    /// `INTERNAL` with the code kept in `detail`, instead of failing the whole batch's receipts.
    pub fn parse(text: &str) -> Result<BatchResponse, String> {
        let mut value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("the batch answer is not JSON: {e}"))?;
        if let Some(results) = value.get_mut("results").and_then(|r| r.as_array_mut()) {
            for problem in results.iter_mut().filter_map(|r| r.get_mut("problem")) {
                normalize_codes(problem);
            }
        }
        crate::json_reader::reread(&value)
            .map_err(|e| format!("the batch answer is not {{results}}: {e}"))
    }
}

/// Replaces unknown `code` members of a problem (and of its `errors`) by `INTERNAL`.
fn normalize_codes(problem: &mut serde_json::Value) {
    let unknown = |value: &serde_json::Value| {
        value
            .get("code")
            .and_then(|c| c.as_str())
            .is_some_and(|c| Code::from_wire(c).is_none())
    };
    if unknown(problem) {
        let original = problem["code"].as_str().unwrap_or_default().to_string();
        let detail = problem["detail"].as_str().unwrap_or_default().to_string();
        problem["code"] = serde_json::json!(Code::Internal.as_str());
        problem["detail"] = serde_json::json!(format!("{original}: {detail}"));
    }
    if let Some(errors) = problem.get_mut("errors").and_then(|e| e.as_array_mut()) {
        for error in errors.iter_mut().filter(|e| unknown(e)) {
            error["code"] = serde_json::json!(Code::Internal.as_str());
        }
    }
}

/// Only these refusals are permanent; everything else, including `UNKNOWN_KID`,
/// `SEQUENCE_GAP` and `UNSUPPORTED_FORMAT`, is retried (docs/ARCHITECTURE.md, "Delivery to the origin").
/// `CREDIT_EXCEEDS_INVOICE`: a credit note over its invoice at the origin ("Credit notes").
pub fn is_permanent(code: Code) -> bool {
    matches!(
        code,
        Code::SignatureInvalid
            | Code::SequenceConflict
            | Code::OrderConflict
            | Code::CreditExceedsInvoice
    )
}

/// What the edge does with one document's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Archived (201) or already archived (200): store the receipt.
    Archived(Final),
    /// The origin lacks earlier documents: resend from `expected_seq`.
    Gap { expected_seq: u64 },
    /// Refused for good: the series stops.
    Refused(Problem),
    /// Anything else: try again later.
    Retry(Problem),
}

impl BatchResult {
    pub fn archived(id: Option<String>, status: u16, final_: Final) -> BatchResult {
        BatchResult {
            id,
            status,
            final_: Some(final_),
            problem: None,
        }
    }

    pub fn refused(id: Option<String>, problem: Problem) -> BatchResult {
        BatchResult {
            id,
            status: problem.status,
            final_: None,
            problem: Some(problem),
        }
    }

    /// Classifies the answer by its code, as docs/ARCHITECTURE.md lists; a 2xx without a receipt, or a
    /// failure without a problem, is garbage and retryable.
    pub fn delivered(&self) -> Delivered {
        match (&self.final_, &self.problem) {
            (Some(final_), _) if matches!(self.status, 200 | 201) => {
                Delivered::Archived(final_.clone())
            }
            (_, Some(problem)) if problem.code == Code::SequenceGap => match problem.expected_seq {
                Some(expected_seq) => Delivered::Gap { expected_seq },
                None => Delivered::Retry(problem.clone()),
            },
            (_, Some(problem)) if is_permanent(problem.code) => Delivered::Refused(problem.clone()),
            (_, Some(problem)) => Delivered::Retry(problem.clone()),
            (_, None) => Delivered::Retry(Problem::single(
                Code::Internal,
                format!(
                    "the origin answered {} without a receipt or a problem",
                    self.status
                ),
            )),
        }
    }
}

/// The ledger's chain link: SHA-256(prev_hash ‖ invoice_hash ‖ UTF-8(number)) over raw bytes
/// (docs/ARCHITECTURE.md, "Origin ledger protocol"); the genesis `prev_hash` is 32 zero bytes.
pub fn chain_hash(prev_hash: &[u8; 32], invoice_hash: &[u8; 32], number: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(64 + number.len());
    input.extend_from_slice(prev_hash);
    input.extend_from_slice(invoice_hash);
    input.extend_from_slice(number.as_bytes());
    sha256(&input)
}

/// What the origin archived, for its receipt.
pub struct Archived<'a> {
    pub invoice_hash: &'a [u8; 32],
    /// The global audit chain's head before this entry (32 zero bytes for the first).
    pub audit_prev_hash: &'a [u8; 32],
    pub number: &'a str,
    pub series: &'a str,
    pub seq: u64,
    pub ledger_seq: u64,
    pub received_at: &'a str,
    pub void: bool,
}

/// The origin's receipt for an archived document: its link in the global audit chain
/// (docs/ARCHITECTURE.md: `hash = SHA-256(prev_hash ‖ invoice_hash ‖ UTF-8(number))`), countersigned.
pub fn receipt(archived: &Archived<'_>, origin_key: &EdKey) -> Final {
    countersign(
        FinalBody {
            hash: hex::encode(chain_hash(
                archived.audit_prev_hash,
                archived.invoice_hash,
                archived.number,
            )),
            ledger_seq: archived.ledger_seq,
            number: archived.number.to_string(),
            origin_kid: origin_key.kid().to_string(),
            prev_hash: hex::encode(archived.audit_prev_hash),
            received_at: archived.received_at.to_string(),
            seq: archived.seq,
            series: archived.series.to_string(),
            void: archived.void,
        },
        origin_key,
    )
}

/// The origin's side of archiving: countersign a receipt (JCS bytes of `body`).
pub fn countersign(body: FinalBody, origin_key: &EdKey) -> Final {
    let origin_signature = origin_key.sign(&to_jcs_bytes(&body).unwrap_or_default());
    Final {
        number: body.number,
        series: body.series,
        seq: body.seq,
        ledger_seq: body.ledger_seq,
        prev_hash: body.prev_hash,
        hash: body.hash,
        received_at: body.received_at,
        origin_kid: body.origin_kid,
        origin_signature,
        void: body.void,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_listed_codes_are_permanent() {
        let permanent: Vec<&str> = Code::ALL
            .iter()
            .filter(|c| is_permanent(**c))
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            permanent,
            [
                "SIGNATURE_INVALID",
                "SEQUENCE_CONFLICT",
                "ORDER_CONFLICT",
                "CREDIT_EXCEEDS_INVOICE"
            ]
        );
    }

    #[test]
    fn an_unknown_code_is_retried_and_does_not_spoil_the_batch() {
        let text = r#"{"results": [
            {"id": "a", "status": 409, "problem": {"type": "t", "title": "x", "status": 409, "code": "SOME_FUTURE_CODE", "detail": "d", "errors": [{"pointer": "", "code": "SOME_FUTURE_CODE", "detail": "d"}]}},
            {"id": "b", "status": 422, "problem": {"type": "t", "title": "x", "status": 422, "code": "SIGNATURE_INVALID", "errors": []}}
        ]}"#;
        let parsed = BatchResponse::parse(text).unwrap();
        assert!(
            matches!(parsed.results[0].delivered(), Delivered::Retry(ref p) if p.detail.as_deref() == Some("SOME_FUTURE_CODE: d"))
        );
        assert!(matches!(
            parsed.results[1].delivered(),
            Delivered::Refused(_)
        ));
        assert!(BatchResponse::parse("nope").is_err());
    }

    #[test]
    fn results_classify_by_code() {
        let gap = BatchResult::refused(Some("x".into()), Problem::sequence_gap(4, "missing"));
        assert_eq!(gap.delivered(), Delivered::Gap { expected_seq: 4 });
        let json = serde_json::to_value(&gap).unwrap();
        assert_eq!(json["problem"]["expected_seq"], 4);
        assert_eq!(json["status"], 409);
        let back: BatchResult = serde_json::from_value(json).unwrap();
        assert_eq!(back, gap);
        let kid = BatchResult::refused(None, Problem::single(Code::UnknownKid, "k"));
        assert!(matches!(kid.delivered(), Delivered::Retry(_)));
        let format = BatchResult::refused(None, Problem::single(Code::UnsupportedFormat, "f"));
        assert!(matches!(format.delivered(), Delivered::Retry(_)));
        let conflict = BatchResult::refused(None, Problem::single(Code::OrderConflict, "o"));
        assert!(matches!(conflict.delivered(), Delivered::Refused(_)));
        let garbage = BatchResult {
            id: None,
            status: 201,
            final_: None,
            problem: None,
        };
        assert!(matches!(garbage.delivered(), Delivered::Retry(_)));
    }
}
