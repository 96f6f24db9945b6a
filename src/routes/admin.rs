//! Admin routes for a merchant's backend (API key; no cross-origin use), over its series'
//! objects (docs/ARCHITECTURE.md, "HTTP surface of the edge"):
//! - `GET /v1/admin/series`: each series' head, what is not yet final, the delivery state and
//!   the offline level;
//! - `POST /v1/admin/series/{series}/resume`: resume a stopped series (it redelivers from the
//!   refused document);
//! - `POST /v1/admin/sync`: every series delivers now, with its back-off and breaker reset;
//! - `GET /v1/admin/webhooks/deliveries`: the last webhook attempts of every series.

use invoice_edge_core::merchant::MerchantConfig;
use invoice_edge_core::Code;
use serde::Serialize;
use worker::{Env, Request, Response, Result};

use crate::series::{client, SeriesReport};
use crate::{http, ratelimit};

/// The merchant of the request's API key, or the answer to give: the refusal, or 429 once this
/// client IP has failed too often. `what` names the route in a 429's detail. Shared by every
/// route that takes only an API key (the admin routes and `GET /v1/invoices?order_id=`).
pub(crate) async fn merchant(
    req: &Request,
    env: &Env,
    what: &str,
) -> std::result::Result<MerchantConfig, Result<Response>> {
    match crate::auth::api_key_merchant(req, env).await {
        Ok(merchant) => Ok(merchant),
        Err(refused) => {
            // A failed attempt counts against the client IP, as on issuance: keys cannot be
            // guessed through the admin routes (docs/SECURITY.md, "Rate limits").
            let ip = ratelimit::client_ip(req);
            Err(
                match ratelimit::over_limit(env, ratelimit::IP_LIMITER, &ip).await {
                    Some(retry_after_ms) => {
                        ratelimit::rate_limited(what, "this client", retry_after_ms)
                    }
                    None => http::problem_response(&refused.problem),
                },
            )
        }
    }
}

#[derive(Serialize)]
struct SeriesList {
    merchant: String,
    series: Vec<SeriesEntry>,
}

#[derive(Serialize)]
struct SeriesEntry {
    name: String,
    retired: bool,
    #[serde(flatten)]
    report: Option<SeriesReport>,
    /// Set when the series' object could not be reached for this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
}

async fn entries(env: &Env, merchant: &MerchantConfig, action: Option<&str>) -> Vec<SeriesEntry> {
    let calls = merchant.series.iter().map(|series| async move {
        let report = match action {
            Some(action) => {
                let hint = series.location_hint.as_deref();
                client::control(env, &merchant.id, &series.name, hint, action).await
            }
            None => {
                let hint = series.location_hint.as_deref();
                client::report(env, &merchant.id, &series.name, hint).await
            }
        };
        let (report, unavailable) = match report {
            Ok(report) => (Some(report), None),
            Err(error) => (None, Some(error.to_string())),
        };
        SeriesEntry {
            name: series.name.clone(),
            retired: series.retired,
            report,
            unavailable,
        }
    });
    futures_util::future::join_all(calls).await
}

pub async fn series(req: Request, env: &Env) -> Result<Response> {
    let merchant = match merchant(&req, env, "admin").await {
        Ok(merchant) => merchant,
        Err(response) => return response,
    };
    let series = entries(env, &merchant, None).await;
    http::json(
        200,
        &SeriesList {
            merchant: merchant.id,
            series,
        },
    )
}

pub async fn resume(req: Request, env: &Env, name: &str) -> Result<Response> {
    let merchant = match merchant(&req, env, "admin").await {
        Ok(merchant) => merchant,
        Err(response) => return response,
    };
    let Some(series) = merchant.series.iter().find(|s| s.name == name) else {
        return http::problem(
            Code::UnknownSeries,
            &format!("merchant {} has no series {name:?}", merchant.id),
        );
    };
    let hint = series.location_hint.as_deref();
    match client::control(env, &merchant.id, name, hint, "resume").await {
        Ok(report) => http::json(200, &report),
        Err(_) => http::problem(
            Code::StorageUnavailable,
            "the series could not be reached; retry",
        ),
    }
}

pub async fn sync(req: Request, env: &Env) -> Result<Response> {
    let merchant = match merchant(&req, env, "admin").await {
        Ok(merchant) => merchant,
        Err(response) => return response,
    };
    if let Some(retry_after_ms) =
        ratelimit::over_limit(env, ratelimit::SYNC_LIMITER, &merchant.id).await
    {
        return ratelimit::rate_limited("sync", "this merchant", retry_after_ms);
    }
    let series = entries(env, &merchant, Some("sync")).await;
    http::json(
        200,
        &SeriesList {
            merchant: merchant.id,
            series,
        },
    )
}

/// `GET /v1/admin/webhooks/deliveries`: per series, the attempts its object keeps, newest first,
/// and how many event copies still wait (docs/ARCHITECTURE.md, "Webhooks"). The objects'
/// answers are our own JSON and pass through as text: no parse and no serde type in the worker
/// (docs/PERFORMANCE.md, "The deployable worker's size").
pub async fn deliveries(req: Request, env: &Env) -> Result<Response> {
    let merchant = match merchant(&req, env, "admin").await {
        Ok(merchant) => merchant,
        Err(response) => return response,
    };
    // One series after another (at most 32, merchant::MAX_SERIES): an admin read, where a
    // join's code in the worker would cost more than the milliseconds it saves.
    let (mut entries, mut reached) = (Vec::new(), false);
    for series in &merchant.series {
        let hint = series.location_hint.as_deref();
        let log = client::hooks(env, &merchant.id, &series.name, hint).await;
        // Series names and merchant ids are [A-Za-z0-9_-] (docs/ARCHITECTURE.md, "Series"), so
        // they are JSON strings as they stand.
        let name = &series.name;
        entries.push(
            match log.ok().as_deref().and_then(|t| t.strip_prefix('{')) {
                Some(rest) => {
                    reached = true;
                    format!("{{\"name\":\"{name}\",{rest}")
                }
                None => format!("{{\"name\":\"{name}\",\"unavailable\":true}}"),
            },
        );
    }
    if !reached {
        return http::problem_retry_after(
            Code::StorageUnavailable,
            "no series could be reached; retry",
            1_000,
        );
    }
    let body = format!(
        "{{\"merchant\":\"{}\",\"series\":[{}]}}",
        merchant.id,
        entries.join(",")
    );
    let response = Response::ok(body)?;
    response.headers().set("Content-Type", "application/json")?;
    Ok(response)
}
