//! `issue`: sign a request offline as the next document of a series (docs/ARCHITECTURE.md, "Series"). At
//! the edge the series' Durable Object is its only writer; here the operator is, by naming the
//! document's place: `--after FILE` (the series' previous document), `--seq N --prev-hash HEX`,
//! or neither (seq 1). The document stays pending_sync until an origin archives it (`finalize`).

use clap::Args;
use invoice_edge_core::canonical::canonicalize;
use invoice_edge_core::date::parse_rfc3339_millis;
use invoice_edge_core::document::issue::{issue, IssueContext};
use invoice_edge_core::document::model::{uuid_v7, Document, FORMAT};
use invoice_edge_core::document::sign::Channel;
use invoice_edge_core::json_reader::parse_json;
use invoice_edge_core::keys::sha256;
use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::problem::{Code, Problem};
use invoice_edge_core::series::{next_position, ChainPosition, NextPosition, SeriesHead};
use invoice_edge_core::{parse_request, Payment};
use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::flags;
use crate::io;
use crate::Failure;

#[derive(Args)]
pub struct IssueArgs {
    /// The private signing JWK (`keygen` output).
    #[arg(long)]
    key: PathBuf,
    #[arg(long)]
    merchant: PathBuf,
    /// The series to number in; replaces the request's `series`.
    #[arg(long, value_parser = flags::series_name)]
    series: Option<String>,
    /// The document's place in its series, from 1; needs --prev-hash.
    #[arg(long, requires = "prev_hash", value_parser = clap::value_parser!(u64).range(1..))]
    seq: Option<u64>,
    /// The invoice hash of document seq - 1 (64 lower-case hex digits; 64 zeros for seq 1);
    /// needs --seq.
    #[arg(long, requires = "seq", value_parser = flags::hash_hex)]
    prev_hash: Option<String>,
    /// The series' previous document (pending or final): the new one takes its seq + 1, its
    /// invoice hash as prev_hash, its series, and an issued_at no earlier than its.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["seq", "prev_hash"])]
    after: Option<PathBuf>,
}

/// What `--after FILE` says about the series' head.
#[derive(Debug)]
struct Previous {
    merchant: String,
    series: String,
    head: SeriesHead,
}

pub fn run(args: &IssueArgs) -> Result<(), Failure> {
    let key = io::read_key(&args.key)?;
    let merchant = io::read_merchant(&args.merchant)?;
    let previous = args.after.as_deref().map(read_previous).transpose()?;
    let series = chosen_series(args.series.as_deref(), previous.as_ref(), &merchant)?;
    let body = io::read_stdin()?;
    let now = io::now_millis();
    let position = match (&previous, args.seq, &args.prev_hash) {
        (Some(previous), _, _) => next_position(Some(&previous.head), now),
        (None, Some(seq), Some(prev_hash)) => Some(NextPosition {
            seq,
            prev_hash: prev_hash.clone(),
            issued_at_ms: now,
        }),
        _ => next_position(None, now),
    }
    .ok_or_else(|| Failure::Usage("--after: the series has no seq left".into()))?;
    check_genesis(&position)?;

    let mut request: Value = parse_json(&body).map_err(|error| reject(vec![error]))?;
    if let (Some(series), Some(fields)) = (series, request.as_object_mut()) {
        fields.insert("series".into(), Value::String(series));
    }
    let context = offline_context(position, &key)?;
    let signed = parse_request(&request)
        .and_then(|request| issue(request, &merchant, Payment::AsRequested, &context))
        .map_err(reject)?;
    // The series' max_invoice_amount holds offline too (docs/ARCHITECTURE.md, "Offline limits"); the other
    // limits are about what an origin has not archived, which the CLI cannot know.
    let limits = merchant
        .series
        .iter()
        .find(|s| s.name == signed.invoice.series)
        .map(|series| merchant.limits_for(series));
    if let Some(limits) = limits {
        let candidate = invoice_edge_core::offline::Candidate {
            currency: &signed.invoice.currency,
            gross: signed.invoice.totals.gross.to_decimal(),
            counts_toward_amount: true,
        };
        let unlimited = invoice_edge_core::offline::Limits {
            max_invoice_amount: limits.max_invoice_amount,
            ..invoice_edge_core::offline::Limits::none()
        };
        if let Err(refusal) = invoice_edge_core::offline::admit(
            0,
            &invoice_edge_core::offline::Outstanding::default(),
            &unlimited,
            &candidate,
        ) {
            return Err(reject(vec![invoice_edge_core::FieldError::new(
                "/lines",
                refusal.code,
                refusal.detail,
            )]));
        }
    }
    io::print_json(&Document::new(signed, None, None))
}

#[derive(Args)]
pub struct CreditNoteArgs {
    /// The private signing JWK (`keygen` output).
    #[arg(long)]
    key: PathBuf,
    #[arg(long)]
    merchant: PathBuf,
    /// The invoice to credit: its current document (pending or final), as the edge serves it.
    #[arg(long, value_name = "FILE")]
    original: PathBuf,
    /// The series' previous document, which the credit note follows (default: --original,
    /// when it is still the series' last document).
    #[arg(long, value_name = "FILE")]
    after: Option<PathBuf>,
    /// An earlier credit note of the same invoice (repeat for each): the cap counts them, as
    /// the series' object counts its balance.
    #[arg(long, value_name = "FILE")]
    credited: Vec<PathBuf>,
}

/// `credit-note`: a credit note of `--original`, from the credit-note request on stdin
/// (docs/ARCHITECTURE.md, "Credit notes"), signed offline as the next document of the
/// original's series, exactly as the series' object issues one: computed by the core, the
/// last credit of a group settled, the cap checked against `--credited`.
pub fn run_credit(args: &CreditNoteArgs) -> Result<(), Failure> {
    use invoice_edge_core::credit::{check_cap, prepare_credit, settle};
    let key = io::read_key(&args.key)?;
    let merchant = io::read_merchant(&args.merchant)?;
    let read_document = |path: &Path| -> Result<Document, Failure> {
        let text = io::read_file(path)?;
        serde_json::from_slice(&text).map_err(|e| {
            io::reject(&Problem::single(
                Code::MalformedDocument,
                format!("{}: not a document: {e}", path.display()),
            ))
        })
    };
    let original = read_document(&args.original)?;
    let previous = read_previous(args.after.as_deref().unwrap_or(&args.original))?;
    chosen_series(Some(&original.invoice.series), Some(&previous), &merchant)?;
    if original.invoice.merchant != merchant.id {
        return Err(Failure::Usage(format!(
            "--original: that invoice is merchant {:?}'s, not {:?}'s",
            original.invoice.merchant, merchant.id
        )));
    }
    let body = io::read_stdin()?;
    let request: Value = parse_json(&body).map_err(|error| reject(vec![error]))?;
    let mut prepared =
        prepare_credit(&original, &request, &merchant).map_err(|p| io::reject(&p))?;
    let mut balance = Vec::new();
    for path in &args.credited {
        let note = read_document(path)?;
        if note.invoice.credits.as_ref().map(|c| c.id.as_str()) != Some(&original.invoice.id) {
            return Err(Failure::Usage(format!(
                "--credited {}: not a credit note of {}",
                path.display(),
                original.invoice.number
            )));
        }
        balance =
            check_cap(&original.invoice, &balance, &note.invoice.tax_breakdown).map_err(reject)?;
    }
    settle(&original.invoice, &balance, &mut prepared.computed);
    check_cap(
        &original.invoice,
        &balance,
        &prepared.computed.tax_breakdown,
    )
    .map_err(reject)?;
    let position = next_position(Some(&previous.head), io::now_millis())
        .ok_or_else(|| Failure::Usage("--after: the series has no seq left".into()))?;
    let context = offline_context(position, &key)?;
    let sealed =
        invoice_edge_core::document::issue::finish(prepared.computed, prepared.issuer, &context);
    io::print_json(&Document::new(sealed.signed, None, None))
}

/// Where and how the CLI issues: offline, at `position`, with a fresh UUIDv7 id.
fn offline_context(
    position: NextPosition,
    key: &invoice_edge_core::keys::EdKey,
) -> Result<IssueContext<'_>, Failure> {
    Ok(IssueContext {
        id: uuid_v7(
            u64::try_from(position.issued_at_ms).unwrap_or(0),
            io::random_bytes::<10>()?,
        ),
        issued_at_ms: position.issued_at_ms,
        edge_node: "cli".into(),
        key,
        channel: Channel::Offline,
        position: ChainPosition {
            seq: position.seq,
            prev_hash: position.prev_hash,
        },
    })
}

fn reject(errors: Vec<invoice_edge_core::FieldError>) -> Failure {
    io::reject(&Problem::from_errors(errors))
}

/// Seq 1 links to nothing: its prev_hash is 64 zeros, or no verifier accepts the chain.
fn check_genesis(position: &NextPosition) -> Result<(), Failure> {
    if position.seq == 1 && position.prev_hash != invoice_edge_core::series::GENESIS_PREV_HASH {
        return Err(Failure::Usage(
            "--seq 1 starts a series: its --prev-hash is 64 zeros".into(),
        ));
    }
    Ok(())
}

/// The series the document goes in: `--series`, else `--after`'s, else the request's (`None`).
fn chosen_series(
    flag: Option<&str>,
    previous: Option<&Previous>,
    merchant: &MerchantConfig,
) -> Result<Option<String>, Failure> {
    let Some(previous) = previous else {
        return Ok(flag.map(str::to_string));
    };
    if previous.merchant != merchant.id {
        return Err(Failure::Usage(format!(
            "--after: that document is merchant {:?}'s, not {:?}'s",
            previous.merchant, merchant.id
        )));
    }
    match flag {
        Some(flag) if flag != previous.series => Err(Failure::Usage(format!(
            "--after: that document is of series {:?}, not --series {flag:?}",
            previous.series
        ))),
        _ => Ok(Some(previous.series.clone())),
    }
}

/// Reads `--after FILE`: an `invoice-edge/2` document, pending or final. Its signature is not
/// checked here (no keys are given); `verify --chain` checks the finished chain.
fn read_previous(path: &Path) -> Result<Previous, Failure> {
    let malformed = |detail: String| {
        io::reject(&Problem::single(
            Code::MalformedDocument,
            format!("--after {}: {detail}", path.display()),
        ))
    };
    let document: Value =
        io::parse_json(&io::read_file(path)?).map_err(|e| malformed(format!("not JSON: {e}")))?;
    previous_of(&document).map_err(malformed)
}

fn previous_of(document: &Value) -> Result<Previous, String> {
    let invoice = document
        .get("invoice")
        .filter(|v| v.is_object())
        .ok_or("not a document {invoice, edge_signature, …}")?;
    if invoice.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(format!(
            "not an {FORMAT} document: only they are numbered in a series"
        ));
    }
    let text = |name: &str| {
        invoice
            .get(name)
            .and_then(Value::as_str)
            .ok_or(format!("invoice.{name} is missing"))
    };
    let seq = invoice
        .get("seq")
        .and_then(Value::as_u64)
        .filter(|seq| *seq >= 1)
        .ok_or("invoice.seq is not an integer from 1")?;
    let issued_at = text("issued_at")?;
    let issued_at_ms = parse_rfc3339_millis(issued_at).ok_or(format!(
        "invoice.issued_at {issued_at:?} is not YYYY-MM-DDTHH:MM:SS.mmmZ"
    ))?;
    Ok(Previous {
        merchant: text("merchant")?.to_string(),
        series: text("series")?.to_string(),
        head: SeriesHead {
            seq,
            // The invoice hash as every verifier computes it: over the JSON as given, so a
            // field this version does not know still counts.
            hash: hex::encode(sha256(canonicalize(invoice).as_bytes())),
            issued_at_ms,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn previous() -> Value {
        json!({"invoice": {"format": FORMAT, "merchant": "shop", "series": "WEB", "seq": 41,
                           "issued_at": "2026-12-31T23:59:59.999Z", "prev_hash": "0".repeat(64)},
               "edge_signature": {}})
    }

    #[test]
    fn the_previous_document_gives_the_head_of_its_series() {
        let document = previous();
        let found = previous_of(&document).unwrap();
        assert_eq!(
            (found.merchant.as_str(), found.series.as_str()),
            ("shop", "WEB")
        );
        assert_eq!(found.head.seq, 41);
        assert_eq!(
            found.head.hash,
            hex::encode(sha256(canonicalize(&document["invoice"]).as_bytes()))
        );
        assert_eq!(found.head.issued_at_ms, 1_798_761_599_999);
    }

    #[test]
    fn a_version_1_or_half_document_cannot_be_followed() {
        let mut v1 = previous();
        v1["invoice"]["format"] = json!("invoice-edge/1");
        assert!(previous_of(&v1).is_err());
        let mut no_seq = previous();
        no_seq["invoice"]["seq"] = json!(0);
        assert!(previous_of(&no_seq).is_err());
        assert!(previous_of(&json!({"invoice": 1})).is_err());
    }
}
