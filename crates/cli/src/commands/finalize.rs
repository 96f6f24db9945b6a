//! `finalize --origin URL`: send a signed document to an origin ledger, as the edge does, and
//! print the final document. So `issue | finalize | ubl` works against a local `invoice-origin`.
//!
//! Exit codes: 0 final; 1 the origin refused it (4xx, the problem on stderr) or the input is
//! not a signed document; 3 the origin could not be reached, failed (5xx, e.g. the retryable
//! `UNKNOWN_KID`) or answered something that is not this invoice's final data.

use invoice_edge_core::canonical::canonicalize;
use invoice_edge_core::document::{chain_hash, is_uuid, Final};
use invoice_edge_core::keys::{hex, hex_decode, sha256};
use invoice_edge_core::problem::{Code, Problem};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

use crate::io;
use crate::Failure;

/// Long enough for a real ledger's fsync, short enough that a dead origin is reported.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The final document, in the field order of every other document this tool prints.
#[derive(Serialize)]
struct FinalDocument<'a> {
    invoice: &'a Value,
    edge_signature: &'a Value,
    status: &'static str,
    #[serde(rename = "final")]
    final_: &'a Final,
    rejection: Option<()>,
}

pub fn run(origin: &str) -> Result<(), Failure> {
    let document: Value = serde_json::from_slice(&io::read_stdin()?)
        .map_err(|e| malformed(format!("stdin is not JSON: {e}")))?;
    // The invoice is sent as it was signed, never re-serialized from our structs: the
    // signature covers its canonical JSON, and a field this version does not know counts.
    let (Some(invoice), Some(edge_signature)) = (
        document.get("invoice").filter(|v| v.is_object()),
        document.get("edge_signature").filter(|v| v.is_object()),
    ) else {
        return Err(malformed(
            "stdin needs a signed document {invoice, edge_signature}".into(),
        ));
    };
    let id = invoice
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !is_uuid(id) {
        return Err(malformed(format!("invoice.id {id:?} is not a UUID")));
    }
    let series = invoice.get("series").and_then(Value::as_str);

    let url = format!("{}/v1/ledger/invoices/{id}", origin.trim_end_matches('/'));
    let body = serde_json::json!({"invoice": invoice, "edge_signature": edge_signature});
    let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
    let response = agent
        .put(&url)
        .set("Content-Type", "application/json")
        .send_string(&body.to_string());
    let text = match response {
        Ok(response) => response
            .into_string()
            .map_err(|e| Failure::Io(format!("{url}: cannot read the answer: {e}")))?,
        Err(ureq::Error::Status(status, response)) => {
            let text = response.into_string().unwrap_or_default();
            eprintln!("{}", pretty(&text));
            return Err(if (400..500).contains(&status) {
                Failure::Invalid
            } else {
                Failure::Io(format!("{url}: the origin answered {status}; retry later"))
            });
        }
        Err(ureq::Error::Transport(error)) => {
            return Err(Failure::Io(format!("cannot reach the origin: {error}")));
        }
    };
    let final_: Final = serde_json::from_str(&text)
        .map_err(|e| Failure::Io(format!("{url}: the answer is not final data: {e}: {text}")))?;
    // The origin countersigns, but its key is not known here: at least check that the final
    // data is this invoice's (the chain link covers the invoice hash and the number).
    let hash = sha256(canonicalize(invoice).as_bytes());
    let prev: Option<[u8; 32]> = hex_decode(&final_.prev_hash).and_then(|b| b.try_into().ok());
    let linked =
        prev.is_some_and(|prev| hex(&chain_hash(&prev, &hash, &final_.number)) == final_.hash);
    if !linked || series != Some(final_.series.as_str()) {
        return Err(Failure::Io(format!(
            "{url}: the origin's final data does not belong to invoice {id}"
        )));
    }
    io::print_json(&FinalDocument {
        invoice,
        edge_signature,
        status: "final",
        final_: &final_,
        rejection: None,
    })
}

fn malformed(detail: String) -> Failure {
    io::reject(&Problem::single(Code::MalformedDocument, detail))
}

/// A problem body re-indented for people, or the text as it came.
fn pretty(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| text.to_string())
}
