//! The ledger on PostgreSQL (`--db postgres://…`): several `invoice-origin` processes may
//! serve one database at once (docs/ORIGIN.md, "PostgreSQL: several origins, one replicated database").
//!
//! Each process has one writer task that merges waiting requests into one transaction (group
//! commit, as on SQLite). A transaction:
//! 1. locks the global audit chain's head row (`audit_head … FOR UPDATE`): one writer at a time
//!    across every process, so two processes never fork the chain nor reuse a `ledger_seq`;
//! 2. reads, in a few set-based queries, what the rules need: the entries with these ids, the
//!    heads of these series (`FOR UPDATE`, in key order), the entries a replay may name, and
//!    the entries holding these orders;
//! 3. judges every document with the same [`archive_one`] as SQLite, against those rows plus
//!    what this transaction appended;
//! 4. inserts the new entries and series heads and moves the audit head, and commits.
//!
//! The uniqueness rules are constraints here too, so a bug fails the transaction instead of
//! archiving a duplicate. A serialization failure or deadlock is retried (and counted); so is a
//! lost connection (a failover), which is safe because archiving is idempotent: a document
//! whose commit did land is a replay the second time.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use hex::FromHex;
use invoice_edge_core::keys::{EdKey, Jwks, PublicJwk};
use invoice_edge_core::{Code, Problem};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::{GenericClient, NoTls, Row};

use crate::intake::Checked;
use crate::ledger::{
    archive_one, now_rfc3339, AuditHead, Book, Entry, Outcome, Void, ENTRY_COLUMNS, GENESIS,
};

/// The advisory lock key under which migrations run ("invoice-origin migrate" as 8 bytes), so
/// two processes starting together do not both create the schema.
const MIGRATION_LOCK: i64 = 0x696e_766f_6d69_6772;

/// Versioned migrations, applied in order in one transaction each; `schema_migrations` records
/// which ran. Never edit one that shipped: add the next.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE origin_keys (
        kid           TEXT PRIMARY KEY,
        jwk           TEXT NOT NULL,
        first_used_at TEXT NOT NULL
    );
    CREATE TABLE series (
        merchant  TEXT NOT NULL,
        series    TEXT NOT NULL,
        head_seq  BIGINT NOT NULL CHECK (head_seq > 0),
        head_hash TEXT NOT NULL,
        PRIMARY KEY (merchant, series)
    );
    CREATE TABLE entries (
        ledger_seq       BIGINT PRIMARY KEY CHECK (ledger_seq > 0),
        invoice_id       TEXT NOT NULL UNIQUE,
        merchant         TEXT NOT NULL,
        series           TEXT NOT NULL,
        seq              BIGINT NOT NULL CHECK (seq > 0),
        order_id         TEXT NOT NULL,
        kind             TEXT NOT NULL,
        number           TEXT NOT NULL,
        invoice_hash     TEXT NOT NULL,
        series_prev_hash TEXT NOT NULL,
        prev_hash        TEXT NOT NULL,
        hash             TEXT NOT NULL,
        received_at      TEXT NOT NULL,
        origin_kid       TEXT NOT NULL,
        origin_signature TEXT NOT NULL,
        void             BOOLEAN NOT NULL DEFAULT false,
        void_reason      TEXT,
        format           TEXT NOT NULL,
        document         TEXT NOT NULL,
        UNIQUE (merchant, series, seq)
    );
    CREATE UNIQUE INDEX entries_one_per_order ON entries (merchant, series, order_id)
        WHERE NOT void;
    CREATE INDEX entries_by_order ON entries (merchant, order_id);
    -- The global audit chain's head: one row, locked by every writer (the single-writer rule).
    CREATE TABLE audit_head (
        id         BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
        ledger_seq BIGINT NOT NULL CHECK (ledger_seq >= 0),
        hash       TEXT NOT NULL
    );
    INSERT INTO audit_head (id, ledger_seq, hash)
        VALUES (true, 0, '0000000000000000000000000000000000000000000000000000000000000000');
    CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$;
    CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
        FOR EACH ROW EXECUTE FUNCTION entries_append_only();
"#,
    r#"
    -- Credit notes by the invoice they credit, for the credit cap at archiving
    -- (docs/ARCHITECTURE.md, "Credit notes"): only credit notes are indexed.
    CREATE INDEX entries_credit_notes ON entries
        (merchant, series, ((document::jsonb) #>> '{invoice,credits,id}'))
        WHERE kind = 'credit_note' AND NOT void;
"#,
];

/// Is this `--db` a PostgreSQL connection string (`postgres://` or `postgresql://`)?
pub fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// The connection string without its password, for messages.
pub fn redact(db: &str) -> String {
    match (db.find("://"), db.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &db[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}", &db[..scheme + 3], &db[at..])
        }
        _ => db.to_string(),
    }
}

/// A pool on `url`. Multi-host URLs and `target_session_attrs=read-write` are tokio-postgres's
/// own: after a failover, new connections find the promoted primary.
pub fn pool(url: &str, size: usize) -> Result<Pool, String> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(|e| e.to_string())?;
    if config.get_connect_timeout().is_none() {
        // A dead host must not hold a writer for the OS's TCP timeout (minutes).
        config.connect_timeout(Duration::from_secs(5));
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(10)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| e.to_string())
}

fn error_text(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    }
}

/// Applies the migrations this binary knows under the advisory lock; returns the version.
pub async fn migrate(client: &mut deadpool_postgres::Client) -> Result<usize, String> {
    let tx = client.transaction().await.map_err(|e| error_text(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| error_text(&e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await
    .map_err(|e| error_text(&e))?;
    let applied: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(|e| error_text(&e))?
        .get(0);
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(format!(
            "the ledger has schema version {applied}, newer than this binary's {}",
            MIGRATIONS.len()
        ));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.batch_execute(sql)
            .await
            .map_err(|e| format!("migration {version}: {}", error_text(&e)))?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(|e| error_text(&e))?;
    }
    tx.commit().await.map_err(|e| error_text(&e))?;
    Ok(MIGRATIONS.len())
}

pub async fn record_origin_key(client: &impl GenericClient, key: &EdKey) -> Result<(), String> {
    let jwk = serde_json::to_string(&key.public_jwk()).map_err(|e| e.to_string())?;
    client
        .execute(
            "INSERT INTO origin_keys (kid, jwk, first_used_at) VALUES ($1, $2, $3) \
             ON CONFLICT (kid) DO NOTHING",
            &[&key.kid(), &jwk, &now_rfc3339()],
        )
        .await
        .map_err(|e| error_text(&e))?;
    Ok(())
}

pub async fn origin_keys(client: &impl GenericClient) -> Result<Jwks, String> {
    let rows = client
        .query(
            "SELECT jwk FROM origin_keys ORDER BY first_used_at, kid",
            &[],
        )
        .await
        .map_err(|e| error_text(&e))?;
    let mut jwks = Jwks::default();
    for row in rows {
        let text: String = row.get(0);
        let jwk: PublicJwk = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        jwks.push(jwk);
    }
    Ok(jwks)
}

pub async fn size(client: &impl GenericClient) -> Result<u64, String> {
    let row = client
        .query_one("SELECT ledger_seq FROM audit_head", &[])
        .await
        .map_err(|e| error_text(&e))?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub fn entry_from_row(row: &Row) -> Entry {
    Entry {
        ledger_seq: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
        invoice_id: row.get(1),
        merchant: row.get(2),
        series: row.get(3),
        seq: u64::try_from(row.get::<_, i64>(4)).unwrap_or(0),
        order_id: row.get(5),
        kind: row.get(6),
        number: row.get(7),
        invoice_hash: row.get(8),
        series_prev_hash: row.get(9),
        prev_hash: row.get(10),
        hash: row.get(11),
        received_at: row.get(12),
        origin_kid: row.get(13),
        origin_signature: row.get(14),
        void: row.get(15),
        void_reason: row.get(16),
        format: row.get(17),
        document: row.get(18),
    }
}

pub async fn entry_by_id(client: &impl GenericClient, id: &str) -> Result<Option<Entry>, String> {
    let row = client
        .query_opt(
            &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE invoice_id = $1"),
            &[&id],
        )
        .await
        .map_err(|e| error_text(&e))?;
    Ok(row.as_ref().map(entry_from_row))
}

/// The rows one transaction judges against, read (and locked) before judging, plus what it
/// appended: the PostgreSQL [`Book`], which never waits on the network.
#[derive(Default)]
struct Prefetched {
    by_id: HashMap<String, Entry>,
    heads: HashMap<(String, String), (u64, String)>,
    at: HashMap<(String, String, u64), Entry>,
    /// `(merchant, order_id)` → every `(series, invoice_id)` holding it, void excluded.
    orders: HashMap<(String, String), Vec<(String, String)>>,
    /// `(merchant, series, invoice_id)` → the documents of its credit notes, void excluded, in
    /// `seq` order: read for the batch's credit notes, then grown by what it appends.
    credit_notes: HashMap<(String, String, String), Vec<String>>,
    appended: Vec<Entry>,
}

impl Book for Prefetched {
    type Error = std::convert::Infallible;

    fn by_id(&mut self, id: &str) -> Result<Option<Entry>, Self::Error> {
        Ok(self.by_id.get(id).cloned())
    }

    fn head(&mut self, merchant: &str, series: &str) -> Result<Option<(u64, String)>, Self::Error> {
        Ok(self
            .heads
            .get(&(merchant.to_string(), series.to_string()))
            .cloned())
    }

    fn at(&mut self, merchant: &str, series: &str, seq: u64) -> Result<Option<Entry>, Self::Error> {
        Ok(self
            .at
            .get(&(merchant.to_string(), series.to_string(), seq))
            .cloned())
    }

    fn order_holder(
        &mut self,
        merchant: &str,
        series: &str,
        order_id: &str,
    ) -> Result<Option<String>, Self::Error> {
        Ok(self
            .orders
            .get(&(merchant.to_string(), order_id.to_string()))
            .and_then(|holders| holders.iter().find(|(s, _)| s == series))
            .map(|(_, id)| id.clone()))
    }

    fn order_elsewhere(
        &mut self,
        merchant: &str,
        order_id: &str,
        series: &str,
    ) -> Result<Option<String>, Self::Error> {
        Ok(self
            .orders
            .get(&(merchant.to_string(), order_id.to_string()))
            .and_then(|holders| holders.iter().find(|(s, _)| s != series))
            .map(|(s, _)| s.clone()))
    }

    fn credit_notes_of(
        &mut self,
        merchant: &str,
        series: &str,
        invoice_id: &str,
    ) -> Result<Vec<String>, Self::Error> {
        Ok(self
            .credit_notes
            .get(&(
                merchant.to_string(),
                series.to_string(),
                invoice_id.to_string(),
            ))
            .cloned()
            .unwrap_or_default())
    }

    fn append(&mut self, entry: &Entry) -> Result<(), Self::Error> {
        if entry.kind == "credit_note" && !entry.void {
            if let Some(credited) = crate::credit::credited_id(&entry.document) {
                self.credit_notes
                    .entry((entry.merchant.clone(), entry.series.clone(), credited))
                    .or_default()
                    .push(entry.document.clone());
            }
        }
        self.by_id.insert(entry.invoice_id.clone(), entry.clone());
        self.heads.insert(
            (entry.merchant.clone(), entry.series.clone()),
            (entry.seq, entry.invoice_hash.clone()),
        );
        self.at.insert(
            (entry.merchant.clone(), entry.series.clone(), entry.seq),
            entry.clone(),
        );
        if !entry.void {
            self.orders
                .entry((entry.merchant.clone(), entry.order_id.clone()))
                .or_default()
                .push((entry.series.clone(), entry.invoice_id.clone()));
        }
        self.appended.push(entry.clone());
        Ok(())
    }
}

/// One archiving transaction over `documents`: the outcomes, in order, once committed.
async fn transaction(
    client: &mut deadpool_postgres::Client,
    documents: &[&Checked],
    key: &EdKey,
    void: Option<&Void>,
) -> Result<(Vec<Outcome>, u64), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    // 1. The single writer of the global chain, across every process (docs/ORIGIN.md, "How
    //    concurrent writers stay correct"). Taken first, so every writer locks in the same order and the
    //    series locks below cannot deadlock between archivers.
    let row = tx
        .query_one(
            "SELECT ledger_seq, hash FROM audit_head WHERE id FOR UPDATE",
            &[],
        )
        .await?;
    let mut audit = AuditHead {
        seq: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
        hash: <[u8; 32]>::from_hex(row.get::<_, &str>(1)).unwrap_or(GENESIS),
    };

    // 2. What the rules read, in four queries whatever the batch size.
    let ids: Vec<&str> = documents.iter().map(|d| d.id.as_str()).collect();
    let keys: BTreeSet<(&str, &str)> = documents
        .iter()
        .map(|d| (d.merchant.as_str(), d.series.as_str()))
        .collect();
    let (key_merchants, key_series): (Vec<&str>, Vec<&str>) = keys.iter().copied().unzip();
    let orders: BTreeSet<(&str, &str)> = documents
        .iter()
        .map(|d| (d.merchant.as_str(), d.order_id.as_str()))
        .collect();
    let (order_merchants, order_ids): (Vec<&str>, Vec<&str>) = orders.iter().copied().unzip();
    let mut book = Prefetched::default();
    for row in tx
        .query(
            &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE invoice_id = ANY($1)"),
            &[&ids],
        )
        .await?
    {
        let entry = entry_from_row(&row);
        book.by_id.insert(entry.invoice_id.clone(), entry);
    }
    // The per-series rule: each series' head row locked for this transaction, in key order.
    for row in tx
        .query(
            "SELECT s.merchant, s.series, s.head_seq, s.head_hash FROM series s \
             JOIN unnest($1::text[], $2::text[]) AS k(merchant, series) \
               ON s.merchant = k.merchant AND s.series = k.series \
             ORDER BY s.merchant, s.series FOR UPDATE OF s",
            &[&key_merchants, &key_series],
        )
        .await?
    {
        let head_seq = u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
        book.heads
            .insert((row.get(0), row.get(1)), (head_seq, row.get(3)));
    }
    // Replays name an archived seq: fetch the entries at the seqs at or below the heads.
    let (mut at_merchants, mut at_series, mut at_seqs) = (Vec::new(), Vec::new(), Vec::new());
    for d in documents {
        if let Some((head_seq, _)) = book.heads.get(&(d.merchant.clone(), d.series.clone())) {
            if d.place.seq <= *head_seq {
                at_merchants.push(d.merchant.as_str());
                at_series.push(d.series.as_str());
                at_seqs.push(to_i64(d.place.seq));
            }
        }
    }
    if !at_seqs.is_empty() {
        let columns = ENTRY_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        for row in tx
            .query(
                &format!(
                    "SELECT {columns} FROM entries e \
                     JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS k(merchant, series, seq) \
                       ON e.merchant = k.merchant AND e.series = k.series AND e.seq = k.seq"
                ),
                &[&at_merchants, &at_series, &at_seqs],
            )
            .await?
        {
            let entry = entry_from_row(&row);
            book.at.insert(
                (entry.merchant.clone(), entry.series.clone(), entry.seq),
                entry,
            );
        }
    }
    for row in tx
        .query(
            "SELECT e.merchant, e.order_id, e.series, e.invoice_id FROM entries e \
             JOIN unnest($1::text[], $2::text[]) AS k(merchant, order_id) \
               ON e.merchant = k.merchant AND e.order_id = k.order_id \
             WHERE NOT e.void ORDER BY e.ledger_seq",
            &[&order_merchants, &order_ids],
        )
        .await?
    {
        book.orders
            .entry((row.get(0), row.get(1)))
            .or_default()
            .push((row.get(2), row.get(3)));
    }

    // The credit cap (docs/ARCHITECTURE.md, "Credit notes"): the invoices the batch's credit
    // notes credit, and their credit notes already archived. Two more queries, only when the
    // batch holds a credit note.
    let mut credited: Vec<(&str, &str, String)> = documents
        .iter()
        .filter(|d| d.kind == "credit_note")
        .filter_map(|d| {
            crate::credit::credited_id(&d.document)
                .map(|id| (d.merchant.as_str(), d.series.as_str(), id))
        })
        .collect();
    credited.sort();
    credited.dedup();
    if !credited.is_empty() {
        let credited_ids: Vec<&str> = credited.iter().map(|(_, _, id)| id.as_str()).collect();
        for row in tx
            .query(
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE invoice_id = ANY($1)"),
                &[&credited_ids],
            )
            .await?
        {
            let entry = entry_from_row(&row);
            book.by_id.insert(entry.invoice_id.clone(), entry);
        }
        let merchants: Vec<&str> = credited.iter().map(|(m, _, _)| *m).collect();
        let series: Vec<&str> = credited.iter().map(|(_, s, _)| *s).collect();
        for row in tx
            .query(
                "SELECT e.merchant, e.series, k.invoice_id, e.document FROM entries e \
                 JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(merchant, series, invoice_id) \
                   ON e.merchant = k.merchant AND e.series = k.series \
                  AND ((e.document::jsonb) #>> '{invoice,credits,id}') = k.invoice_id \
                 WHERE e.kind = 'credit_note' AND NOT e.void ORDER BY e.seq",
                &[&merchants, &series, &credited_ids],
            )
            .await?
        {
            book.credit_notes
                .entry((row.get(0), row.get(1), row.get(2)))
                .or_default()
                .push(row.get(3));
        }
    }

    // 3. The rules, once for both backends.
    let received_at = now_rfc3339();
    let mut outcomes = Vec::with_capacity(documents.len());
    for document in documents {
        let Ok((outcome, next)) = archive_one(&mut book, document, audit, key, &received_at, void);
        audit = next;
        outcomes.push(outcome);
    }

    // 4. The appends, in one statement each.
    if !book.appended.is_empty() {
        let a = &book.appended;
        let col_i64 = |f: fn(&Entry) -> u64| a.iter().map(|e| to_i64(f(e))).collect::<Vec<_>>();
        let col = |f: fn(&Entry) -> &str| a.iter().map(f).collect::<Vec<&str>>();
        let ledger_seqs = col_i64(|e| e.ledger_seq);
        let seqs = col_i64(|e| e.seq);
        let voids: Vec<bool> = a.iter().map(|e| e.void).collect();
        let reasons: Vec<Option<&str>> = a.iter().map(|e| e.void_reason.as_deref()).collect();
        tx.execute(
            &format!(
                "INSERT INTO entries ({ENTRY_COLUMNS}) SELECT * FROM unnest(\
                 $1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], \
                 $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
                 $13::text[], $14::text[], $15::text[], $16::boolean[], $17::text[], $18::text[], \
                 $19::text[])"
            ),
            &[
                &ledger_seqs,
                &col(|e| &e.invoice_id),
                &col(|e| &e.merchant),
                &col(|e| &e.series),
                &seqs,
                &col(|e| &e.order_id),
                &col(|e| &e.kind),
                &col(|e| &e.number),
                &col(|e| &e.invoice_hash),
                &col(|e| &e.series_prev_hash),
                &col(|e| &e.prev_hash),
                &col(|e| &e.hash),
                &col(|e| &e.received_at),
                &col(|e| &e.origin_kid),
                &col(|e| &e.origin_signature),
                &voids,
                &reasons,
                &col(|e| &e.format),
                &col(|e| &e.document),
            ],
        )
        .await?;
        // Each series' new head: its last appended entry.
        let mut heads: HashMap<(&str, &str), (i64, &str)> = HashMap::new();
        for e in a {
            heads.insert(
                (e.merchant.as_str(), e.series.as_str()),
                (to_i64(e.seq), e.invoice_hash.as_str()),
            );
        }
        let mut head_rows: Vec<_> = heads.into_iter().collect();
        head_rows.sort();
        let merchants: Vec<&str> = head_rows.iter().map(|((m, _), _)| *m).collect();
        let series: Vec<&str> = head_rows.iter().map(|((_, s), _)| *s).collect();
        let head_seqs: Vec<i64> = head_rows.iter().map(|(_, (q, _))| *q).collect();
        let head_hashes: Vec<&str> = head_rows.iter().map(|(_, (_, h))| *h).collect();
        tx.execute(
            "INSERT INTO series (merchant, series, head_seq, head_hash) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) \
             ON CONFLICT (merchant, series) DO UPDATE SET head_seq = excluded.head_seq, \
             head_hash = excluded.head_hash",
            &[&merchants, &series, &head_seqs, &head_hashes],
        )
        .await?;
        tx.execute(
            "UPDATE audit_head SET ledger_seq = $1, hash = $2 WHERE id",
            &[&to_i64(audit.seq), &hex::encode(audit.hash)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok((outcomes, audit.seq))
}

/// Is this failure worth running the transaction again? Serialization failures and deadlocks
/// are PostgreSQL's "try again"; a closed connection or one refused by a standby
/// (`read_only_sql_transaction`, a primary being demoted) is a failover in progress.
fn retryable(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        Some(code) => {
            *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
        }
        // Not a server's answer: the connection broke or could not be made (a failover).
        None => true,
    }
}

/// How often one batch of documents is tried before it is answered `500 INTERNAL` (retryable at
/// the edge), and how long to wait between tries.
const ATTEMPTS: u32 = 8;
const BACKOFF: Duration = Duration::from_millis(100);

/// Archives `documents` with retries; every outcome becomes a retryable 500 if none commits.
pub async fn archive(
    pool: &Pool,
    documents: &[&Checked],
    key: &EdKey,
    void: Option<&Void>,
    retries: &AtomicU64,
) -> (Vec<Outcome>, Option<u64>) {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(BACKOFF * attempt).await;
        }
        let mut client = match pool.get().await {
            Ok(client) => client,
            Err(error) => {
                last = format!("no database connection: {error}");
                continue;
            }
        };
        match transaction(&mut client, documents, key, void).await {
            Ok((outcomes, size)) => return (outcomes, Some(size)),
            Err(error) => {
                last = error_text(&error);
                if error.is_closed() || error.as_db_error().is_none() {
                    // Do not hand a broken connection back to the pool.
                    let _ = deadpool_postgres::Object::take(client);
                }
                if !retryable(&error) {
                    break;
                }
                eprintln!("invoice-origin: ledger transaction will be retried: {last}");
            }
        }
    }
    eprintln!("invoice-origin: ledger transaction failed: {last}");
    let outcomes = documents
        .iter()
        .map(|_| {
            Outcome::Rejected(Problem::single(
                Code::Internal,
                format!("the ledger could not commit: {last}"),
            ))
        })
        .collect();
    (outcomes, None)
}

struct Job {
    documents: Vec<Checked>,
    reply: oneshot::Sender<Vec<Outcome>>,
}

/// The most documents one transaction takes when the writer merges waiting requests.
const GROUP_COMMIT_DOCUMENTS: usize = 1_000;

/// The PostgreSQL store: a pool, and this process's writer task.
pub struct PgStore {
    pub pool: Pool,
    jobs: mpsc::UnboundedSender<Job>,
    pub retries: Arc<AtomicU64>,
}

impl PgStore {
    /// Starts the writer task on the current runtime.
    pub fn start(pool: Pool, key: EdKey, size: Arc<AtomicU64>) -> PgStore {
        let (jobs, mut inbox) = mpsc::unbounded_channel::<Job>();
        let retries = Arc::new(AtomicU64::new(0));
        let writer_pool = pool.clone();
        let writer_retries = retries.clone();
        tokio::spawn(async move {
            while let Some(first) = inbox.recv().await {
                let mut batch = vec![first];
                let mut count = batch[0].documents.len();
                while count < GROUP_COMMIT_DOCUMENTS {
                    match inbox.try_recv() {
                        Ok(job) => {
                            count += job.documents.len();
                            batch.push(job);
                        }
                        Err(_) => break,
                    }
                }
                let documents: Vec<&Checked> =
                    batch.iter().flat_map(|job| job.documents.iter()).collect();
                let (outcomes, new_size) =
                    archive(&writer_pool, &documents, &key, None, &writer_retries).await;
                if let Some(new_size) = new_size {
                    // Another process may have archived since: keep the largest seen.
                    size.fetch_max(new_size, Ordering::Relaxed);
                }
                let mut outcomes = outcomes.into_iter();
                for job in batch {
                    let answer: Vec<Outcome> =
                        outcomes.by_ref().take(job.documents.len()).collect();
                    // The requester may have gone (a client timeout); the ledger is committed.
                    let _ = job.reply.send(answer);
                }
            }
        });
        PgStore {
            pool,
            jobs,
            retries,
        }
    }

    pub async fn submit(&self, documents: Vec<Checked>) -> Vec<Outcome> {
        crate::ledger::submit_to_writer(documents, |documents, reply| {
            self.jobs.send(Job { documents, reply }).is_ok()
        })
        .await
    }
}

/// Connects, migrates and records the origin key: what `serve`, `void` and `migrate` share.
pub async fn prepare(url: &str, key: Option<&EdKey>, pool_size: usize) -> Result<Pool, String> {
    let pool = pool(url, pool_size)?;
    let mut client = pool
        .get()
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    migrate(&mut client).await?;
    if let Some(key) = key {
        record_origin_key(&**client, key).await?;
    }
    Ok(pool)
}

/// `verify`'s reader: one connection in a read-only, repeatable-read transaction, so a ledger
/// in use is verified as of one snapshot.
struct PgSource {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl PgSource {
    fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, String> {
        self.runtime
            .block_on(self.client.query(sql, params))
            .map_err(|e| error_text(&e))
    }
}

impl crate::audit::AuditSource for PgSource {
    fn origin_keys(&mut self) -> Result<Jwks, String> {
        self.runtime.block_on(origin_keys(&self.client))
    }

    fn entries_after(&mut self, after: u64, limit: u32) -> Result<Vec<Entry>, String> {
        let rows = self.query(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM entries WHERE ledger_seq > $1 ORDER BY ledger_seq LIMIT $2"
            ),
            &[&to_i64(after), &i64::from(limit)],
        )?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    fn heads(&mut self) -> Result<Vec<(String, String, u64, String)>, String> {
        let rows = self.query(
            "SELECT merchant, series, head_seq, head_hash FROM series ORDER BY merchant, series",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.get(0),
                    row.get(1),
                    u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
                    row.get(3),
                )
            })
            .collect())
    }

    fn chain_head(&mut self) -> Result<Option<(u64, String)>, String> {
        let rows = self.query("SELECT ledger_seq, hash FROM audit_head", &[])?;
        Ok(rows
            .first()
            .map(|row| (u64::try_from(row.get::<_, i64>(0)).unwrap_or(0), row.get(1))))
    }
}

/// `invoice-origin verify --db postgres://…`.
pub fn audit(url: &str, trust: &Jwks) -> Result<crate::audit::Summary, crate::audit::AuditError> {
    use crate::audit::AuditError;
    let name = redact(url);
    let io = |e: String| AuditError::Io(format!("{name}: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| io(e.to_string()))?;
    let config = tokio_postgres::Config::from_str(url).map_err(|e| io(e.to_string()))?;
    let client = runtime.block_on(async {
        let (client, connection) = config.connect(NoTls).await.map_err(|e| error_text(&e))?;
        tokio::spawn(connection);
        let version: Option<i32> = client
            .query_opt(
                "SELECT MAX(version) FROM schema_migrations WHERE to_regclass('schema_migrations') IS NOT NULL",
                &[],
            )
            .await
            .ok()
            .flatten()
            .and_then(|row| row.get(0));
        if version.is_none() {
            return Err("not a ledger (no schema)".to_string());
        }
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| error_text(&e))?;
        Ok(client)
    });
    let client = client.map_err(io)?;
    let mut source = PgSource { runtime, client };
    crate::audit::audit_source(&mut source, &name, trust)
}
