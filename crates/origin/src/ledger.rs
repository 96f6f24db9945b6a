//! The ledger on SQLite: schema and migrations, the single writer that numbers, chains and
//! countersigns, and the reads.
//!
//! One writer thread owns the only write connection. SQLite serializes writers anyway; doing it
//! in one thread means no `SQLITE_BUSY`, and lets the writer commit several waiting requests in
//! one fsync'd transaction (group commit). Each document runs in its own savepoint, so one bad
//! document never fails its neighbours, and nothing is ever half-written.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use invoice_edge_core::date::rfc3339_millis;
use invoice_edge_core::document::{finalize, Final};
use invoice_edge_core::keys::{hex, hex_decode, EdKey, Jwks, PublicJwk};
use invoice_edge_core::{Code, Problem};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use crate::intake::Checked;
use crate::numbering::NumberFormats;

/// The genesis `prev_hash`: 32 zero bytes (DESIGN.md, "The chain").
pub const GENESIS: [u8; 32] = [0; 32];

/// Schema versions, applied in order at start-up; `PRAGMA user_version` records the last one.
const MIGRATIONS: &[&str] = &[
    // 1: the ledger.
    r#"
    -- The origin's own public keys, recorded at each start so `verify` needs no private key
    -- and countersignatures stay verifiable across key rotation.
    CREATE TABLE origin_keys (
        kid           TEXT PRIMARY KEY,  -- RFC 7638 thumbprint
        jwk           TEXT NOT NULL,     -- the public JWK (RFC 8037), JSON
        first_used_at TEXT NOT NULL
    );
    -- The last number handed out per series. Never decremented: numbers are never reused.
    CREATE TABLE series (
        series   TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL CHECK (last_seq > 0)
    );
    -- One row per finalized invoice, in chain order. Hashes are lower-case hex.
    CREATE TABLE entries (
        ledger_seq       INTEGER PRIMARY KEY CHECK (ledger_seq > 0),
        invoice_id       TEXT NOT NULL UNIQUE,
        merchant         TEXT NOT NULL,
        order_id         TEXT NOT NULL,
        series           TEXT NOT NULL,
        series_seq       INTEGER NOT NULL CHECK (series_seq > 0),
        number           TEXT NOT NULL,
        invoice_hash     TEXT NOT NULL,  -- SHA-256 of the invoice's JCS bytes
        prev_hash        TEXT NOT NULL,
        hash             TEXT NOT NULL,  -- SHA-256(prev_hash || invoice_hash || number)
        origin_kid       TEXT NOT NULL,
        origin_signature TEXT NOT NULL,
        document         TEXT NOT NULL,  -- {invoice, edge_signature} as verified
        received_at      TEXT NOT NULL,
        UNIQUE (merchant, order_id),
        UNIQUE (series, series_seq)
    );
    -- Append-only: a finalized invoice is never changed or removed by the origin itself.
    CREATE TRIGGER entries_append_only_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
    CREATE TRIGGER entries_append_only_delete BEFORE DELETE ON entries
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
    "#,
];

/// Opens the ledger file. `create` is false for `verify`, which must not make an empty ledger.
pub fn open(path: &Path, create: bool) -> rusqlite::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    // WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL at every commit,
    // so an acknowledged invoice survives a crash or power loss (DESIGN.md).
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "could not switch {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Applies the migrations this file has not seen yet, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let current = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > current {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the ledger has schema version {version}, newer than this binary's {current}"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Records the origin's public key, once per kid.
pub fn record_origin_key(conn: &Connection, key: &EdKey) -> rusqlite::Result<()> {
    let jwk = serde_json::to_string(&key.public_jwk())
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.execute(
        "INSERT OR IGNORE INTO origin_keys (kid, jwk, first_used_at) VALUES (?1, ?2, ?3)",
        params![key.kid(), jwk, now_rfc3339()],
    )?;
    Ok(())
}

/// Every origin key the ledger has recorded, oldest first: the origin's JWKS.
pub fn origin_keys(conn: &Connection) -> rusqlite::Result<Jwks> {
    let mut statement = conn.prepare("SELECT jwk FROM origin_keys ORDER BY first_used_at, kid")?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    let mut jwks = Jwks::default();
    for jwk in rows {
        let jwk = jwk?;
        let parsed: PublicJwk = serde_json::from_str(&jwk).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?;
        jwks.push(parsed);
    }
    Ok(jwks)
}

/// The number of entries (the last `ledger_seq`, since it has no gaps).
pub fn size(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COALESCE(MAX(ledger_seq), 0) FROM entries",
        [],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| u64::try_from(n).unwrap_or(0))
}

/// One stored ledger entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub ledger_seq: u64,
    pub invoice_id: String,
    pub merchant: String,
    pub order_id: String,
    pub series: String,
    pub series_seq: u64,
    pub number: String,
    pub invoice_hash: String,
    pub prev_hash: String,
    pub hash: String,
    pub origin_kid: String,
    pub origin_signature: String,
    pub document: String,
    pub received_at: String,
}

pub const ENTRY_COLUMNS: &str = "ledger_seq, invoice_id, merchant, order_id, series, series_seq, \
     number, invoice_hash, prev_hash, hash, origin_kid, origin_signature, document, received_at";

impl Entry {
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
        Ok(Entry {
            ledger_seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
            invoice_id: row.get(1)?,
            merchant: row.get(2)?,
            order_id: row.get(3)?,
            series: row.get(4)?,
            series_seq: u64::try_from(row.get::<_, i64>(5)?).unwrap_or(0),
            number: row.get(6)?,
            invoice_hash: row.get(7)?,
            prev_hash: row.get(8)?,
            hash: row.get(9)?,
            origin_kid: row.get(10)?,
            origin_signature: row.get(11)?,
            document: row.get(12)?,
            received_at: row.get(13)?,
        })
    }

    pub fn final_(&self) -> Final {
        Final {
            number: self.number.clone(),
            series: self.series.clone(),
            ledger_seq: self.ledger_seq,
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
            origin_kid: self.origin_kid.clone(),
            origin_signature: self.origin_signature.clone(),
        }
    }
}

pub fn entry_by_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<Entry>> {
    conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM entries WHERE invoice_id = ?1"
    ))?
    .query_row([id], Entry::from_row)
    .optional()
}

/// What became of one document.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Numbered now: 201.
    Created(Final),
    /// Already numbered with the same invoice hash: 200 with the first final data.
    Replayed(Final),
    /// Not numbered: the problem says why and with which status.
    Rejected(Problem),
}

impl Outcome {
    pub fn status(&self) -> u16 {
        match self {
            Outcome::Created(_) => 201,
            Outcome::Replayed(_) => 200,
            Outcome::Rejected(problem) => problem.status,
        }
    }
}

struct Job {
    documents: Vec<Checked>,
    reply: oneshot::Sender<Vec<Outcome>>,
}

/// The handle request handlers use to reach the writer thread.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

/// The most documents one transaction takes when the writer merges waiting requests.
const GROUP_COMMIT_DOCUMENTS: usize = 1_000;

impl Writer {
    /// Starts the writer thread on its own connection. `size` tracks the ledger size.
    pub fn start(
        conn: Connection,
        key: EdKey,
        formats: NumberFormats,
        size: Arc<AtomicU64>,
    ) -> std::io::Result<(Writer, std::thread::JoinHandle<()>)> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                let mut numberer = Numberer {
                    conn,
                    key,
                    formats,
                    size,
                };
                while let Ok(first) = inbox.recv() {
                    let mut batch = vec![first];
                    let mut documents = batch[0].documents.len();
                    while documents < GROUP_COMMIT_DOCUMENTS {
                        match inbox.try_recv() {
                            Ok(job) => {
                                documents += job.documents.len();
                                batch.push(job);
                            }
                            Err(_) => break,
                        }
                    }
                    numberer.run(batch);
                }
            })?;
        Ok((Writer { jobs }, handle))
    }

    /// Numbers the documents in one transaction; one outcome per document, in order.
    pub async fn submit(&self, documents: Vec<Checked>) -> Vec<Outcome> {
        let count = documents.len();
        let (reply, answer) = oneshot::channel();
        let unavailable = || {
            (0..count)
                .map(|_| {
                    Outcome::Rejected(Problem::single(Code::Internal, "the ledger writer stopped"))
                })
                .collect()
        };
        if self.jobs.send(Job { documents, reply }).is_err() {
            return unavailable();
        }
        answer.await.unwrap_or_else(|_| unavailable())
    }
}

struct Numberer {
    conn: Connection,
    key: EdKey,
    formats: NumberFormats,
    size: Arc<AtomicU64>,
}

/// The chain head: the last entry's `ledger_seq` and `hash`.
#[derive(Clone, Copy)]
struct Head {
    seq: u64,
    hash: [u8; 32],
}

impl Numberer {
    fn run(&mut self, jobs: Vec<Job>) {
        let mut outcomes: Vec<Vec<Outcome>> = Vec::with_capacity(jobs.len());
        let committed = self.transaction(&jobs, &mut outcomes);
        if let Err(error) = committed {
            eprintln!("invoice-origin: ledger transaction failed: {error}");
            // Nothing of this transaction is stored, and a replay or conflict may have been
            // judged against a document of this same transaction: every answer becomes a
            // retryable 500, and a retry gets the true one.
            for outcome in outcomes.iter_mut().flatten() {
                *outcome = Outcome::Rejected(Problem::single(
                    Code::Internal,
                    format!("the ledger could not commit: {error}"),
                ));
            }
        }
        outcomes.resize_with(jobs.len(), Vec::new);
        for (job, mut done) in jobs.into_iter().zip(outcomes) {
            while done.len() < job.documents.len() {
                done.push(Outcome::Rejected(Problem::single(
                    Code::Internal,
                    "the ledger writer gave no answer",
                )));
            }
            // The requester may have gone (a client timeout); the ledger is committed anyway.
            let _ = job.reply.send(done);
        }
    }

    fn transaction(
        &mut self,
        jobs: &[Job],
        outcomes: &mut Vec<Vec<Outcome>>,
    ) -> rusqlite::Result<()> {
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut head = tx
            .prepare_cached(
                "SELECT ledger_seq, hash FROM entries ORDER BY ledger_seq DESC LIMIT 1",
            )?
            .query_row([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .optional()?
            .map(|(seq, hash)| Head {
                seq: u64::try_from(seq).unwrap_or(0),
                hash: hex_decode(&hash)
                    .and_then(|b| b.try_into().ok())
                    .unwrap_or(GENESIS),
            })
            .unwrap_or(Head {
                seq: 0,
                hash: GENESIS,
            });
        let received_at = now_rfc3339();
        for job in jobs {
            let mut done = Vec::with_capacity(job.documents.len());
            for document in &job.documents {
                let savepoint = tx.savepoint()?;
                match number_one(
                    &savepoint,
                    document,
                    head,
                    &self.key,
                    &self.formats,
                    &received_at,
                ) {
                    Ok((outcome, next_head)) => {
                        savepoint.commit()?;
                        head = next_head;
                        done.push(outcome);
                    }
                    Err(error) => {
                        // Dropping a savepoint rolls it back and releases it.
                        drop(savepoint);
                        done.push(Outcome::Rejected(Problem::single(
                            Code::Internal,
                            format!(
                                "the ledger could not store invoice {}: {error}",
                                document.id
                            ),
                        )));
                    }
                }
            }
            outcomes.push(done);
        }
        tx.commit()?;
        self.size.store(head.seq, Ordering::Relaxed);
        Ok(())
    }
}

/// Numbers one document inside the open transaction, or says why not.
fn number_one(
    conn: &Connection,
    document: &Checked,
    head: Head,
    key: &EdKey,
    formats: &NumberFormats,
    received_at: &str,
) -> rusqlite::Result<(Outcome, Head)> {
    let hash_hex = hex(&document.invoice_hash);
    if let Some(existing) = entry_by_id(conn, &document.id)? {
        let outcome = if existing.invoice_hash == hash_hex {
            Outcome::Replayed(existing.final_())
        } else {
            Outcome::Rejected(Problem::single(
                Code::InvoiceConflict,
                format!(
                    "invoice {} is already final as {} with another invoice hash",
                    document.id, existing.number
                ),
            ))
        };
        return Ok((outcome, head));
    }
    let other: Option<String> = conn
        .prepare_cached("SELECT invoice_id FROM entries WHERE merchant = ?1 AND order_id = ?2")?
        .query_row(params![document.merchant, document.order_id], |row| {
            row.get(0)
        })
        .optional()?;
    if let Some(other) = other {
        let outcome = Outcome::Rejected(Problem::single(
            Code::OrderConflict,
            format!(
                "order {} of merchant {} is already final as invoice {other}",
                document.order_id, document.merchant
            ),
        ));
        return Ok((outcome, head));
    }

    let last: Option<i64> = conn
        .prepare_cached("SELECT last_seq FROM series WHERE series = ?1")?
        .query_row([&document.series], |row| row.get(0))
        .optional()?;
    let series_seq = last.unwrap_or(0) + 1;
    conn.prepare_cached(
        "INSERT INTO series (series, last_seq) VALUES (?1, ?2) \
         ON CONFLICT (series) DO UPDATE SET last_seq = excluded.last_seq",
    )?
    .execute(params![document.series, series_seq])?;

    let number = formats.for_merchant(&document.merchant).render(
        &document.series,
        &document.year,
        u64::try_from(series_seq).unwrap_or(0),
    );
    let ledger_seq = head.seq + 1;
    let final_ = finalize(
        &document.invoice_hash,
        &head.hash,
        &number,
        &document.series,
        ledger_seq,
        key,
    );
    conn.prepare_cached(&format!(
        "INSERT INTO entries ({ENTRY_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    ))?
    .execute(params![
        i64::try_from(ledger_seq).unwrap_or(i64::MAX),
        document.id,
        document.merchant,
        document.order_id,
        document.series,
        series_seq,
        final_.number,
        hash_hex,
        final_.prev_hash,
        final_.hash,
        final_.origin_kid,
        final_.origin_signature,
        document.document,
        received_at,
    ])?;
    let next = Head {
        seq: ledger_seq,
        hash: hex_decode(&final_.hash)
            .and_then(|b| b.try_into().ok())
            .unwrap_or(GENESIS),
    };
    Ok((Outcome::Created(final_), next))
}

pub fn now_rfc3339() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    rfc3339_millis(millis)
}
