//! The series object's SQLite storage: its documents in `seq` order with their order index, and
//! one `meta` row holding the [`SeriesState`].
//!
//! Every call here is synchronous (`SqlStorage::exec`), so a sequence of them inside one
//! [`transaction_sync`] is one atomic storage transaction with no I/O in between: the input
//! gate keeps other events out, and a failure half-way commits nothing (docs/ARCHITECTURE.md, "Edge
//! issuance path", step 3).

use invoice_edge_core::breaker::BreakerConfig;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{Result, SqlStorage, SqlStorageValue, Storage};

use super::state::{Known, Remembered, SeriesState};

const STATE_KEY: &str = "state";

/// The columns of [`DocumentRow`], in the order [`DocumentRow::read`] takes them. A macro, so
/// each query is one literal (`concat!`), not a `format!` per call.
macro_rules! columns {
    () => {
        "seq, id, fingerprint, hash, issued_at_ms, currency, gross, kind, signed, receipt, \
         rejection, kv_inv, kv_outcome"
    };
}

/// The rows whose KV records the object has not seen written: `inv:` unconfirmed, or an
/// outcome (receipt or rejection) whose record is unconfirmed. The partial index `kv_todo` holds
/// exactly these rows, so the alarm's queries do not scan a long series (each row carries its
/// ~2 KB document, so a scan reads every row's overflow pages). SQLite uses a partial index
/// only when the query repeats its condition as a term of its own WHERE, so this text is shared
/// (a macro, for `concat!`).
macro_rules! kv_todo_rows {
    () => {
        "(kv_inv = 0 OR (kv_outcome = 0 AND (receipt IS NOT NULL OR rejection IS NOT NULL)))"
    };
}

pub fn create_tables(sql: &SqlStorage) -> Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS documents (
            seq          INTEGER PRIMARY KEY,
            id           TEXT NOT NULL UNIQUE,
            order_id     TEXT NOT NULL UNIQUE,   -- the order index, kept for ever
            fingerprint  TEXT NOT NULL,
            hash         TEXT NOT NULL,          -- the invoice hash: the next document's prev_hash
            issued_at_ms INTEGER NOT NULL,
            currency     TEXT NOT NULL,
            gross        TEXT NOT NULL,
            kind         TEXT NOT NULL,
            signed       TEXT NOT NULL,          -- {invoice, edge_signature}, the bytes of inv:
            receipt      TEXT,                   -- the origin's final object, once archived
            rejection    TEXT,                   -- {code, detail}, once refused for good
            kv_inv       INTEGER NOT NULL DEFAULT 0,  -- inv: seen written
            kv_outcome   INTEGER NOT NULL DEFAULT 0   -- final: or rejected: seen written
        )",
        None,
    )?;
    sql.exec(
        concat!(
            "CREATE INDEX IF NOT EXISTS kv_todo ON documents (seq) WHERE ",
            kv_todo_rows!()
        ),
        None,
    )?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        None,
    )?;
    // Per invoice of the series that has credit notes: what they credited together (their
    // summed tax breakdowns) and their `seq`s, kept for ever (docs/ARCHITECTURE.md, "Credit
    // notes"), so the cap holds even once documents' bodies are dropped.
    sql.exec(
        "CREATE TABLE IF NOT EXISTS credit_balances (
            invoice_id TEXT PRIMARY KEY,
            credited   TEXT NOT NULL,   -- JSON [TaxBreakdown]: the credit notes' groups summed
            notes      TEXT NOT NULL    -- JSON [seq]: the credit notes, in issue order
        )",
        None,
    )?;
    Ok(())
}

/// An invoice's credit balance: `(credited, notes)` as stored, or `None` before its first
/// credit note.
pub fn credit_balance(sql: &SqlStorage, invoice_id: &str) -> Result<Option<(String, String)>> {
    let rows = rows(sql.exec(
        "SELECT credited, notes FROM credit_balances WHERE invoice_id = ?",
        vec![invoice_id.into()],
    )?)?;
    rows.first()
        .map(|row| Ok((row.text(0)?, row.text(1)?)))
        .transpose()
}

pub fn set_credit_balance(
    sql: &SqlStorage,
    invoice_id: &str,
    credited: &str,
    notes: &str,
) -> Result<()> {
    sql.exec(
        "INSERT INTO credit_balances (invoice_id, credited, notes) VALUES (?, ?, ?) \
         ON CONFLICT (invoice_id) DO UPDATE SET credited = excluded.credited, notes = excluded.notes",
        vec![invoice_id.into(), credited.into(), notes.into()],
    )?;
    Ok(())
}

/// The credit notes of an invoice, in `seq` order.
pub fn credit_notes_of(sql: &SqlStorage, invoice_id: &str) -> Result<Vec<DocumentRow>> {
    DocumentRow::read_all(sql.exec(
        concat!(
            "SELECT ",
            columns!(),
            " FROM documents WHERE seq IN (SELECT value FROM json_each(\
             (SELECT notes FROM credit_balances WHERE invoice_id = ?))) ORDER BY seq"
        ),
        vec![invoice_id.into()],
    )?)
}

pub fn by_id(sql: &SqlStorage, id: &str) -> Result<Option<DocumentRow>> {
    let rows = DocumentRow::read_all(sql.exec(
        concat!("SELECT ", columns!(), " FROM documents WHERE id = ?"),
        vec![id.into()],
    )?)?;
    Ok(rows.into_iter().next())
}

pub(super) fn to_i64(value: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

pub fn load_state(sql: &SqlStorage, breaker: BreakerConfig) -> Result<SeriesState> {
    let rows = rows(sql.exec(
        "SELECT value FROM meta WHERE key = ?",
        vec![STATE_KEY.into()],
    )?)?;
    match rows.first() {
        Some(row) => serde_json::from_str(&row.text(0)?)
            .map_err(|e| worker::Error::RustError(format!("series state unreadable: {e}"))),
        None => Ok(SeriesState::new(breaker)),
    }
}

/// The state and the oldest outstanding `issued_at`, as an issuance needs them.
pub fn load_known(sql: &SqlStorage, breaker: BreakerConfig) -> Result<Known> {
    let state = load_state(sql, breaker)?;
    let oldest_ms = oldest_outstanding(sql, state.acked_seq)?;
    Ok(Known { state, oldest_ms })
}

/// Saves the state from anywhere but an issuance, emptying the object's memory of it first, in
/// the same synchronous stretch as the write (docs/ARCHITECTURE.md, "Edge issuance path", "The
/// state in memory"): a failed write leaves it empty too.
pub fn save_state(sql: &SqlStorage, state: &SeriesState, memory: &Remembered) -> Result<()> {
    memory.forget();
    write_state(sql, state)
}

/// Saves the state inside an issuance's transaction, which then remembers what it committed
/// ([`Remembered`]). Everything else calls [`save_state`].
pub fn write_state(sql: &SqlStorage, state: &SeriesState) -> Result<()> {
    let value = serde_json::to_string(state)?;
    sql.exec(
        "INSERT INTO meta (key, value) VALUES (?, ?) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        vec![STATE_KEY.into(), value.into()],
    )?;
    Ok(())
}

/// One row as its column values, in the order of the query's `SELECT`. Rows are read with the
/// cursor's `raw()` rather than `to_array()`, whose `serde_wasm_bindgen` conversion costs a
/// JavaScript property lookup per field and a second deserializer per row type in the worker
/// (docs/PERFORMANCE.md, "size").
pub(super) struct Row(Vec<SqlStorageValue>);

pub(super) fn rows(cursor: worker::SqlCursor) -> Result<Vec<Row>> {
    cursor.raw().map(|row| row.map(Row)).collect()
}

impl Row {
    fn column(&self, index: usize) -> Result<&SqlStorageValue> {
        self.0
            .get(index)
            .ok_or_else(|| worker::Error::RustError(format!("row has no column {index}")))
    }

    pub(super) fn text(&self, index: usize) -> Result<String> {
        match self.column(index)? {
            SqlStorageValue::String(text) => Ok(text.clone()),
            other => Err(worker::Error::RustError(format!(
                "column {index} is not text: {other:?}"
            ))),
        }
    }

    pub(super) fn optional_text(&self, index: usize) -> Result<Option<String>> {
        match self.column(index)? {
            SqlStorageValue::Null => Ok(None),
            _ => self.text(index).map(Some),
        }
    }

    pub(super) fn integer(&self, index: usize) -> Result<i64> {
        match self.column(index)? {
            SqlStorageValue::Integer(value) => Ok(*value),
            other => Err(worker::Error::RustError(format!(
                "column {index} is not an integer: {other:?}"
            ))),
        }
    }
}

/// A document's row, as the issuance path and the outbox read it.
#[derive(Clone, Debug)]
pub struct DocumentRow {
    pub seq: u64,
    pub id: String,
    pub fingerprint: String,
    pub hash: String,
    pub issued_at_ms: i64,
    pub currency: String,
    pub gross: String,
    pub kind: String,
    pub signed: String,
    pub receipt: Option<String>,
    pub rejection: Option<String>,
    pub kv_inv: i64,
    pub kv_outcome: i64,
}

impl DocumentRow {
    fn read(row: &Row) -> Result<DocumentRow> {
        Ok(DocumentRow {
            seq: u64::try_from(row.integer(0)?).unwrap_or(0),
            id: row.text(1)?,
            fingerprint: row.text(2)?,
            hash: row.text(3)?,
            issued_at_ms: row.integer(4)?,
            currency: row.text(5)?,
            gross: row.text(6)?,
            kind: row.text(7)?,
            signed: row.text(8)?,
            receipt: row.optional_text(9)?,
            rejection: row.optional_text(10)?,
            kv_inv: row.integer(11)?,
            kv_outcome: row.integer(12)?,
        })
    }

    fn read_all(cursor: worker::SqlCursor) -> Result<Vec<DocumentRow>> {
        rows(cursor)?.iter().map(DocumentRow::read).collect()
    }
}

pub fn by_order(sql: &SqlStorage, order_id: &str) -> Result<Option<DocumentRow>> {
    let rows = DocumentRow::read_all(sql.exec(
        concat!("SELECT ", columns!(), " FROM documents WHERE order_id = ?"),
        vec![order_id.into()],
    )?)?;
    Ok(rows.into_iter().next())
}

/// The documents after `after_seq`, oldest first, at most `limit`.
pub fn after(sql: &SqlStorage, after_seq: u64, limit: usize) -> Result<Vec<DocumentRow>> {
    DocumentRow::read_all(sql.exec(
        concat!(
            "SELECT ",
            columns!(),
            " FROM documents WHERE seq > ? ORDER BY seq LIMIT ?"
        ),
        vec![to_i64(after_seq), to_i64(limit as u64)],
    )?)
}

/// Documents whose KV records the object has not seen written, oldest first: those with an
/// outcome to record, and those whose `inv:` is unconfirmed and older than `issued_before_ms`.
pub fn kv_todo(sql: &SqlStorage, issued_before_ms: i64, limit: usize) -> Result<Vec<DocumentRow>> {
    DocumentRow::read_all(sql.exec(
        concat!(
            "SELECT ",
            columns!(),
            " FROM documents WHERE ",
            kv_todo_rows!(),
            " AND (kv_inv != 0 OR issued_at_ms <= ? OR receipt IS NOT NULL OR rejection IS NOT NULL) \
             ORDER BY seq LIMIT ?"
        ),
        vec![
            SqlStorageValue::Integer(issued_before_ms),
            to_i64(limit as u64),
        ],
    )?)
}

/// True when any KV record is still to be written (for the alarm's next run).
pub fn any_kv_todo(sql: &SqlStorage) -> Result<bool> {
    let rows = rows(sql.exec(
        concat!(
            "SELECT seq FROM documents WHERE ",
            kv_todo_rows!(),
            " LIMIT 1"
        ),
        None,
    )?)?;
    Ok(!rows.is_empty())
}

/// How many documents have a KV record the object has not seen written (`/v1/admin/series`).
pub fn kv_unconfirmed(sql: &SqlStorage) -> Result<u64> {
    let rows = rows(sql.exec(
        concat!("SELECT COUNT(*) FROM documents WHERE ", kv_todo_rows!()),
        None,
    )?)?;
    match rows.first() {
        Some(row) => Ok(u64::try_from(row.integer(0)?).unwrap_or(0)),
        None => Ok(0),
    }
}

/// `issued_at` of the oldest document not yet final (the first after `acked_seq`).
pub fn oldest_outstanding(sql: &SqlStorage, acked_seq: u64) -> Result<Option<i64>> {
    let rows = rows(sql.exec(
        "SELECT issued_at_ms FROM documents WHERE seq > ? ORDER BY seq LIMIT 1",
        vec![to_i64(acked_seq)],
    )?)?;
    rows.first().map(|row| row.integer(0)).transpose()
}

/// A new document's row.
pub struct NewDocument {
    pub seq: u64,
    pub id: String,
    pub order_id: String,
    pub fingerprint: String,
    pub hash: String,
    pub issued_at_ms: i64,
    pub currency: String,
    pub gross: String,
    pub kind: String,
    pub signed: String,
}

pub fn insert(sql: &SqlStorage, document: &NewDocument) -> Result<()> {
    sql.exec(
        "INSERT INTO documents (seq, id, order_id, fingerprint, hash, issued_at_ms, currency, \
         gross, kind, signed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            to_i64(document.seq),
            document.id.as_str().into(),
            document.order_id.as_str().into(),
            document.fingerprint.as_str().into(),
            document.hash.as_str().into(),
            SqlStorageValue::Integer(document.issued_at_ms),
            document.currency.as_str().into(),
            document.gross.as_str().into(),
            document.kind.as_str().into(),
            document.signed.as_str().into(),
        ],
    )?;
    Ok(())
}

pub fn set_receipt(sql: &SqlStorage, seq: u64, receipt: &str) -> Result<()> {
    sql.exec(
        "UPDATE documents SET receipt = ?, kv_outcome = 0 WHERE seq = ?",
        vec![receipt.into(), to_i64(seq)],
    )?;
    Ok(())
}

/// The first refusal stays: `rejected:{id}` is written once, and the object must not come to
/// tell another story than KV after a resume and a second refusal.
pub fn set_rejection(sql: &SqlStorage, seq: u64, rejection: &str) -> Result<()> {
    sql.exec(
        "UPDATE documents SET rejection = ? \
         WHERE seq = ? AND receipt IS NULL AND rejection IS NULL",
        vec![rejection.into(), to_i64(seq)],
    )?;
    Ok(())
}

/// Marks `inv:` seen written for the acknowledged `seq`s (one statement for any count: the
/// platform binds at most 100 parameters, so the list goes as one JSON array; none for none).
pub fn mark_inv_written(sql: &SqlStorage, seqs: &[u64]) -> Result<()> {
    if seqs.is_empty() {
        return Ok(());
    }
    let list = serde_json::to_string(seqs)?;
    sql.exec(
        "UPDATE documents SET kv_inv = 1 WHERE seq IN (SELECT value FROM json_each(?))",
        vec![list.into()],
    )?;
    Ok(())
}

/// The `inv:` acknowledgements the worker sent (`IssueCall::inv_written`), held in the object's
/// memory until its alarm, or a report, writes them with [`Acks::flush`] before looking for
/// unwritten records: one statement per alarm run instead of one per issuance. They are hints
/// (docs/ARCHITECTURE.md, "Edge issuance path", step 4): lost with the object, or past
/// [`MAX_HELD_ACKS`], they only cost the alarm a KV read each.
#[derive(Default)]
pub struct Acks(Cell<Vec<u64>>);

/// The most acknowledgements an object holds; past it new ones are dropped.
const MAX_HELD_ACKS: usize = 10_000;

impl Acks {
    pub fn note(&self, mut seqs: Vec<u64>) {
        let mut held = self.0.take();
        if held.len() + seqs.len() <= MAX_HELD_ACKS {
            held.append(&mut seqs);
        }
        self.0.set(held);
    }

    /// Marks the held acknowledgements in storage (one statement, none for none) and forgets
    /// them, whether or not the write succeeds.
    pub fn flush(&self, sql: &SqlStorage) -> Result<()> {
        mark_inv_written(sql, &self.0.take())
    }
}

pub fn mark_kv(sql: &SqlStorage, seq: u64, inv: bool, outcome: bool) -> Result<()> {
    sql.exec(
        "UPDATE documents SET kv_inv = MAX(kv_inv, ?), kv_outcome = MAX(kv_outcome, ?) \
         WHERE seq = ?",
        vec![
            SqlStorageValue::Integer(i64::from(inv)),
            SqlStorageValue::Integer(i64::from(outcome)),
            to_i64(seq),
        ],
    )?;
    Ok(())
}

/// Runs `step` inside the storage's `transactionSync` (not bound by `worker` 0.8, so reached
/// through the raw JS object): it commits when `step` returns `Ok`, and rolls back everything
/// it wrote when it returns `Err` (docs/ARCHITECTURE.md, "Edge issuance path", step 3). `step` owns what
/// it writes, since the callback handed to JavaScript must be `'static`.
pub fn transaction_sync<T: 'static>(
    storage: &Storage,
    step: impl FnOnce() -> Result<T> + 'static,
) -> Result<T> {
    let raw: &JsValue = storage.as_raw().as_ref();
    let function = js_sys::Reflect::get(raw, &JsValue::from_str("transactionSync"))?
        .dyn_into::<js_sys::Function>()
        .map_err(|_| worker::Error::RustError("storage.transactionSync is missing".into()))?;
    let outcome: Rc<RefCell<Option<Result<T>>>> = Rc::new(RefCell::new(None));
    let slot = outcome.clone();
    let body = Closure::once(move || -> std::result::Result<JsValue, JsValue> {
        match step() {
            Ok(value) => {
                *slot.borrow_mut() = Some(Ok(value));
                Ok(JsValue::UNDEFINED)
            }
            Err(error) => {
                let message = error.to_string();
                *slot.borrow_mut() = Some(Err(error));
                // Throwing is what makes transactionSync roll back.
                Err(JsValue::from_str(&message))
            }
        }
    });
    let called = function.call1(raw, body.as_ref().unchecked_ref());
    drop(body);
    let result = outcome.borrow_mut().take();
    match (result, called) {
        (Some(result), _) => result,
        (None, Err(error)) => Err(worker::Error::from(error)),
        (None, Ok(_)) => Err(worker::Error::RustError(
            "the storage transaction did not run".into(),
        )),
    }
}
