//! Rate limits on issuance (docs/SECURITY.md, "Rate limits"), with the Workers rate-limiting
//! binding: it runs in Miniflare and `wrangler dev` as in production, so no Durable Object
//! counter is needed. Two bindings, each configured in wrangler.toml `[[ratelimits]]`:
//! - `ISSUE_IP_LIMITER`, keyed by the client IP (`CF-Connecting-IP`): every checkout-token
//!   issuance and every failed authentication counts, so a page cannot flood a merchant and a
//!   client cannot guess keys or tokens quickly. Successful API-key calls (a merchant's own
//!   servers, often one IP) do not count.
//! - `ISSUE_MERCHANT_LIMITER`, keyed by the merchant id: every authenticated issuance.
//! - `HEALTH_IP_LIMITER`, keyed by the client IP: `GET /v1/health`, which is public and lists
//!   KV keys, so a flood of it must not turn into a flood of KV list operations.
//! - `SYNC_MERCHANT_LIMITER`, keyed by the merchant id: `POST /v1/admin/sync`, which calls every
//!   series' object of the merchant (at most `merchant::MAX_SERIES`) and resets their back-off;
//!   a script calling it in a loop would otherwise defeat the back-off that protects the origin.
//!
//! Failed authentication on the admin routes and on the order lookup counts against
//! `ISSUE_IP_LIMITER` as it does on issuance, so API keys cannot be guessed through them either.
//!
//! A missing binding, or a limiter that fails, allows the request: the limit is a guard against
//! floods, never a reason to refuse a paid buyer their invoice.

use invoice_edge_core::Code;
use worker::{Env, Request, Response, Result};

pub const IP_LIMITER: &str = "ISSUE_IP_LIMITER";
pub const MERCHANT_LIMITER: &str = "ISSUE_MERCHANT_LIMITER";
pub const HEALTH_LIMITER: &str = "HEALTH_IP_LIMITER";
pub const SYNC_LIMITER: &str = "SYNC_MERCHANT_LIMITER";
/// The period of both limits in wrangler.toml (the binding allows 10 or 60 s); `Retry-After`.
pub const DEFAULT_PERIOD_S: u64 = 60;

/// The client's IP as Cloudflare reports it; requests without one share one bucket.
pub fn client_ip(req: &Request) -> String {
    req.headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .filter(|ip| !ip.is_empty() && ip.len() <= 64)
        .unwrap_or_else(|| "unknown".to_string())
}

/// `Some(retry_after_ms)` when `key` is over the limit of `binding`.
pub async fn over_limit(env: &Env, binding: &str, key: &str) -> Option<u64> {
    match crate::kv::rate_limit(env, binding, key).await {
        Ok(false) => {
            let period_s = crate::config::EdgeConfig::from_env(env).rate_limit_period_s;
            Some(period_s.saturating_mul(1000))
        }
        Ok(_) => None,
        Err(error) => {
            // The key is an IP or a merchant id, never a secret.
            worker::console_error!("rate limiter {binding}: {error}");
            None
        }
    }
}

/// 429 `RATE_LIMITED` with `Retry-After` (docs/SECURITY.md, "Rate limits"); `what` names the
/// requests that were counted and `who` the key they were counted for.
pub fn rate_limited(what: &str, who: &str, retry_after_ms: u64) -> Result<Response> {
    crate::http::problem_retry_after(
        Code::RateLimited,
        &format!("too many {what} requests for {who}; retry after Retry-After seconds"),
        retry_after_ms,
    )
}
