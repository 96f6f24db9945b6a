//! `GET /v1/health`: liveness, version, the origin circuit of this isolate and the outbox size.

use invoice_edge_core::breaker::BreakerState;
use serde::Serialize;
use worker::{Env, Response, Result};

use crate::config::EdgeConfig;

/// Counting stops here: one KV list per 1,000 markers.
const PENDING_COUNT_LIMIT: usize = 10_000;

#[derive(Serialize)]
struct Origin {
    configured: bool,
    /// This isolate's view only: a hint, never a guarantee (DESIGN.md).
    circuit: BreakerState,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    origin: Origin,
    /// Invoices not yet final or rejected (capped at 10,000, see `pending_complete`).
    pending: usize,
    pending_complete: bool,
}

pub async fn get(env: &Env) -> Result<Response> {
    let config = EdgeConfig::from_env(env);
    let (pending, pending_complete) = crate::delivery::count_pending(env, PENDING_COUNT_LIMIT)
        .await
        .unwrap_or((0, false));
    crate::http::json(
        200,
        &Health {
            status: "ok",
            version: invoice_edge_core::VERSION,
            origin: Origin {
                configured: config.origin_url.is_some(),
                circuit: crate::circuit::state(config.breaker, crate::routes::invoices::now_ms()),
            },
            pending,
            pending_complete,
        },
    )
}
