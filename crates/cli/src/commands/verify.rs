//! `verify`: check a document's signatures offline against a JWKS; with `--chain FILE`, check a
//! whole series (docs/ARCHITECTURE.md, "The issued document"): every signature, `seq` without a gap, and
//! every `prev_hash` link, with the core's `series::verify_chain`, as the origin's own `verify`.

use invoice_edge_core::document::verify::{verify, Verification, VerifyCode};
use invoice_edge_core::series::{verify_chain, ChainError, ChainSummary};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

use crate::io;
use crate::Failure;

pub fn run(jwks: &Path) -> Result<(), Failure> {
    let jwks = io::read_jwks(jwks)?;
    let verdict = match io::parse_json(&io::read_stdin()?) {
        Ok(document) => verify(&document, &jwks),
        Err(e) => Verification {
            valid: false,
            code: VerifyCode::Malformed,
            detail: format!("not JSON: {e}"),
            invoice_hash: None,
            status: None,
            unsigned: Vec::new(),
        },
    };
    io::print_json(&verdict)?;
    if verdict.valid {
        Ok(())
    } else {
        Err(Failure::Invalid)
    }
}

/// What `verify --chain` prints: the series and its range, or the first line that breaks it.
#[derive(Debug, PartialEq, Eq, Serialize)]
struct ChainVerdict {
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    series: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    documents: Option<usize>,
    /// The 1-based line of the file that breaks the chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    detail: String,
}

impl ChainVerdict {
    fn broken(line: Option<usize>, detail: String) -> ChainVerdict {
        ChainVerdict {
            valid: false,
            merchant: None,
            series: None,
            first_seq: None,
            last_seq: None,
            documents: None,
            line,
            detail,
        }
    }
}

pub fn run_chain(chain: &Path, jwks: &Path) -> Result<(), Failure> {
    let jwks = io::read_jwks(jwks)?;
    let text = String::from_utf8(io::read_file(chain)?)
        .map_err(|_| Failure::Io(format!("{} is not UTF-8", chain.display())))?;
    let verdict = check_lines(&text, |documents| verify_chain(documents, &jwks));
    io::print_json(&verdict)?;
    if verdict.valid {
        Ok(())
    } else {
        Err(Failure::Invalid)
    }
}

/// Reads JSON lines (blank lines ignored) and checks them as one chain, reporting a failure by
/// its line in the file rather than its place among the documents.
fn check_lines(
    text: &str,
    check: impl FnOnce(&[Value]) -> Result<ChainSummary, ChainError>,
) -> ChainVerdict {
    let mut documents = Vec::new();
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match io::parse_json(line.as_bytes()) {
            Ok(document) => {
                documents.push(document);
                lines.push(index + 1);
            }
            Err(e) => return ChainVerdict::broken(Some(index + 1), format!("not JSON: {e}")),
        }
    }
    if documents.is_empty() {
        return ChainVerdict::broken(None, "the file holds no documents".into());
    }
    match check(&documents) {
        // `verify_chain` accepts only a whole series, from seq 1.
        Ok(summary) => ChainVerdict {
            valid: true,
            detail: format!(
                "seq {} to {}: every signature and every link verifies",
                summary.first_seq, summary.last_seq
            ),
            merchant: Some(summary.merchant),
            series: Some(summary.series),
            first_seq: Some(summary.first_seq),
            last_seq: Some(summary.last_seq),
            documents: Some(documents.len()),
            line: None,
        },
        Err(error) => ChainVerdict::broken(lines.get(error.index).copied(), error.detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_line_of_the_file_not_the_document_index() {
        let verdict = check_lines("{}\n\n  \n{}\n", |documents| {
            assert_eq!(documents.len(), 2);
            Err(ChainError {
                index: 1,
                detail: "broken".into(),
            })
        });
        assert_eq!(verdict, ChainVerdict::broken(Some(4), "broken".into()));
    }

    #[test]
    fn a_line_that_is_not_json_and_an_empty_file_are_invalid() {
        let never = |_: &[Value]| -> Result<ChainSummary, ChainError> { unreachable!() };
        let verdict = check_lines("{}\n{", never);
        assert_eq!((verdict.valid, verdict.line), (false, Some(2)));
        assert!(!check_lines("\n\n", never).valid);
    }
}
