//! The `SeriesLedger` Durable Object (binding `SERIES`): one per `(merchant, series)`, named
//! `{merchant}/{series}`, the only writer of its series (docs/ARCHITECTURE.md, "Series" and "Edge issuance
//! path").
//!
//! - [`issue`]: idempotency, offline limits, numbering, chaining and signing in one synchronous
//!   storage transaction, with no I/O but storage;
//! - [`outbox`]: the alarm that writes the KV records and delivers the series to the origin in
//!   `seq` order;
//! - [`hooks`]: the webhook events stored with the changes they report, sent by the same alarm;
//! - [`state`]: the head, the delivery state and the counters kept beside the documents;
//! - [`store`]: the object's SQLite tables;
//! - `/lookup`: the current document of an order, read from the order index
//!   (`GET /v1/invoices?order_id=`);
//! - `/credits`: an invoice's credit notes (`GET /v1/invoices/{id}/credit-notes`, `/v/{id}`).
//!
//! The worker reaches it through [`client`].

pub mod client;
mod hooks;
mod issue;
mod outbox;
pub mod state;
mod store;

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::config::EdgeConfig;
use state::{Remembered, SeriesState};

pub use crate::clock::series_now_ms as now_ms;

/// What `GET /v1/admin/series` shows of one series.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeriesReport {
    pub merchant: String,
    pub series: String,
    pub head_seq: u64,
    pub final_seq: u64,
    pub outstanding_count: u64,
    /// Per currency, the gross not yet final.
    pub outstanding_gross: std::collections::BTreeMap<String, String>,
    pub oldest_outstanding_issued_at: Option<String>,
    pub last_origin_contact: Option<String>,
    pub last_delivery_error: Option<String>,
    pub breaker: invoice_edge_core::breaker::BreakerState,
    pub level: invoice_edge_core::offline::Level,
    /// The `Offline-Exposure` value at this moment.
    pub exposure: String,
    pub limits: Option<invoice_edge_core::offline::Limits>,
    pub stopped: Option<state::Stop>,
    pub origin_regressed: Option<state::Regressed>,
    pub number_format: Option<String>,
    /// Documents whose KV records the object has not yet seen written (its alarm writes them).
    pub kv_records_unconfirmed: u64,
}

/// `/lookup`'s status when the series has no invoice for the order (204 No Content).
pub const LOOKUP_NONE: u16 = 204;

/// `/issue`'s status for a new document, whose answer is the document itself (see
/// [`issue::IssueAnswer`]); every other outcome is 200 with JSON.
pub const ISSUED: u16 = 201;

#[durable_object]
pub struct SeriesLedger {
    state: State,
    env: Env,
    /// An alarm is known to be scheduled (see [`outbox::ensure_alarm`]).
    alarm_set: std::cell::Cell<bool>,
    /// The state as storage holds it, kept between events for the issuances
    /// (docs/ARCHITECTURE.md, "Edge issuance path", "The state in memory"; see [`Remembered`]).
    memory: Remembered,
    /// The worker's `inv:` acknowledgements, until the alarm writes them ([`store::Acks`]).
    acks: store::Acks,
}

impl DurableObject for SeriesLedger {
    fn new(state: State, env: Env) -> Self {
        // The tables exist before any event: `exec` is synchronous.
        let sql = state.storage().sql();
        if let Err(error) = store::create_tables(&sql).and_then(|()| hooks::create_tables(&sql)) {
            worker::console_error!("series: cannot create its tables: {error}");
        }
        SeriesLedger {
            state,
            env,
            alarm_set: std::cell::Cell::new(false),
            memory: Remembered::default(),
            acks: store::Acks::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.method() != Method::Post {
            return Response::error("method not allowed", 405);
        }
        match req.path().as_str() {
            "/issue" => {
                // Parsed by serde_json from the text, not `req.json()` (JavaScript's parse, then
                // a field-by-field conversion through serde_wasm_bindgen): faster, and one
                // deserializer less in the worker (docs/PERFORMANCE.md, "size").
                let call: issue::IssueCall = serde_json::from_str(&req.text().await?)?;
                issue::issue(
                    &self.state,
                    &self.env,
                    &self.alarm_set,
                    &self.memory,
                    &self.acks,
                    call,
                )
                .await
            }
            "/state" => Response::from_json(&self.report()?),
            "/hooks" => Response::ok(hooks::report(&self.state.storage().sql())?),
            "/lookup" => {
                // The body is the order id, already checked by the worker.
                let order_id = req.text().await?;
                self.lookup(&order_id)
            }
            "/credits" => {
                // The body is the invoice's id, already checked by the worker.
                let id = req.text().await?;
                self.credit_notes(&id)
            }
            "/resume" => {
                self.control(|state| {
                    state.stopped = None;
                    state.regressed = None;
                })
                .await
            }
            "/sync" => self.control(|_| {}).await,
            #[cfg(feature = "bench")]
            "/floor" => {
                // The benchmark's floor: one storage write of the request body.
                let body = req.text().await?;
                let sql = self.state.storage().sql();
                sql.exec(
                    "CREATE TABLE IF NOT EXISTS floor (id INTEGER PRIMARY KEY, body TEXT)",
                    None,
                )?;
                sql.exec("INSERT INTO floor (body) VALUES (?)", vec![body.into()])?;
                Response::ok("")
            }
            "/poke" => {
                // The cron's safety net exists for alarms the platform lost: it asks storage
                // whatever this object remembers.
                self.alarm_set.set(false);
                outbox::ensure_alarm(&self.state, &self.alarm_set).await?;
                Response::ok("")
            }
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // This alarm is spent; whatever this run schedules, the next issuance checks storage.
        self.alarm_set.set(false);
        // Every error is caught here and the alarm re-armed: the platform's few automatic
        // retries of a failed alarm are not relied on (docs/ARCHITECTURE.md, "Delivery to the origin").
        let now = now_ms(&self.env);
        let outcome = outbox::run(&self.state, &self.env, &self.memory, &self.acks, now).await;
        // Every save of the state in the run empties the memory; an error may also have left
        // a write behind without its save, so the memory is emptied once more, before any
        // await lets an issuance in (docs/ARCHITECTURE.md, "Edge issuance path", "The state in
        // memory").
        self.memory.forget();
        if let Err(error) = outcome {
            worker::console_error!("series alarm: {error}; retrying in 10 s");
            let _ = self
                .state
                .storage()
                .set_alarm(outbox::after_ms(10_000))
                .await;
        }
        Response::ok("")
    }
}

impl SeriesLedger {
    /// The current document of an order, from this object's own storage: the order index is
    /// its `documents` table, and the status comes from the receipt or rejection stored beside
    /// the document (docs/ARCHITECTURE.md, "Storage records"). Read only: storage is never
    /// written here, and KV is not read, so a document issued a moment ago is found at once.
    ///
    /// 200 with the document's JSON (the same bytes as `GET /v1/invoices/{id}`), or 204 when the
    /// series has no invoice for the order: a status rather than a JSON envelope, which would
    /// cost the worker a serde type of its own (docs/PERFORMANCE.md, "The deployable worker's
    /// size").
    fn lookup(&self, order_id: &str) -> Result<Response> {
        let sql = self.state.storage().sql();
        match store::by_order(&sql, order_id)? {
            Some(row) => Response::ok(serde_json::to_string(&issue::document_of(&row)?)?),
            None => Ok(Response::empty()?.with_status(LOOKUP_NONE)),
        }
    }

    /// The current documents of an invoice's credit notes, as a JSON array in `seq` order
    /// (`GET /v1/invoices/{id}/credit-notes`, and the list on `/v/{id}`): read from this
    /// object's own balances, so a credit note issued a moment ago is listed at once.
    fn credit_notes(&self, invoice_id: &str) -> Result<Response> {
        let sql = self.state.storage().sql();
        let mut documents = Vec::new();
        for row in store::credit_notes_of(&sql, invoice_id)? {
            documents.push(serde_json::to_string(&issue::document_of(&row)?)?);
        }
        Response::ok(format!("[{}]", documents.join(",")))
    }

    fn report(&self) -> Result<SeriesReport> {
        let sql = self.state.storage().sql();
        // The acknowledgements held in memory are written first, so they count as confirmed.
        self.acks.flush(&sql)?;
        let config = EdgeConfig::from_env(&self.env);
        let state = store::load_state(&sql, config.breaker)?;
        let now = now_ms(&self.env);
        let oldest = store::oldest_outstanding(&sql, state.acked_seq)?;
        let outstanding = state.outstanding(oldest);
        let exposure = match &state.limits {
            Some(limits) => invoice_edge_core::offline::exposure(now, &outstanding, limits),
            None => invoice_edge_core::offline::exposure(
                now,
                &outstanding,
                &invoice_edge_core::offline::Limits::none(),
            ),
        };
        let millis = |ms: i64| invoice_edge_core::date::rfc3339_millis(ms);
        let pinned = state.pinned.clone();
        Ok(SeriesReport {
            merchant: pinned
                .as_ref()
                .map(|p| p.merchant.clone())
                .unwrap_or_default(),
            series: pinned
                .as_ref()
                .map(|p| p.series.clone())
                .unwrap_or_default(),
            head_seq: state.head.as_ref().map_or(0, |h| h.seq),
            final_seq: state.acked_seq,
            outstanding_count: state.outstanding_count,
            outstanding_gross: state.outstanding_gross.clone(),
            oldest_outstanding_issued_at: oldest.map(millis),
            last_origin_contact: state.last_contact_ms.map(millis),
            last_delivery_error: state.last_error.clone(),
            breaker: state.breaker.state(u64::try_from(now).unwrap_or(0)),
            level: exposure.level,
            exposure: exposure.to_string(),
            limits: state.limits.clone(),
            stopped: state.stopped.clone(),
            origin_regressed: state.regressed.clone(),
            number_format: pinned.map(|p| p.number_format),
            kv_records_unconfirmed: store::kv_unconfirmed(&sql)?,
        })
    }

    /// `resume` and `sync`: change the state, reset the back-off and the breaker, deliver now.
    async fn control(&self, change: impl FnOnce(&mut SeriesState)) -> Result<Response> {
        let sql = self.state.storage().sql();
        let config = EdgeConfig::from_env(&self.env);
        let mut state = store::load_state(&sql, config.breaker)?;
        change(&mut state);
        state.failed_runs = 0;
        state.breaker = invoice_edge_core::breaker::CircuitBreaker::new(config.breaker);
        store::save_state(&sql, &state, &self.memory)?;
        self.state.storage().set_alarm(outbox::after_ms(0)).await?;
        Response::from_json(&self.report()?)
    }
}
