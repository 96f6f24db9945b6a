//! The KV records of an invoice (DESIGN.md, "Edge issuance path", step 4, and "Configuration
//! names"). KV allows one write per second to a key, so each is written once and never
//! rewritten with other bytes:
//! - `inv:{id}`: the signed `{invoice, edge_signature}`, by the worker, else by the series'
//!   alarm;
//! - `final:{id}` or `rejected:{id}`: the outcome, by the series' alarm.
//!
//! The current document is `inv:` plus `final:` or `rejected:`; when both exist, `final:` wins.
//! The series' object holds the same documents: KV is what any edge location can read.

use invoice_edge_core::document::{Document, Final, Rejection, SignedInvoice};
use serde::{Deserialize, Serialize};
use worker::kv::KvStore;
use worker::Env;

pub const INVOICES: &str = "INVOICES";
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
