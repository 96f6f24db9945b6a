//! `GET /v1/health`: liveness, the version, and how many series are at each offline level
//! (docs/ARCHITECTURE.md, "Offline limits"), read from the `level:` index the series' objects keep. Nothing
//! merchant-specific.

use std::collections::BTreeMap;

use invoice_edge_core::offline::Level;
use serde::Serialize;
use worker::{Env, Request, Response, Result};

/// Counting stops after this many pages of 1,000 keys: a health check costs at most this many
/// KV list operations, whatever the number of series (`series_complete` says when it stopped).
const MAX_PAGES: usize = 10;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    /// Series per offline level.
    series: BTreeMap<&'static str, u64>,
    /// False when there were more series than were counted.
    series_complete: bool,
}

pub async fn get(req: &Request, env: &Env) -> Result<Response> {
    let ip = crate::ratelimit::client_ip(req);
    if let Some(retry_after_ms) =
        crate::ratelimit::over_limit(env, crate::ratelimit::HEALTH_LIMITER, &ip).await
    {
        return crate::ratelimit::rate_limited("health", "this client", retry_after_ms);
    }
    let mut series: BTreeMap<&'static str, u64> =
        Level::ALL.iter().map(|level| (level.as_str(), 0)).collect();
    let mut complete = false;
    if let Ok(kv) = crate::store::invoices(env) {
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let Ok(page) = kv.list("level:", 1000, cursor.take().as_deref()).await else {
                break;
            };
            for key in page.keys {
                let level = crate::kv::string_member(&key.metadata, "level")
                    .and_then(|level| Level::ALL.into_iter().find(|l| l.as_str() == level))
                    .unwrap_or(Level::Ok);
                *series.entry(level.as_str()).or_default() += 1;
            }
            if page.list_complete {
                complete = true;
                break;
            }
            cursor = page.cursor;
        }
    }
    crate::http::json(
        200,
        &Health {
            status: "ok",
            version: invoice_edge_core::VERSION,
            series,
            series_complete: complete,
        },
    )
}
