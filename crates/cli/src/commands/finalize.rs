//! `finalize --origin URL --token T`: send a signed document to an origin ledger, as the edge
//! does (`PUT /v1/ledger/invoices/{id}` with `Authorization: Bearer T`, docs/ARCHITECTURE.md, "Origin
//! ledger protocol"), and print the final document. So `issue | finalize | ubl` works against a
//! local `invoice-origin`.
//!
//! The receipt must be this invoice's: its `number`, `series` and `seq` are the invoice's and
//! its audit-chain `hash` covers the invoice hash. With `--jwks` (the edge's and the origin's
//! public keys) the final document is also verified as `verify` does, countersignature included.
//!
//! Exit codes: 0 final; 1 the origin refused it (4xx, the problem on stderr) or the input is
//! not a signed `invoice-edge/2` document; 3 the origin could not be reached, failed (5xx, e.g.
//! the retryable `UNKNOWN_KID`) or answered something that is not this invoice's final data.

use clap::Args;
use hex::FromHex;
use invoice_edge_core::canonical::canonicalize;
use invoice_edge_core::document::model::{is_uuid, Final, FORMAT};
use invoice_edge_core::document::verify::{verify, VerifyCode};
use invoice_edge_core::keys::sha256;
use invoice_edge_core::ledger::chain_hash;
use invoice_edge_core::problem::{Code, Problem};
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

use crate::io;
use crate::Failure;

/// Long enough for a real ledger's fsync, short enough that a dead origin is reported.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Args)]
pub struct FinalizeArgs {
    /// The origin ledger's base URL, e.g. http://127.0.0.1:8788 (plain HTTP).
    #[arg(long)]
    origin: String,
    /// The edge's credential at the origin, sent as `Authorization: Bearer`.
    #[arg(long, env = "ORIGIN_TOKEN", hide_env_values = true)]
    token: String,
    /// A JWKS with the edge's and the origin's public keys: verify the final document,
    /// countersignature included, before printing it.
    #[arg(long)]
    jwks: Option<PathBuf>,
}

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

pub fn run(args: &FinalizeArgs) -> Result<(), Failure> {
    // A token with spaces or controls would be a broken (or injected) header line.
    if args.token.is_empty() || !args.token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::Usage(
            "--token (or ORIGIN_TOKEN) must be printable ASCII without spaces".into(),
        ));
    }
    let jwks = args.jwks.as_deref().map(io::read_jwks).transpose()?;
    let document: Value = io::parse_json(&io::read_stdin()?)
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
    let place = Place::of(invoice).ok_or_else(|| {
        malformed(format!(
            "only an {FORMAT} invoice (with its series, seq and number) goes to the origin"
        ))
    })?;

    let url = format!(
        "{}/v1/ledger/invoices/{id}",
        args.origin.trim_end_matches('/')
    );
    let body = serde_json::json!({"invoice": invoice, "edge_signature": edge_signature});
    let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
    let response = agent
        .put(&url)
        .set("Content-Type", "application/json")
        .set("Authorization", &format!("Bearer {}", args.token))
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
    let not_ours = |why: &str| {
        Failure::Io(format!(
            "{url}: the origin's final data does not belong to invoice {id}: {why}"
        ))
    };
    if !place.matches(&final_) {
        return Err(not_ours("its number, series or seq differs"));
    }
    // The audit-chain link covers the invoice hash: a receipt for another invoice fails here.
    let hash = sha256(canonicalize(invoice).as_bytes());
    let prev = <[u8; 32]>::from_hex(&final_.prev_hash).ok();
    let linked = prev
        .is_some_and(|prev| hex::encode(chain_hash(&prev, &hash, &final_.number)) == final_.hash);
    if !linked {
        return Err(not_ours("its chain hash does not cover this invoice"));
    }
    let printed = FinalDocument {
        invoice,
        edge_signature,
        status: "final",
        final_: &final_,
        rejection: None,
    };
    match &jwks {
        Some(jwks) => {
            let value = serde_json::to_value(&printed).map_err(|e| Failure::Io(e.to_string()))?;
            let verdict = verify(&value, jwks);
            if verdict.code != VerifyCode::Valid {
                return Err(Failure::Io(format!(
                    "{url}: the final document does not verify: {:?}: {}",
                    verdict.code, verdict.detail
                )));
            }
        }
        None => eprintln!(
            "invoice-edge: the origin's countersignature was not checked; give --jwks with the \
             origin's public key to check it"
        ),
    }
    io::print_json(&printed)
}

/// An invoice's place in its series, which its receipt must repeat.
struct Place<'a> {
    number: &'a str,
    series: &'a str,
    seq: u64,
}

impl<'a> Place<'a> {
    fn of(invoice: &'a Value) -> Option<Place<'a>> {
        if invoice.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return None;
        }
        Some(Place {
            number: invoice.get("number")?.as_str()?,
            series: invoice.get("series")?.as_str()?,
            seq: invoice.get("seq")?.as_u64()?,
        })
    }

    fn matches(&self, final_: &Final) -> bool {
        (self.number, self.series, self.seq)
            == (final_.number.as_str(), final_.series.as_str(), final_.seq)
    }
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
