//! The wire types of the origin ledger protocol (DESIGN.md, "Origin ledger protocol" and
//! "Delivery to the origin"), defined once so the edge that sends and the origin that answers
//! cannot drift apart.
//!
//! - `PUT /v1/ledger/invoices/{id}` takes one [`crate::document::SignedInvoice`] and answers
//!   201 (or 200 on a replay) with a [`crate::document::Final`], or a problem.
//! - `POST /v1/ledger/batch` takes a [`BatchRequest`] and always answers 200 with a
//!   [`BatchResponse`]: one [`BatchResult`] per document, in order.

use serde::{Deserialize, Serialize};

use crate::document::Final;
use crate::problem::{Code, Problem};

/// Most documents in one batch request.
pub const MAX_BATCH_DOCUMENTS: usize = 500;
/// Most bytes in one batch request body.
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// What one run of a series' delivery alarm sends at most: 100 documents or 4 MiB.
pub const DELIVERY_BATCH_DOCUMENTS: usize = 100;
pub const DELIVERY_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// The edge's request body limit (DESIGN.md, "Limits").
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

/// Only these refusals are permanent; everything else, including `UNKNOWN_KID`,
/// `SEQUENCE_GAP` and `UNSUPPORTED_FORMAT`, is retried (DESIGN.md, "Delivery to the origin").
/// `CREDIT_EXCEEDS_INVOICE` joins them with credit notes.
pub fn is_permanent(code: Code) -> bool {
    matches!(
        code,
        Code::SignatureInvalid | Code::SequenceConflict | Code::OrderConflict
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

    /// Classifies the answer by its code, as DESIGN.md lists; a 2xx without a receipt, or a
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
            ["SIGNATURE_INVALID", "SEQUENCE_CONFLICT", "ORDER_CONFLICT"]
        );
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
