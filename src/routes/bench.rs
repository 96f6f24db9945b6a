//! `POST /v1/bench/floor`, built only with the `bench` feature: the storage floor of issuance.
//!
//! It does exactly the storage operations that an issuance with the origin down does (two
//! MERCHANTS reads, the per-merchant rate-limit check, the claim and its completion in the
//! Durable Object, `inv:` and `pending:` writes of about the same size, one queue send) plus one
//! Ed25519 signature over the body, and no parsing, validation or tax work. docs/PERFORMANCE.md compares issuance against it.

use invoice_edge_core::document::uuid_v7;
use invoice_edge_core::keys::{b64url, sha256};
use invoice_edge_core::Code;
use worker::{Env, Request, Response, Result};

use crate::claims::{self, ClaimOutcome, ClaimRequest};
use crate::http;
use crate::store::{self, Marker};

pub async fn floor(mut req: Request, env: &Env) -> Result<Response> {
    let now = crate::routes::invoices::now_ms();
    let api_key = req
        .headers()
        .get("Authorization")?
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_string))
        .unwrap_or_default();
    let Some(merchant) = crate::merchants::by_api_key(env, &api_key).await? else {
        return http::problem(Code::ApiKeyInvalid, "the API key is not valid");
    };
    // The same per-merchant rate-limit check as an API-key issuance.
    if crate::ratelimit::over_limit(env, crate::ratelimit::MERCHANT_LIMITER, &merchant.id)
        .await
        .is_some()
    {
        return http::problem(Code::RateLimited, "rate limited");
    }
    let body = req.bytes().await?;
    let Some(key) = crate::config::signing_key(env) else {
        return http::problem(Code::Misconfigured, "EDGE_SIGNING_KEY is missing");
    };
    let mut random = [0u8; 10];
    let _ = getrandom::getrandom(&mut random);
    let id = uuid_v7(now, random);
    // The signed invoice is about 1.25x the request; pad the stored value to match.
    let mut stored = String::from_utf8_lossy(&body).into_owned();
    stored.push_str(&" ".repeat(body.len() / 4));
    let signature = key.sign(stored.as_bytes());
    let signed = format!("{{\"invoice\":{stored},\"edge_signature\":{{\"alg\":\"EdDSA\",\"kid\":\"{}\",\"sig\":\"{signature}\"}}}}", key.kid());
    let claim = ClaimRequest {
        fingerprint: b64url(&sha256(&body)),
        invoice_id: id.clone(),
        signed: signed.clone(),
        now_ms: now,
    };
    let order = id.clone();
    if !matches!(
        claims::claim(env, &merchant.id, &order, &claim).await?,
        ClaimOutcome::Proceed { .. }
    ) {
        return http::problem(Code::IdempotencyInProgress, "unexpected claim state");
    }
    // Same operations and sizes as issuance, under a `bench:` prefix so the delivery consumer
    // and the reconciliation never mistake these records for invoices.
    let kv = store::invoices(env)?;
    let error = |e: worker::kv::KvError| worker::Error::RustError(e.to_string());
    kv.put(&format!("bench:inv:{id}"), signed)?
        .execute()
        .await
        .map_err(error)?;
    let marker = Marker {
        merchant: merchant.id.clone(),
        attempts: 0,
        next_attempt_at: now + 60_000,
        written_at: now,
    };
    kv.put(
        &format!("bench:pending:{id}"),
        serde_json::to_string(&marker)?,
    )?
    .metadata(&marker)
    .map_err(error)?
    .execute()
    .await
    .map_err(error)?;
    crate::delivery::enqueue(env, std::slice::from_ref(&id)).await?;
    claims::complete(env, &merchant.id, &order, 201).await?;
    http::json(201, &serde_json::json!({"id": id}))
}
