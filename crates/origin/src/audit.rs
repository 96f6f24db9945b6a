//! `invoice-origin verify`: re-checks a ledger file from nothing but the file and the edge's
//! JWKS: every series chain from `seq` 1 (each link and each edge signature), the global audit
//! chain, and every countersignature. The origin's own public keys come from the file (recorded
//! at each start), so no private key is needed and key rotation does not break old
//! countersignatures.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use hex::FromHex;
use invoice_edge_core::canonical::{canonicalize, to_jcs_bytes};
use invoice_edge_core::document::model::FORMAT;
use invoice_edge_core::document::verify::{verify, VerifyCode};
use invoice_edge_core::keys::{sha256, verify_signature, Jwks};
use invoice_edge_core::ledger::chain_hash;
use invoice_edge_core::series::GENESIS_PREV_HASH;
use serde_json::Value;

use crate::ledger::{self, Entry, ENTRY_COLUMNS, GENESIS};

/// What a sound ledger looks like.
#[derive(Debug, Default)]
pub struct Summary {
    pub entries: u64,
    pub head_hash: String,
    /// Per `merchant/series`: what it holds.
    pub series: BTreeMap<String, SeriesSummary>,
    pub origin_keys: usize,
}

/// One series as verified.
#[derive(Debug, Default)]
pub struct SeriesSummary {
    pub documents: u64,
    pub voids: u64,
    pub first_number: String,
    pub last_number: String,
    /// The series' last seq and its invoice hash.
    pub head_seq: u64,
    pub head_hash: String,
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
        for (series, s) in &self.series {
            writeln!(
                f,
                "series {series}: seq 1..{} ({} .. {}), {} void, every link and signature valid",
                s.head_seq, s.first_number, s.last_number, s.voids
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

/// What `verify` reads, from either backend: the recorded origin keys, the entries in
/// `ledger_seq` order (a page at a time), the series heads, and, where the backend keeps one,
/// the global chain's head row.
pub trait AuditSource {
    fn origin_keys(&mut self) -> Result<Jwks, String>;
    /// Up to `limit` entries with `ledger_seq > after`, in order.
    fn entries_after(&mut self, after: u64, limit: u32) -> Result<Vec<Entry>, String>;
    /// Every `(merchant, series, head_seq, head_hash)`, by merchant and series.
    fn heads(&mut self) -> Result<Vec<(String, String, u64, String)>, String>;
    /// The recorded head of the global chain (`ledger_seq`, `hash`), if the backend has one.
    fn chain_head(&mut self) -> Result<Option<(u64, String)>, String>;
}

struct SqliteSource(rusqlite::Connection);

impl AuditSource for SqliteSource {
    fn origin_keys(&mut self) -> Result<Jwks, String> {
        ledger::origin_keys(&self.0).map_err(|e| e.to_string())
    }

    fn entries_after(&mut self, after: u64, limit: u32) -> Result<Vec<Entry>, String> {
        let mut statement = self
            .0
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE ledger_seq > ?1 ORDER BY ledger_seq LIMIT ?2"
            ))
            .map_err(|e| e.to_string())?;
        let rows = statement
            .query_map(
                rusqlite::params![i64::try_from(after).unwrap_or(i64::MAX), limit],
                Entry::from_row,
            )
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }

    fn heads(&mut self) -> Result<Vec<(String, String, u64, String)>, String> {
        let mut statement = self
            .0
            .prepare(
                "SELECT merchant, series, head_seq, head_hash FROM series ORDER BY merchant, series",
            )
            .map_err(|e| e.to_string())?;
        let heads = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                    row.get::<_, String>(3)?,
                ))
            })
            .map_err(|e| e.to_string())?;
        heads
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }

    fn chain_head(&mut self) -> Result<Option<(u64, String)>, String> {
        Ok(None)
    }
}

/// Verifies a ledger: a SQLite file, or a `postgres://` URL (read in one repeatable-read
/// snapshot, so a ledger in use verifies as of one instant).
pub fn audit(db: &str, trust: &Jwks) -> Result<Summary, AuditError> {
    if crate::pg::is_postgres(db) {
        return crate::pg::audit(db, trust);
    }
    let path = Path::new(db);
    let io = |e: rusqlite::Error| AuditError::Io(format!("{}: {e}", path.display()));
    if !path.exists() {
        return Err(AuditError::Io(format!("{}: no such file", path.display())));
    }
    let conn = ledger::open(path, false).map_err(io)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(io)?;
    if version == 0 {
        return Err(AuditError::Io(format!(
            "{}: not a ledger (no schema)",
            path.display()
        )));
    }
    let integrity: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(io)?;
    if integrity != "ok" {
        return Err(broken(format!("SQLite quick_check: {integrity}")));
    }
    audit_source(&mut SqliteSource(conn), &path.display().to_string(), trust)
}

/// How many entries `verify` holds in memory at once.
const PAGE: u32 = 1_000;

/// Walks the whole ledger in chain order and stops at the first broken link.
pub fn audit_source(
    source: &mut dyn AuditSource,
    name: &str,
    trust: &Jwks,
) -> Result<Summary, AuditError> {
    let io = |e: String| AuditError::Io(format!("{name}: {e}"));
    let origin_jwks = source.origin_keys().map_err(io)?;

    let mut summary = Summary {
        origin_keys: origin_jwks.keys.len(),
        head_hash: hex::encode(GENESIS),
        ..Summary::default()
    };
    let mut prev = GENESIS;
    loop {
        let page = source.entries_after(summary.entries, PAGE).map_err(io)?;
        if page.is_empty() {
            break;
        }
        for entry in page {
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
            if entry.prev_hash != hex::encode(prev) {
                return Err(broken_at(
                    &entry,
                    format!(
                        "prev_hash {} does not link to the previous entry's hash {}",
                        entry.prev_hash,
                        hex::encode(prev)
                    ),
                ));
            }

            // The stored document: its hash, and its edge signature unless an operator voided it
            // (a void document may have been refused for its signature).
            let document: Value = serde_json::from_str(&entry.document)
                .map_err(|e| broken_at(&entry, format!("stored document is not JSON: {e}")))?;
            let invoice = &document["invoice"];
            let invoice_hash = hex::encode(sha256(canonicalize(invoice).as_bytes()));
            if invoice_hash != entry.invoice_hash {
                return Err(broken_at(
                    &entry,
                    "invoice_hash column differs from the hash of the stored invoice",
                ));
            }
            if !entry.void {
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
            }
            for (field, column) in [
                ("id", &entry.invoice_id),
                ("merchant", &entry.merchant),
                ("order_id", &entry.order_id),
                ("series", &entry.series),
                ("format", &entry.format),
            ] {
                if invoice.get(field).and_then(Value::as_str) != Some(column.as_str()) {
                    return Err(broken_at(
                        &entry,
                        format!("column {field} differs from the signed invoice.{field}"),
                    ));
                }
            }
            // Version 2: the place in the series is signed, and must be the archived one.
            if entry.format == FORMAT {
                let signed_place = (
                    invoice.get("seq").and_then(Value::as_u64),
                    invoice.get("number").and_then(Value::as_str),
                    invoice.get("prev_hash").and_then(Value::as_str),
                    invoice.get("kind").and_then(Value::as_str),
                );
                let archived_place = (
                    Some(entry.seq),
                    Some(entry.number.as_str()),
                    Some(entry.series_prev_hash.as_str()),
                    Some(entry.kind.as_str()),
                );
                if signed_place != archived_place {
                    return Err(broken_at(
                    &entry,
                    "columns seq, number, series_prev_hash or kind differ from the signed invoice",
                ));
                }
            }

            // The global chain link and the countersignature.
            let invoice_hash_bytes = <[u8; 32]>::from_hex(&invoice_hash)
                .map_err(|_| broken_at(&entry, "invoice hash is not 32 bytes of hex"))?;
            let hash = chain_hash(&prev, &invoice_hash_bytes, &entry.number);
            if hex::encode(hash) != entry.hash {
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

            // The series chain: gapless from 1, each document linked to the one before.
            let key = format!("{}/{}", entry.merchant, entry.series);
            let series = summary.series.entry(key.clone()).or_default();
            if entry.seq != series.head_seq + 1 {
                return Err(broken_at(
                    &entry,
                    format!(
                        "series {key} jumps from seq {} to {}: a series has no gaps or duplicates",
                        series.head_seq, entry.seq
                    ),
                ));
            }
            let expected_link = if series.head_seq == 0 {
                GENESIS_PREV_HASH
            } else {
                series.head_hash.as_str()
            };
            if entry.series_prev_hash != expected_link {
                return Err(broken_at(
                    &entry,
                    format!(
                    "series {key} seq {} links to {}, not to seq {}'s invoice hash {expected_link}",
                    entry.seq, entry.series_prev_hash, series.head_seq
                ),
                ));
            }
            if series.documents == 0 {
                series.first_number = entry.number.clone();
            }
            series.documents += 1;
            series.voids += u64::from(entry.void);
            series.last_number = entry.number.clone();
            series.head_seq = entry.seq;
            series.head_hash = entry.invoice_hash.clone();

            prev = hash;
            summary.entries = entry.ledger_seq;
            summary.head_hash = entry.hash.clone();
        }
    }

    // The series heads must agree with the entries, or a document was acknowledged and lost.
    let heads = source.heads().map_err(io)?;
    let mut heads_seen = 0;
    for (merchant, series, head_seq, head_hash) in heads {
        let key = format!("{merchant}/{series}");
        let seen = summary.series.get(&key);
        if seen.map(|s| (s.head_seq, s.head_hash.as_str())) != Some((head_seq, head_hash.as_str()))
        {
            return Err(broken(format!(
                "series {key}: its head says seq {head_seq}, the entries end at seq {}",
                seen.map_or(0, |s| s.head_seq)
            )));
        }
        heads_seen += 1;
    }
    if heads_seen != summary.series.len() {
        return Err(broken("a series has entries but no head row"));
    }

    // The global chain's recorded head (PostgreSQL keeps one row) must be the last entry.
    if let Some((seq, hash)) = source.chain_head().map_err(io)? {
        if (seq, hash.as_str()) != (summary.entries, summary.head_hash.as_str()) {
            return Err(broken(format!(
                "the audit head row says ledger_seq {seq}, the entries end at {}",
                summary.entries
            )));
        }
    }
    Ok(summary)
}
