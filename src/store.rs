//! The KV records of an invoice (docs/ARCHITECTURE.md, "Edge issuance path", step 4, and "Configuration
//! names"). KV allows one write per second to a key, so each is written once and never
//! rewritten with other bytes:
//! - `inv:{id}`: the signed `{invoice, edge_signature}`, by the worker, else by the series'
//!   alarm;
//! - `final:{id}` or `rejected:{id}`: the outcome, by the series' alarm.
//!
//! The current document is `inv:` plus `final:` or `rejected:`; when both exist, `final:` wins.
//! The series' object holds the same documents: KV is what any edge location can read.

use crate::kv::Kv;
use invoice_edge_core::document::model::{Document, Final, Rejection, SignedInvoice};
use serde::{Deserialize, Serialize};
use worker::Env;

pub const INVOICES: &str = "INVOICES";
/// A rejected invoice's record, with its merchant in metadata for the admin listing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RejectedMeta {
    pub merchant: String,
}

pub fn invoices(env: &Env) -> worker::Result<Kv> {
    Kv::bind(env, INVOICES)
}

fn error(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

pub async fn write_final(kv: &Kv, id: &str, final_: &Final) -> worker::Result<()> {
    let body = serde_json::to_string(final_).map_err(error)?;
    kv.put(&format!("final:{id}"), &body).await
}

pub async fn write_rejected(
    kv: &Kv,
    id: &str,
    merchant: &str,
    rejection: &Rejection,
) -> worker::Result<()> {
    let body = serde_json::to_string(rejection).map_err(error)?;
    let metadata = serde_json::to_string(&RejectedMeta {
        merchant: merchant.to_string(),
    })
    .map_err(error)?;
    kv.put_with_metadata(&format!("rejected:{id}"), &body, &metadata)
        .await
}

/// A JSON record read as text and parsed by `serde_json`. The binding's own `.json()` parses in
/// JavaScript and converts field by field through `serde_wasm_bindgen`: slower, and a second
/// deserializer for every type compiled into the worker (docs/PERFORMANCE.md, "size").
async fn read_json<T: serde::de::DeserializeOwned>(
    kv: &Kv,
    key: &str,
) -> worker::Result<Option<T>> {
    match kv.text(key).await? {
        Some(text) => serde_json::from_str(&text).map(Some).map_err(error),
        None => Ok(None),
    }
}

/// The current document of an invoice, or `None` if no such invoice was issued here.
pub async fn read_document(kv: &Kv, id: &str) -> worker::Result<Option<Document>> {
    let inv_key = format!("inv:{id}");
    let final_key = format!("final:{id}");
    let rejected_key = format!("rejected:{id}");
    // Three independent reads, in parallel.
    let (signed, final_, rejection) = futures_util::join!(
        read_json::<SignedInvoice>(kv, &inv_key),
        read_json::<Final>(kv, &final_key),
        read_json::<Rejection>(kv, &rejected_key)
    );
    let Some(signed) = signed? else {
        return Ok(None);
    };
    Ok(Some(Document::new(signed, final_?, rejection?)))
}
