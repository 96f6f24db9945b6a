//! `POST /v1/bench/floor`, built only with the `bench` feature: the floor of an issuance
//! (docs/ARCHITECTURE.md, "Edge issuance path", budget). It makes exactly the calls an issuance makes, with
//! none of its parsing, validation or tax work: the merchant lookup and rate-limit check, one
//! Ed25519 signature, **one** call to a Durable Object that does one storage write, and one KV
//! put of about the same size. docs/PERFORMANCE.md compares issuance against it.

use invoice_edge_core::document::model::uuid_v7;
use invoice_edge_core::Code;
use worker::{Env, Method, Request, Response, Result};

use crate::http;

pub async fn floor(mut req: Request, env: &Env) -> Result<Response> {
    let now = crate::routes::invoices::now_ms();
    let merchant = match crate::auth::api_key_merchant(&req, env).await {
        Ok(merchant) => merchant,
        Err(refused) => return http::problem_response(&refused.problem),
    };
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
    let Some(random) = crate::clock::random_bytes::<10>() else {
        return http::problem(Code::StorageUnavailable, "no randomness");
    };
    let id = uuid_v7(now, random);
    // The signed invoice is about 1.25x the request; pad the stored value to match.
    let mut stored = String::from_utf8_lossy(&body).into_owned();
    stored.push_str(&" ".repeat(body.len() / 4));
    let signature = key.sign(stored.as_bytes());
    let signed = format!("{{\"invoice\":{stored},\"edge_signature\":{{\"alg\":\"EdDSA\",\"kid\":\"{}\",\"sig\":\"{signature}\"}}}}", key.kid());
    // One round trip to an object of the same class, under a name no series can have.
    let stub = env
        .durable_object(crate::series::client::BINDING)?
        .get_by_name(&format!("bench:{}", merchant.id))?;
    let request = http::outgoing_request(
        "https://series/floor",
        Method::Post,
        None,
        Some(signed.clone().into()),
    )?;
    let response = stub.fetch_with_request(request).await?;
    if response.status_code() >= 400 {
        return http::problem(Code::StorageUnavailable, "the floor object failed");
    }
    crate::store::invoices(env)?
        .put(&format!("bench:inv:{id}"), &signed)
        .await?;
    http::json(201, &serde_json::json!({"id": id}))
}
