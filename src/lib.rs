//! The invoice-edge worker: thin glue between workerd and the core.
//!
//! Each request is routed here and answered by a handler in `routes/`. Handlers call into
//! `invoice-edge-core` for every rule; this crate only speaks HTTP, KV and Durable Objects.
//! Each series is owned by its `SeriesLedger` object (`series/`), which numbers, signs and
//! delivers; the cron in `safety_net` only pokes the objects.

use worker::{
    event, Context, Env, Method, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

mod auth;
mod clock;
mod config;
mod http;
mod kv;
mod merchants;
mod origin;
mod ratelimit;
mod routes;
mod safety_net;
mod series;
mod store;
mod templates;

pub use series::SeriesLedger;

use invoice_edge_core::Code;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    match route(req, env).await {
        Ok(response) => Ok(response),
        Err(error) => {
            // Log the route and the error, never a header or a body (they may hold keys/tokens).
            worker::console_error!("{path}: {error}");
            http::problem(
                Code::Internal,
                "the edge failed to answer; nothing about the request is known to be wrong",
            )
        }
    }
}

async fn route(req: Request, env: Env) -> Result<Response> {
    let path = req.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method();
    let edge_node = req
        .cf()
        .map(|cf| cf.colo())
        .unwrap_or_else(|| "local".to_string());
    match (segments.as_slice(), method) {
        (["v1", "health"], Method::Get | Method::Head) => routes::health::get(&req, &env).await,
        (["v1", "health"], _) => http::method_not_allowed(&["GET", "HEAD"]),

        (["v1", "invoices"], Method::Post) => routes::invoices::issue(req, env, edge_node).await,
        // An order's invoice, for the merchant's backend: API key, no CORS.
        (["v1", "invoices"], Method::Get) => routes::lookup::get(req, &env).await,
        (["v1", "invoices"], Method::Options) => preflight_issue(&req, &env).await,
        (["v1", "invoices"], _) => http::method_not_allowed(&["GET", "POST", "OPTIONS"]),
        (["v1", "invoices", file], Method::Get | Method::Head) if file.ends_with(".xml") => {
            let id = file.trim_end_matches(".xml");
            let answer = routes::invoices::get_ubl(&env, id).await?;
            http::allow_any_origin(http::capability_url(answer)?)
        }
        (["v1", "invoices", id], Method::Get | Method::Head) => {
            let answer = routes::invoices::get(&env, id).await?;
            http::allow_any_origin(http::capability_url(answer)?)
        }
        (["v1", "invoices", _], Method::Options) => preflight_public(&["GET", "HEAD"]),
        // Refunds, for the merchant's backend: API key, no CORS.
        (["v1", "invoices", id, "credit-notes"], Method::Post) => {
            routes::credit_notes::post(req, &env, id, edge_node).await
        }
        (["v1", "invoices", id, "credit-notes"], Method::Get) => {
            routes::credit_notes::list(req, &env, id).await
        }
        (["v1", "invoices", _, "credit-notes"], _) => http::method_not_allowed(&["GET", "POST"]),
        (["v1", "invoices", _], _) => http::method_not_allowed(&["GET", "HEAD", "OPTIONS"]),

        (["v1", "verify"], Method::Post) => {
            http::allow_any_origin(routes::verify::post(req, &env).await?)
        }
        (["v1", "verify"], Method::Options) => preflight_public(&["POST"]),
        (["v1", "verify"], _) => http::method_not_allowed(&["POST", "OPTIONS"]),

        ([".well-known", "jwks.json"], Method::Get | Method::Head) => {
            routes::keys::jwks(&env).await
        }
        ([".well-known", "jwks.json"], Method::Options) => preflight_public(&["GET", "HEAD"]),
        ([".well-known", "jwks.json"], _) => http::method_not_allowed(&["GET", "HEAD", "OPTIONS"]),

        (["v1", "admin", "series"], Method::Get) => routes::admin::series(req, &env).await,
        (["v1", "admin", "series"], _) => http::method_not_allowed(&["GET"]),
        (["v1", "admin", "series", name, "resume"], Method::Post) => {
            let name = name.to_string();
            routes::admin::resume(req, &env, &name).await
        }
        (["v1", "admin", "series", _, "resume"], _) => http::method_not_allowed(&["POST"]),
        (["v1", "admin", "sync"], Method::Post) => routes::admin::sync(req, &env).await,
        (["v1", "admin", "sync"], _) => http::method_not_allowed(&["POST"]),
        (["v1", "admin", "webhooks", "deliveries"], Method::Get) => {
            routes::admin::deliveries(req, &env).await
        }
        (["v1", "admin", "webhooks", "deliveries"], _) => http::method_not_allowed(&["GET"]),

        (["v1", "demo", "token"], method) if config::EdgeConfig::from_env(&env).demo_mode => {
            match method {
                Method::Post => routes::demo::token(req, &env).await,
                _ => http::method_not_allowed(&["POST"]),
            }
        }

        #[cfg(feature = "bench")]
        (["v1", "bench", "floor"], Method::Post) => routes::bench::floor(req, &env).await,

        // Browser pages (issue 9): the verification page, the widget's merchant profile, and
        // the static files of www/ (demo checkout, widget, wasm) for any other GET.
        (["v", id], Method::Get | Method::Head) => routes::page::get(req, &env, id).await,
        (["v1", "merchants", id, "checkout"], Method::Get | Method::Head) => {
            http::allow_any_origin(routes::checkout::get(&req, &env, id).await?)
        }
        (_, Method::Get | Method::Head) => routes::assets::get(req, &env).await,

        _ => http::problem(Code::NotFound, &format!("no route for {path}")),
    }
}

/// Preflight for the public routes: any origin, no credentials.
fn preflight_public(methods: &[&str]) -> Result<Response> {
    let response = Response::empty()?.with_status(204);
    let headers = response.headers();
    headers.set("Access-Control-Allow-Origin", "*")?;
    headers.set("Access-Control-Allow-Methods", &methods.join(", "))?;
    headers.set("Access-Control-Allow-Headers", "Content-Type")?;
    headers.set("Access-Control-Max-Age", "600")?;
    Ok(response)
}

/// Preflight for `POST /v1/invoices?merchant=`: only that merchant's listed origins are allowed;
/// `?merchant=` is what lets the preflight find the merchant. Others get no CORS headers.
async fn preflight_issue(req: &Request, env: &Env) -> Result<Response> {
    let response = Response::empty()?.with_status(204);
    let origin = req.headers().get("Origin")?;
    let merchant_id = http::query_param(req, "merchant");
    if let (Some(origin), Some(merchant_id)) = (origin, merchant_id) {
        let merchant = merchants::load(env, &merchant_id).await.ok().flatten();
        if merchant.is_some_and(|m| m.allowed_origins.contains(&origin)) {
            let headers = response.headers();
            headers.set("Access-Control-Allow-Origin", &origin)?;
            headers.set("Access-Control-Allow-Methods", "POST")?;
            headers.set(
                "Access-Control-Allow-Headers",
                "Content-Type, Checkout-Token, Idempotency-Key",
            )?;
            headers.set("Access-Control-Max-Age", "600")?;
        }
    }
    response.headers().set("Vary", "Origin")?;
    Ok(response)
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    if let Err(error) = safety_net::run(&env).await {
        worker::console_error!("safety net: {error}");
    }
}
