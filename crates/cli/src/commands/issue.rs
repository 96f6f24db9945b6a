//! `issue`: sign a request offline; the document stays pending_sync until an origin finalizes it.

use invoice_edge_core::document::{issue, uuid_v7, Document, IssueContext};
use invoice_edge_core::{parse_request_bytes, Payment, Problem};
use std::path::Path;

use crate::io;
use crate::Failure;

pub fn run(key: &Path, merchant: &Path) -> Result<(), Failure> {
    let key = io::read_key(key)?;
    let merchant = io::read_merchant(merchant)?;
    let body = io::read_stdin()?;
    let now = io::now_millis();
    let context = IssueContext {
        id: uuid_v7(u64::try_from(now).unwrap_or(0), io::random_bytes::<10>()?),
        issued_at_ms: now,
        edge_node: "cli".into(),
        key: &key,
    };
    let signed = parse_request_bytes(&body)
        .and_then(|request| issue(&request, &merchant, Payment::AsRequested, &context))
        .map_err(|errors| io::reject(&Problem::from_errors(errors)))?;
    io::print_json(&Document::new(signed, None, None))
}
