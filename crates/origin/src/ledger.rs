//! The ledger on SQLite: schema and migrations, the single writer that checks each series'
//! chain, appends to the global audit chain and countersigns, and the reads.
//!
//! One writer thread owns the only write connection. SQLite serializes writers anyway; doing it
//! in one thread means no `SQLITE_BUSY`, and lets the writer commit several waiting requests in
//! one fsync'd transaction (group commit). Each document runs in its own savepoint, so one bad
//! document never fails its neighbours, and nothing is ever half-written.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use hex::FromHex;
use invoice_edge_core::date::rfc3339_millis;
use invoice_edge_core::document::model::Final;
use invoice_edge_core::keys::{EdKey, Jwks, PublicJwk};
use invoice_edge_core::ledger::{receipt, Archived};
use invoice_edge_core::series::{judge, ChainLink, Judgement};
use invoice_edge_core::{Code, Problem};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::oneshot;

use crate::intake::{Checked, Place};

/// The genesis of the global audit chain: 32 zero bytes (docs/ARCHITECTURE.md, "Origin ledger protocol").
pub const GENESIS: [u8; 32] = [0; 32];

/// The schema version of a version 2 ledger (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 2;

/// The version 2 schema. Version 1 numbered at the origin and keyed series by name alone, so
/// two merchants could share a counter; its files are not carried over (no version 1 document
/// exists in production), see [`migrate`].
const SCHEMA_V2: &str = r#"
    -- The origin's own public keys, recorded at each start so `verify` needs no private key
    -- and countersignatures stay verifiable across key rotation.
    CREATE TABLE origin_keys (
        kid           TEXT PRIMARY KEY,  -- RFC 7638 thumbprint
        jwk           TEXT NOT NULL,     -- the public JWK (RFC 8037), JSON
        first_used_at TEXT NOT NULL
    );
    -- The last archived document of each (merchant, series): what the next one must link to.
    CREATE TABLE series (
        merchant  TEXT NOT NULL,
        series    TEXT NOT NULL,
        head_seq  INTEGER NOT NULL CHECK (head_seq > 0),
        head_hash TEXT NOT NULL,           -- the invoice hash of document head_seq
        PRIMARY KEY (merchant, series)
    );
    -- One row per archived document, in global audit-chain order. Hashes are lower-case hex.
    CREATE TABLE entries (
        ledger_seq       INTEGER PRIMARY KEY CHECK (ledger_seq > 0),
        invoice_id       TEXT NOT NULL UNIQUE,
        merchant         TEXT NOT NULL,
        series           TEXT NOT NULL,
        seq              INTEGER NOT NULL CHECK (seq > 0),
        order_id         TEXT NOT NULL,
        kind             TEXT NOT NULL,
        number           TEXT NOT NULL,
        invoice_hash     TEXT NOT NULL,  -- SHA-256 of the invoice's JCS bytes
        series_prev_hash TEXT NOT NULL,  -- the invoice hash of seq - 1 (the series chain)
        prev_hash        TEXT NOT NULL,  -- the previous entry's hash (the global chain)
        hash             TEXT NOT NULL,  -- SHA-256(prev_hash || invoice_hash || number)
        received_at      TEXT NOT NULL,
        origin_kid       TEXT NOT NULL,
        origin_signature TEXT NOT NULL,
        void             INTEGER NOT NULL DEFAULT 0 CHECK (void IN (0, 1)),
        void_reason      TEXT,
        format           TEXT NOT NULL,
        document         TEXT NOT NULL,  -- {invoice, edge_signature} as verified
        UNIQUE (merchant, series, seq)
    );
    -- One invoice per (merchant, series, order_id), as a constraint and not only a check in
    -- code. A document archived as void keeps no order: it was refused.
    CREATE UNIQUE INDEX entries_one_per_order ON entries (merchant, series, order_id)
        WHERE void = 0;
    -- The same order in two series is allowed but reported (DUPLICATE_ORDER).
    CREATE INDEX entries_by_order ON entries (merchant, order_id);
    -- Append-only: an archived document is never changed or removed by the origin itself.
    CREATE TRIGGER entries_append_only_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
    CREATE TRIGGER entries_append_only_delete BEFORE DELETE ON entries
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
"#;

/// The same order archived in another series of the merchant (`DUPLICATE_ORDER`), asked for
/// every archived document. `INDEXED BY` keeps it a lookup: without it, SQLite 3.50 prefers
/// the covering partial index `entries_one_per_order` on `merchant` alone and walks every
/// archived entry of the merchant, for each document. That made intake quadratic in the
/// ledger's size: 71 % of the origin's CPU samples at 12,000 documents, and batched intake fell
/// from about 4,000/s at 2,000 documents to about 1,250/s at 20,000 (docs/PERFORMANCE.md,
/// "Found: the duplicate-order check walked the merchant's ledger"). SQLite documents
/// `INDEXED BY` for this: a time-sensitive
/// query whose plan must not change; it fails loudly if the index is ever missing.
const ORDER_ELSEWHERE: &str = "SELECT series FROM entries INDEXED BY entries_by_order \
     WHERE merchant = ?1 AND order_id = ?2 AND series <> ?3 AND void = 0 LIMIT 1";

/// Migrations after version 2, applied in order; each raises `user_version` by one.
const MIGRATIONS_AFTER_V2: &[&str] = &[
    // 3: credit notes by the invoice they credit, for the credit cap at archiving
    // (docs/ARCHITECTURE.md, "Credit notes"; PostgreSQL's `entries_credit_notes`): without it,
    // a credit note's intake read every entry of its series (`CREDIT_NOTES_OF`).
    r#"
    CREATE INDEX entries_credit_notes ON entries
        (merchant, series, json_extract(document, '$.invoice.credits.id'))
        WHERE kind = 'credit_note' AND void = 0;
    "#,
];

/// The live credit notes of an invoice, by the index of migration 3. Named, as
/// [`ORDER_ELSEWHERE`] is: for `ORDER BY seq` SQLite prefers the `(merchant, series, seq)` index
/// and walks the series; the expression must be the index's, word for word.
const CREDIT_NOTES_OF: &str = "SELECT document FROM entries INDEXED BY entries_credit_notes \
     WHERE merchant = ?1 AND series = ?2 \
     AND kind = 'credit_note' AND void = 0 \
     AND json_extract(document, '$.invoice.credits.id') = ?3 ORDER BY seq";

/// Opens the ledger file. `create` is false for `verify`, which must not make an empty ledger.
pub fn open(path: &Path, create: bool) -> rusqlite::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    // First: switching a new file to WAL takes a lock another starting process may hold.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL at every commit,
    // so an acknowledged receipt survives a crash or power loss (docs/ARCHITECTURE.md).
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "could not switch {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

fn refuse(message: String) -> rusqlite::Error {
    rusqlite::Error::InvalidParameterName(message)
}

/// Brings the file to this binary's schema. An empty file gets version 2. A version 1 file
/// (origin numbering) is refused unless it archived nothing: its series were keyed by name
/// alone and its documents carry no chain, so it cannot be continued as a version 2 ledger.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    // One IMMEDIATE transaction from reading the version to the last migration: processes
    // starting together on a new file (two servers, `migrate`, `void`) take turns instead of
    // both creating the schema.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let newest = SCHEMA_VERSION + i64::try_from(MIGRATIONS_AFTER_V2.len()).unwrap_or(0);
    if version > newest {
        return Err(refuse(format!(
            "the ledger has schema version {version}, newer than this binary's {newest}"
        )));
    }
    if version == 1 {
        let entries: i64 = tx.query_row("SELECT COUNT(*) FROM entries", [], |row| row.get(0))?;
        if entries > 0 {
            return Err(refuse(format!(
                "this ledger was written by version 1 (origin numbering) and holds {entries} \
                 entries; version 2 archives edge-numbered series in a new ledger: pass a new --db"
            )));
        }
        tx.execute_batch(
            "DROP TABLE entries; DROP TABLE series; DROP TABLE origin_keys; PRAGMA user_version = 0;",
        )?;
    }
    if version < SCHEMA_VERSION {
        tx.execute_batch(SCHEMA_V2)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    let applied = usize::try_from((version - SCHEMA_VERSION).max(0)).unwrap_or(0);
    for (index, sql) in MIGRATIONS_AFTER_V2.iter().enumerate().skip(applied) {
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            SCHEMA_VERSION + 1 + i64::try_from(index).unwrap_or(0),
        )?;
    }
    tx.commit()
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

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// One stored ledger entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub ledger_seq: u64,
    pub invoice_id: String,
    pub merchant: String,
    pub series: String,
    pub seq: u64,
    pub order_id: String,
    pub kind: String,
    pub number: String,
    pub invoice_hash: String,
    pub series_prev_hash: String,
    pub prev_hash: String,
    pub hash: String,
    pub received_at: String,
    pub origin_kid: String,
    pub origin_signature: String,
    pub void: bool,
    pub void_reason: Option<String>,
    pub format: String,
    pub document: String,
}

pub const ENTRY_COLUMNS: &str = "ledger_seq, invoice_id, merchant, series, seq, order_id, kind, \
     number, invoice_hash, series_prev_hash, prev_hash, hash, received_at, origin_kid, \
     origin_signature, void, void_reason, format, document";

impl Entry {
    pub fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
        Ok(Entry {
            ledger_seq: to_u64(row.get(0)?),
            invoice_id: row.get(1)?,
            merchant: row.get(2)?,
            series: row.get(3)?,
            seq: to_u64(row.get(4)?),
            order_id: row.get(5)?,
            kind: row.get(6)?,
            number: row.get(7)?,
            invoice_hash: row.get(8)?,
            series_prev_hash: row.get(9)?,
            prev_hash: row.get(10)?,
            hash: row.get(11)?,
            received_at: row.get(12)?,
            origin_kid: row.get(13)?,
            origin_signature: row.get(14)?,
            void: row.get::<_, i64>(15)? != 0,
            void_reason: row.get(16)?,
            format: row.get(17)?,
            document: row.get(18)?,
        })
    }

    pub fn final_(&self) -> Final {
        Final {
            number: self.number.clone(),
            series: self.series.clone(),
            seq: self.seq,
            ledger_seq: self.ledger_seq,
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
            received_at: self.received_at.clone(),
            origin_kid: self.origin_kid.clone(),
            origin_signature: self.origin_signature.clone(),
            void: self.void,
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

fn entry_at(
    conn: &Connection,
    merchant: &str,
    series: &str,
    seq: u64,
) -> rusqlite::Result<Option<Entry>> {
    conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM entries WHERE merchant = ?1 AND series = ?2 AND seq = ?3"
    ))?
    .query_row(params![merchant, series, to_i64(seq)], Entry::from_row)
    .optional()
}

/// The archived head of a series: its last `seq` and that document's invoice hash.
pub fn series_head(
    conn: &Connection,
    merchant: &str,
    series: &str,
) -> rusqlite::Result<Option<(u64, String)>> {
    conn.prepare_cached(
        "SELECT head_seq, head_hash FROM series WHERE merchant = ?1 AND series = ?2",
    )?
    .query_row(params![merchant, series], |row| {
        Ok((to_u64(row.get(0)?), row.get::<_, String>(1)?))
    })
    .optional()
}

/// What became of one document.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Archived now: 201. `duplicate_order` describes, for the operator's log, another series
    /// of the merchant that already has this `order_id` (allowed, reported as `DUPLICATE_ORDER`).
    Created {
        final_: Final,
        duplicate_order: Option<String>,
    },
    /// Already archived with the same invoice hash: 200 with the stored receipt.
    Replayed(Final),
    /// Not archived: the problem says why and with which status.
    Rejected(Problem),
}

impl Outcome {
    pub fn status(&self) -> u16 {
        match self {
            Outcome::Created { .. } => 201,
            Outcome::Replayed(_) => 200,
            Outcome::Rejected(problem) => problem.status,
        }
    }
}

/// An operator's void: archive a refused document so that its successors chain on.
#[derive(Clone, Debug)]
pub struct Void {
    pub reason: String,
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
        size: Arc<AtomicU64>,
    ) -> std::io::Result<(Writer, std::thread::JoinHandle<()>)> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                let mut archiver = Archiver { conn, key, size };
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
                    archiver.run(batch);
                }
            })?;
        Ok((Writer { jobs }, handle))
    }

    /// Archives the documents in one transaction; one outcome per document, in order.
    pub async fn submit(&self, documents: Vec<Checked>) -> Vec<Outcome> {
        submit_to_writer(documents, |documents, reply| {
            self.jobs.send(Job { documents, reply }).is_ok()
        })
        .await
    }
}

/// Hands `documents` to a writer (either backend's) with `send`, and waits for one outcome each,
/// in order; a writer that has stopped answers each with a retryable `INTERNAL`.
pub(crate) async fn submit_to_writer(
    documents: Vec<Checked>,
    send: impl FnOnce(Vec<Checked>, oneshot::Sender<Vec<Outcome>>) -> bool,
) -> Vec<Outcome> {
    let count = documents.len();
    let (reply, answer) = oneshot::channel();
    let unavailable = || {
        (0..count)
            .map(|_| {
                Outcome::Rejected(Problem::single(Code::Internal, "the ledger writer stopped"))
            })
            .collect()
    };
    if !send(documents, reply) {
        return unavailable();
    }
    answer.await.unwrap_or_else(|_| unavailable())
}

/// The single writer: judges each document against its series and appends it.
pub struct Archiver {
    pub conn: Connection,
    pub key: EdKey,
    pub size: Arc<AtomicU64>,
}

/// The global audit chain's head: the last entry's `ledger_seq` and `hash`.
#[derive(Clone, Copy)]
pub struct AuditHead {
    pub seq: u64,
    pub hash: [u8; 32],
}

fn audit_head(conn: &Connection) -> rusqlite::Result<AuditHead> {
    Ok(conn
        .prepare_cached("SELECT ledger_seq, hash FROM entries ORDER BY ledger_seq DESC LIMIT 1")?
        .query_row([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })
        .optional()?
        .map(|(seq, hash)| AuditHead {
            seq: to_u64(seq),
            hash: <[u8; 32]>::from_hex(&hash).unwrap_or(GENESIS),
        })
        .unwrap_or(AuditHead {
            seq: 0,
            hash: GENESIS,
        }))
}

impl Archiver {
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
        let mut head = audit_head(&tx)?;
        let received_at = now_rfc3339();
        for job in jobs {
            let mut done = Vec::with_capacity(job.documents.len());
            for document in &job.documents {
                let savepoint = tx.savepoint()?;
                match archive_one(
                    &mut SqliteBook(&savepoint),
                    document,
                    head,
                    &self.key,
                    &received_at,
                    None,
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

    /// `invoice-origin void`: archives one refused document as void, in its own transaction.
    pub fn void(&mut self, document: &Checked, void: &Void) -> rusqlite::Result<Outcome> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let head = audit_head(&tx)?;
        let (outcome, _) = archive_one(
            &mut SqliteBook(&tx),
            document,
            head,
            &self.key,
            &now_rfc3339(),
            Some(void),
        )?;
        tx.commit()?;
        Ok(outcome)
    }
}

/// What the archiving rules need to read and write, whatever holds the ledger: the SQLite
/// backend answers each call with a query inside the document's savepoint; the PostgreSQL one
/// ([`crate::pg`]) from rows it read (and locked) for the whole transaction, plus what this
/// transaction has appended. The rules themselves ([`archive_one`]) exist once.
pub trait Book {
    type Error;
    /// The entry with this invoice id.
    fn by_id(&mut self, id: &str) -> Result<Option<Entry>, Self::Error>;
    /// The archived head of `(merchant, series)`: its last `seq` and that invoice hash.
    fn head(&mut self, merchant: &str, series: &str) -> Result<Option<(u64, String)>, Self::Error>;
    /// The entry at `seq` of `(merchant, series)`.
    fn at(&mut self, merchant: &str, series: &str, seq: u64) -> Result<Option<Entry>, Self::Error>;
    /// The id of the document (not void) holding `(merchant, series, order_id)`.
    fn order_holder(
        &mut self,
        merchant: &str,
        series: &str,
        order_id: &str,
    ) -> Result<Option<String>, Self::Error>;
    /// Another series of the merchant holding `order_id` (not void), for `DUPLICATE_ORDER`.
    fn order_elsewhere(
        &mut self,
        merchant: &str,
        order_id: &str,
        series: &str,
    ) -> Result<Option<String>, Self::Error>;
    /// The documents (JSON text) of the credit notes of `invoice_id` archived in
    /// `(merchant, series)`, not void, in `seq` order (docs/ARCHITECTURE.md, "Credit notes").
    fn credit_notes_of(
        &mut self,
        merchant: &str,
        series: &str,
        invoice_id: &str,
    ) -> Result<Vec<String>, Self::Error>;
    /// Appends the entry and makes it its series' head.
    fn append(&mut self, entry: &Entry) -> Result<(), Self::Error>;
}

/// The SQLite book: every read and write is a query on the open transaction (or savepoint).
pub struct SqliteBook<'a>(pub &'a Connection);

impl Book for SqliteBook<'_> {
    type Error = rusqlite::Error;

    fn by_id(&mut self, id: &str) -> rusqlite::Result<Option<Entry>> {
        entry_by_id(self.0, id)
    }

    fn head(&mut self, merchant: &str, series: &str) -> rusqlite::Result<Option<(u64, String)>> {
        series_head(self.0, merchant, series)
    }

    fn at(&mut self, merchant: &str, series: &str, seq: u64) -> rusqlite::Result<Option<Entry>> {
        entry_at(self.0, merchant, series, seq)
    }

    fn order_holder(
        &mut self,
        merchant: &str,
        series: &str,
        order_id: &str,
    ) -> rusqlite::Result<Option<String>> {
        self.0
            .prepare_cached(
                "SELECT invoice_id FROM entries \
             WHERE merchant = ?1 AND series = ?2 AND order_id = ?3 AND void = 0",
            )?
            .query_row(params![merchant, series, order_id], |row| row.get(0))
            .optional()
    }

    fn order_elsewhere(
        &mut self,
        merchant: &str,
        order_id: &str,
        series: &str,
    ) -> rusqlite::Result<Option<String>> {
        self.0
            .prepare_cached(ORDER_ELSEWHERE)?
            .query_row(params![merchant, order_id, series], |row| row.get(0))
            .optional()
    }

    fn credit_notes_of(
        &mut self,
        merchant: &str,
        series: &str,
        invoice_id: &str,
    ) -> rusqlite::Result<Vec<String>> {
        let mut statement = self.0.prepare_cached(CREDIT_NOTES_OF)?;
        let rows = statement.query_map(params![merchant, series, invoice_id], |row| row.get(0))?;
        rows.collect()
    }

    fn append(&mut self, e: &Entry) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(&format!(
            "INSERT INTO entries ({ENTRY_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
        ))?
            .execute(params![
                to_i64(e.ledger_seq),
                e.invoice_id,
                e.merchant,
                e.series,
                to_i64(e.seq),
                e.order_id,
                e.kind,
                e.number,
                e.invoice_hash,
                e.series_prev_hash,
                e.prev_hash,
                e.hash,
                e.received_at,
                e.origin_kid,
                e.origin_signature,
                i64::from(e.void),
                e.void_reason,
                e.format,
                e.document,
            ])?;
        self.0.prepare_cached(
            "INSERT INTO series (merchant, series, head_seq, head_hash) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (merchant, series) DO UPDATE SET head_seq = excluded.head_seq, \
             head_hash = excluded.head_hash",
        )?
        .execute(params![e.merchant, e.series, to_i64(e.seq), e.invoice_hash])?;
        Ok(())
    }
}

/// Checks one document against its series and appends it to `book`, or says why not
/// (docs/ARCHITECTURE.md, "Origin ledger protocol"). Both backends run exactly this.
pub fn archive_one<B: Book>(
    book: &mut B,
    document: &Checked,
    audit: AuditHead,
    key: &EdKey,
    received_at: &str,
    void: Option<&Void>,
) -> Result<(Outcome, AuditHead), B::Error> {
    let hash_hex = hex::encode(document.invoice_hash);
    let rejected = |problem: Problem| Ok((Outcome::Rejected(problem), audit));
    if let Some(existing) = book.by_id(&document.id)? {
        if existing.invoice_hash == hash_hex {
            return Ok((Outcome::Replayed(existing.final_()), audit));
        }
        return rejected(Problem::single(
            Code::SequenceConflict,
            format!(
                "invoice {} is already archived as {} {} with another invoice hash",
                document.id, existing.series, existing.seq
            ),
        ));
    }

    // Only now, after the replay check: a voided document comes back with its bad signature.
    if let Some(problem) = &document.signature_problem {
        return rejected(problem.clone());
    }

    let head = book.head(&document.merchant, &document.series)?;
    let Place {
        seq,
        prev_hash,
        number,
    } = &document.place;
    let link = ChainLink {
        seq: *seq,
        prev_hash,
        hash: &hash_hex,
    };
    // A read error must not pass for a conflict (permanent at the edge): it fails the
    // document, and the answer is a retryable 500.
    let mut stored = None;
    let mut read_error = None;
    let judgement = judge(
        head.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        &link,
        |at| {
            match book.at(&document.merchant, &document.series, at) {
                Ok(entry) => stored = entry,
                Err(error) => read_error = Some(error),
            }
            stored.as_ref().map(|e| e.invoice_hash.clone())
        },
    );
    if let Some(error) = read_error {
        return Err(error);
    }
    let (seq, series_prev_hash, number) = match judgement {
        Judgement::Accept => (*seq, prev_hash.clone(), number.clone()),
        Judgement::Replay => {
            return match stored {
                Some(entry) => Ok((Outcome::Replayed(entry.final_()), audit)),
                None => rejected(Problem::single(Code::Internal, "replay lost")),
            }
        }
        Judgement::Gap { expected_seq } => {
            return rejected(Problem::sequence_gap(
                expected_seq,
                format!(
                    "{}/{} seq {seq} arrived, but the origin's next seq is {expected_seq}: \
                     send the series from there",
                    document.merchant, document.series
                ),
            ))
        }
        Judgement::Conflict { reason } => {
            return rejected(Problem::single(
                Code::SequenceConflict,
                format!("{}/{}: {reason}", document.merchant, document.series),
            ))
        }
    };

    if void.is_none() {
        if let Some(other) =
            book.order_holder(&document.merchant, &document.series, &document.order_id)?
        {
            return rejected(Problem::single(
                Code::OrderConflict,
                format!(
                    "order {} of {}/{} is already archived as invoice {other}",
                    document.order_id, document.merchant, document.series
                ),
            ));
        }
        if let Some(problem) = crate::credit::check_credit_cap(book, document)? {
            return rejected(problem);
        }
    }
    let duplicate_order = book
        .order_elsewhere(&document.merchant, &document.order_id, &document.series)?
        .map(|other| {
            format!(
                "merchant {} order {} archived in series {} as {}/{seq} (invoice {}), already in series {other}",
                document.merchant, document.order_id, document.series, document.series, document.id
            )
        });

    let ledger_seq = audit.seq + 1;
    let final_ = receipt(
        &Archived {
            invoice_hash: &document.invoice_hash,
            audit_prev_hash: &audit.hash,
            number: &number,
            series: &document.series,
            seq,
            ledger_seq,
            received_at,
            void: void.is_some(),
        },
        key,
    );
    let entry = Entry {
        ledger_seq,
        invoice_id: document.id.clone(),
        merchant: document.merchant.clone(),
        series: document.series.clone(),
        seq,
        order_id: document.order_id.clone(),
        kind: document.kind.clone(),
        number,
        invoice_hash: hash_hex,
        series_prev_hash,
        prev_hash: final_.prev_hash.clone(),
        hash: final_.hash.clone(),
        received_at: received_at.to_string(),
        origin_kid: final_.origin_kid.clone(),
        origin_signature: final_.origin_signature.clone(),
        void: void.is_some(),
        void_reason: void.map(|v| v.reason.clone()),
        format: invoice_edge_core::document::model::FORMAT.to_string(),
        document: document.document.clone(),
    };
    book.append(&entry)?;
    let next = AuditHead {
        seq: ledger_seq,
        hash: <[u8; 32]>::from_hex(&final_.hash).unwrap_or(GENESIS),
    };
    Ok((
        Outcome::Created {
            final_,
            duplicate_order,
        },
        next,
    ))
}

pub fn now_rfc3339() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    rfc3339_millis(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan of a statement, as SQLite's `EXPLAIN QUERY PLAN` details it.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = statement
            .query_map(["m", "o", "s"], |row| row.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn the_order_and_credit_checks_are_lookups_not_walks_of_the_ledger() {
        let path =
            std::env::temp_dir().join(format!("invoice-origin-plan-{}.sqlite", std::process::id()));
        let mut conn = open(&path, true).unwrap();
        migrate(&mut conn).unwrap();
        // Asked for every archived document: equality on both columns of `entries_by_order`,
        // never the partial index searched on `merchant` alone (quadratic intake, see
        // `ORDER_ELSEWHERE`).
        assert_eq!(
            plan(&conn, ORDER_ELSEWHERE),
            ["SEARCH entries USING INDEX entries_by_order (merchant=? AND order_id=?)"]
        );
        // A credit note's cap reads the credit notes of one invoice, not its whole series.
        assert_eq!(
            plan(&conn, CREDIT_NOTES_OF)[0],
            "SEARCH entries USING INDEX entries_credit_notes (merchant=? AND series=? AND <expr>=?)"
        );
        drop(conn);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
