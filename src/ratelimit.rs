//! Rate limits on issuance (docs/SECURITY.md, "Rate limits"), with the Workers rate-limiting
//! binding: it runs in Miniflare and `wrangler dev` as in production, so no Durable Object
//! counter is needed. Two bindings, each configured in wrangler.toml `[[ratelimits]]`:
//! - `ISSUE_IP_LIMITER`, keyed by the client IP (`CF-Connecting-IP`): every checkout-token
//!   issuance and every failed authentication counts, so a page cannot flood a merchant and a
//!   client cannot guess keys or tokens quickly. Successful API-key calls (a merchant's own
//!   servers, often one IP) do not count.
//! - `ISSUE_MERCHANT_LIMITER`, keyed by the merchant id: every authenticated issuance.
//!
//! A missing binding, or a limiter that fails, allows the request: the limit is a guard against
//! floods, never a reason to refuse a paid buyer their invoice.

use worker::{Env, Request};

pub const IP_LIMITER: &str = "ISSUE_IP_LIMITER";
pub const MERCHANT_LIMITER: &str = "ISSUE_MERCHANT_LIMITER";
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
    let limiter = env.rate_limiter(binding).ok()?;
    match limiter.limit(key.to_string()).await {
        Ok(outcome) if !outcome.success => {
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
