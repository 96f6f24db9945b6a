//! The series' webhooks (docs/ARCHITECTURE.md, "Webhooks"): events are stored in the object's
//! `hook_queue` in the same storage transaction as the change that causes them, and its alarm
//! sends them, signed, off the request path, each endpoint with its own back-off, for up to 3
//! days. The last attempts are kept in `hook_log` for `GET /v1/admin/webhooks/deliveries`.
//!
//! An event is stored once, without endpoints (`url` NULL); the alarm then copies it to each
//! endpoint of the merchant's configuration that subscribes to its type (or drops it when none
//! does). A failing endpoint delays only its own rows: the origin's delivery runs beside this in
//! the same alarm, and issuance never waits for either.

use invoice_edge_core::document::model::{Final, Rejection, SignedInvoice};
use invoice_edge_core::webhook::{self, DocumentData, Event, EventType, Webhook};
use worker::{Env, Method, Result, SqlStorage, SqlStorageValue, State};

use super::store::{rows, to_i64};

/// One attempt's deadline: a hanging endpoint holds the alarm run at most this long.
const TIMEOUT_MS: u64 = 5_000;
/// Attempts per endpoint per alarm run; the alarm runs again at once while more are due.
const PER_RUN: u64 = 10;
/// Attempts kept per series for the delivery log.
const LOG_KEEP: i64 = 100;

/// `hook_queue`: `body` is the exact bytes every attempt sends; `url` is NULL until the event is
/// copied to its endpoints; `next_ms` is in the series' clock. `hook_log`: `status` 0 is no
/// answer (docs/ARCHITECTURE.md, "Storage records").
pub fn create_tables(sql: &SqlStorage) -> Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS hook_queue (n INTEGER PRIMARY KEY AUTOINCREMENT, \
         event_id TEXT NOT NULL, type TEXT NOT NULL, created_ms INTEGER NOT NULL, \
         body TEXT NOT NULL, url TEXT, attempts INTEGER NOT NULL DEFAULT 0, \
         next_ms INTEGER NOT NULL DEFAULT 0)",
        None,
    )?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS hook_log (n INTEGER PRIMARY KEY AUTOINCREMENT, \
         at_ms INTEGER NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL, url TEXT NOT NULL, \
         attempt INTEGER NOT NULL, status INTEGER NOT NULL, latency_ms INTEGER NOT NULL, \
         outcome TEXT NOT NULL, error TEXT)",
        None,
    )?;
    Ok(())
}

/// Stores an event. Call it inside the storage transaction of the change it reports, so the
/// event exists exactly when the change does (at least once).
pub fn enqueue(sql: &SqlStorage, event: &Event) -> Result<()> {
    sql.exec(
        "INSERT INTO hook_queue (event_id, type, created_ms, body) VALUES (?, ?, ?, ?)",
        vec![
            event.id.as_str().into(),
            event.kind.as_str().into(),
            SqlStorageValue::Integer(event.created_ms),
            event.body.as_str().into(),
        ],
    )?;
    Ok(())
}

/// Stores the event of a stored document (`signed` is its `{invoice, edge_signature}` text)
/// reaching `status`, with its receipt or rejection.
pub fn enqueue_document(
    sql: &SqlStorage,
    object: &str,
    kind: EventType,
    signed: &str,
    status: &str,
    outcome: (Option<&Final>, Option<&Rejection>),
    now: i64,
) -> Result<()> {
    let signed: SignedInvoice = serde_json::from_str(signed)?;
    let mut data = DocumentData::of(&signed.invoice, status);
    (data.receipt, data.rejection) = outcome;
    enqueue(sql, &Event::document(object, kind, &data, now))
}

/// How long until the alarm has webhook work: at once for due rows, a second for events not
/// yet copied to their endpoints (stored during this run, or waiting for the configuration).
pub fn next_delay(sql: &SqlStorage, now: i64) -> Result<Option<i64>> {
    let found = rows(sql.exec(
        "SELECT MIN(CASE WHEN url IS NULL THEN ? ELSE next_ms END) FROM hook_queue",
        vec![SqlStorageValue::Integer(now.saturating_add(1_000))],
    )?)?;
    Ok(match found.first().map(|row| row.integer(0)) {
        Some(Ok(at)) => Some(at.saturating_sub(now).max(0)),
        _ => None,
    })
}

/// A row of `hook_queue` due for an attempt.
struct Queued {
    n: i64,
    event_id: String,
    kind: String,
    created_ms: i64,
    body: String,
    url: String,
    attempts: i64,
}

/// What the merchant's endpoints subscribe to, read once per alarm run (through the 60 s
/// configuration cache): the alarm stores a receipt's, a rejection's or a level's event only
/// when an endpoint wants it, as issuance does (docs/ARCHITECTURE.md, "Webhooks"). Each stored
/// event costs the alarm a read of the whole document, an insert and a later delete, for every
/// document of the series. When the configuration cannot be read, every event is stored: the
/// copy step drops what nobody wants.
pub struct Subscribers(Option<Vec<Webhook>>);

impl Subscribers {
    pub async fn of(env: &Env, merchant: &str) -> Subscribers {
        Subscribers(match crate::merchants::load(env, merchant).await {
            Ok(config) => Some(config.map(|config| config.webhooks).unwrap_or_default()),
            Err(_) => None,
        })
    }

    pub fn want(&self, event: EventType) -> bool {
        self.0
            .as_ref()
            .is_none_or(|webhooks| invoice_edge_core::webhook::anyone_wants(webhooks, event))
    }
}

/// The alarm's webhook work: copy new events to their endpoints, then try what is due. Errors
/// are logged, never returned: webhooks must not fail the origin's delivery beside them.
pub async fn deliver(state: &State, env: &Env, merchant: &str, now: i64) {
    if let Err(error) = try_deliver(state, env, merchant, now).await {
        worker::console_error!("series webhooks of {merchant}: {error}; retrying");
    }
}

async fn try_deliver(state: &State, env: &Env, merchant: &str, now: i64) -> Result<()> {
    let sql = state.storage().sql();
    if next_delay(&sql, now)?.is_none_or(|delay| delay > 1_000) {
        return Ok(());
    }
    let webhooks = match crate::merchants::load(env, merchant).await? {
        Some(config) => config.webhooks,
        // No merchant any more: nobody to tell.
        None => Vec::new(),
    };
    // No await from here to the last DELETE: the object's storage commits the copies and the
    // removal of their original together (as the alarm's receipts and their rows, "Webhooks").
    let mut urls = Vec::new();
    for webhook in &webhooks {
        urls.push(webhook.url.as_str());
        // A new copy waits for its endpoint's back-off like the copies before it.
        sql.exec(
            "INSERT INTO hook_queue (event_id,type,created_ms,body,url,next_ms) \
             SELECT event_id,type,created_ms,body,?1,\
             (SELECT IFNULL(MAX(next_ms),0) FROM hook_queue WHERE url=?1) FROM hook_queue \
             WHERE url IS NULL AND type IN (SELECT value FROM json_each(?2)) ORDER BY n",
            vec![
                webhook.url.as_str().into(),
                serde_json::to_string(&webhook.events)?.into(),
            ],
        )?;
    }
    sql.exec("DELETE FROM hook_queue WHERE url IS NULL", None)?;
    // The copies of an endpoint that left the configuration go nowhere: logged, then dropped.
    let urls = serde_json::to_string(&urls)?;
    let gone = "FROM hook_queue WHERE url NOT IN (SELECT value FROM json_each(?))";
    sql.exec(
        &format!(
            "INSERT INTO hook_log (at_ms,event_id,type,url,attempt,status,latency_ms,outcome) \
             SELECT ?,event_id,type,url,attempts,0,0,'dropped' {gone}"
        ),
        vec![to_i64(crate::clock::now_ms()), urls.as_str().into()],
    )?;
    sql.exec(&format!("DELETE {gone}"), vec![urls.into()])?;

    // One endpoint after another: each attempt has a 5 s deadline and a failing endpoint stops
    // at its first failure, so a hanging one holds the others at most 5 s per run.
    for webhook in &webhooks {
        endpoint(&sql, env, webhook, now).await?;
    }
    sql.exec(
        "DELETE FROM hook_log WHERE n <= (SELECT MAX(n) FROM hook_log) - ?",
        vec![SqlStorageValue::Integer(LOG_KEEP)],
    )?;
    Ok(())
}

/// One endpoint's due copies, oldest first, one at a time: the first failure backs the whole
/// endpoint off, so a dead endpoint costs one attempt per back-off step, not one per event.
async fn endpoint(sql: &SqlStorage, env: &Env, webhook: &Webhook, now: i64) -> Result<()> {
    let due = rows(sql.exec(
        "SELECT n, event_id, type, created_ms, body, attempts FROM hook_queue \
         WHERE url = ? AND next_ms <= ? ORDER BY n LIMIT ?",
        vec![
            webhook.url.as_str().into(),
            SqlStorageValue::Integer(now),
            to_i64(PER_RUN),
        ],
    )?)?;
    for row in due {
        let row = Queued {
            n: row.integer(0)?,
            event_id: row.text(1)?,
            kind: row.text(2)?,
            created_ms: row.integer(3)?,
            body: row.text(4)?,
            url: webhook.url.clone(),
            attempts: row.integer(5)?,
        };
        let attempt = row.attempts + 1;
        // `t` is the runtime's clock, never the series' (shifted in tests): receivers compare it
        // with their own.
        let started = crate::clock::now_ms();
        let signature = webhook::signature(&webhook.secret, started / 1_000, &row.body);
        let answer = crate::origin::send(
            &row.url,
            Method::Post,
            row.body.clone(),
            Some((webhook::SIGNATURE_HEADER, &signature)),
            TIMEOUT_MS,
        )
        .await;
        let latency = i64::try_from(crate::clock::now_ms().saturating_sub(started)).unwrap_or(0);
        let (status, error) = match answer {
            Ok((status, _)) => (status, None),
            Err(reason) => (0, Some(reason)),
        };
        if (200..300).contains(&status) {
            finish(sql, &row, attempt, status, latency, "delivered", None)?;
            continue;
        }
        let now = super::now_ms(env);
        let tries = u32::try_from(attempt).unwrap_or(u32::MAX);
        let mut jitter = crate::clock::jitter_u64;
        match webhook::next_attempt_ms(row.created_ms, tries, now, &mut jitter) {
            Some(next) => {
                log(
                    sql,
                    &row,
                    attempt,
                    status,
                    latency,
                    "retry",
                    error.as_deref(),
                )?;
                sql.exec(
                    "UPDATE hook_queue SET attempts = ?, next_ms = ? WHERE n = ?",
                    vec![
                        SqlStorageValue::Integer(attempt),
                        SqlStorageValue::Integer(next),
                        SqlStorageValue::Integer(row.n),
                    ],
                )?;
                sql.exec(
                    "UPDATE hook_queue SET next_ms = MAX(next_ms, ?) WHERE url = ?",
                    vec![SqlStorageValue::Integer(next), row.url.as_str().into()],
                )?;
            }
            None => finish(
                sql,
                &row,
                attempt,
                status,
                latency,
                "expired",
                error.as_deref(),
            )?,
        }
        break;
    }
    Ok(())
}

/// The row is done (delivered or given up): logged and removed.
fn finish(
    sql: &SqlStorage,
    row: &Queued,
    attempt: i64,
    status: u16,
    latency: i64,
    outcome: &str,
    error: Option<&str>,
) -> Result<()> {
    log(sql, row, attempt, status, latency, outcome, error)?;
    sql.exec(
        "DELETE FROM hook_queue WHERE n = ?",
        vec![SqlStorageValue::Integer(row.n)],
    )?;
    Ok(())
}

fn log(
    sql: &SqlStorage,
    row: &Queued,
    attempt: i64,
    status: u16,
    latency: i64,
    outcome: &str,
    error: Option<&str>,
) -> Result<()> {
    sql.exec(
        "INSERT INTO hook_log (at_ms, event_id, type, url, attempt, status, latency_ms, outcome, \
         error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            to_i64(crate::clock::now_ms()),
            row.event_id.as_str().into(),
            row.kind.as_str().into(),
            row.url.as_str().into(),
            SqlStorageValue::Integer(attempt),
            SqlStorageValue::Integer(i64::from(status)),
            SqlStorageValue::Integer(latency),
            outcome.into(),
            error.map_or(SqlStorageValue::Null, Into::into),
        ],
    )?;
    Ok(())
}

/// `{pending, deliveries}` for `GET /v1/admin/webhooks/deliveries`: the attempts kept, newest
/// first (`status` null when no answer came), and how many event copies still wait. SQLite's
/// JSON functions write it, so the worker carries no serializer for it (docs/PERFORMANCE.md,
/// size).
pub fn report(sql: &SqlStorage) -> Result<String> {
    let found = rows(sql.exec(
        "SELECT json_object('pending', (SELECT COUNT(*) FROM hook_queue), 'deliveries', \
         (SELECT json_group_array(json_object('at', strftime('%Y-%m-%dT%H:%M:%S', at_ms / 1000, \
         'unixepoch') || printf('.%03dZ', at_ms % 1000), 'event_id', event_id, 'type', type, \
         'url', url, 'attempt', attempt, 'status', NULLIF(status, 0), 'latency_ms', latency_ms, \
         'outcome', outcome, 'error', error)) FROM (SELECT * FROM hook_log ORDER BY n DESC)))",
        None,
    )?)?;
    match found.first() {
        Some(row) => row.text(0),
        None => Err(worker::Error::RustError("no delivery log".into())),
    }
}
