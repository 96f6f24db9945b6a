//! `invoice-origin verify`: re-checks a ledger file from nothing but the file and the edge's
//! JWKS. The origin's own public keys come from the file (recorded at each start), so no
//! private key is needed and key rotation does not break old countersignatures.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use invoice_edge_core::canonical::to_jcs_bytes;
use invoice_edge_core::document::{chain_hash, verify, VerifyCode};
use invoice_edge_core::keys::{hex, hex_decode, verify_signature, Jwks};
use serde_json::Value;

use crate::ledger::{self, Entry, ENTRY_COLUMNS, GENESIS};

/// What a sound ledger looks like.
#[derive(Debug, Default)]
pub struct Summary {
    pub entries: u64,
    pub head_hash: String,
    /// Per series: how many numbers, and the first and last number.
    pub series: BTreeMap<String, (u64, String, String)>,
    pub origin_keys: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ledger OK: {} entries, {} series, {} origin key(s)",
            self.entries,
            self.series.len(),
            self.origin_keys
        )?;
        writeln!(f, "chain head: {}", self.head_hash)?;
        for (series, (count, first, last)) in &self.series {
            writeln!(
                f,
                "series {series}: {count} numbers, {first} .. {last}, no gaps"
            )?;
        }
        Ok(())
    }
}

/// Why verification stopped.
#[derive(Debug)]
pub enum AuditError {
    /// The file or the JWKS could not be read at all.
    Io(String),
    /// The first broken link, named.
    Broken {
        ledger_seq: Option<u64>,
        invoice_id: Option<String>,
        number: Option<String>,
        reason: String,
    },
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Io(message) => write!(f, "cannot verify: {message}"),
            AuditError::Broken {
                ledger_seq,
                invoice_id,
                number,
                reason,
            } => {
                write!(f, "BROKEN")?;
                if let Some(seq) = ledger_seq {
                    write!(f, " at ledger_seq {seq}")?;
                }
                match (invoice_id, number) {
                    (Some(id), Some(number)) => write!(f, " (invoice {id}, number {number})")?,
                    (Some(id), None) => write!(f, " (invoice {id})")?,
                    _ => {}
                }
                write!(f, ": {reason}")
            }
        }
    }
}

fn broken_at(entry: &Entry, reason: impl Into<String>) -> AuditError {
    AuditError::Broken {
        ledger_seq: Some(entry.ledger_seq),
        invoice_id: Some(entry.invoice_id.clone()),
        number: Some(entry.number.clone()),
        reason: reason.into(),
    }
}

fn broken(reason: impl Into<String>) -> AuditError {
    AuditError::Broken {
        ledger_seq: None,
        invoice_id: None,
        number: None,
        reason: reason.into(),
    }
}

/// Walks the whole ledger in chain order and stops at the first broken link.
pub fn audit(db: &Path, trust: &Jwks) -> Result<Summary, AuditError> {
    let io = |e: rusqlite::Error| AuditError::Io(format!("{}: {e}", db.display()));
    if !db.exists() {
        return Err(AuditError::Io(format!("{}: no such file", db.display())));
    }
    let conn = ledger::open(db, false).map_err(io)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(io)?;
    if version == 0 {
        return Err(AuditError::Io(format!(
            "{}: not a ledger (no schema)",
            db.display()
        )));
    }
    let integrity: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(io)?;
    if integrity != "ok" {
        return Err(broken(format!("SQLite quick_check: {integrity}")));
    }
    let origin_jwks = ledger::origin_keys(&conn).map_err(io)?;

    let mut summary = Summary {
        origin_keys: origin_jwks.keys.len(),
        head_hash: hex(&GENESIS),
        ..Summary::default()
    };
    let mut prev = GENESIS;
    let mut per_series: BTreeMap<String, (u64, HashSet<String>)> = BTreeMap::new();
    let mut statement = conn
        .prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM entries ORDER BY ledger_seq"
        ))
        .map_err(io)?;
    let rows = statement.query_map([], Entry::from_row).map_err(io)?;
    for row in rows {
        let entry = row.map_err(io)?;
        let expected = summary.entries + 1;
        if entry.ledger_seq != expected {
            return Err(broken_at(
                &entry,
                format!(
                    "ledger_seq gap: expected {expected} after {}",
                    summary.entries
                ),
            ));
        }
        if entry.prev_hash != hex(&prev) {
            return Err(broken_at(
                &entry,
                format!(
                    "prev_hash {} does not link to the previous entry's hash {}",
                    entry.prev_hash,
                    hex(&prev)
                ),
            ));
        }

        // The edge signature, over the invoice as stored.
        let document: Value = serde_json::from_str(&entry.document)
            .map_err(|e| broken_at(&entry, format!("stored document is not JSON: {e}")))?;
        let verification = verify(&document, trust);
        if verification.code != VerifyCode::Valid {
            return Err(broken_at(
                &entry,
                format!(
                    "edge signature: {} ({})",
                    serde_json::to_value(verification.code)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    verification.detail
                ),
            ));
        }
        let invoice_hash = verification.invoice_hash.unwrap_or_default();
        if invoice_hash != entry.invoice_hash {
            return Err(broken_at(
                &entry,
                "invoice_hash column differs from the hash of the stored invoice",
            ));
        }
        let invoice = &document["invoice"];
        for (field, column) in [
            ("id", &entry.invoice_id),
            ("merchant", &entry.merchant),
            ("order_id", &entry.order_id),
            ("series", &entry.series),
        ] {
            if invoice.get(field).and_then(Value::as_str) != Some(column.as_str()) {
                return Err(broken_at(
                    &entry,
                    format!("column {field} differs from the signed invoice.{field}"),
                ));
            }
        }

        // The chain link and the countersignature.
        let invoice_hash_bytes: [u8; 32] = hex_decode(&invoice_hash)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| broken_at(&entry, "invoice hash is not 32 bytes of hex"))?;
        let hash = chain_hash(&prev, &invoice_hash_bytes, &entry.number);
        if hex(&hash) != entry.hash {
            return Err(broken_at(
                &entry,
                "hash is not SHA-256(prev_hash || invoice_hash || number)",
            ));
        }
        let final_ = entry.final_();
        let Some(origin_key) = origin_jwks.find(&final_.origin_kid) else {
            return Err(broken_at(
                &entry,
                format!(
                    "countersigned by {}, which is not a recorded origin key",
                    final_.origin_kid
                ),
            ));
        };
        let body = to_jcs_bytes(&final_.body()).unwrap_or_default();
        if !verify_signature(&origin_key, &body, &final_.origin_signature) {
            return Err(broken_at(
                &entry,
                "the origin's countersignature does not verify",
            ));
        }

        // Numbers per series: consecutive, each used once.
        let (last, numbers) = per_series.entry(entry.series.clone()).or_default();
        if entry.series_seq != *last + 1 {
            return Err(broken_at(
                &entry,
                format!(
                    "series {} jumps from {} to {}: numbers must have no gaps or duplicates",
                    entry.series, last, entry.series_seq
                ),
            ));
        }
        if !numbers.insert(entry.number.clone()) {
            return Err(broken_at(
                &entry,
                format!(
                    "number {} is used twice in series {}",
                    entry.number, entry.series
                ),
            ));
        }
        *last = entry.series_seq;
        let range = summary
            .series
            .entry(entry.series.clone())
            .or_insert_with(|| (0, entry.number.clone(), String::new()));
        range.0 += 1;
        range.2 = entry.number.clone();

        prev = hash;
        summary.entries = entry.ledger_seq;
        summary.head_hash = entry.hash.clone();
    }

    // The counters must agree with the entries, or a number was handed out and lost.
    let mut statement = conn
        .prepare("SELECT series, last_seq FROM series ORDER BY series")
        .map_err(io)?;
    let counters = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(io)?;
    for counter in counters {
        let (series, last_seq) = counter.map_err(io)?;
        let seen = per_series.get(&series).map(|(last, _)| *last).unwrap_or(0);
        if u64::try_from(last_seq).ok() != Some(seen) {
            return Err(broken(format!(
                "series {series}: counter says {last_seq} numbers were handed out, the ledger holds {seen}"
            )));
        }
    }
    Ok(summary)
}
