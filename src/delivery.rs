//! Delivery to the origin: the queue is the fast path, the KV markers are the record.
//!
//! - `enqueue` sends invoice ids (ids only: a message holds at most 128 KB) to `DELIVERY`.
//! - `consume` takes a batch of ids, skips those already final, sends the rest to
//!   `POST /v1/ledger/batch`, writes `final:` or `rejected:`, then deletes the marker.
//! - `reconcile` (the cron, every minute, and `POST /v1/admin/sync`) walks the `pending:`
//!   markers with cursor pagination and re-enqueues the due ones, because a queue cannot be
//!   inspected and local queues are lost on restart (TOOLCHAIN.md).
//!
//! Per-invocation limits (Workers: 1,000 KV operations, 1,000 subrequests on the paid plan) and
//! the arithmetic that keeps each handler inside them are in docs/EDGE.md.

use invoice_edge_core::backoff::{Backoff, Jitter};
use serde::{Deserialize, Serialize};
use worker::{Env, MessageBatch, MessageExt, Result};

use crate::config::EdgeConfig;
use crate::origin::{self, OriginOutcome};
use crate::routes::invoices::now_ms;
use crate::store::{self, Marker, PENDING_PREFIX};

pub const QUEUE: &str = "DELIVERY";
/// Ids per `sendBatch` call (the Queues limit is 100 messages per batch).
const SEND_BATCH: usize = 100;
/// Marker rewrites per reconciliation: each is one KV write, and the run must stay under
/// 1,000 KV operations with its list calls.
const MAX_MARKER_REWRITES: usize = 400;
/// Markers looked at per reconciliation (list pages of 1,000, one KV operation each).
const MAX_MARKERS_PER_RUN: usize = 50_000;
/// A delivery batch may take longer than the issuance deadline: it carries up to 100 invoices.
const BATCH_TIMEOUT_MS: u64 = 10_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub id: String,
}

/// The reconciliation's back-off between re-enqueues of one marker. The cron runs every minute,
/// so finer steps would not be seen; the cap keeps every marker due within a minute of the
/// origin's recovery (10,000 pending must be final within 3 minutes, docs/EDGE.md).
pub fn marker_backoff() -> Backoff {
    Backoff {
        base_ms: 15_000,
        factor: 2,
        cap_ms: 60_000,
        jitter: Jitter::Equal,
    }
}

pub async fn enqueue(env: &Env, ids: &[String]) -> Result<()> {
    let queue = env.queue(QUEUE)?;
    for chunk in ids.chunks(SEND_BATCH) {
        let messages: Vec<DeliveryMessage> = chunk
            .iter()
            .map(|id| DeliveryMessage { id: id.clone() })
            .collect();
        queue.send_batch(messages).await?;
    }
    Ok(())
}

/// The queue consumer. Messages from the dead-letter queue are acknowledged: their markers stay
/// in KV and the reconciliation keeps delivering them.
pub async fn consume(batch: MessageBatch<DeliveryMessage>, env: Env) -> Result<()> {
    if batch.queue().ends_with("-dlq") {
        batch.ack_all();
        return Ok(());
    }
    let messages = batch.messages()?;
    let kv = store::invoices(&env)?;
    let config = EdgeConfig::from_env(&env);
    let Some(origin_url) = config.origin_url.clone() else {
        batch.retry_all();
        return Ok(());
    };

    // Read what to send; ids already final only need their marker cleared.
    let mut to_send: Vec<(String, String, String)> = Vec::new(); // (id, merchant, signed JSON)
    let mut unreadable: Vec<String> = Vec::new();
    let now = now_ms();
    for message in &messages {
        let id = &message.body().id;
        match (
            store::read_final(&kv, id).await,
            store::read_signed(&kv, id).await,
        ) {
            (Ok(Some(_)), _) => {
                let _ = store::delete_marker_if_settled(&kv, id, None, now).await;
            }
            (Ok(None), Ok(Some(signed))) => {
                let merchant = signed.invoice.merchant.clone();
                to_send.push((id.clone(), merchant, serde_json::to_string(&signed)?));
            }
            // No such invoice: nothing to deliver, ever.
            (Ok(None), Ok(None)) => {}
            (final_, signed) => {
                let error = final_
                    .err()
                    .or(signed.err())
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                worker::console_error!("delivery: invoice {id} unreadable, will retry: {error}");
                unreadable.push(id.clone());
            }
        }
    }
    let documents: Vec<(String, String)> = to_send
        .iter()
        .map(|(id, _, json)| (id.clone(), json.clone()))
        .collect();
    let outcomes = if documents.is_empty() {
        Vec::new()
    } else {
        origin::post_batch(
            &origin_url,
            config.origin_token.as_deref(),
            &documents,
            BATCH_TIMEOUT_MS,
        )
        .await
    };
    let any_delivered = outcomes
        .iter()
        .any(|(_, o)| !matches!(o, OriginOutcome::Retryable(_)));
    if !outcomes.is_empty() {
        crate::circuit::record(config.breaker, now_ms(), any_delivered);
    }
    let retried: Vec<&str> = outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            OriginOutcome::Retryable(reason) => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    if let Some(reason) = retried.first() {
        worker::console_log!(
            "delivery: {} of {} to retry: {reason}",
            retried.len(),
            outcomes.len()
        );
    }
    let now = now_ms();
    for (id, outcome) in outcomes {
        let Some(message) = messages.iter().find(|m| m.body().id == id) else {
            continue;
        };
        let merchant = to_send
            .iter()
            .find(|(i, _, _)| *i == id)
            .map(|(_, m, _)| m.as_str())
            .unwrap_or_default();
        let written = match &outcome {
            OriginOutcome::Final(final_) => store::write_final(&kv, &id, final_).await.is_ok(),
            OriginOutcome::Rejected(rejection) => {
                store::write_rejected(&kv, &id, merchant, rejection)
                    .await
                    .is_ok()
            }
            OriginOutcome::Retryable(_) => false,
        };
        if written {
            // The marker was written at issuance; if that was under a second ago, the next
            // reconciliation deletes it instead (KV: 1 write/s per key).
            let _ = store::delete_marker_if_settled(&kv, &id, None, now).await;
            message.ack();
        } else {
            message.retry();
        }
    }
    for message in &messages {
        let id = &message.body().id;
        if to_send.iter().any(|(sent, _, _)| sent == id) {
            continue; // acknowledged or retried above, by its outcome
        }
        if unreadable.contains(id) {
            message.retry();
        } else {
            message.ack();
        }
    }
    Ok(())
}

#[derive(Default, Serialize)]
pub struct ReconcileReport {
    pub markers: usize,
    pub enqueued: usize,
    pub rewritten: usize,
    pub complete: bool,
}

/// Walks the markers and re-enqueues the due ones, rewriting each with its next attempt time
/// (the core's `Backoff`), within the per-invocation budget.
pub async fn reconcile(env: &Env) -> Result<ReconcileReport> {
    let kv = store::invoices(env)?;
    let now = now_ms();
    let backoff = marker_backoff();
    let mut report = ReconcileReport::default();
    let mut cursor: Option<String> = None;
    let mut due: Vec<String> = Vec::new();
    loop {
        let page = store::list_pending_page(&kv, cursor.take()).await?;
        for key in &page.keys {
            report.markers += 1;
            let id = key.name.trim_start_matches(PENDING_PREFIX).to_string();
            let marker: Option<Marker> = key
                .metadata
                .clone()
                .and_then(|m| serde_json::from_value(m).ok());
            let Some(mut marker) = marker else {
                due.push(id);
                continue;
            };
            if marker.next_attempt_at > now {
                continue;
            }
            if report.rewritten < MAX_MARKER_REWRITES
                && now.saturating_sub(marker.written_at) >= 1_000
            {
                marker.attempts = marker.attempts.saturating_add(1);
                marker.next_attempt_at = backoff.next_attempt_at(now, marker.attempts, &mut || {
                    u64::from_le_bytes(random_u64_bytes())
                });
                marker.written_at = now;
                if store::write_marker(&kv, &id, &marker).await.is_ok() {
                    report.rewritten += 1;
                }
            }
            due.push(id);
        }
        match page.cursor {
            Some(next) if !page.list_complete && report.markers < MAX_MARKERS_PER_RUN => {
                cursor = Some(next)
            }
            _ => {
                report.complete = page.list_complete;
                break;
            }
        }
    }
    enqueue(env, &due).await?;
    report.enqueued = due.len();
    Ok(report)
}

fn random_u64_bytes() -> [u8; 8] {
    let mut bytes = [0u8; 8];
    let _ = getrandom::getrandom(&mut bytes);
    bytes
}

/// Counts pending markers for `/v1/health`, up to `limit` (one KV list per 1,000).
pub async fn count_pending(env: &Env, limit: usize) -> Result<(usize, bool)> {
    let kv = store::invoices(env)?;
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = store::list_pending_page(&kv, cursor.take()).await?;
        count += page.keys.len();
        match page.cursor {
            Some(next) if !page.list_complete && count < limit => cursor = Some(next),
            _ => return Ok((count, page.list_complete)),
        }
    }
}
