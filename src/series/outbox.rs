//! The series' alarm: it writes the KV records the object has not seen written, delivers the
//! oldest documents the origin has not archived in one batch, keeps the offline level, and
//! re-arms itself (docs/ARCHITECTURE.md, "Delivery to the origin" and "Offline limits").
//!
//! The delivery state (breaker, back-off) lives in the object's storage. Everything read
//! before an `await` on the network is read again after it: issuances run while the batch is
//! in flight, and their writes must not be overwritten by a stale copy.

use futures_util::future::join_all;
use hex::FromHex;
use invoice_edge_core::backoff::Backoff;
use invoice_edge_core::breaker::Admission;
use invoice_edge_core::document::model::{Final, Rejection};
use invoice_edge_core::document::verify::check_receipt;
use invoice_edge_core::ledger::{Delivered, DELIVERY_BATCH_BYTES, DELIVERY_BATCH_DOCUMENTS};
use invoice_edge_core::offline::{exposure, next_level_change_at, Level, Limits};
use invoice_edge_core::webhook::{Event, EventType, LevelData};
use worker::{Env, Result, State};

use super::state::{Regressed, Remembered, Stop};
use super::store::{self, Acks, DocumentRow};
use crate::config::{self, EdgeConfig};

/// Re-arm delays.
const KV_RETRY_MS: i64 = 1_000;
const NO_ORIGIN_RETRY_MS: i64 = 60_000;
/// docs/ARCHITECTURE.md: after a retryable failure the alarm is re-armed by the back-off, at most 60 s.
const BACKOFF: Backoff = Backoff {
    base_ms: 1_000,
    factor: 2,
    cap_ms: 60_000,
    jitter: invoice_edge_core::backoff::Jitter::Equal,
};

/// An alarm time as an offset from the runtime's clock (the object's clock may be shifted in
/// tests; the runtime's is not).
pub fn after_ms(delay_ms: i64) -> worker::ScheduledTime {
    worker::ScheduledTime::from(delay_ms.max(0))
}

/// How long a new document waits for the delivery that picks it up: the documents issued in
/// that time go in one batch, so the alarm's work (a request, receipt checks, KV writes) is
/// shared instead of repeated per invoice on the object the issuances also run on. Measured in
/// docs/PERFORMANCE.md: with an alarm per issuance, an issuance with the origin up took half as
/// long again as with it down.
pub const DELIVERY_COALESCE_MS: i64 = 1_000;

/// Makes sure an alarm is set, so what was just issued gets delivered. `alarm_set` is the
/// object's memory that an alarm is already scheduled (cleared when the alarm runs, and lost
/// with the object, which then asks storage again): it saves a storage call per issuance.
pub async fn ensure_alarm(state: &State, alarm_set: &std::cell::Cell<bool>) -> Result<()> {
    if alarm_set.get() {
        return Ok(());
    }
    let storage = state.storage();
    if storage.get_alarm().await?.is_none() {
        storage.set_alarm(after_ms(DELIVERY_COALESCE_MS)).await?;
    }
    alarm_set.set(true);
    Ok(())
}

/// `memory` is the object's memory of its state, emptied by every write of the state here
/// (docs/ARCHITECTURE.md, "Edge issuance path", "The state in memory").
/// `acks` are the worker's `inv:` acknowledgements held in memory, written before the records
/// are looked for.
pub async fn run(
    state: &State,
    env: &Env,
    memory: &Remembered,
    acks: &Acks,
    now: i64,
) -> Result<()> {
    let storage = state.storage();
    let sql = storage.sql();
    let config = EdgeConfig::from_env(env);
    let mut series = store::load_state(&sql, config.breaker)?;
    let Some(pinned) = series.pinned.clone() else {
        return Ok(());
    };
    let kv = crate::store::invoices(env)?;
    let name = format!("{}/{}", pinned.merchant, pinned.series);
    let subscribers = super::hooks::Subscribers::of(env, &pinned.merchant).await;

    if !series.indexed {
        // The cron's safety net finds the series by this index (written once). A KV failure
        // here must not hold up delivery: the next run tries again.
        let indexed = kv.put(&format!("series:{name}"), "").await.is_ok()
            && write_level(&kv, &name, Level::Ok).await.is_ok();
        if indexed {
            series = store::load_state(&sql, config.breaker)?;
            series.indexed = true;
            store::save_state(&sql, &series, memory)?;
        } else {
            worker::console_error!("series {name}: the KV index is not written yet; retrying");
        }
    }

    write_kv_records(&sql, &kv, acks, &pinned.merchant, now).await?;

    let mut delays: Vec<i64> = Vec::new();
    let series_now = store::load_state(&sql, config.breaker)?;
    if series_now.stopped.is_none()
        && series_now.regressed.is_none()
        && series_now.outstanding_count > 0
    {
        if let Some(delay) = deliver(state, env, memory, &config, &subscribers, &name, now).await? {
            delays.push(delay);
        }
        // Receipts and rejections just stored get their KV records at once.
        write_kv_records(&sql, &kv, acks, &pinned.merchant, now).await?;
    }
    // The webhooks come after the origin's batch, never before it: an endpoint that is slow or
    // down cannot hold the delivery to the origin (docs/ARCHITECTURE.md, "Webhooks").
    super::hooks::deliver(state, env, &pinned.merchant, super::now_ms(env)).await;

    // The level, also without traffic: the hours limit crosses its thresholds by itself.
    let mut series = store::load_state(&sql, config.breaker)?;
    let limits = series.limits.clone().unwrap_or_else(Limits::none);
    let oldest = store::oldest_outstanding(&sql, series.acked_seq)?;
    let outstanding = series.outstanding(oldest);
    let level = exposure(now, &outstanding, &limits).level;
    if level != series.level {
        worker::console_log!(
            "series {name}: offline level {} -> {} ({})",
            series.level.as_str(),
            level.as_str(),
            exposure(now, &outstanding, &limits)
        );
        // Only a written level is remembered, so a failed write is tried again next run.
        if write_level(&kv, &name, level).await.is_ok() {
            let data = LevelData {
                merchant: &pinned.merchant,
                series: &pinned.series,
                from: series.level.as_str(),
                to: level.as_str(),
                exposure: exposure(now, &outstanding, &limits).to_string(),
            };
            let event = Event::level(&name, &data, now);
            series = store::load_state(&sql, config.breaker)?;
            series.level = level;
            // No await between the two writes: the object's storage commits them together.
            if subscribers.want(EventType::SeriesLevelChanged) {
                super::hooks::enqueue(&sql, &event)?;
            }
            store::save_state(&sql, &series, memory)?;
        } else {
            delays.push(KV_RETRY_MS);
        }
    }
    if let Some(at) = next_level_change_at(now, &outstanding, &limits) {
        delays.push(at.saturating_sub(now));
    }
    // Acknowledgements that came during this run's awaits, so they do not re-arm it.
    acks.flush(&sql)?;
    if store::any_kv_todo(&sql)? {
        delays.push(KV_RETRY_MS);
    }
    if let Some(delay) = super::hooks::next_delay(&sql, super::now_ms(env))? {
        delays.push(delay);
    }
    if let Some(delay) = delays.into_iter().min() {
        storage.set_alarm(after_ms(delay)).await?;
    }
    Ok(())
}

/// `level:{merchant}/{series}`, with the level in its metadata so `/v1/health` counts levels
/// from one list.
async fn write_level(kv: &crate::kv::Kv, name: &str, level: Level) -> Result<()> {
    let metadata = format!(r#"{{"level":"{}"}}"#, level.as_str());
    kv.put_with_metadata(&format!("level:{name}"), level.as_str(), &metadata)
        .await
}

/// Writes `inv:`, `final:` and `rejected:` for the documents whose records the object has not
/// seen written. `inv:` is read first: the worker usually wrote it already, and KV takes one
/// write a second to a key, so the same bytes are written again only when they are missing.
/// The worker's acknowledgements are written first, so those records are not looked for.
async fn write_kv_records(
    sql: &worker::SqlStorage,
    kv: &crate::kv::Kv,
    acks: &Acks,
    merchant: &str,
    now: i64,
) -> Result<()> {
    acks.flush(sql)?;
    // docs/ARCHITECTURE.md: at least a second after issued_at, whatever the origin's state.
    let rows = store::kv_todo(sql, now.saturating_sub(1_000), 100)?;
    let writes = rows.iter().map(|row| async move {
        let mut inv = row.kv_inv != 0;
        // KV takes one write a second to a key: the worker wrote inv: at issuance, so the alarm
        // writes it only from a second after, even for a row picked for its receipt.
        if !inv && row.issued_at_ms <= now.saturating_sub(1_000) {
            let key = format!("inv:{}", row.id);
            let present = kv.text(&key).await.ok().flatten().is_some();
            inv = present || kv.put(&key, row.signed.as_str()).await.is_ok();
        }
        let mut outcome = row.kv_outcome != 0;
        if !outcome {
            if let Some(receipt) = &row.receipt {
                outcome = match serde_json::from_str::<Final>(receipt) {
                    Ok(final_) => crate::store::write_final(kv, &row.id, &final_)
                        .await
                        .is_ok(),
                    Err(_) => false,
                };
            } else if let Some(rejection) = &row.rejection {
                outcome = match serde_json::from_str::<Rejection>(rejection) {
                    Ok(rejection) => {
                        crate::store::write_rejected(kv, &row.id, merchant, &rejection)
                            .await
                            .is_ok()
                    }
                    Err(_) => false,
                };
            }
        }
        (row.seq, inv, outcome)
    });
    for (seq, inv, outcome) in join_all(writes).await {
        if inv || outcome {
            store::mark_kv(sql, seq, inv, outcome)?;
        }
    }
    Ok(())
}

/// The edge checks each receipt before it becomes `final:` (core `check_receipt`): the
/// countersignature under `ORIGIN_PUBLIC_JWK`, the audit-chain link over the invoice's hash,
/// and the invoice's number, series and seq. Not the edge signature: the object signed and
/// holds the document itself, and a document the origin voided for its signature must still
/// take its void receipt.
fn receipt_is_valid(
    row: &DocumentRow,
    final_: &Final,
    origin_keys: &invoice_edge_core::keys::Jwks,
) -> std::result::Result<(), String> {
    let signed: serde_json::Value =
        serde_json::from_str(&row.signed).map_err(|e| format!("stored document: {e}"))?;
    let hash = <[u8; 32]>::from_hex(&row.hash).map_err(|_| "stored invoice hash unreadable")?;
    check_receipt(&signed["invoice"], &hash, final_, origin_keys).map_err(|(_, detail)| {
        format!(
            "the origin's receipt for seq {} does not check: {detail}",
            row.seq
        )
    })
}

/// One batch to the origin. Returns the delay before the next run, if delivery should go on.
async fn deliver(
    state: &State,
    env: &Env,
    memory: &Remembered,
    config: &EdgeConfig,
    subscribers: &super::hooks::Subscribers,
    name: &str,
    now: i64,
) -> Result<Option<i64>> {
    let sql = state.storage().sql();
    let mut series = store::load_state(&sql, config.breaker)?;
    let urls = config.origin_urls();
    if urls.is_empty() {
        series.last_error = Some("no ORIGIN_URL configured".into());
        store::save_state(&sql, &series, memory)?;
        return Ok(Some(NO_ORIGIN_RETRY_MS));
    }
    let now_u = u64::try_from(now).unwrap_or(0);
    let limit = match series.breaker.allow(now_u) {
        Admission::Allowed => DELIVERY_BATCH_DOCUMENTS,
        // Half-open: one document probes the origin.
        Admission::Probe => 1,
        Admission::Refused { retry_at_ms } => {
            store::save_state(&sql, &series, memory)?;
            return Ok(Some(
                i64::try_from(retry_at_ms.saturating_sub(now_u)).unwrap_or(i64::MAX),
            ));
        }
    };
    store::save_state(&sql, &series, memory)?;
    let mut rows = store::after(&sql, series.acked_seq, limit)?;
    let mut bytes = 0usize;
    let keep = rows
        .iter()
        .take_while(|row| {
            bytes += row.signed.len() + 1;
            bytes <= DELIVERY_BATCH_BYTES
        })
        .count()
        .max(1);
    rows.truncate(keep);
    if rows.is_empty() {
        return Ok(None);
    }
    let body = format!(
        "{{\"documents\":[{}]}}",
        rows.iter()
            .map(|row| row.signed.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );

    // ORIGIN_URL lists processes sharing one database: try them in order from the one that
    // answered last, and stay with the first that answers.
    let start = series.origin_index.min(urls.len() - 1);
    let mut answer = Err(String::from("no origin tried"));
    let mut answered_by = start;
    for offset in 0..urls.len() {
        let index = (start + offset) % urls.len();
        answer = crate::origin::post_ledger_batch(
            &urls[index],
            config.origin_token.as_deref(),
            body.clone(),
            config.origin_batch_timeout_ms,
        )
        .await;
        if answer.is_ok() {
            answered_by = index;
            break;
        }
    }

    // Read again: issuances ran while the batch was in flight, and time passed (two origins
    // that both time out take twice the deadline: the breaker must count from now).
    let mut series = store::load_state(&sql, config.breaker)?;
    let now = super::now_ms(env);
    let now_u = u64::try_from(now).unwrap_or(0);
    let response = match answer {
        Ok(response) => response,
        Err(reason) => {
            worker::console_log!("series {name}: delivery failed, will retry: {reason}");
            series.breaker.record_failure(now_u);
            series.failed_runs = series.failed_runs.saturating_add(1);
            series.last_error = Some(reason);
            store::save_state(&sql, &series, memory)?;
            let delay = BACKOFF.delay_ms(series.failed_runs, &mut crate::clock::jitter_u64);
            return Ok(Some(i64::try_from(delay).unwrap_or(60_000)));
        }
    };
    series.origin_index = answered_by;
    series.last_contact_ms = Some(now);
    series.breaker.record_success(now_u);

    // Countersignatures are looked up among the origin's keys only: an edge key can never pass
    // for the origin's (issue 20). Read once per batch.
    let origin_keys = invoice_edge_core::keys::Jwks {
        keys: config::origin_public_keys(env),
    };
    let mut progress = false;
    let mut error: Option<String> = None;
    for (row, result) in rows.iter().zip(response.results.iter()) {
        if result.id.as_deref() != Some(row.id.as_str()) {
            error = Some(format!(
                "the batch answer is out of order at seq {}",
                row.seq
            ));
            break;
        }
        if row.seq != series.acked_seq + 1 {
            // Archived meanwhile by another run; the rest is judged next time.
            break;
        }
        match result.delivered() {
            Delivered::Archived(final_) => match receipt_is_valid(row, &final_, &origin_keys) {
                Ok(()) => {
                    // The event goes with the receipt: no await between them, so the object's
                    // storage commits them together, and the event's id follows the document,
                    // so a repeat is one event to a receiver (docs/ARCHITECTURE.md, "Webhooks").
                    if subscribers.want(EventType::InvoiceFinal) {
                        super::hooks::enqueue_document(
                            &sql,
                            name,
                            EventType::InvoiceFinal,
                            &row.signed,
                            "final",
                            (Some(&final_), None),
                            now,
                        )?;
                    }
                    store::set_receipt(&sql, row.seq, &serde_json::to_string(&final_)?)?;
                    series.acked_seq = row.seq;
                    series.outstanding_count = series.outstanding_count.saturating_sub(1);
                    if row.kind == "invoice" {
                        if let Ok(gross) = rust_decimal::Decimal::from_str_exact(&row.gross) {
                            series.add_gross(&row.currency, -gross);
                        }
                    }
                    progress = true;
                }
                Err(reason) => {
                    error = Some(reason);
                    break;
                }
            },
            Delivered::Gap { expected_seq } => {
                if expected_seq <= series.acked_seq {
                    worker::console_error!(
                        "series {name}: ORIGIN_REGRESSED: the origin expects seq {expected_seq}, \
                         but acknowledged up to {}; delivery stops until an operator restores it",
                        series.acked_seq
                    );
                    series.regressed = Some(Regressed {
                        expected_seq,
                        acked_seq: series.acked_seq,
                        at_ms: now,
                    });
                } else {
                    error = Some(format!("the origin expects seq {expected_seq} first"));
                }
                break;
            }
            Delivered::Refused(problem) => {
                let rejection = Rejection {
                    code: problem.code.as_str().to_string(),
                    detail: problem.detail.clone().unwrap_or_default(),
                };
                // The first rejection stays, and only it is an event.
                if row.receipt.is_none()
                    && row.rejection.is_none()
                    && subscribers.want(EventType::InvoiceRejected)
                {
                    super::hooks::enqueue_document(
                        &sql,
                        name,
                        EventType::InvoiceRejected,
                        &row.signed,
                        "rejected",
                        (None, Some(&rejection)),
                        now,
                    )?;
                }
                store::set_rejection(&sql, row.seq, &serde_json::to_string(&rejection)?)?;
                worker::console_error!(
                    "series {name}: stopped: the origin refused seq {} ({}): {}",
                    row.seq,
                    rejection.code,
                    rejection.detail
                );
                series.stopped = Some(Stop {
                    seq: row.seq,
                    id: row.id.clone(),
                    code: rejection.code,
                    detail: rejection.detail,
                    at_ms: now,
                });
                break;
            }
            Delivered::Retry(problem) => {
                error = Some(format!(
                    "seq {}: the origin answered {} {}",
                    row.seq, result.status, problem.code
                ));
                break;
            }
        }
    }
    if let Some(reason) = &error {
        worker::console_log!("series {name}: delivery incomplete, will retry: {reason}");
        series.last_error = error.clone();
    } else if progress {
        series.last_error = None;
    }
    series.failed_runs = if progress {
        0
    } else {
        series.failed_runs.saturating_add(1)
    };
    let stopped = series.stopped.is_some() || series.regressed.is_some();
    let more = series.outstanding_count > 0;
    let failed_runs = series.failed_runs;
    store::save_state(&sql, &series, memory)?;
    Ok(match (stopped, progress, more) {
        (true, _, _) | (false, _, false) => None,
        (false, true, true) if error.is_none() => Some(0),
        _ => Some(
            i64::try_from(BACKOFF.delay_ms(failed_runs.max(1), &mut crate::clock::jitter_u64))
                .unwrap_or(60_000),
        ),
    })
}
