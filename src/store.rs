//! The KV records of an invoice (DESIGN.md, "Edge issuance path", step 4).
//!
//! KV allows one write per second to a key, and a delete counts as a write, so every record but
//! the outbox marker is written once and never rewritten:
//! - `inv:{id}`: the signed `{invoice, edge_signature}`;
//! - `pending:{id}`: the outbox marker, with its state also in the key's metadata so the
//!   reconciliation can read it from a list without one `get` per marker;
//! - `final:{id}` or `rejected:{id}`: the outcome, written once.
//!
//! The current document is `inv:` plus `final:` or `rejected:`.

use invoice_edge_core::document::{Document, Final, Rejection, SignedInvoice};
use serde::{Deserialize, Serialize};
use worker::kv::KvStore;
use worker::Env;

pub const INVOICES: &str = "INVOICES";
pub const PENDING_PREFIX: &str = "pending:";

/// The outbox marker: one per invoice not yet final or rejected.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Marker {
    pub merchant: String,
    pub attempts: u32,
    /// Unix ms after which the reconciliation re-enqueues it.
    pub next_attempt_at: u64,
    /// Unix ms of this marker's last write: it is never deleted within a second of it.
    pub written_at: u64,
}

/// A rejected invoice's record, with its merchant in metadata for the admin listing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RejectedMeta {
    pub merchant: String,
}

pub fn invoices(env: &Env) -> worker::Result<KvStore> {
    env.kv(INVOICES)
}

fn error(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// Records a new invoice: `inv:` then the marker. Nothing is issued unless both are stored.
pub async fn record_issued(
    kv: &KvStore,
    signed: &SignedInvoice,
    marker: &Marker,
) -> worker::Result<()> {
    let id = &signed.invoice.id;
    let body = serde_json::to_string(signed).map_err(error)?;
    kv.put(&format!("inv:{id}"), body)?
        .execute()
        .await
        .map_err(error)?;
    write_marker(kv, id, marker).await
}

pub async fn write_marker(kv: &KvStore, id: &str, marker: &Marker) -> worker::Result<()> {
    // `kv.put(key, serde_json::Value)` would store "{}"; put the JSON text (TOOLCHAIN.md).
    let body = serde_json::to_string(marker).map_err(error)?;
    kv.put(&format!("{PENDING_PREFIX}{id}"), body)?
        .metadata(marker)
        .map_err(error)?
        .execute()
        .await
        .map_err(error)
}

pub async fn write_final(kv: &KvStore, id: &str, final_: &Final) -> worker::Result<()> {
    let body = serde_json::to_string(final_).map_err(error)?;
    kv.put(&format!("final:{id}"), body)?
        .execute()
        .await
        .map_err(error)
}

pub async fn write_rejected(
    kv: &KvStore,
    id: &str,
    merchant: &str,
    rejection: &Rejection,
) -> worker::Result<()> {
    let body = serde_json::to_string(rejection).map_err(error)?;
    kv.put(&format!("rejected:{id}"), body)?
        .metadata(RejectedMeta {
            merchant: merchant.to_string(),
        })
        .map_err(error)?
        .execute()
        .await
        .map_err(error)
}

/// Deletes a marker unless it was written less than a second ago (KV: 1 write/s per key, and a
/// delete is a write). A kept marker is deleted by a later reconciliation.
pub async fn delete_marker_if_settled(
    kv: &KvStore,
    id: &str,
    written_at: Option<u64>,
    now_ms: u64,
) -> worker::Result<bool> {
    if written_at.is_some_and(|at| now_ms.saturating_sub(at) < 1_000) {
        return Ok(false);
    }
    kv.delete(&format!("{PENDING_PREFIX}{id}"))
        .await
        .map_err(error)?;
    Ok(true)
}

pub async fn read_signed(kv: &KvStore, id: &str) -> worker::Result<Option<SignedInvoice>> {
    kv.get(&format!("inv:{id}")).json().await.map_err(error)
}

pub async fn read_final(kv: &KvStore, id: &str) -> worker::Result<Option<Final>> {
    kv.get(&format!("final:{id}")).json().await.map_err(error)
}

/// The current document of an invoice, or `None` if no such invoice was issued here.
pub async fn read_document(kv: &KvStore, id: &str) -> worker::Result<Option<Document>> {
    let inv_key = format!("inv:{id}");
    let final_key = format!("final:{id}");
    let rejected_key = format!("rejected:{id}");
    // Three independent reads, in parallel.
    let (signed, final_, rejection) = futures_util::join!(
        kv.get(&inv_key).json::<SignedInvoice>(),
        kv.get(&final_key).json::<Final>(),
        kv.get(&rejected_key).json::<Rejection>()
    );
    let Some(signed) = signed.map_err(error)? else {
        return Ok(None);
    };
    Ok(Some(Document::new(
        signed,
        final_.map_err(error)?,
        rejection.map_err(error)?,
    )))
}

/// One page (up to 1,000 keys, one KV operation) of the outbox markers, continuing at `cursor`.
pub async fn list_pending_page(
    kv: &KvStore,
    cursor: Option<String>,
) -> worker::Result<worker::kv::ListResponse> {
    let mut list = kv.list().prefix(PENDING_PREFIX.to_string()).limit(1000);
    if let Some(cursor) = cursor {
        list = list.cursor(cursor);
    }
    list.execute().await.map_err(error)
}
