//! `invoice-origin void`: archive a refused document as void, with the operator's reason
//! (docs/ARCHITECTURE.md, "Delivery to the origin").
//!
//! A permanent refusal (a bad signature, an order conflict) stops the edge's series: every later
//! document chains through the refused one. Having found the cause, the operator archives the
//! refused document as void, so that its successors link to it and the series chains on; the
//! receipt says `void: true`, and the edge may then resume the series. The void document is
//! archived at its own `seq`, which must be the series' next, and linked as it was signed. Its
//! edge signature is not required to verify (that may be why it was refused), and its order
//! stays free.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use invoice_edge_core::canonical::canonicalize;
use invoice_edge_core::document::model::Final;
use invoice_edge_core::keys::{sha256, EdKey};
use serde_json::{Map, Value};

use crate::intake::{bare_document, ArchivedFields, Checked};
use crate::ledger::{self, Archiver, Outcome, Void};

pub struct VoidRequest {
    /// A SQLite file or a `postgres://` URL.
    pub db: String,
    pub key: PathBuf,
    pub merchant: String,
    pub series: String,
    pub document: PathBuf,
    pub reason: String,
}

/// Archives the document as void and returns its receipt, or says why not.
pub fn void(request: &VoidRequest) -> Result<Final, String> {
    if request.reason.trim().is_empty() {
        return Err("--reason: say why the document is void; it is kept in the ledger".into());
    }
    let key_text = std::fs::read_to_string(&request.key)
        .map_err(|e| format!("--key {}: {e}", request.key.display()))?;
    let key = EdKey::from_jwk_json(&key_text)
        .map_err(|e| format!("--key {}: {e}", request.key.display()))?;
    let text = std::fs::read_to_string(&request.document)
        .map_err(|e| format!("--document {}: {e}", request.document.display()))?;
    let document: Value = serde_json::from_str(&text)
        .map_err(|e| format!("--document {}: not JSON: {e}", request.document.display()))?;
    let (invoice, signature) = bare_document(document).map_err(|p| p.to_json())?;
    let fields = ArchivedFields::read(&invoice).map_err(|p| p.to_json())?;
    if (fields.merchant.as_str(), fields.series.as_str())
        != (request.merchant.as_str(), request.series.as_str())
    {
        return Err(format!(
            "the document belongs to {}/{}, not --merchant {} --series {}",
            fields.merchant, fields.series, request.merchant, request.series
        ));
    }
    let invoice_hash = sha256(canonicalize(&invoice).as_bytes());
    let mut bare = Map::with_capacity(2);
    bare.insert("invoice".into(), invoice);
    bare.insert("edge_signature".into(), signature);
    let checked = Checked {
        id: fields.id,
        merchant: fields.merchant,
        order_id: fields.order_id,
        series: fields.series,
        kind: fields.kind,
        issued_at_ms: fields.issued_at_ms,
        place: fields.place,
        invoice_hash,
        document: Value::Object(bare).to_string(),
        // An operator voids what was refused, signature and all.
        signature_problem: None,
    };

    let void = Void {
        reason: request.reason.clone(),
    };
    let outcome = if crate::pg::is_postgres(&request.db) {
        let db_error = |e: String| format!("--db {}: {e}", crate::pg::redact(&request.db));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            // The receipt's key must be in the ledger, or `verify` could not check it.
            let pool = crate::pg::prepare(&request.db, Some(&key), 1)
                .await
                .map_err(db_error)?;
            let (mut outcomes, committed) =
                crate::pg::archive(&pool, &[&checked], &key, Some(&void), &AtomicU64::new(0)).await;
            match (outcomes.pop(), committed) {
                (Some(outcome), Some(_)) => Ok(outcome),
                (Some(Outcome::Rejected(problem)), None) => {
                    Err(db_error(problem.detail.unwrap_or_default()))
                }
                _ => Err(db_error("no outcome".into())),
            }
        })?
    } else {
        let path = std::path::Path::new(&request.db);
        let db_error = |e: rusqlite::Error| format!("--db {}: {e}", request.db);
        if !path.exists() {
            return Err(format!("--db {}: no such ledger", request.db));
        }
        let mut conn = ledger::open(path, false).map_err(db_error)?;
        ledger::migrate(&mut conn).map_err(db_error)?;
        // The receipt's key must be in the ledger, or `verify` could not check it.
        ledger::record_origin_key(&conn, &key).map_err(db_error)?;
        let mut archiver = Archiver {
            conn,
            key,
            size: Arc::new(AtomicU64::new(0)),
        };
        archiver.void(&checked, &void).map_err(db_error)?
    };
    match outcome {
        Outcome::Created { final_, .. } => Ok(final_),
        Outcome::Replayed(final_) => Err(format!(
            "invoice {} is already archived (void: {}) as {} {}; nothing to do",
            checked.id, final_.void, final_.series, final_.seq
        )),
        Outcome::Rejected(problem) => Err(format!(
            "{}: {}",
            problem.code,
            problem.detail.unwrap_or_default()
        )),
    }
}
